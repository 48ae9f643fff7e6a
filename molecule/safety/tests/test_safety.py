"""Scenario `safety`: the kit must not take down, split or silently degrade a healthy cluster.

It runs first after `default`, on the lab `default` converged, with its inventory (see the
Makefile). `host` is manager1. The demo is under load, with a load balancer's failover, from the
first test to `test_the_demo_never_failed_a_request`: every case below must leave the cluster as
it was (node IDs, roles and availability, service versions, daemon.json on every node, every
engine running) or end in the safe outcome it names, with no failed request. The tests run in
file order; the last one breaks a node's service discovery on purpose, without load.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flotilla.load import Load

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402

HOSTS = ("manager1", "manager2", "manager3", "worker1", "worker2")
WANTED = yaml.safe_load((drill.INVENTORY / "group_vars/all/main.yml").read_text())
LAB = yaml.safe_load((drill.INVENTORY / "group_vars/all/main.yml").read_text())["molecule_lab"]


@pytest.fixture(scope="module")
def load():
    with Load(drill.urls(), rate=20, failover=True) as running:
        yield running


on = drill.on  # run a command once on a lab node; reads use drill.output


def snapshot(host) -> dict:
    """What a refused run must leave as it was."""
    ids = host.check_output("docker service ls --quiet").split()
    services = json.loads(host.check_output("docker service inspect " + " ".join(ids)))
    return {
        "nodes": {name: (n["ID"], n["Spec"]["Role"], n["Spec"]["Availability"])
                  for name, n in drill.nodes(host).items()},
        "services": {s["Spec"]["Name"]: s["Version"]["Index"] for s in services},
        "daemon.json": {name: hashlib.sha256(drill.read(name, "/etc/docker/daemon.json")).hexdigest()
                        for name in HOSTS},
        "engines": {name: drill.output(name, "systemctl", "is-active", "docker") for name in HOSTS},
    }


def refused(playbook: str, *extra: str, says: str, inventory: Path | None = None) -> drill.Run:
    run = drill.play(playbook, *extra, ok=False, inventory=inventory)
    assert run.returncode != 0, run.stdout[-3000:]
    assert says in run.stdout, run.stdout[-3000:]
    return run


def state(name: str) -> str:
    return drill.output(name, "docker", "info", "--format", "{{.Swarm.LocalNodeState}}")


def daemon_options(**more) -> str:
    return json.dumps({"docker_engine_daemon_options": {**WANTED["docker_engine_daemon_options"], **more}})


def test_the_cluster_starts_healthy(host, load):
    drill.start_healthy(host)


def test_check_mode_on_the_converged_cluster_has_nothing_to_do(host, load):
    before = snapshot(host)
    run = drill.play("site.yml", "--check")
    assert run.changed and set(run.changed.values()) == {0}, run.changed
    assert snapshot(host) == before


def test_a_type_error_in_any_input_stops_the_run_before_the_first_host_is_touched(host, load):
    run = refused("site.yml", "-e", "swarm_node_availability=drian",
                  says="value of swarm_node_availability must be one of: active, pause, drain, got: drian")
    assert "TASK [docker_engine" not in run.stdout and "Gathering Facts" not in run.stdout
    refused("deploy.yml", "-e", "stacks_resolve_image=sometimes",
            says="value of stacks_resolve_image must be one of: always, changed, never, got: sometimes")
    # The group names are fixed; the variable that once named them would be ignored in silence.
    run = refused("swarm.yml", "-e", "swarm_manager_group=control",
                  says="swarm_manager_group is no longer read: the kit's inventory groups are named swarm_managers")
    assert "TASK [swarm" not in run.stdout


def test_a_typo_in_the_log_driver_is_refused_before_any_daemon_json_is_written(host, load):
    before = snapshot(host)
    run = refused("site.yml", "-e", "docker_engine_log_driver=nosuchdriver",
                  says="log-driver 'nosuchdriver' is not a log driver of this engine")
    assert "manager1: daemon.json refused (dockerd --validate of engine" in run.stdout
    assert "nothing was written" in run.stdout
    assert snapshot(host) == before


def test_an_unknown_daemon_option_is_refused_with_the_engines_own_reason(host, load):
    before = snapshot(host)
    # The same check as the log driver's above (dockerd --validate), so through bootstrap.yml, the
    # engine phase site.yml runs after its validation.
    refused("bootstrap.yml", "-e", daemon_options(**{"no-such-option": True}),
            says="the following directives don't match any configuration option: no-such-option")
    assert snapshot(host) == before


def test_a_good_engine_change_on_a_running_swarm_is_left_to_upgrade_yml(host, load):
    before = snapshot(host)
    run = refused("site.yml", "-e", daemon_options(**{"max-concurrent-downloads": 4}),
                  says="engine change pending on 5 swarm nodes (manager1: /etc/docker/daemon.json;")
    assert "apply it with playbooks/upgrade.yml, which drains and restarts one engine at a time" in run.stdout
    assert not [line for line in run.stdout.splitlines() if "changed=" in line and "changed=0" not in line]
    assert snapshot(host) == before


def test_a_hand_edit_is_named_and_the_restart_it_owes_is_not_forgotten(host, load):
    # A setting added by hand (and not applied): the file is newer than the running engine, as when
    # a run wrote it and stopped before its restart. Nothing may restart it behind the admin's back.
    original = drill.output("worker1", "base64", "-w0", "/etc/docker/daemon.json")
    edited = json.dumps({**json.loads(base64.b64decode(original)), "debug": True})
    on("worker1", "sh", "-c", f"printf '%s' '{edited}' > /etc/docker/daemon.json")
    try:
        # bootstrap.yml is site.yml's engine phase (site.yml stops there the same way, later).
        run = refused("bootstrap.yml", says="engine change pending on 1 swarm node (worker1: /etc/docker/daemon.json); "
                                            "apply it with playbooks/upgrade.yml")
        assert ("worker1: /etc/docker/daemon.json has settings the inventory does not manage: debug=true; writing the "
                "file drops them") in " ".join(run.stdout.split())
        assert drill.output("worker1", "docker", "info", "--format", "{{.Debug}}") == "false"  # not restarted
    finally:
        on("worker1", "sh", "-c", f"echo {original} | base64 -d > /etc/docker/daemon.json")
    # As it was: nothing owed, nothing to write.
    assert set(drill.play("bootstrap.yml").changed.values()) == {0}
    # The file as wanted, but the engine not restarted since it was written (the run stopped): owed.
    applied = drill.output("worker1", "cat", "/var/lib/flotilla/daemon.json.applied")
    on("worker1", "sh", "-c", "echo 0 > /var/lib/flotilla/daemon.json.applied")
    try:
        refused("bootstrap.yml", says="engine change pending on 1 swarm node (worker1: restart (the engine does not "
                                      "run the settings of daemon.json yet))")
    finally:
        on("worker1", "sh", "-c", f"echo {applied} > /var/lib/flotilla/daemon.json.applied")


def test_a_new_manager_run_alone_joins_the_existing_swarm(host, load):
    cluster = host.check_output("docker info --format '{{.Swarm.Cluster.ID}}'")
    lab = ["up", f"--name={LAB['name']}", f"--subnet={LAB['subnet']}", "--workers=2",
           f"--inventory={drill.INVENTORY / 'hosts.yml'}"]
    subprocess.run([sys.executable, "-m", "flotilla", "lab", *lab, "--managers=4"], check=True, capture_output=True)
    run = drill.play("site.yml", "--limit", "manager4", "-e", "swarm_allow_any_manager_count=true")
    # never a second swarm
    assert drill.output("manager4", "docker", "info", "--format", "{{.Swarm.Cluster.ID}}") == cluster
    assert drill.nodes(host)["manager4"]["Spec"]["Role"] == "manager"
    # The nodes the limit left out admitted it in their firewall (role firewall), before the join.
    addr = drill.addresses()["manager4"]
    assert all(f"firewall/tasks/apply.yml for manager4 => (item={name})" in run.stdout for name in HOSTS), \
        run.stdout[-6000:]
    assert all(addr in members(name) for name in HOSTS)
    drill.play("remove-node.yml", "-e", "node=manager4", "-e", "flotilla_confirm=yes")
    subprocess.run([sys.executable, "-m", "flotilla", "lab", *lab, "--managers=3"], check=True, capture_output=True)
    drill.wait(lambda: set(drill.nodes(host)) == set(HOSTS) and drill.healthy(host), 120, "back to 3 + 2")
    # Out of the inventory and the swarm: the next firewall run stops admitting its address.
    run = drill.play("firewall.yml")
    assert all(run.changed[name] > 0 for name in HOSTS), run.stdout[-6000:]
    assert not any(addr in members(name) for name in HOSTS)


def members(name: str) -> list[str]:
    """The sources a node's Flotilla firewall admits to the Swarm ports (IPv4)."""
    table = json.loads(drill.output(name, "nft", "-j", "list", "set", "inet", "flotilla", "members4"))["nftables"]
    return next(item["set"] for item in table if "set" in item).get("elem", [])


