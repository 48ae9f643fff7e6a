"""Scenario `stacks`: the demo stack under change, through the real playbooks/deploy.yml.

It runs like the drills, on the lab the `default` scenario converged (after them: see the
Makefile), with its inventory. The tests run in file order, each building on the previous one.
`host` is manager1, which answers `docker service ...`. HTTP load comes from the controller,
spread over every node's :8080, as clients would send it.
"""

import contextlib
import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import yaml

from flotilla.load import Load

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402

RATE = 50  # requests per second during updates


def deploy(*extra: str, expect_ok: bool = True) -> drill.Run:
    return drill.play("deploy.yml", *extra, ok=expect_ok)


def service(host, name="demo_web") -> dict:
    return json.loads(host.check_output(f"docker service inspect {name}"))[0]


def running_tasks(host, name="demo_web") -> list[dict]:
    out = host.check_output(f"docker service ps {name} --filter desired-state=running --format '{{{{json .}}}}'")
    return [json.loads(line) for line in out.splitlines()]


def greeting_configs(host) -> set[str]:
    out = host.check_output("docker config ls --filter label=io.flotilla.key=greeting --format '{{.Name}}'")
    return set(out.split())


# playbooks/status.yml on the lab as the drills before left it, with a label set by hand (the kit's
# labels have replace semantics: swarm.yml would remove it) and one more web replica asked for (-e:
# what a deploy would change). In --check, changing nothing, it names those two and nothing else
# (everything else is as the inventory says), and exits non-zero.
def test_status_compares_the_cluster_with_the_inventory_and_names_a_label_set_by_hand(host):
    drill.start_healthy(host)
    report = drill.lab_dir() / "status"
    # the upgrade drill left a daemon.json setting the inventory does not have: as the engines run
    # (but metrics-addr, each node's own address, which docker_engine_metrics_address sets where it is on)
    running = {k: v for k, v in json.loads(drill.read("manager1", "/etc/docker/daemon.json")).items()
               if k != "metrics-addr"}
    engines = ("-e", json.dumps({"docker_engine_daemon_options": running}))
    host.check_output("docker node update --label-add flotilla-test=by-hand worker1")
    try:
        drift = drill.play("status.yml", "--check", *engines, "-e", "demo_web_replicas=5", ok=False)
    finally:
        host.check_output("docker node update --label-rm flotilla-test worker1")
    assert drift.returncode == 2, drift.stdout[-3000:]
    assert set(drift.changed.values()) == {0}, drift.changed_tasks
    label = "worker1: node labels not in the inventory: flotilla-test=by-hand"
    assert f"DRIFT: {label}" in drift.stdout, drift.stdout[-3000:]
    found = json.loads((report / "status.json").read_text())
    assert found["findings"] == [label, "demo_web: a deploy would change the replicas: 4 -> 5"]
    assert {n["host"]: n["state"] for n in found["nodes"]} == dict.fromkeys(drill.addresses(), "ready")
    assert {"demo_web", "demo_proxy"} <= {s["service"] for s in found["services"]}
    page = (report / "status.html").read_text()
    assert all(f">{name}</h2>" in page for name in drill.addresses()), page[:2000]


def test_a_typo_fails_in_one_line_before_any_change(host):
    before = service(host)
    configs = greeting_configs(host)
    result = deploy("-e", "demo_web_replicas=two", "-e", '{"demo_web_greeting": "never deployed"}', expect_ok=False)
    assert result.returncode != 0
    assert "stack demo: compose.yml.j2: services.web.deploy.replicas must be an integer, not 'two'" in result.stdout
    assert "TASK [images" not in result.stdout and "deploy | " not in result.stdout
    assert service(host)["Version"] == before["Version"]
    assert greeting_configs(host) == configs


def test_rolling_update_to_v2_loses_no_request(host):
    with Load(drill.urls(), rate=RATE) as load:
        time.sleep(2)
        deploy("-e", "demo_web_version=2")
        time.sleep(2)
    summary = load.summary()
    assert summary.failed == 0, summary
    assert set(summary.versions) == {"1", "2"}, summary  # the load saw the switch happen
    tasks = running_tasks(host)
    assert len(tasks) == 4 and {t["Image"] for t in tasks} == {"flotilla/demo-web:2"}
    assert service(host)["UpdateStatus"]["State"] == "completed"


