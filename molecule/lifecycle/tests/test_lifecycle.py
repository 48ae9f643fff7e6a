"""Scenario `lifecycle`: edit the inventory, run the real playbooks, check the live swarm.

It runs last, on the lab the `default` scenario converged (after the drills and `stacks`). The
tests run in file order, each building on the previous one. They work on a copy of default's
inventory (the lab rewrites hosts.yml when it adds a node; the copy re-applies the edits) that
reshapes the swarm and nothing else: it leaves out the demo (the first test removes the demo stack)
and pins the engines as the lab runs them (the `upgrade` drill moved them). `host` is manager1,
which stays a manager throughout and answers `docker node ...`.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402

LAB = yaml.safe_load((drill.INVENTORY / "group_vars/all/main.yml").read_text())["molecule_lab"]
LABELS = {group: yaml.safe_load((drill.INVENTORY / f"group_vars/{group}.yml").read_text())["swarm_node_labels"]
          for group in ("swarm_managers", "swarm_workers")}


class Inventory:
    """A copy of default's inventory with group moves and host_vars applied on top."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.moves: dict[str, str] = {}
        self.dropped: set[str] = set()
        shutil.copytree(drill.INVENTORY / "group_vars", root / "group_vars")
        (root / "group_vars/all/demo.yml").unlink()  # no stacks, no images to ship
        # The engines as they run (package version and daemon.json): nothing for site.yml to change
        # there. Written into main.yml, which pins them: of the files in group_vars/all/, the one
        # Ansible reads last (sorted by name) wins.
        main = root / "group_vars/all/main.yml"
        settings = yaml.safe_load(main.read_text())
        version = drill.output("manager1", "dpkg-query", "-W", "-f", "${Version}", "docker.io")
        settings["docker_engine_version"] = version
        # (metrics-addr is each node's own address: docker_engine_metrics_address sets it, where the
        # inventory serves the engines' metrics.)
        running = json.loads(drill.read("manager1", "/etc/docker/daemon.json"))
        settings["docker_engine_daemon_options"] = {k: v for k, v in running.items() if k != "metrics-addr"}
        main.write_text(yaml.safe_dump(settings))
        (root / "host_vars").mkdir()
        self.write()

    def write(self) -> None:
        data = yaml.safe_load((drill.INVENTORY / "hosts.yml").read_text())
        groups = data["all"]["children"]
        for name, group in self.moves.items():
            for members in groups.values():
                if name in members["hosts"]:
                    groups[group]["hosts"][name] = members["hosts"].pop(name)
                    break
        for name in self.dropped:
            for members in groups.values():
                members["hosts"].pop(name, None)
        (self.root / "hosts.yml").write_text(yaml.safe_dump(data))

    def move(self, name: str, group: str) -> None:
        self.moves[name] = group
        self.write()

    def drop(self, name: str) -> None:
        self.dropped.add(name)
        self.write()

    def labels(self, name: str, labels: dict) -> None:
        (self.root / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump({"swarm_node_labels": labels}))


def run(inventory: Inventory, playbook: str, *extra: str) -> drill.Run:
    """Run a playbook against the edited inventory, with no terminal (a prompt gets no answer)."""
    return drill.play(playbook, *extra, ok=False, inventory=inventory.root)


def play(inventory: Inventory, playbook: str, *extra: str) -> dict[str, int]:
    """Run a playbook; fail the test with its output if it fails; return changed= per host."""
    return drill.play(playbook, *extra, inventory=inventory.root).changed


def lab(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "flotilla", "lab", *args], check=True, capture_output=True, text=True)


def assert_healthy(host, managers: set[str], workers: set[str]) -> dict[str, dict]:
    current = drill.nodes(host)
    assert set(current) == managers | workers
    assert {name for name, n in current.items() if n["Spec"]["Role"] == "manager"} == managers
    assert all(current[m]["ManagerStatus"]["Reachability"] == "reachable" for m in managers)
    assert sum(1 for m in managers if current[m]["ManagerStatus"].get("Leader")) == 1
    assert all(n["Status"]["State"] == "ready" for n in current.values())
    return current


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    return Inventory(tmp_path_factory.mktemp("inventory"))


