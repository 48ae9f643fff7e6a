"""Scenario `default`: what docker_engine, swarm and stacks must have done on every lab node.

Expected values come from the scenario inventory (inventory/group_vars/all.yml), the same
variables the converge run used, and are checked against the live engine, not only files.
"""

import fnmatch
import json
import os
import subprocess

import pytest


@pytest.fixture(scope="module")
def wanted(host):
    return host.ansible.get_variables()


def test_engine_service_is_enabled_and_running(host):
    service = host.service("docker")
    assert service.is_enabled
    assert service.is_running


def test_engine_answers_with_the_daemon_json_settings(host, wanted):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    driver = wanted.get("docker_engine_log_driver", "json-file")
    assert config["log-driver"] == driver
    if driver == "journald":   # the lab's central logs (role logs) read the swarm's labels as fields
        assert config["log-opts"] == {
            "labels": "com.docker.swarm.service.name,com.docker.swarm.task.name,com.docker.stack.namespace"}
    else:
        assert config["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert config["labels"] == wanted["docker_engine_daemon_options"]["labels"]

    # The running engine loaded that file (a restart happened after it was written).
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == driver
    assert info["Labels"] == wanted["docker_engine_daemon_options"]["labels"]
    assert info["Driver"] == "overlay2"


def test_python_sdk_is_importable_for_community_docker(host):
    version = host.check_output("python3 -c 'import docker; print(docker.__version__)'")
    assert version[0].isdigit()


# The lab's nodes run Debian 13, where the role pins and holds the engine and its CLI together
# (docker.io and docker-cli, roles/docker_engine/vars/Debian.yml).
@pytest.mark.parametrize("name", ["docker.io", "docker-cli"])
def test_engine_packages_are_pinned_and_held(host, wanted, name):
    package = host.package(name)
    assert package.is_installed
    assert fnmatch.fnmatch(package.version, wanted["docker_engine_version"])
    selection = host.check_output(f"dpkg --get-selections {name}").split()
    assert selection == [name, "hold" if wanted["docker_engine_hold"] else "install"]


def test_engine_runs_containers(host):
    # No registry is reachable, so run a container from an image imported from the host's files.
    host.check_output(
        "tar -C / -chf - usr/bin/true lib64/ld-linux-x86-64.so.2 lib/x86_64-linux-gnu/libc.so.6"
        " | docker import - flotilla-verify:probe"
    )
    try:
        assert host.run("docker run --rm flotilla-verify:probe /usr/bin/true").rc == 0
    finally:
        host.run("docker image rm -f flotilla-verify:probe")


# --- The swarm (role swarm), checked on JSON from the engines ------------------------------------


def _inventory_vars(name):
    """Variables of any inventory host, as Ansible resolves them for the converge run."""
    inventory = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inventory")
    out = subprocess.run(
        ["ansible-inventory", "-i", inventory, "--host", name], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def _swarm_info(host):
    return json.loads(host.check_output("docker info --format '{{json .Swarm}}'"))


def test_node_is_in_the_swarm_in_its_inventory_role(host, wanted):
    swarm = _swarm_info(host)
    assert swarm["LocalNodeState"] == "active"
    assert swarm["Error"] == ""
    is_manager = host.backend.host in wanted["groups"]["swarm_managers"]
    assert swarm["ControlAvailable"] is is_manager


def test_swarm_seen_from_each_manager(host, wanted):
    if host.backend.host not in wanted["groups"]["swarm_managers"]:
        pytest.skip("workers cannot list nodes")
    ids = host.check_output("docker node ls --quiet").split()
    nodes = json.loads(host.check_output("docker node inspect " + " ".join(ids)))
    inventory = wanted["groups"]["swarm_managers"] + wanted["groups"]["swarm_workers"]
    assert sorted(n["Description"]["Hostname"] for n in nodes) == sorted(inventory)

    managers = [n for n in nodes if n["Spec"]["Role"] == "manager"]
    assert sorted(n["Description"]["Hostname"] for n in managers) == sorted(wanted["groups"]["swarm_managers"])
    assert all(n["ManagerStatus"]["Reachability"] == "reachable" for n in managers)
    assert sum(1 for n in managers if n["ManagerStatus"].get("Leader")) == 1
    for node in nodes:
        assert node["Status"]["State"] == "ready", node["Description"]["Hostname"]
        expected = _inventory_vars(node["Description"]["Hostname"])
        assert node["Spec"]["Availability"] == expected.get("swarm_node_availability", "active")
        assert node["Spec"]["Labels"] == {k: str(v) for k, v in expected.get("swarm_node_labels", {}).items()}


def test_firewall_admits_exactly_the_nodes_to_the_swarm_ports(host, wanted):
    # Role firewall: the kernel's table (not only the file) names every node of the inventory, and
    # no other source, and the unit that loads it at boot is enabled.
    table = json.loads(host.check_output("nft -j list set inet flotilla members4"))["nftables"]
    members = next(item["set"] for item in table if "set" in item).get("elem", [])
    hosts = wanted["groups"]["swarm_managers"] + wanted["groups"]["swarm_workers"]
    assert sorted(members) == sorted(_inventory_vars(h)["ansible_host"] for h in hosts)
    assert host.service("flotilla-firewall").is_enabled
    rules = host.check_output("nft list chain inet flotilla input")
    # with the ports only members may reach besides Swarm's (the lab's logs receiver: 19532)
    tcp = ", ".join(str(p) for p in sorted({2377, 7946, *wanted.get("firewall_member_tcp_ports", [])}))
    assert f'tcp dport {{ {tcp} }} counter name "swarm_dropped" drop' in rules, rules
    assert 'udp dport { 4789, 7946 } counter name "swarm_dropped" drop' in rules


# --- The demo stack (roles images + stacks), checked on the live services ------------------------


def _first_manager_only(host, wanted):
    if host.backend.host != wanted["groups"]["swarm_managers"][0]:
        pytest.skip("stack-wide checks run once, on the first manager")


def _service(host, name):
    return json.loads(host.check_output(f"docker service inspect {name}"))[0]


def test_demo_answers_through_the_proxy_on_this_node(host, wanted):
    # Every node publishes 8080 (host mode in the lab: no IPVS) and HAProxy there reaches web tasks.
    seen = set()
    for _ in range(6):
        answer = json.loads(host.check_output(
            "python3 -c \"import urllib.request; "
            "print(urllib.request.urlopen('http://127.0.0.1:8080/', timeout=5).read().decode())\""
        ))
        assert answer["version"] == "1"
        assert answer["token_loaded"] is True  # the secret reached the task
        seen.add(answer["hostname"])
    assert len(seen) >= 2, f"requests through {host.backend.host} all went to {seen}"


def test_demo_images_are_loaded_with_the_controllers_ids(host):
    ids = {}
    for ref in ("flotilla/demo-web:1", "flotilla/demo-web:2", "flotilla/demo-web:broken", "flotilla/demo-proxy:1"):
        ids[ref] = host.check_output(f"docker image inspect --format '{{{{.Id}}}}' {ref}")
        controller = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref],
                                    capture_output=True, text=True, check=True).stdout.strip()
        assert ids[ref] == controller, ref