def test_a_config_change_rolls_to_a_new_name_and_old_ones_are_pruned(host):
    first = greeting_configs(host)
    assert len(first) == 1
    deploy("-e", "demo_web_version=2", "-e", '{"demo_web_greeting": "Hej"}')
    second = greeting_configs(host)
    assert len(second) == 2 and first < second  # the previous spec's config stays for rollback
    current = service(host)["Spec"]["TaskTemplate"]["ContainerSpec"]["Configs"][0]["ConfigName"]
    assert current in second - first
    answers = {json.loads(subprocess.run(["curl", "-s", url], capture_output=True, text=True).stdout)["greeting"]
               for url in drill.urls()}
    assert answers == {"Hej"}
    deploy("-e", "demo_web_version=2", "-e", '{"demo_web_greeting": "Hallo"}')
    third = greeting_configs(host)
    assert first.isdisjoint(third) and current in third and len(third) == 2  # the oldest was pruned


def test_broken_version_is_rolled_back_and_the_play_says_so(host):
    watched = drill.platform("monitoring")
    with drill.alert_sink() if watched else contextlib.nullcontext() as sink:
        with Load(drill.urls(), rate=RATE) as load:
            time.sleep(2)
            result = deploy("-e", "demo_web_version=broken", "-e", '{"demo_web_greeting": "Hallo"}', expect_ok=False)
            time.sleep(2)
        if watched:   # the monitoring stack says so too: UpdateRolledBack reaches the webhook
            sink.wait("UpdateRolledBack", 60, service="demo_web")
    assert result.returncode != 0
    assert re.search(
        r"stack demo: demo_web: the update to flotilla/demo-web:broken failed and was rolled back \(demo_web\.\d .* on "
        r"\S+: .*\); 4/4 tasks run the previous version flotilla/demo-web:2",
        result.stdout,
    ), result.stdout[-3000:]
    summary = load.summary()
    assert summary.failed == 0, summary
    assert set(summary.versions) == {"2"}, summary
    assert service(host)["UpdateStatus"]["State"] == "rollback_completed"
    assert {t["Image"] for t in running_tasks(host)} == {"flotilla/demo-web:2"}
    # The same version again is not a failure: nothing to change, the rollback is history. And a
    # deploy with nothing to change restarts nothing: docker stack deploy re-sends every service's
    # spec (each update moves the service's version), so it did reach Swarm, and no task was replaced.
    # Nor does it prune (changed=0): the config Hej, which the test above replaced and the rollback
    # left unreferenced (Swarm clears the previous spec when it rolls back), waits for the next change.
    before = {t["ID"] for t in running_tasks(host)} | {t["ID"] for t in running_tasks(host, "demo_proxy")}
    versions = {name: service(host, name)["Version"]["Index"] for name in ("demo_web", "demo_proxy")}
    configs = greeting_configs(host)
    assert len(configs) == 2, configs
    again = deploy("-e", "demo_web_version=2", "-e", '{"demo_web_greeting": "Hallo"}')
    assert set(again.changed.values()) == {0}, again.changed_tasks
    assert greeting_configs(host) == configs
    assert {t["ID"] for t in running_tasks(host)} | {t["ID"] for t in running_tasks(host, "demo_proxy")} == before
    moved = {name: service(host, name)["Version"]["Index"] for name in versions}
    assert all(moved[name] > versions[name] for name in versions), (versions, moved)