def only_the_firewall(run: drill.Run, but: tuple[str, ...] = ()) -> bool:
    """Whether every host but those of ``but`` changed nothing but its firewall (role firewall) in ``run``."""
    others = {name: tasks for name, tasks in run.changed_tasks.items() if name not in but}
    # Every host the recap counts changes for has them named (the parse missed nothing).
    assert all(name in others for name, count in run.changed.items() if count and name not in but), (
        run.changed, others)
    assert all(task.startswith("firewall : ") for tasks in others.values() for task in tasks), others
    return True


def members(name: str) -> list[str]:
    """The sources a node's Flotilla firewall admits to the Swarm ports (IPv4)."""
    table = json.loads(drill.output(name, "nft", "-j", "list", "set", "inet", "flotilla", "members4"))["nftables"]
    return next(item["set"] for item in table if "set" in item).get("elem", [])


def test_start_from_the_converged_swarm(host):
    drill.start_healthy(host)
    assert_healthy(host, {"manager1", "manager2", "manager3"}, {"worker1", "worker2"})
    # The swarm alone from here on: the demo and monitoring stacks go (its inventory copy enables no stack).
    host.check_output("docker stack rm demo" + (" monitoring" if drill.platform("monitoring") else ""))
    drill.wait(lambda: not host.check_output("docker service ls --quiet"), 60, "the stacks removed")


def test_promote_a_worker_and_demote_a_manager(host, inventory):
    inventory.move("worker1", "swarm_managers")
    inventory.move("manager3", "swarm_workers")
    changed = play(inventory, "swarm.yml")   # site.yml's swarm phase (site.yml runs on this inventory below)
    assert changed["manager1"] >= 1  # the role changes run on the bootstrap manager
    current = assert_healthy(host, {"manager1", "manager2", "worker1"}, {"manager3", "worker2"})
    # Labels follow the new group (replace semantics): manager3 now carries the workers' labels.
    assert current["manager3"]["Spec"]["Labels"] == LABELS["swarm_workers"]
    assert current["worker1"]["Spec"]["Labels"] == LABELS["swarm_managers"]


def test_change_labels_and_availability(host, inventory):
    inventory.labels("worker2", {"tier": "app", "gpu": True, "rack": 3})
    inventory.labels("manager3", {})
    (inventory.root / "host_vars/manager2.yml").write_text("swarm_node_availability: drain\n")
    play(inventory, "swarm.yml")
    current = drill.nodes(host)
    assert current["worker2"]["Spec"]["Labels"] == {"tier": "app", "gpu": "true", "rack": "3"}
    assert current["manager3"]["Spec"]["Labels"] == {}
    assert current["manager2"]["Spec"]["Availability"] == "drain"
    # Nothing left to do: the next runs on these settings change nothing but the firewall for a new
    # node (test_add_a_node_...), then nothing (test_remove_a_powered_off_node's re-run).


def test_reset_one_host_with_limit(host, inventory):
    reset = ("reset.yml", "--limit", "worker2", "-e", "reset_remove_engine=true")
    # No flotilla_confirm=yes and no terminal to answer: --limit must not skip the question.
    refused = run(inventory, *reset)
    assert refused.returncode != 0
    assert "not confirmed; nothing changed" in refused.stdout, refused.stdout[-3000:]
    assert drill.nodes(host)["worker2"]["Status"]["State"] == "ready"

    token = drill.output("manager1", "docker", "swarm", "join-token", "--quiet", "worker")
    play(inventory, *reset, "-e", "flotilla_confirm=yes")
    assert_healthy(host, {"manager1", "manager2", "worker1"}, {"manager3"})
    # worker2 knew the join tokens: the swarm that stays has new ones.
    assert drill.output("manager1", "docker", "swarm", "join-token", "--quiet", "worker") != token
    worker2 = drill.container("worker2")
    assert worker2.exec_run(["dpkg-query", "--show", "docker.io"]).exit_code != 0  # purged
    left = worker2.exec_run(["sh", "-c", "find /var/lib/docker /var/lib/containerd -mindepth 1 2>/dev/null"])
    assert left.output.decode().split() == []
    # Again, on a host with no engine: nothing left to do.
    assert set(play(inventory, *reset, "-e", "flotilla_confirm=yes").values()) == {0}
    # worker2 is still in the inventory: the next test's site.yml installs the engine again and joins
    # it, with the new node.


