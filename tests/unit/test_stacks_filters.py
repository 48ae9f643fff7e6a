"""The stacks role's plan and convergence decisions (flotilla.stacks, src/flotilla/stacks.py)."""


import pytest
import yaml

from flotilla import stacks as st

COMPOSE = """
services:
  web:
    image: example/web:1
    configs: [{source: greeting, target: /etc/greeting}]
    secrets: [token]
    networks: [backend]
    deploy: {replicas: 2}
networks:
  backend: {driver: overlay}
configs:
  greeting: {file: configs/greeting.txt}
secrets:
  token: {file: ./secrets/token}
"""
SOURCES = {"configs/greeting.txt": "hello\n", "secrets/token": "s3cret\n"}


def test_plan_names_configs_and_secrets_by_content():
    plan = st.stacks_plan(COMPOSE, "app", SOURCES)
    assert plan["problems"] == []
    (config,) = plan["configs"]
    assert config["name"].startswith("app_greeting-") and len(config["name"]) == len("app_greeting-") + 10
    assert config["data"] == "hello\n"
    assert config["labels"]["io.flotilla.stack"] == "app"
    assert plan["compose"]["configs"]["greeting"] == {"external": True, "name": config["name"]}
    assert plan["compose"]["secrets"]["token"]["name"] == plan["secrets"][0]["name"]
    # services keep referring to the key; only the top-level definition changes
    assert plan["compose"]["services"]["web"]["configs"][0]["source"] == "greeting"


def test_new_content_gives_a_new_name_and_same_content_the_same_name():
    first = st.stacks_plan(COMPOSE, "app", SOURCES)["configs"][0]["name"]
    same = st.stacks_plan(COMPOSE, "app", dict(SOURCES))["configs"][0]["name"]
    changed = st.stacks_plan(COMPOSE, "app", {**SOURCES, "configs/greeting.txt": "bonjour\n"})["configs"][0]["name"]
    assert first == same != changed


def test_long_names_fit_dockers_limit():
    name, _ = st.object_name("s" * 40, "k" * 40, "x")
    assert len(name) <= 64


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c["services"]["web"]["deploy"].update(replicas="two"),
         "services.web.deploy.replicas must be an integer, not 'two'"),
        (lambda c: c["services"]["web"]["deploy"].update(mode="daemon"), "services.web.deploy.mode is 'daemon'"),
        (lambda c: c["services"]["web"].update(configs=["greting"]),
         "services.web.configs: 'greting' is not declared under top-level configs"),
        (lambda c: c["services"]["web"].update(secrets=["nope"]), "services.web.secrets: 'nope' is not declared"),
        (lambda c: c["services"]["web"].update(networks=["front"]), "services.web.networks: 'front' is not declared"),
        (lambda c: c["services"]["web"].pop("image"), "services.web has no image"),
        (lambda c: c["configs"].update(other={"file": "configs/missing.txt"}),
         "configs.other: file 'configs/missing.txt' is not in the stack's configs/ directory"),
        (lambda c: c["configs"].update(other={}), "configs.other needs `file: configs/<name>` or `external: true`"),
    ],
)
def test_plan_reports_the_problem(change, problem):
    compose = yaml.safe_load(COMPOSE)
    change(compose)
    problems = st.stacks_plan(yaml.safe_dump(compose), "app", SOURCES)["problems"]
    assert any(p.startswith(problem) for p in problems), problems


def test_plan_reports_yaml_errors_with_the_line():
    problems = st.stacks_plan("services:\n  web:\n    image: [x\n", "app", {})["problems"]
    assert len(problems) == 1 and problems[0].startswith("not valid YAML at line")