def test_a_killed_task_is_replaced_under_the_restart_policy(host):
    spec = service(host)["Spec"]["TaskTemplate"]["RestartPolicy"]
    assert (spec["Condition"], spec.get("MaxAttempts", 0)) == ("any", 0)
    victim = running_tasks(host)[0]
    task_id = json.loads(host.check_output(f"docker inspect {victim['ID']}"))[0]["ID"]
    node = drill.container(victim["Node"])
    # SIGKILL, on the node that runs it: exit 137, a failure for the policy
    killed_run = node.exec_run(
        ["sh", "-c", f"docker kill $(docker ps -q --filter label=com.docker.swarm.task.id={task_id})"]
    )
    assert killed_run.exit_code == 0, killed_run.output.decode()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tasks = running_tasks(host)
        if len(tasks) == 4 and task_id not in {t["ID"] for t in tasks} and all(
            t["CurrentState"].startswith("Running") for t in tasks
        ):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"no replacement for task {task_id}: {running_tasks(host)}")
    killed = json.loads(host.check_output(f"docker inspect {task_id}"))[0]
    assert killed["Status"]["State"] == "failed"
    assert "137" in killed["Status"]["Err"]
    slot = killed["Slot"]
    history = json.loads(host.check_output(
        "docker inspect $(docker service ps demo_web -q --filter desired-state=shutdown) "
        "$(docker service ps demo_web -q --filter desired-state=running)"
    ))
    # the slot restarted once: one failed attempt counted, one running replacement
    in_slot = [
        t for t in history
        if t["Slot"] == slot and t["Spec"]["ContainerSpec"]["Image"].startswith("flotilla/demo-web:2")
    ]
    assert sum(1 for t in in_slot if t["Status"]["State"] == "failed") >= 1
    assert sum(1 for t in in_slot if t["Status"]["State"] == "running") == 1


# The platform stack `ingress` in front of the demo (as `make demo` runs it): enabled here with -e,
# checked from the controller as a client would (the certificate verified against the root of the
# lab's ACME CA, pebble, each node asked in turn as with curl --resolve), and removed again at the
# end, so the scenarios after this one find the lab as before.
def ca() -> Path:
    """The root of the lab's ACME CA (pebble), which `flotilla lab up` wrote."""
    return drill.lab_dir() / "acme" / "roots.pem"
SAME = ("-e", "demo_web_version=2", "-e", '{"demo_web_greeting": "Hallo"}')   # the demo as the tests above left it
# The ingress in front of what the drill inventory enables (the demo; on the demo lab, monitoring too).
INGRESS = ("-e", json.dumps({"stacks_enabled": ["ingress", *(s for s in drill.inventory_var("stacks_enabled", [])
                                                             if s != "ingress")]}), *SAME)


def https_load() -> Load:
    """HTTPS load for demo.flotilla.test over every node, as clients given every node's address
    send it: a node whose proxy is restarting refuses the connection, and the client tries the
    next (``failover``); a request fails only when no node serves it."""
    return Load([f"https://{addr}/" for addr in drill.addresses().values()], rate=RATE, failover=True,
                tls=("demo.flotilla.test", str(ca())))


def ingress_answers(name="demo.flotilla.test", trusted: Path | None = None) -> dict[str, str]:
    from flotilla.lab.https import fetch_https

    return {node: fetch_https(name, addr, trusted or ca()) for node, addr in drill.addresses().items()}


def test_the_ingress_serves_the_demo_over_https_on_every_node(host):
    from flotilla.lab.https import redirect

    deployed = deploy(*INGRESS)
    proxy = service(host, "ingress_proxy")
    assert proxy["Spec"]["Mode"] == {"Global": {}}
    assert {(p["PublishedPort"], p["PublishMode"]) for p in proxy["Spec"]["EndpointSpec"]["Ports"]} == {
        (80, "host"), (443, "host")}
    answers = ingress_answers()
    assert all(a.startswith("version 2 from ") for a in answers.values()), answers
    assert {node: redirect("demo.flotilla.test", addr) for node, addr in drill.addresses().items()} == dict.fromkeys(
        drill.addresses(), "301 -> https://demo.flotilla.test/")
    # obtained once, from the ACME CA, by one manager's client (the CA asked worker2 for the token)
    obtain = "ingress : acme | Obtain the certificate from the ACME CA for every host served on https"
    assert deployed.changed_tasks.get("manager1", []).count(obtain) == 1, deployed.stdout[-3000:]
    # the certificate is the ACME CA's: a client trusting only the public CAs refuses it
    import certifi

    public = ingress_answers(trusted=Path(certifi.where()))
    assert all("CERTIFICATE_VERIFY_FAILED" in a for a in public.values()), public
    # (Its changed=0 re-run is the floating address's test: the same settings and more.)


