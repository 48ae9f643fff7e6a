"""Drill `manager_loss`: stop one of three managers; the other two keep quorum.

`host` is manager1. manager3 goes down: a service update is still accepted, the demo answers on
the other nodes, site.yml converges the reachable hosts and names manager3; once its container
runs again manager3 is a reachable manager, and site.yml reports nothing to change.

Where the drill inventory runs the monitoring stack (the demo lab's: FLOTILLA_DRILL_INVENTORY=
inventory/lab), its node (monitoring_node) is lost too: nothing alerts until deploy.yml moves the
stack to another manager, which then reports the lost node; once it is back, monitoring moves home.
"""

import json
import sys
import time
from pathlib import Path

import pytest
import yaml

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


def test_monitoring_is_moved_off_its_lost_node_and_back(host):
    if not drill.platform("monitoring"):
        pytest.skip("the drill inventory does not run the monitoring stack (the demo lab's does: "
                    "FLOTILLA_DRILL_INVENTORY=inventory/lab)")
    drill.start_healthy(host)
    address = drill.addresses()
    managers = list(yaml.safe_load((drill.INVENTORY / "hosts.yml").read_text())
                    ["all"]["children"]["swarm_managers"]["hosts"])  # fmt: skip
    lost = drill.inventory_var("monitoring_node") or managers[0]  # the role's default: the first manager
    assert lost in managers, f"monitoring_node {lost!r} as written in the inventory is not a lab manager"
    spare = next(name for name in managers if name != lost)
    node = drill.container(lost)
    figures: dict[str, float] = {}
    moved = False
    try:
        with drill.alert_sink() as sink:
            stopped, stopped_at = time.monotonic(), time.time()
            node.stop(timeout=5)
            down = time.monotonic()
            try:
                # Prometheus and Alertmanager ran there: nothing is sent at all, not even that the
                # node is down (the limit roles/monitoring/README.md writes down). With monitoring
                # on another node, NodeDown arrives in about 30 s.
                time.sleep(60)
                sent = [n.labels for n in sink.seen if n.received > down]
                assert not sent, f"notices from a monitoring stack that was lost: {sent}"
                # The admin moves the stack to another manager; it starts there with empty data.
                moved = True
                run = drill.play("deploy.yml", "-e", "stack=monitoring", "-e", f"monitoring_node={spare}", ok=False)
                assert run.returncode == 4, run.stdout[-3000:]  # the lost node is unreachable
                assert not [line for line in run.stdout.splitlines() if "failed=" in line and "failed=0" not in line], \
                    run.stdout[-6000:]
                figures["deploy_to_another_manager"] = run.seconds
                figures["prometheus_ready_after_the_deploy"] = drill.wait(
                    lambda: drill.answers(f"http://{address[spare]}:9090/-/ready"), 120, f"Prometheus on {spare}")
                alert = sink.wait("NodeDown", 120, since=stopped, node=lost)
                figures["node_down_alert_after_the_stop"] = round(alert.received - stopped, 1)
            finally:
                node.start()
            returned = time.monotonic()
            # Resolved by the moved stack, before it moves home (a stack removed while its alert
            # fires never sends the resolved notice).
            resolved = sink.wait("NodeDown", 180, "resolved", since=returned, node=lost)
            figures["resolved_after_the_return"] = round(resolved.received - returned, 1)
    finally:
        if moved:  # home again, also after a failure: the later drills expect the inventory's node
            drill.wait(lambda: drill.healthy(host), 180, f"healthy with {lost} back")
            home = drill.play("deploy.yml", "-e", "stack=monitoring")
            figures["deploy_back_home"] = home.seconds
    drill.wait(lambda: drill.answers(f"http://{address[lost]}:9090/-/ready"), 120, f"Prometheus on {lost} again")
    tasks = host.check_output("docker service ps monitoring_prometheus --filter desired-state=running "
                              "--format '{{.Node}}'")
    assert tasks.split() == [lost], tasks
    # Home with its history: the samples from before the loss are there.
    before = drill.prometheus(f"/api/v1/query?query=count(up)&time={stopped_at - 30:.0f}", lost)["data"]["result"]
    assert before, "no samples from before the loss on the monitoring node"
    # The moved stack's volumes are removed as roles/monitoring/README.md tells the admin: first the
    # stopped task containers that hold them (Swarm keeps them as task history), then the volumes;
    # so that a next move starts with empty data again.
    remove = ("docker ps -aq --filter status=exited --filter volume=monitoring_prometheus "
              "--filter volume=monitoring_alertmanager | xargs -r docker rm && "
              "docker volume rm -f monitoring_prometheus monitoring_alertmanager")
    drill.wait(lambda: drill.on(spare, "sh", "-c", remove) is not None, 60,
               f"the moved stack's volumes removed on {spare}")
    drill.record("monitoring_loss", lost=lost, moved_to=spare, **figures)