def test_add_a_node_and_bring_back_the_reset_one_changes_only_them(host, inventory):
    lab(
        "up", f"--name={LAB['name']}", f"--subnet={LAB['subnet']}", "--managers=3", "--workers=3",
        f"--inventory={drill.INVENTORY / 'hosts.yml'}",
    )  # fmt: skip
    inventory.write()  # the lab rewrote hosts.yml with worker3; re-apply the moves
    # --check with fresh hosts (worker3, and worker2 that the reset left without an engine) predicts
    # without failing: the engine it would install on them, nothing on the converged hosts, and
    # nothing done anywhere. The others change only their firewall, which admits worker3 (role firewall).
    fresh = ("worker2", "worker3")
    before = {name: node["Spec"] for name, node in drill.nodes(host).items()}
    predicted = drill.play("site.yml", "--check", inventory=inventory.root)
    assert all(predicted.changed[name] > 0 for name in fresh), predicted.changed
    assert only_the_firewall(predicted, but=fresh)
    assert {name: node["Spec"] for name, node in drill.nodes(host).items()} == before
    assert all(drill.container(name).exec_run(["sh", "-c", "command -v dockerd"]).exit_code != 0 for name in fresh)
    changed = drill.play("site.yml", inventory=inventory.root)
    assert all(changed.changed[name] > 0 for name in fresh), changed.changed
    assert only_the_firewall(changed, but=fresh)
    assert all(drill.addresses()["worker3"] in members(name) for name in drill.addresses())
    current = assert_healthy(host, {"manager1", "manager2", "worker1"}, {"manager3", "worker2", "worker3"})
    assert current["worker3"]["Spec"]["Labels"] == LABELS["swarm_workers"]
    # worker2 joined again with its host_vars labels (test_change_labels_and_availability's).
    assert current["worker2"]["Spec"]["Labels"] == {"tier": "app", "gpu": "true", "rack": "3"}


def test_remove_a_powered_off_node(host, inventory):
    old_token = drill.output("manager1", "docker", "swarm", "join-token", "--quiet", "worker")
    worker3_addr = drill.addresses()["worker3"]
    worker3 = drill.container("worker3")
    worker3.stop(timeout=5)
    play(inventory, "remove-node.yml", "-e", "node=worker3", "-e", "flotilla_confirm=yes")
    inventory.drop("worker3")
    assert_healthy(host, {"manager1", "manager2", "worker1"}, {"manager3", "worker2"})
    # worker3 knew the join tokens: remove-node.yml rotated them. Back up and out of the swarm,
    # it cannot join again with the token it had.
    assert drill.output("manager1", "docker", "swarm", "join-token", "--quiet", "worker") != old_token
    worker3.start()
    drill.wait(lambda: worker3.exec_run(["docker", "info"]).exit_code == 0, 90, "worker3's engine up")
    assert worker3.exec_run(["docker", "swarm", "leave", "--force"]).exit_code == 0
    manager1 = f"{drill.addresses()['manager1']}:2377"
    joined = worker3.exec_run(["docker", "swarm", "join", "--token", old_token, manager1])
    assert joined.exit_code != 0 and b"valid join token" in joined.output, joined.output
    # The lab as default made it (worker3's container gone from it and from hosts.yml).
    lab(
        "up", f"--name={LAB['name']}", f"--subnet={LAB['subnet']}", "--managers=3", "--workers=2",
        f"--inventory={drill.INVENTORY / 'hosts.yml'}",
    )  # fmt: skip
    # The swarm matches the edited inventory; the firewalls stop admitting worker3, then nothing is left to change.
    changed = drill.play("swarm.yml", inventory=inventory.root)
    assert only_the_firewall(changed) and not any(worker3_addr in members(name) for name in drill.addresses())
    assert set(play(inventory, "swarm.yml").values()) == {0}


def test_remove_node_refuses_to_break_quorum(host, inventory):
    container = drill.container("manager2")
    container.stop(timeout=5)
    try:
        deadline = time.monotonic() + 90
        while drill.nodes(host)["manager2"]["ManagerStatus"]["Reachability"] != "unreachable":
            assert time.monotonic() < deadline, "manager2 still reachable 90 s after it stopped"
            time.sleep(2)
        result = run(inventory, "remove-node.yml", "-e", "node=worker1", "-e", "flotilla_confirm=yes")
        assert result.returncode != 0
        assert "would leave 1 reachable of 2 managers" in result.stdout
        assert "worker1" in drill.nodes(host)
    finally:
        container.start()
