"""playbooks/status.yml's judgement (flotilla.status): the inventory against the live swarm."""

from flotilla.status import stack_drift, status_host, status_html, status_report, status_table

NOW = "2026-12-03T10:00:00+00:00"
CERT = "20270301100000Z"   # 88 days after NOW


def node(node_id, hostname, addr, role="worker", state="ready", availability="active", labels=None, leader=False):
    found = {
        "ID": node_id,
        "Spec": {"Role": role, "Availability": availability, "Labels": labels or {}},
        "Status": {"State": state, "Addr": addr},
        "Description": {"Hostname": hostname, "Engine": {"EngineVersion": "26.1.5"}},
    }
    if role == "manager":
        found["ManagerStatus"] = {"Leader": leader, "Reachability": "reachable"}
    return found


def seen(node_id, group="worker", labels=None, **extra):
    return {"group": group, "labels": labels or {}, "availability": "active", "addrs": [], "reachable": True,
            "engine": "26.1.5", "node_id": node_id, "swarm_state": "active", "daemon_json": True,
            "restart_pending": False, "cert_not_after": CERT, **extra}


SERVICES = [
    {"ID": "s1", "Spec": {"Name": "demo_web", "Labels": {"com.docker.stack.namespace": "demo"},
                          "Mode": {"Replicated": {"Replicas": 2}}}},
    {"ID": "s2", "Spec": {"Name": "demo_proxy", "Labels": {"com.docker.stack.namespace": "demo"},
                          "Mode": {"Global": {}}}},
]
TASKS = [
    {"ServiceID": "s1", "NodeID": "n1", "Slot": 1, "DesiredState": "running", "Status": {"State": "running"}},
    {"ServiceID": "s1", "NodeID": "n2", "Slot": 2, "DesiredState": "running", "Status": {"State": "running"}},
    {"ServiceID": "s1", "NodeID": "n2", "Slot": 2, "DesiredState": "shutdown", "Status": {"State": "failed"}},
    {"ServiceID": "s2", "NodeID": "n1", "DesiredState": "running", "Status": {"State": "running"}},
    {"ServiceID": "s2", "NodeID": "n2", "DesiredState": "running", "Status": {"State": "running"}},
]
NODES = [node("n1", "manager1", "10.0.0.11", role="manager", leader=True), node("n2", "worker1", "10.0.0.101")]
HOSTS = {"manager1": seen("n1", group="manager"), "worker1": seen("n2")}


def report(hosts=None, nodes=NODES, services=SERVICES, tasks=TASKS, enabled=("demo",)):
    return status_report(hosts or HOSTS, nodes, services, tasks, list(enabled), NOW)


def test_a_cluster_as_the_inventory_says_has_no_findings():
    result = report()
    assert result["findings"] == [] and result["ok"]
    assert [(r["host"], r["role"], r["manager"], r["cert_days"]) for r in result["nodes"]] == [
        ("manager1", "manager", "leader", 88), ("worker1", "worker", "", 88)]
    assert [(s["service"], s["running"], s["wanted"]) for s in result["services"]] == [
        ("demo_proxy", 2, 2), ("demo_web", 2, 2)]
    assert status_table(result)[-1] == "the cluster is as the inventory says"


def test_a_label_set_by_hand_is_drift_named_with_its_host():
    nodes = [NODES[0], node("n2", "worker1", "10.0.0.101", labels={"x": "y", "zone": "b"})]
    hosts = {**HOSTS, "worker1": seen("n2", labels={"zone": "a", "disk": "ssd"})}
    result = report(hosts, nodes)
    assert result["findings"] == [
        "worker1: node labels not in the inventory: x=y",
        "worker1: node labels missing: disk=ssd",
        "worker1: node label zone is 'b', the inventory says 'a'",
    ]
    assert not result["ok"]
    assert "DRIFT: worker1: node labels not in the inventory: x=y" in status_table(result)


def test_inventory_labels_compare_as_the_engine_stores_them():
    nodes = [NODES[0], node("n2", "worker1", "10.0.0.101", labels={"ssd": "true", "rack": "1"})]
    assert report({**HOSTS, "worker1": seen("n2", labels={"ssd": True, "rack": 1})}, nodes)["ok"]