def test_a_locked_manager_is_unlocked_with_the_key_and_never_made_to_leave(host, load):
    host.check_output("docker swarm update --autolock=true")
    key = host.check_output("docker swarm unlock-key --quiet").strip()
    try:
        on("manager3", "systemctl", "restart", "docker")
        drill.wait(lambda: state("manager3") == "locked",
                   60, "manager3 locked")
        before = snapshot(host)
        for extra in ((), ("-e", "swarm_repair_nodes=true")):
            refused("site.yml", *extra, says="manager3: its engine is locked (autolock is on and the engine restarted)")
            assert state("manager3") == "locked"
            assert snapshot(host)["nodes"] == before["nodes"]
        # With the key (and every log line shown) the swarm phase of site.yml unlocks the manager; the
        # key is never printed.
        run = drill.play("swarm.yml", "-vvv", "-e", f"swarm_unlock_key={key}", "-e", "swarm_autolock=true")
        assert key not in run.stdout
        assert state("manager3") == "active"
        drill.wait(lambda: drill.healthy(host), 120, "healthy with manager3 unlocked")
        # A backup of an autolocked swarm makes a new unlock key (it archives with autolock off): with
        # nowhere to keep that key, it is refused before any engine stops.
        engines = snapshot(host)["engines"]
        refused("backup.yml", says="not backing up: autolock is on, and the backup turns it off while it archives")
        assert snapshot(host)["engines"] == engines
    finally:
        host.run("docker swarm update --autolock=false")


