"""Drill `worker_loss`: stop a worker that runs web tasks; the swarm reschedules them.

`host` is manager1. The time from the stop until demo_web runs 4/4 again without the worker is
recorded (a benchmark figure, not an assertion).
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402


def web_tasks(host) -> list[dict]:
    out = host.check_output("docker service ps demo_web --filter desired-state=running --format '{{json .}}'")
    return [json.loads(line) for line in out.splitlines()]


def test_web_tasks_of_a_lost_worker_run_elsewhere(host):
    drill.start_healthy(host)
    worker = next((t["Node"] for t in web_tasks(host) if t["Node"].startswith("worker")), "worker1")
    node = drill.container(worker)
    node.stop(timeout=5)
    stopped = time.monotonic()
    try:
        down = drill.wait(lambda: drill.nodes(host)[worker]["Status"]["State"] == "down", 120, f"{worker} down")
        back = drill.wait(
            lambda: (tasks := web_tasks(host)) and len(tasks) == 4
            and all(t["Node"] != worker and t["CurrentState"].startswith("Running") for t in tasks),
            180, "demo_web at 4/4 without " + worker,
        )  # fmt: skip
        full = round(time.monotonic() - stopped, 1)
        assert all(drill.answers(url) for url in drill.urls(without=(worker,)))
    finally:
        node.start()
    drill.record("worker_loss", worker=worker, seconds_until_down=down, seconds_until_4_of_4=full, after_down=back)
    drill.wait(lambda: drill.healthy(host), 180, "healthy with the worker back")