def test_a_down_node_a_wrong_role_and_engine_drift_are_findings():
    nodes = [NODES[0], node("n2", "worker1", "10.0.0.101", role="manager", state="down", availability="drain")]
    hosts = {"manager1": seen("n1", group="manager", daemon_json=False, restart_pending=True),
             "worker1": {**seen("n2"), "reachable": False, "addrs": ["10.0.0.101"], "node_id": ""}}
    findings = report(hosts, nodes)["findings"]
    assert "manager1: /etc/docker/daemon.json differs from the inventory's (upgrade.yml applies it)" in findings
    assert "manager1: the engine runs an older daemon.json than the file (upgrade.yml restarts it)" in findings
    assert "worker1: does not answer over SSH" in findings
    assert "worker1: node is down" in findings     # found by its address: its engine did not answer
    assert "worker1: is a manager, the inventory says worker (swarm.yml changes it)" in findings
    assert "worker1: availability drain, the inventory says active" in findings


def test_services_below_wanted_paused_updates_and_stacks_are_findings():
    services = [{**SERVICES[0], "UpdateStatus": {"State": "paused", "Message": "update paused due to failure"}},
                SERVICES[1], {"ID": "s3", "Spec": {"Name": "shop_api", "Labels": {"com.docker.stack.namespace": "shop"},
                                                   "Mode": {"Replicated": {"Replicas": 3}}}}]
    findings = report(services=services, enabled=("demo", "monitoring"))["findings"]
    assert "demo_web: update paused (update paused due to failure)" in findings
    assert "shop_api: 0/3 tasks running" in findings
    assert "stack monitoring: enabled in the inventory, not deployed (deploy.yml deploys it)" in findings
    assert "stack shop: deployed, not in stacks_enabled" in findings


def test_a_completed_rollback_is_shown_not_a_finding():
    # the service runs its previous spec, healthy; the state stays after the next deploy of it
    services = [{**SERVICES[0], "UpdateStatus": {"State": "rollback_completed"}}, SERVICES[1]]
    result = report(services=services)
    assert result["ok"]
    assert [s["update"] for s in result["services"] if s["service"] == "demo_web"] == ["rollback_completed"]


def test_a_global_service_counts_every_eligible_node_even_where_swarm_rejected_its_task():
    tasks = [t for t in TASKS if not (t["ServiceID"] == "s2" and t["NodeID"] == "n2")]
    result = report(tasks=tasks)
    assert [(s["running"], s["wanted"]) for s in result["services"] if s["service"] == "demo_proxy"] == [(1, 2)]
    assert result["findings"] == ["demo_proxy: 1/2 tasks running"]


def test_a_host_is_matched_by_address_only_when_its_engine_did_not_answer():
    gone = node("old", "worker1", "10.0.0.101", state="down")
    # it answered, and is in no swarm (it left): not the node it left behind
    left = report({**HOSTS, "worker1": seen("", swarm_state="inactive", addrs=["10.0.0.101"])}, [NODES[0], gone])
    assert "worker1: not in the swarm (engine: inactive); site.yml joins it" in left["findings"]
    assert "node worker1 (10.0.0.101, down) is in the swarm, not in the inventory" in left["findings"]
    # its engine is down: found by its address, the node's state said
    down = report({**HOSTS, "worker1": seen("", engine_answers=False, addrs=["10.0.0.101"])}, [NODES[0], gone])
    assert down["findings"] == ["worker1: no Docker Engine answers (systemctl status docker on it)",
                                "worker1: node is down"]
    # unreachable, and no node has its address: only what is known
    lost = report({**HOSTS, "worker1": {**seen(""), "reachable": False, "addrs": ["10.0.0.199"]}}, NODES[:1])
    assert lost["findings"] == ["worker1: does not answer over SSH"]
    assert [r["state"] for r in lost["nodes"]] == ["ready", "unreachable"]