def test_a_run_is_refused_while_another_holds_the_cluster_lock(host, load):
    # Another controller's run holds the lock (made here as roles/swarm/library/swarm_lock.py does).
    now = int(time.time())
    labels = {"run": "elsewhere-4242-1", "user": "alice", "controller": "elsewhere", "pid": 4242,
              "playbook": "upgrade.yml", "since": now, "expires": now + 3600}
    host.run("docker config rm flotilla-lock")  # a refused run above left its own (taken over by the next)
    host.check_output("echo held | docker config create " + " ".join(
        f"--label io.flotilla.lock.{k}={v}" for k, v in labels.items()) + " flotilla-lock -")
    try:
        before = snapshot(host)
        refused("site.yml", says="another Flotilla run holds the cluster lock: alice@elsewhere (ansible-playbook pid "
                                 "4242, upgrade.yml)")
        assert snapshot(host) == before
    finally:
        host.run("docker config rm flotilla-lock")


def test_a_node_left_drained_by_an_aborted_upgrade_gets_its_availability_back(host, load):
    host.check_output("docker node update --availability drain worker2")  # as a failed upgrade.yml leaves it
    run = drill.play("upgrade.yml")
    assert "worker2: engine packages and daemon.json as wanted; not touched" in run.stdout
    assert drill.nodes(host)["worker2"]["Spec"]["Availability"] == "active"
    assert not host.check_output("docker config ls --quiet --filter name=flotilla-lock")  # released at the end


def test_a_confirmation_in_the_inventory_does_not_count(host, load, tmp_path):
    inventory = tmp_path / "inventory"
    shutil.copytree(drill.INVENTORY, inventory)
    (inventory / "group_vars/all/confirm.yml").write_text("flotilla_confirm: 'yes'\n")
    before = snapshot(host)
    refused("reset.yml", "--limit", "worker2", says="flotilla_confirm from the inventory does not count",
            inventory=inventory)
    assert snapshot(host) == before


