"""Drill `manager_loss`: stop one of three managers; the other two keep quorum.

`host` is manager1. manager3 goes down: a service update is still accepted, the demo answers on
the other nodes, site.yml converges the reachable hosts and names manager3; once its container
runs again manager3 is a reachable manager, and site.yml reports nothing to change.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402

LOST = "manager3"


def test_the_swarm_works_on_without_one_manager(host):
    drill.start_healthy(host)
    node = drill.container(LOST)
    node.stop(timeout=5)
    try:
        drill.wait(lambda: drill.nodes(host)[LOST]["ManagerStatus"]["Reachability"] == "unreachable", 120,
                   f"{LOST} unreachable")  # fmt: skip
        # A write: raft commits it with two of three managers.
        host.check_output("docker service update --detach --label-add flotilla.drill=manager_loss demo_web")
        labels = json.loads(host.check_output("docker service inspect demo_web"))[0]["Spec"]["Labels"]
        assert labels["flotilla.drill"] == "manager_loss"
        host.check_output("docker service update --detach --label-rm flotilla.drill demo_web")
        assert all(drill.answers(url) for url in drill.urls(without=(LOST,)))

        run = drill.play("site.yml", ok=False)
        assert run.returncode == 4, run.stdout[-3000:]  # unreachable host
        assert f"{LOST} did not answer and was left out" in run.stdout, run.stdout[-3000:]
        assert not [line for line in run.stdout.splitlines() if "failed=" in line and "failed=0" not in line], \
            run.stdout[-6000:]
        drill.record("manager_loss", site_yml_seconds_with_a_manager_down=run.seconds)
    finally:
        node.start()


def test_the_manager_comes_back_and_nothing_is_left_to_change(host):
    drill.wait(lambda: drill.healthy(host), 180, f"healthy with {LOST} back")
    assert drill.nodes(host)[LOST]["ManagerStatus"]["Reachability"] == "reachable"
    run = drill.play("site.yml")
    assert set(run.changed.values()) == {0}, run.changed