def test_nodes_outside_the_inventory_hosts_outside_the_swarm_and_old_certificates():
    nodes = [*NODES, node("n9", "stray", "10.0.0.99")]
    hosts = {**HOSTS, "manager1": seen("n1", group="manager", cert_not_after="20261210100000Z"),
             "worker2": seen("", swarm_state="inactive")}
    findings = report(hosts, nodes)["findings"]
    assert "node stray (10.0.0.99, ready) is in the swarm, not in the inventory" in findings
    assert "worker2: not in the swarm (engine: inactive); site.yml joins it" in findings
    assert "manager1: the swarm node certificate ends in 7 days" in findings
    ended = report({**HOSTS, "worker1": seen("n2", cert_not_after="20261130100000Z")})["findings"]
    assert ended == ["worker1: the swarm node certificate ended 3 days ago"]


def test_no_manager_answering_is_a_finding_not_an_error():
    result = report(nodes=None, services=None, tasks=[])
    assert result["findings"] == ["no manager answered: the swarm's nodes and services could not be read"]
    said = status_report(HOSTS, None, None, [], [], NOW, swarm_error="Error while reading from Docker: timeout ")
    assert said["findings"] == ["no manager answered: the swarm's nodes and services could not be read "
                                "(Error while reading from Docker: timeout)"]


def test_status_host_reads_the_inventory_and_what_the_host_said():
    host = status_host({"inventory_hostname": "worker1", "ansible_host": "10.0.0.101",
                        "swarm_node_labels": {"zone": "a"}, "__status_seen": {"node_id": "n2"}}, ["manager1"])
    assert host == {"group": "worker", "labels": {"zone": "a"}, "availability": "active", "addrs": ["10.0.0.101"],
                    "reachable": True, "in_run": True, "node_id": "n2"}
    assert status_host({"inventory_hostname": "manager1"}, ["manager1"])["reachable"] is False


def test_the_page_shows_every_node_with_its_tasks_and_a_down_node_in_another_colour():
    nodes = [NODES[0], node("n2", "worker1", "10.0.0.101", state="down")]
    page = status_html(report(nodes=nodes))
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page.split("<body>")[1]
    assert page.count('class="node"') == 2
    assert "demo_web.1 (running)" in page and "demo_proxy (running)" in page
    assert 'border-color:#c62828"><h2 style="background:#c62828">worker1' in page
    assert 'border-color:#2e7d32"><h2 style="background:#2e7d32">manager1' in page
    assert "worker1: node is down" in page


PLAN = {"compose": {
    "services": {
        "web": {"image": "flotilla/demo-web:2", "deploy": {"replicas": 4},
                "configs": [{"source": "greeting", "target": "/greeting.txt"}], "secrets": ["api_token"]},
        "proxy": {"image": "flotilla/demo-proxy:1", "deploy": {"mode": "global"}},
        "api": {"image": "flotilla/demo-api:1"},
    },
    "configs": {"greeting": {"external": True, "name": "demo_greeting_new"}},
    "secrets": {"api_token": {"external": True, "name": "demo_api_token_abc"}},
}}


def running(name, image, mode, configs=(), secrets=(), stack="demo"):
    return {"ID": name, "Spec": {"Name": name, "Labels": {"com.docker.stack.namespace": stack}, "Mode": mode,
                                 "TaskTemplate": {"ContainerSpec": {
                                     "Image": image, "Configs": [{"ConfigName": c} for c in configs],
                                     "Secrets": [{"SecretName": s} for s in secrets]}}}}


def test_what_a_deploy_would_change_in_the_services_that_run():
    services = [
        running("demo_web", "flotilla/demo-web:1@sha256:0123", {"Replicated": {"Replicas": 3}},
                configs=["demo_greeting_old"], secrets=["demo_api_token_abc"]),
        running("demo_proxy", "flotilla/demo-proxy:1", {"Global": {}}),
        running("demo_old", "flotilla/demo-old:1", {"Replicated": {"Replicas": 1}}),
        running("shop_web", "shop:1", {"Replicated": {"Replicas": 1}}, stack="shop"),
    ]
    assert stack_drift({"demo": PLAN}, services) == [
        "demo_api: in stack demo, not running (a deploy creates it)",
        "demo_web: a deploy would change the image: flotilla/demo-web:1 -> flotilla/demo-web:2",
        "demo_web: a deploy would change the replicas: 3 -> 4",
        "demo_web: a deploy would change the configs: demo_greeting_old -> demo_greeting_new",
        "demo_old: runs in stack demo, not in its compose file (a deploy prunes it)",
    ]