def test_an_encrypted_network_is_refused_while_a_host_cannot_encrypt():
    text = yaml.safe_dump({
        "services": {"web": {"image": "nginx", "networks": ["backend", "front"]}},
        "networks": {"backend": {"driver": "overlay", "driver_opts": {"encrypted": ""}},
                     "front": {"driver": "overlay"}},
    })
    assert st.encrypted_networks(yaml.safe_load(text)) == ["backend"]
    assert st.stacks_plan(text, "app", {}, {})["problems"] == []  # every host can: fine
    assert st.stacks_plan(text, "app")["problems"] == []
    aead = "Error: Requested AEAD algorithm not found."
    unshare = "unshare: Operation not permitted"
    problems = st.stacks_plan(text, "app", {}, {"worker1": aead, "worker2": aead, "m1": unshare})
    assert problems["problems"] == [
        "networks.backend is encrypted (driver_opts encrypted), but an IPsec ESP association with AES-GCM, what Docker "
        "encrypts with, failed on worker1, worker2: Error: Requested AEAD algorithm not found.; m1: unshare: Operation "
        "not permitted; give those hosts a kernel with IPsec ESP and AES-GCM (CONFIG_INET_ESP, CONFIG_CRYPTO_GCM; the "
        "distribution's standard kernel has them) where the kernel lacks them, or remove `encrypted` from the network"]
    # No encrypted network: hosts without encryption do not matter.
    plain = yaml.safe_dump({"services": {"web": {"image": "nginx"}}, "networks": {"front": None}})
    assert st.stacks_plan(plain, "app", {}, {"worker1": aead})["problems"] == []


def test_plan_needs_services():
    assert st.stacks_plan("networks: {}\n", "app", {})["problems"] == [
        "has no services (a mapping under top-level 'services')"
    ]


def test_external_objects_and_interpolation_are_left_alone():
    compose = yaml.safe_load(COMPOSE)
    compose["configs"]["greeting"] = {"external": True, "name": "shared_greeting"}
    compose["services"]["web"]["deploy"]["replicas"] = "${REPLICAS}"
    plan = st.stacks_plan(yaml.safe_dump(compose), "app", SOURCES)
    assert plan["problems"] == []
    assert plan["compose"]["configs"]["greeting"] == {"external": True, "name": "shared_greeting"}
    assert plan["configs"] == []


def node(node_id, hostname, role="worker", state="ready", availability="active", labels=None):
    return {"ID": node_id, "Description": {"Hostname": hostname},
            "Spec": {"Role": role, "Availability": availability, "Labels": labels or {}},
            "Status": {"State": state}}


def service(name, image, replicas=None, update=None, constraints=None, sid=None, stack="app"):
    mode = {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}}
    result = {"ID": sid or name, "Spec": {
        "Name": name, "Labels": {"com.docker.stack.namespace": stack}, "Mode": mode,
        "TaskTemplate": {"ContainerSpec": {"Image": image}, "Placement": {"Constraints": constraints or []}},
    }}
    if update:
        result["UpdateStatus"] = {"State": update, "Message": f"update {update}"}
    return result


def task(sid, image, state="running", desired="running", node_id="n1", err=None, ts="2026-01-01T00:00:00Z", slot=1):
    status = {"State": state, "Timestamp": ts}
    if err:
        status["Err"] = err
    return {"ID": f"t{slot}{state}{ts}", "ServiceID": sid, "NodeID": node_id, "Slot": slot,
            "DesiredState": desired, "Status": status, "Spec": {"ContainerSpec": {"Image": image}}}


NODES = [node("n1", "manager1", "manager"), node("n2", "worker1"), node("n3", "worker2", availability="drain")]


def converge(services, tasks, changed=None, expected=None, nodes=NODES):
    return st.stacks_convergence({"services": services, "tasks": tasks, "nodes": nodes}, "app", changed, expected)


def test_replicated_service_converges_when_all_replicas_run_the_current_image():
    svc = service("app_web", "web:2", replicas=2)
    assert converge([svc], [task("app_web", "web:2", slot=1), task("app_web", "web:2", slot=2)])["state"] == "converged"
    # one replica still on the old image: not there yet
    assert converge([svc], [task("app_web", "web:2"), task("app_web", "web:1", slot=2)])["state"] == "updating"
    # one replica starting (healthcheck not passed yet)
    starting = task("app_web", "web:2", state="starting", slot=2)
    assert converge([svc], [task("app_web", "web:2"), starting])["state"] == "updating"


def test_global_service_wants_every_ready_active_node_matching_its_constraints():
    svc = service("app_proxy", "proxy:1")
    one = [task("app_proxy", "proxy:1", node_id="n1")]
    both = one + [task("app_proxy", "proxy:1", node_id="n2", slot=2)]
    assert converge([svc], one)["services"][0]["wanted"] == 2  # n3 is drained
    assert converge([svc], one)["state"] == "updating"
    assert converge([svc], both)["state"] == "converged"
    on_managers = service("app_proxy", "proxy:1", constraints=["node.role == manager"])
    assert converge([on_managers], one)["state"] == "converged"