def test_a_route_that_cannot_work_is_refused_in_one_line_before_any_change(host):
    before = service(host, "ingress_proxy")["Version"]
    result = deploy(*INGRESS, "-e", "demo_ingress_hosts=demo_flotilla", expect_ok=False)
    assert result.returncode != 0
    assert "stack demo: services.web: route demo: host 'demo_flotilla' is not a DNS name" in result.stdout, (
        result.stdout[-3000:])
    assert "deploy | " not in result.stdout
    assert service(host, "ingress_proxy")["Version"] == before


def test_an_ingress_network_that_cannot_be_what_is_asked_is_refused_before_any_change(host):
    # The opposite of what the lab made: on this kernel (no AES-GCM ESP) the kernel is named; on one
    # that encrypts, the network made encrypted cannot become unencrypted in place.
    encrypted = bool(yaml.safe_load((drill.INVENTORY / "hosts.yml").read_text())["all"]["vars"].get(
        "lab_overlay_encryption"))
    before = service(host, "ingress_proxy")["Version"]
    result = deploy(*INGRESS, "-e", json.dumps({"ingress_network_encrypted": not encrypted}), expect_ok=False)
    assert result.returncode != 0
    expected = ("network flotilla_edge exists encrypted, and ingress_network_encrypted is false; Docker cannot change"
                if encrypted else
                "ingress_network_encrypted is true, but an IPsec ESP association with AES-GCM (what Docker encrypts"
                " overlays with) failed on manager1: ")
    assert expected in result.stdout, result.stdout[-3000:]
    assert "deploy | " not in result.stdout
    assert service(host, "ingress_proxy")["Version"] == before


# The proxy's requests to the web tasks are plain http inside the overlay flotilla_edge, and cross
# between nodes as VXLAN. The kit encrypts that network and the demo's backend where every kernel
# can (the lab asked its kernel at `lab up`: lab_overlay_encryption). A capture of the lab's bridge
# while requests carry a marker: encrypted, the overlay crosses as ESP and the marker never shows;
# unencrypted (this kernel has no AES-GCM ESP), the same capture must read it, which is what shows
# that the capture would see a leak.
def test_the_overlay_between_nodes_is_encrypted_where_the_kernel_can(host):
    from flotilla.lab.capture import bridge_of, capture
    from flotilla.lab.https import fetch_https

    hosts = yaml.safe_load((drill.INVENTORY / "hosts.yml").read_text())
    encrypted = bool(hosts["all"]["vars"].get("lab_overlay_encryption"))
    for network in ("flotilla_edge", "demo_backend"):
        options = json.loads(host.check_output(f"docker network inspect --format '{{{{json .Options}}}}' {network}"))
        assert ("encrypted" in (options or {})) == encrypted, (network, options)
    marker = f"flotilla-capture-{uuid.uuid4().hex}"
    answers: dict[str, str] = {}

    def requests():
        for node, addr in drill.addresses().items():
            answers[node] = fetch_https("demo.flotilla.test", addr, ca(), tries=8, headers={"X-Capture": marker})

    seen = capture(bridge_of(docker.from_env(), drill.container("manager1").name), marker.encode(), requests)
    assert all(a.startswith("version 2 from ") for a in answers.values()), answers
    if encrypted:
        assert seen.esp > 0 and seen.marked == 0, seen
    else:
        assert seen.marked > 0, seen


# A new host on the demo's route and the proxy's own new image, in one run: the proxies roll to
# the new configuration and image, then (the ACME CA's certificate naming the new host) again.
HOSTS = ("-e", "demo_ingress_hosts=demo.flotilla.test,www.flotilla.test", "-e", "ingress_image=flotilla/haproxy:2")


def test_a_new_host_and_a_new_proxy_image_lose_no_request(host):
    def tls_secrets():
        out = host.check_output("docker secret ls --filter label=io.flotilla.stack=ingress --format '{{.Name}}'")
        return set(out.split())

    first = tls_secrets()
    with https_load() as load:
        deploy(*INGRESS, *HOSTS)
        time.sleep(2)
    summary = load.summary()
    assert summary.failed == 0, summary
    assert len(tls_secrets() - first) == 1   # a new certificate is a new secret
    assert {t["Image"] for t in running_tasks(host, "ingress_proxy")} == {"flotilla/haproxy:2"}
    for name in ("demo.flotilla.test", "www.flotilla.test"):
        answers = ingress_answers(name)
        assert all(a.startswith("version 2 from ") for a in answers.values()), (name, answers)