def test_restore_refuses_a_limit_and_archives_that_fail_their_manifest(host, load, tmp_path):
    archive = tmp_path / "swarm-x-20260101T000000Z.tar.gz"
    archive.write_bytes(b"not a swarm backup")
    before = snapshot(host)
    refused("restore.yml", "--limit", "manager1", "-e", f"backup={archive}", says="--limit manager1 is in force")
    refused("restore.yml", "-e", f"backup={archive}",
            says="the manifest backup.yml writes beside the archive, is missing")
    Path(f"{archive}.json").write_text(json.dumps({"sha256": "0" * 64, "manager": "manager1"}))
    refused("restore.yml", "-e", f"backup={archive}", says="does not match the sha256 in its manifest")
    Path(f"{archive}.json").write_text(json.dumps({"sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}))
    refused("restore.yml", "-e", f"backup={archive}", says="a restore rebuilds a swarm that is gone")
    assert snapshot(host) == before


# Four services Swarm will not bring up, in one stack: the deploy names each with Swarm's reason.
PROBES = {
    "nowhere": ("""
    image: flotilla/demo-web:1
    deploy: {mode: global, placement: {constraints: ["node.labels.flotilla-nowhere == yes"]}}""",
                "probe_nowhere: no node can run this global service (none is ready, active and matches "
                "node.labels.flotilla-nowhere == yes); it runs nowhere"),
    "unplaced": ("""
    image: flotilla/demo-web:1
    deploy: {placement: {constraints: ["node.labels.flotilla-nowhere == yes"]}}""",
                 "probe_unplaced: Swarm cannot place task probe_unplaced.1 ("),
    "missing": ("""
    image: flotilla/no-such-image:1""", "No such image: flotilla/no-such-image:1"),
    "finished": ("""
    image: flotilla/demo-web:1
    command: ["python3", "-c", "pass"]
    deploy: {restart_policy: {condition: on-failure}}""", "probe_finished: slot 1 is empty: task probe_finished.1 ("),
}


def test_services_swarm_cannot_run_fail_the_deploy_each_with_swarms_reason(host, load, tmp_path):
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe/compose.yml").write_text(
        "services:\n" + "".join(f"  {case}:{service}\n" for case, (service, _) in sorted(PROBES.items())))
    try:
        run = drill.play("deploy.yml", "-e", f"stacks_dir={tmp_path}", "-e", "stack=probe",
                         "-e", "stacks_unplaced_grace=5", ok=False)
        assert run.returncode != 0, run.stdout[-3000:]
        failure = [line for line in run.stdout.splitlines() if "stack probe: " in line]
        assert failure, run.stdout[-3000:]
        for case, (_, reason) in sorted(PROBES.items()):
            assert reason in failure[0], (case, failure[0])
        assert "not converged after" not in run.stdout  # Swarm's reasons, not the timeout
    finally:
        host.run("docker stack rm probe")
        drill.wait(lambda: not host.check_output(
            "docker service ls --quiet --filter label=com.docker.stack.namespace=probe"), 60, "probe removed")


def test_the_demo_never_failed_a_request(host, load):
    summary = load.summary()
    drill.record("safety", requests=summary.total, failed=summary.failed, redispatched=summary.redispatched)
    assert summary.total > 0 and summary.failed == 0, summary


def test_a_node_whose_service_discovery_is_broken_is_named_by_the_deploy(host):
    # Gossip (7946) cut on worker2: its engine no longer tells the others where its tasks are, nor
    # learns theirs, as when an engine rejoins a swarm without a restart. New web tasks then
    # resolve on some nodes only; the deploy must not call that converged.
    rules = [(chain, proto) for chain in ("INPUT", "OUTPUT") for proto in ("tcp", "udp")]
    for chain, proto in rules:
        on("worker2", "iptables", "-I", chain, "-p", proto, "--dport", "7946", "-j", "DROP")
    try:
        # New web tasks, all at once (an update setting restarts no task; the deploy sets it back).
        host.check_output("docker service update --force --detach --quiet --update-parallelism 0 "
                          "--update-delay 0s --update-monitor 1s demo_web")
        # A broken resolver stays broken: 10 s of retries say so as well as the default 30.
        run = drill.play("deploy.yml", "-e", "stacks_discovery_timeout=10", ok=False)
        assert run.returncode != 0
        broken = [line for line in run.stdout.splitlines() if "service discovery is broken on" in line]
        assert broken and "worker2" in broken[0], run.stdout[-3000:]
    finally:
        for chain, proto in rules:
            on("worker2", "iptables", "-D", chain, "-p", proto, "--dport", "7946", "-j", "DROP")
    # What the message says to do: restart that engine. Then the deploy passes.
    on("worker2", "systemctl", "restart", "docker")
    drill.play("deploy.yml")
    drill.wait(lambda: drill.healthy(host), 180, "healthy after worker2's engine restarted")