def test_an_update_in_flight_is_waited_for():
    svc = service("app_web", "web:2", replicas=1, update="updating")
    assert converge([svc], [task("app_web", "web:2")])["state"] == "updating"


def test_a_paused_update_fails_with_the_task_error():
    svc = service("app_web", "web:2", replicas=1, update="paused")
    tasks = [task("app_web", "web:1"), task("app_web", "web:2", state="failed", desired="shutdown", node_id="n2",
                                            err="task: non-zero exit (1)", slot=1)]
    result = converge([svc], tasks)
    assert result["state"] == "failed"
    assert "app_web: the update is paused" in result["message"]
    assert "on worker1: task: non-zero exit (1)" in result["message"]


def test_a_rollback_of_this_run_fails_naming_the_image_tried_and_the_version_kept():
    svc = service("app_web", "web:1", replicas=1, update="rollback_completed")
    tasks = [task("app_web", "web:1"),
             task("app_web", "web:broken", state="complete", desired="shutdown", node_id="n2", ts="2026-01-02")]
    result = converge([svc], tasks, changed=["app_web"], expected={"app_web": "web:broken"})
    assert result["state"] == "failed"
    assert result["message"].startswith("app_web: the update to web:broken failed and was rolled back")
    assert "on worker1: it ended in state complete" in result["message"]
    assert result["message"].endswith("1/1 tasks run the previous version web:1")


def test_a_rollback_still_restoring_replicas_is_waited_for():
    svc = service("app_web", "web:1", replicas=2, update="rollback_completed")
    assert converge([svc], [task("app_web", "web:1")], changed=["app_web"])["state"] == "updating"


def test_a_rollback_left_by_an_earlier_run_is_not_this_runs_failure():
    svc = service("app_web", "web:1", replicas=1, update="rollback_completed")
    assert converge([svc], [task("app_web", "web:1")], changed=[])["state"] == "converged"


def test_a_service_not_created_yet_is_waited_for():
    result = converge([], [], expected={"app_web": "web:1"})
    assert result["state"] == "updating"
    assert "app_web 0/0 (not created yet)" in result["message"]


def test_other_stacks_are_ignored():
    other = service("db_main", "db:1", replicas=3, stack="db")
    assert converge([other], [])["services"] == []