VIP_HOSTS = ["worker1", "worker2", "manager3"]   # not manager1: it answers the tests


def vip() -> str:
    """The floating address: .50 of the lab's subnet (nodes are .11-.13 and .101-, pebble .5)."""
    return ".".join(next(iter(drill.addresses().values())).split(".")[:3] + ["50"])


def floating() -> tuple[str, ...]:
    """The floating address over VIP_HOSTS, as -e arguments of deploy.yml."""
    return ("-e", f"ingress_vip_address={vip()}/24", "-e", json.dumps({"ingress_vip_hosts": VIP_HOSTS}))


def test_a_forced_renewal_gets_a_new_certificate_from_the_acme_ca(host):
    from flotilla.lab.https import served_certificate

    def serials():
        return {node: served_certificate("demo.flotilla.test", addr, ca())["serialNumber"]
                for node, addr in drill.addresses().items()}

    before = serials()
    assert len(set(before.values())) == 1, before   # one certificate for the cluster, on every node
    # The floating address's keepalived is set up in the same run (the next test kills its holder):
    # one run less for the scenario, and the renewal still rolls every proxy under load.
    with https_load() as load:
        renewed = deploy(*INGRESS, *HOSTS, *floating(), "-e", "ingress_acme_renew_now=true")
        time.sleep(2)
    summary = load.summary()
    assert summary.failed == 0, summary
    after = serials()
    assert len(set(after.values())) == 1 and set(after.values()) != set(before.values()), (before, after)
    assert "acme | Obtain" in renewed.stdout


def vip_holder() -> str:
    """The node that holds the floating address now ("" when none does)."""
    for name in VIP_HOSTS:
        try:
            if f" {vip()}/" in drill.output(name, "ip", "-o", "-4", "addr", "show", tries=1):
                return name
        except (AssertionError, docker.errors.APIError):
            continue   # a node that is down holds nothing
    return ""


def test_the_floating_address_answers_again_soon_after_its_node_dies(host):
    from flotilla.lab.https import fetch_https

    def served():
        return fetch_https("demo.flotilla.test", vip(), ca(), tries=1, timeout=1).startswith("version ")

    # Set up by the forced renewal's run. Which node holds it first is the election's (all start as
    # backups, within a second).
    drill.wait(lambda: vip_holder() and served(), 30, "HTTPS on the floating address")
    again = deploy(*INGRESS, *HOSTS, *floating())
    assert set(again.changed.values()) == {0}, again.changed_tasks
    died = vip_holder()
    node = drill.container(died)
    node.kill()   # a power loss: no goodbye from its keepalived
    try:
        seconds = drill.wait(served, 60, f"HTTPS on the floating address after {died} died", every=0.2)
        holder = vip_holder()
        assert holder in VIP_HOSTS and holder != died, holder
    finally:
        node.start()
    drill.record("ingress_vip", died=died, new_holder=holder, seconds_until_https_again=seconds)
    drill.wait(lambda: drill.healthy(host), 180, f"healthy with {died} back")
    assert vip_holder() == holder   # nopreempt: the node back does not take the address back


def test_without_the_ingress_the_demo_leaves_its_network_and_the_stack_goes(host):
    deploy(*SAME)
    assert {n["Target"] for n in service(host)["Spec"]["TaskTemplate"]["Networks"]} == {
        json.loads(host.check_output("docker network inspect demo_backend"))[0]["Id"]}
    host.check_output("docker stack rm ingress")
    deadline = time.monotonic() + 60
    while host.run("docker network rm flotilla_edge").rc != 0:
        assert time.monotonic() < deadline, host.run("docker network inspect flotilla_edge").stdout
        time.sleep(2)
    for kind in ("secret", "config"):
        host.check_output(f"docker {kind} ls -q --filter label=io.flotilla.stack=ingress | xargs -r docker {kind} rm")
    for name in VIP_HOSTS:   # the floating address goes too (role ingress_vip does not remove keepalived)
        drill.on(name, "sh", "-c", "systemctl disable --now keepalived && rm -f /etc/keepalived/keepalived.conf")
    assert vip_holder() == ""