def test_services_as_planned_are_no_drift_and_the_digest_a_deploy_pinned_is_not_a_change():
    services = [
        running("demo_web", "flotilla/demo-web:2@sha256:0123", {"Replicated": {"Replicas": 4}},
                configs=["demo_greeting_new"], secrets=["demo_api_token_abc"]),
        running("demo_proxy", "flotilla/demo-proxy:1", {"Global": {}}),
        running("demo_api", "flotilla/demo-api:1", {"Replicated": {"Replicas": 1}}),
    ]
    assert stack_drift({"demo": PLAN}, services) == []
    # status_report compares the plans of the stacks that are deployed only
    assert status_report(HOSTS, NODES, services, [], ["demo", "shop"], NOW, plans={"demo": PLAN, "shop": PLAN})[
        "findings"] == ["demo_api: 0/1 tasks running", "demo_proxy: 0/2 tasks running", "demo_web: 0/4 tasks running",
                        "stack shop: enabled in the inventory, not deployed (deploy.yml deploys it)"]


def test_a_host_outside_the_run_is_judged_by_what_the_swarm_says_of_it():
    # --limit manager1: worker1 was not read, and does not count as not answering
    outside = status_host({"inventory_hostname": "worker1", "ansible_host": "10.0.0.101"}, ["manager1"], ["manager1"])
    assert outside["in_run"] is False and outside["reachable"] is False
    hosts = {"manager1": seen("n1", group="manager"), "worker1": {**outside, "labels": {"zone": "a"}}}
    nodes = [NODES[0], node("n2", "worker1", "10.0.0.101", labels={"zone": "b"})]
    result = report(hosts, nodes)
    assert result["findings"] == ["worker1: node label zone is 'b', the inventory says 'a'"]
    assert [r["state"] for r in result["nodes"]] == ["ready", "ready"]
    # and one the swarm does not know either: not read, no finding
    lost = report({**hosts, "worker1": {**outside, "addrs": ["10.0.0.199"]}}, NODES[:1])
    assert lost["findings"] == [] and [r["state"] for r in lost["nodes"]] == ["ready", "not read"]


def test_a_firing_alert_is_a_finding_shown_with_what_it_is_about_and_the_monitoring_links():
    alerts = [
        {"labels": {"alertname": "NodeDown", "node": "worker1", "severity": "critical"},
         "annotations": {"summary": "worker1 is down"}, "startsAt": "2026-12-03T09:58:00.123Z"},
        {"labels": {"alertname": "BackupTooOld", "severity": "warning"}, "annotations": {}, "startsAt": ""},
    ]
    links = {"Prometheus": "http://10.0.0.11:9090/"}
    result = status_report(HOSTS, NODES, SERVICES, TASKS, ["demo"], NOW, alerts=alerts, links=links)
    assert not result["ok"]
    assert result["findings"] == ["alert BackupTooOld firing", "alert NodeDown firing (node=worker1): worker1 is down"]
    table = status_table(result)
    assert ["NodeDown", "critical", "node=worker1", "2026-12-03T09:58:00"] in [line.split() for line in table]
    assert "Prometheus: http://10.0.0.11:9090/" in table
    assert '<a href="http://10.0.0.11:9090/">Prometheus</a>' in status_html(result)
    # no alerts: nothing said of them, and the links still shown
    quiet = status_report(HOSTS, NODES, SERVICES, TASKS, ["demo"], NOW, alerts=[], links=links)
    assert quiet["ok"] and quiet["alerts"] == [] and status_table(quiet)[-2:] == [
        "Prometheus: http://10.0.0.11:9090/", "the cluster is as the inventory says"]