def test_replicated_job_converges_on_completions_and_fails_when_all_attempts_failed():
    svc = service("app_migrate", "tool:1")
    svc["Spec"]["Mode"] = {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    svc["JobStatus"] = {"JobIteration": {"Index": 7}}
    done = task("app_migrate", "tool:1", state="complete", desired="complete")
    done["JobIteration"] = {"Index": 7}
    assert converge([svc], [done])["state"] == "converged"
    old = dict(done, JobIteration={"Index": 6})
    assert converge([svc], [old])["state"] == "updating"
    failed = task("app_migrate", "tool:1", state="failed", desired="complete", err="exit 2")
    failed["JobIteration"] = {"Index": 7}
    result = converge([svc], [failed])
    assert result["state"] == "failed" and "the job failed" in result["message"] and "exit 2" in result["message"]


NOW = "2026-01-01T00:10:00Z"


def converge_at(services, tasks, now=NOW, grace=30):
    return st.stacks_convergence({"services": services, "tasks": tasks, "nodes": NODES}, "app", None, None, now, grace)


def test_a_global_service_no_node_can_run_fails_instead_of_converging_at_zero():
    svc = service("app_proxy", "proxy:1", constraints=["node.labels.edge == true"])
    result = converge([svc], [])
    assert result["state"] == "failed"
    assert result["message"] == (
        "app_proxy: no node can run this global service (none is ready, active and matches "
        "node.labels.edge == true); it runs nowhere"
    )


def test_a_scaled_to_zero_replicated_service_is_converged():
    assert converge([service("app_web", "web:1", replicas=0)], [])["state"] == "converged"


def test_a_missing_image_fails_at_once_naming_the_task_node_and_swarms_message():
    svc = service("app_web", "web:9", replicas=1)
    rejected = task("app_web", "web:9", state="rejected", desired="shutdown", node_id="n2",
                    err="No such image: web:9")
    rejected["CreatedAt"] = "2026-01-01T00:09:59Z"
    result = converge_at([svc], [rejected])
    assert result["state"] == "failed"
    assert result["message"].startswith("app_web: task app_web.1 (")
    assert result["message"].endswith("on worker1: No such image: web:9")


def test_a_failure_waits_for_the_rest_of_the_stack_and_then_names_every_service_that_will_not_run():
    missing = service("app_web", "web:9", replicas=1)
    rejected = task("app_web", "web:9", state="rejected", desired="shutdown", node_id="n2", err="No such image: web:9")
    rejected["CreatedAt"] = "2026-01-01T00:09:59Z"
    nowhere = service("app_edge", "proxy:1", constraints=["node.labels.edge == true"])
    db = service("app_db", "db:1", replicas=1)
    for deployed in (missing, nowhere, db):
        deployed["UpdatedAt"] = "2026-01-01T00:09:50Z"   # 10 s before NOW
    # app_db still starting: wait, and say what has failed so far (a wait that runs out reports it)
    result = converge_at([missing, nowhere, db], [rejected, task("app_db", "db:1", state="starting")])
    assert result["state"] == "updating"
    assert result["message"].startswith("app_edge: no node can run this global service")
    assert "; app_web: task app_web.1 (" in result["message"]
    assert result["message"].endswith("; still updating: app_db 0/1 (none)")
    # app_db up: the stack fails, naming both services and only them
    result = converge_at([missing, nowhere, db], [rejected, task("app_db", "db:1")])
    assert result["state"] == "failed"
    assert result["message"].startswith("app_edge: no node can run this global service")
    assert result["message"].endswith("on worker1: No such image: web:9")
    assert "app_db" not in result["message"]


def test_a_failure_stops_waiting_for_the_rest_of_the_stack_after_settle_seconds():
    missing = service("app_web", "web:9", replicas=1)
    missing["UpdatedAt"] = "2026-01-01T00:09:30Z"   # 30 s before NOW
    rejected = task("app_web", "web:9", state="rejected", desired="shutdown", node_id="n2", err="No such image: web:9")
    # app_api restarts on and on (it needs app_web): it would never settle
    api = service("app_api", "api:1", replicas=1)
    result = converge_at([missing, api], [rejected, task("app_api", "api:1", state="starting")])
    assert result["state"] == "failed"
    assert result["message"].endswith("on worker1: No such image: web:9; still updating: app_api 0/1 (none)")
    missing["UpdatedAt"] = "2026-01-01T00:09:31Z"   # 29 s: still waiting
    assert converge_at([missing, api], [rejected, task("app_api", "api:1", state="starting")])["state"] == "updating"


def test_a_missing_image_fixed_since_is_history():
    svc = service("app_web", "web:9", replicas=1)
    old = task("app_web", "web:9", state="rejected", desired="shutdown", err="No such image: web:9")
    old["CreatedAt"] = "2026-01-01T00:01:00Z"
    new = task("app_web", "web:9")
    new["CreatedAt"] = "2026-01-01T00:02:00Z"
    assert converge_at([svc], [old, new])["state"] == "converged"


@pytest.mark.parametrize(
    ("created", "state"), [("2026-01-01T00:09:45Z", "updating"), ("2026-01-01T00:09:29Z", "failed")]
)
def test_an_unplaced_task_fails_after_the_grace(created, state):
    svc = service("app_web", "web:1", replicas=1, constraints=["node.labels.gpu == yes"])
    pending = task("app_web", "web:1", state="pending", node_id="",
                   err="no suitable node (scheduling constraints not satisfied on 3 nodes)")
    pending["CreatedAt"] = created
    result = converge_at([svc], [pending])
    assert result["state"] == state
    if state == "failed":
        assert result["message"] == (
            f"app_web: Swarm cannot place task app_web.1 ({pending['ID'][:12]}): "
            "no suitable node (scheduling constraints not satisfied on 3 nodes)"
        )


def restart(svc, condition):
    svc["Spec"]["TaskTemplate"]["RestartPolicy"] = {"Condition": condition}
    return svc


def test_a_slot_emptied_by_a_completed_task_is_named_when_swarm_will_not_refill_it():
    tasks = [task("app_web", "web:1", slot=1),
             task("app_web", "web:1", state="complete", desired="shutdown", node_id="n2", slot=2)]
    result = converge_at([restart(service("app_web", "web:1", replicas=2), "on-failure")], tasks)
    assert result["state"] == "failed"
    assert result["message"].startswith("app_web: slot 2 is empty: task app_web.2 (")
    assert "on worker1 exited 0 (complete) and restart condition on-failure does not replace" in result["message"]
    # under condition any, Swarm starts a new task for the slot: wait for it
    assert converge_at([restart(service("app_web", "web:1", replicas=2), "any")], tasks)["state"] == "updating"


def test_a_completed_task_whose_slot_runs_again_is_history():
    done = task("app_web", "web:1", state="complete", desired="shutdown", slot=1)
    done["CreatedAt"] = "2026-01-01T00:01:00Z"
    again = task("app_web", "web:1", slot=1)
    again["CreatedAt"] = "2026-01-01T00:02:00Z"
    svc = restart(service("app_web", "web:1", replicas=1), "on-failure")
    assert converge_at([svc], [done, again])["state"] == "converged"


def test_changed_services_come_from_docker_stacks_diff():
    assert st.stacks_changed_services({"app_web": {"TaskTemplate": {}}}, "app") == ["app_web"]
    assert st.stacks_changed_services({"$insert": []}, "app") is None
    assert st.stacks_changed_services("not a dict", "app") is None
    assert st.stacks_changed_services({}, "app") == []


def test_unused_objects_spare_current_and_previous_specs():
    svc = {"Spec": {"TaskTemplate": {"ContainerSpec": {"Configs": [{"ConfigName": "app_c-2"}]}}},
           "PreviousSpec": {"TaskTemplate": {"ContainerSpec": {"Configs": [{"ConfigName": "app_c-1"}]}}}}
    assert st.stacks_unused(["app_c-0", "app_c-1", "app_c-2", "app_c-3"], ["app_c-3"], [svc]) == ["app_c-0"]


def test_images_map_services_by_swarm_name():
    plan = st.stacks_plan(COMPOSE, "app", SOURCES)
    assert st.stacks_images(plan) == {"app_web": "example/web:1"}


def test_services_table_is_aligned():
    lines = st.stacks_services_table([
        {"name": "app_web", "mode": "replicated", "running": 4, "wanted": 4, "image": "web:1", "update": "completed"},
    ])
    assert lines[0].split() == ["SERVICE", "MODE", "REPLICAS", "IMAGE", "UPDATE"]
    assert lines[1].split() == ["app_web", "replicated", "4/4", "web:1", "completed"]


def attached(t, net_id, net_name, addr, container):
    labels = {"com.docker.stack.namespace": net_name.split("_", 1)[0]} if "_" in net_name else {}
    t["NetworksAttachments"] = [{"Network": {"ID": net_id, "Spec": {"Name": net_name, "Labels": labels}},
                                 "Addresses": [f"{addr}/24"]},
                                {"Network": {"ID": "ing", "Spec": {"Name": "ingress", "Ingress": True}},
                                 "Addresses": ["10.255.0.9/16"]}]
    t["Status"]["ContainerStatus"] = {"ContainerID": container}
    return t


def discovery_info():
    web = service("app_web", "web:1", replicas=2, sid="sw")
    proxy = service("app_proxy", "proxy:1", sid="sp")
    for svc, alias in ((web, "web"), (proxy, "proxy")):
        svc["Spec"]["TaskTemplate"]["Networks"] = [{"Target": "nb", "Aliases": [alias]}]
    nodes = [dict(n, Status=dict(n["Status"], Addr=f"192.0.2.{i}")) for i, n in enumerate(NODES[:2], start=1)]
    tasks = [
        attached(task("sw", "web:1", node_id="n1", slot=1), "nb", "app_backend", "10.0.1.5", "c-web1"),
        attached(task("sw", "web:1", node_id="n2", slot=2), "nb", "app_backend", "10.0.1.6", "c-web2"),
        attached(task("sp", "proxy:1", node_id="n1", slot=0), "nb", "app_backend", "10.0.1.7", "c-proxy1"),
        attached(task("sp", "proxy:1", node_id="n2", slot=0), "nb", "app_backend", "10.0.1.8", "c-proxy2"),
        task("sw", "web:1", state="shutdown", desired="shutdown", node_id="n2", slot=2),
    ]
    return {"services": [web, proxy], "tasks": tasks, "nodes": nodes}


def test_discovery_probes_one_task_per_node_and_network_with_every_service_address():
    probes = st.stacks_discovery_probes(discovery_info(), "app")
    assert [(p["node"], p["addr"], p["network"], p["container"]) for p in probes] == [
        ("manager1", "192.0.2.1", "app_backend", "c-proxy1"),
        ("worker1", "192.0.2.2", "app_backend", "c-proxy2"),
    ]
    assert probes[0]["names"] == {"tasks.proxy": ["10.0.1.7", "10.0.1.8"], "tasks.web": ["10.0.1.5", "10.0.1.6"]}
    assert st.stacks_discovery_command(probes[0])[-2:] == ["tasks.proxy", "tasks.web"]


def test_discovery_on_a_shared_network_asks_full_names_and_takes_any_of_the_tasks_networks():
    # web is also on the kit's ingress network (external to the stack, no stack label): there it is
    # asked by its full name, and a task on both networks may get either network's addresses.
    info = discovery_info()
    web = info["services"][0]
    web["Spec"]["TaskTemplate"]["Networks"].append({"Target": "ne", "Aliases": ["web"]})
    for t, addr in zip(info["tasks"][:2], ("10.0.9.5", "10.0.9.6"), strict=True):
        t["NetworksAttachments"].append({"Network": {"ID": "ne", "Spec": {"Name": "flotilla_edge"}},
                                         "Addresses": [f"{addr}/24"]})
    probes = st.stacks_discovery_probes(info, "app")
    edge = next(p for p in probes if p["network"] == "flotilla_edge" and p["node"] == "manager1")
    assert edge["task"] == "app_web.1"
    assert edge["names"] == {"tasks.app_web": ["10.0.9.5", "10.0.9.6"]}
    assert edge["also"] == {"tasks.app_web": [["10.0.1.5", "10.0.1.6"]]}
    backend = next(p for p in probes if p["network"] == "app_backend" and p["node"] == "manager1")
    assert backend["also"] == {}   # app_proxy.n1 is on app_backend only
    either = "= tasks.app_web\n10.0.1.5 STREAM\n10.0.1.6 STREAM\n"
    assert st.stacks_discovery_problems(edge, {"rc": 0, "stdout": either}) == []
    wrong = "= tasks.app_web\n10.0.1.5 STREAM\n10.0.9.6 STREAM\n"
    assert st.stacks_discovery_problems(edge, {"rc": 0, "stdout": wrong}) != []


GETENT_OK = """= tasks.proxy
10.0.1.7        STREAM tasks.proxy
10.0.1.7        DGRAM
10.0.1.8        STREAM
= tasks.web
10.0.1.6        STREAM tasks.web
10.0.1.5        STREAM
"""


def test_discovery_problems_name_the_name_task_node_and_addresses():
    probe = st.stacks_discovery_probes(discovery_info(), "app")[1]
    assert st.stacks_discovery_problems(probe, {"rc": 0, "stdout": GETENT_OK}) == []
    broken = "= tasks.proxy\n10.0.1.7 STREAM tasks.proxy\n10.0.1.8 STREAM\n= tasks.web\n"
    assert st.stacks_discovery_problems(probe, {"rc": 0, "stdout": broken}) == [
        "tasks.web resolves to nothing in task app_proxy.n2 on worker1 (network app_backend), "
        "and Swarm runs it at 10.0.1.5, 10.0.1.6"
    ]
    # a node whose engine does not publish its tasks: the others miss them, and are told whose
    partial = "= tasks.proxy\n10.0.1.7 STREAM tasks.proxy\n10.0.1.8 STREAM\n= tasks.web\n10.0.1.6 STREAM\n"
    assert st.stacks_discovery_problems(probe, {"rc": 0, "stdout": partial}) == [
        "tasks.web in task app_proxy.n2 on worker1 (network app_backend) misses 10.0.1.5 (a task on manager1)"
    ]
    # an image without a shell or getent cannot run the check: no verdict
    assert st.stacks_discovery_problems(probe, {"rc": 0, "stdout": "! no getent\n"}) == []
    assert st.stacks_discovery_problems(probe, {"rc": 126, "stdout": ""}) == []


def test_discovery_report_gathers_the_problems_of_a_loop():
    probe = st.stacks_discovery_probes(discovery_info(), "app")[0]
    results = [{"__stacks_probe": probe, "rc": 0, "stdout": "= tasks.proxy\n= tasks.web\n"}, {"skipped": True}]
    assert [line.split(" in task")[0] for line in st.stacks_discovery_report(results)] == [
        "tasks.proxy resolves to nothing", "tasks.web resolves to nothing"]
