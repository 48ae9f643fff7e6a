"""Drill `upgrade`: a real package upgrade of every node's engine under HTTP load.

The default scenario installed docker.io at FROM (its inventory pins it); upgrade.yml moves every
node to TO, managers one at a time, then workers. The load goes to every node's :8080 with
failover, as a load balancer in front of the nodes would send it: a node being drained refuses
connections and its requests go to the next node. No request may fail; the number redispatched,
the total and the time are recorded.
"""

import json
import sys
import time
from pathlib import Path

import yaml

from flotilla.load import Load

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402

WANTED = yaml.safe_load((drill.INVENTORY / "group_vars/all/main.yml").read_text())
FROM = WANTED["docker_engine_version"]
TO = "26.1.5+dfsg1-9+deb13u1+b1"
# A daemon.json change rides along: site.yml refuses engine changes on a running swarm (the safety
# scenario checks that); upgrade.yml applies them one drained node at a time.
OPTIONS = json.dumps({"docker_engine_daemon_options": {**WANTED["docker_engine_daemon_options"],
                                                       "max-concurrent-downloads": 4}})


def versions() -> dict[str, str]:
    return {
        name: drill.output(name, "dpkg-query", "-W", "-f", "${Version}", "docker.io")
        for name in drill.addresses()
    }


def test_upgrade_under_load_loses_no_request(host):
    drill.start_healthy(host)
    assert set(versions().values()) == {FROM}
    with Load(drill.urls(), rate=20, failover=True) as load:
        time.sleep(2)
        run = drill.play("upgrade.yml", "-e", f"docker_engine_version={TO}", "-e", OPTIONS)
        time.sleep(2)
    summary = load.summary()
    drill.record("upgrade", upgrade_yml_seconds=run.seconds, requests=summary.total, failed=summary.failed,
                 redispatched=summary.redispatched, p99_ms=summary.p99_ms, max_ms=summary.max_ms)  # fmt: skip
    assert summary.failed == 0, summary
    assert set(versions().values()) == {TO}
    assert run.stdout.count(f"docker.io {FROM} -> {TO}") >= len(drill.addresses()), run.stdout[-4000:]
    for name in drill.addresses():
        config = json.loads(drill.read(name, "/etc/docker/daemon.json"))
        assert config["max-concurrent-downloads"] == 4, name
    drill.wait(lambda: drill.healthy(host), 180, "healthy after the upgrade")


def test_a_second_upgrade_touches_nothing(host):
    run = drill.play("upgrade.yml", "-e", f"docker_engine_version={TO}", "-e", OPTIONS)
    assert set(run.changed.values()) == {0}, run.changed
