"""Drill `worker_loss`: stop a worker that runs web tasks; the swarm reschedules them. Where the
drill inventory runs the platform (the demo lab's: FLOTILLA_DRILL_INVENTORY=inventory/lab), the
monitoring stack's alerts reach a webhook on the controller and the worker's logs are read from
the node that keeps every node's journal.

`host` is manager1. The time from the stop until demo_web runs 4/4 again without the worker, and
until each alert arrived, are recorded (benchmark figures); NodeDown must arrive within 60 s.
"""

import contextlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402


def web_tasks(host) -> list[dict]:
    out = host.check_output("docker service ps demo_web --filter desired-state=running --format '{{json .}}'")
    return [json.loads(line) for line in out.splitlines()]


# The monitoring stack as site.yml left it: its configuration valid by promtool, the shipped rules
# passing their own tests (stacks/monitoring/tests/rules_test.yml, in the lab's image, on the
# controller that built it), every node's exporters scraped, no alert firing (but BackupTooOld).
def test_monitoring_reads_every_node_and_nothing_fires(host):
    if not drill.platform("monitoring"):
        pytest.skip("the drill inventory does not run the monitoring stack (the demo lab's does: "
                    "FLOTILLA_DRILL_INVENTORY=inventory/lab)")
    rules = subprocess.run(
        ["docker", "run", "--rm", "-v", f"{drill.PROJECT / 'stacks/monitoring'}:/m:ro", "-w", "/m/tests",
         "--entrypoint", "promtool", "flotilla/monitoring:2", "test", "rules", "rules_test.yml"],
        capture_output=True, text=True, check=False)
    assert rules.returncode == 0 and "SUCCESS" in rules.stdout, rules.stdout + rules.stderr
    task = host.check_output("docker ps -q --filter label=com.docker.swarm.service.name=monitoring_prometheus")
    checked = host.check_output(f"docker exec {task} promtool check config /etc/prometheus/prometheus.yml 2>&1")
    assert "SUCCESS" in checked, checked

    # The engines' own metrics too, where the inventory has them served (docker_engine_metrics_address).
    jobs = ("node", "swarm") + (("engine",) if drill.inventory_var("monitoring_engine_metrics_port", 0) else ())

    def scraped() -> dict[str, set[str]]:
        targets = drill.prometheus("/api/v1/targets")["data"]["activeTargets"]
        return {job: {t["labels"]["instance"] for t in targets if t["labels"]["job"] == job and t["health"] == "up"}
                for job in jobs}

    nodes = set(drill.addresses())
    drill.wait(lambda: scraped() == dict.fromkeys(jobs, nodes), 90, "every node's exporters scraped")
    leader = drill.prometheus("/api/v1/query?query=flotilla_swarm_node_up")["data"]["result"]
    assert {r["metric"]["node"]: r["value"][1] for r in leader} == dict.fromkeys(nodes, "1")
    # (BackupTooOld is the truth on a lab whose last backup.yml is over 26 h old, and is about backups.)
    active = drill.prometheus("/api/v1/alerts")["data"]["alerts"]
    alerts = [a for a in active if a["labels"]["alertname"] != "BackupTooOld"]
    assert alerts == []


def test_web_tasks_of_a_lost_worker_run_elsewhere(host):
    drill.start_healthy(host)
    worker = next((t["Node"] for t in web_tasks(host) if t["Node"].startswith("worker")), "worker1")
    node = drill.container(worker)
    # With the monitoring stack (the demo lab's inventory), it tells: NodeDown reaches the webhook
    # within a minute; a service pinned to the lost worker (created by hand, as an admin pins a
    # database) runs 0 of its 1 task, which is ServiceBelowWanted after a minute of it; both are
    # resolved once the worker is back. (Swarm itself stops wanting a global service's task on a
    # down node: those are not below.) With central logs, the worker's lines are read while it is down.
    watched, logged = drill.platform("monitoring"), drill.platform("logs")
    pinned = "flotilla-drill-pinned"
    figures: dict[str, float] = {}
    with drill.alert_sink() if watched else contextlib.nullcontext() as sink:
        node.stop(timeout=5)
        stopped = time.monotonic()
        if watched:
            host.check_output(f"docker service create --detach --quiet --name {pinned} --constraint "
                              f"node.hostname=={worker} --stop-grace-period 1s --no-resolve-image flotilla/demo-web:1")
        try:
            down = drill.wait(lambda: drill.nodes(host)[worker]["Status"]["State"] == "down", 120, f"{worker} down")
            back = drill.wait(
                lambda: (tasks := web_tasks(host)) and len(tasks) == 4
                and all(t["Node"] != worker and t["CurrentState"].startswith("Running") for t in tasks),
                180, "demo_web at 4/4 without " + worker,
            )  # fmt: skip
            full = round(time.monotonic() - stopped, 1)
            assert all(drill.answers(url) for url in drill.urls(without=(worker,)))
            if logged:
                # The worker's demo_web lines outlive it: read from the controller by service, node
                # and time on the node that keeps every node's journal (role logs), while it is down.
                logs = drill.play("logs.yml", "-e", "service=demo_web", "-e", f"node={worker}", "-e", "since=1d",
                                  "-e", "grep=listening on")
                assert re.search(rf"Z {worker} demo_web\.\d+\.\w+: demo web \S+ listening on :8000", logs.stdout), \
                    logs.stdout[-3000:]
            if watched:
                alert = sink.wait("NodeDown", max(0.0, stopped + 60 - time.monotonic()), node=worker)
                figures["seconds_until_node_down_alert"] = round(alert.received - stopped, 1)
                assert figures["seconds_until_node_down_alert"] <= 60, figures
                below = sink.wait("ServiceBelowWanted", 120, since=stopped, service=pinned)
                figures["seconds_until_service_below_wanted_alert"] = round(below.received - stopped, 1)
                assert not sink.seen_any("ServiceBelowWanted", service="demo_web"), "demo_web was rescheduled"
        finally:
            node.start()
        if watched:
            returned = time.monotonic()
            try:
                resolved = sink.wait("NodeDown", 120, "resolved", since=returned, node=worker)
                figures["seconds_until_resolved_after_return"] = round(resolved.received - returned, 1)
                sink.wait("ServiceBelowWanted", 60, "resolved", since=returned, service=pinned)
            finally:
                host.check_output(f"docker service rm {pinned}")
    drill.record("worker_loss", worker=worker, seconds_until_down=down, seconds_until_4_of_4=full, after_down=back,
                 **figures)
    drill.wait(lambda: drill.healthy(host), 180, "healthy with the worker back")