def test_demo_web_runs_four_replicas_spread_over_nodes(host, wanted):
    _first_manager_only(host, wanted)
    tasks = [json.loads(line) for line in host.check_output(
        "docker service ps demo_web --filter desired-state=running --format '{{json .}}'"
    ).splitlines()]
    assert len(tasks) == 4
    assert all(t["CurrentState"].startswith("Running") for t in tasks), tasks
    assert len({t["Node"] for t in tasks}) >= 3


def test_demo_web_update_restart_and_health_as_declared(host, wanted):
    _first_manager_only(host, wanted)
    spec = _service(host, "demo_web")["Spec"]
    assert spec["Mode"]["Replicated"]["Replicas"] == 4
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"  # the lab kernel has no IPVS
    update = spec["UpdateConfig"]
    assert (update["Parallelism"], update["Order"], update["FailureAction"], update["MaxFailureRatio"]) == (
        1, "start-first", "rollback", 0)
    assert update["Monitor"] == 5 * 10**9 and update["Delay"] == 2 * 10**9
    assert (spec["RollbackConfig"]["Parallelism"], spec["RollbackConfig"]["Order"]) == (1, "start-first")
    template = spec["TaskTemplate"]
    # any, not on-failure: the server exits 0 on SIGTERM, and a completed task is not replaced
    assert template["RestartPolicy"] == {"Condition": "any", "Delay": 2 * 10**9, "MaxAttempts": 0,
                                         "Window": 30 * 10**9}
    health = template["ContainerSpec"]["Healthcheck"]
    assert health["Test"][0] == "CMD"
    # the lab's engine (26) checks every second until healthy, then every 10 s (Engine 25+: stacks_docker_api)
    assert (health["StartInterval"], health["StartPeriod"], health["Interval"]) == (10**9, 6 * 10**9, 10 * 10**9)
    assert template["ContainerSpec"]["StopGracePeriod"] == 10 * 10**9
    assert template["Resources"]["Limits"]["MemoryBytes"] == 64 * 2**20
    assert template["Resources"]["Reservations"]["NanoCPUs"] == 5 * 10**7
    # configs and secrets by content-hashed name
    assert template["ContainerSpec"]["Configs"][0]["ConfigName"].startswith("demo_greeting-")
    assert template["ContainerSpec"]["Secrets"][0]["SecretName"].startswith("demo_api_token-")


def test_demo_proxy_is_global_with_a_host_mode_port(host, wanted):
    _first_manager_only(host, wanted)
    service = _service(host, "demo_proxy")
    assert "Global" in service["Spec"]["Mode"]
    assert service["Spec"]["EndpointSpec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 8080, "PublishMode": "host"}
    ]
    running = host.check_output("docker service ps demo_proxy --filter desired-state=running -q").split()
    assert len(running) == len(wanted["groups"]["swarm_managers"]) + len(wanted["groups"]["swarm_workers"])
