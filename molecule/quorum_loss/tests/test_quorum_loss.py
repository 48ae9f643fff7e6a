"""Drill `quorum_loss`: stop two of three managers; the swarm cannot commit anything.

`host` is manager1, the survivor. recover.yml forces a new cluster on it, keeping the services
and workers; once the other managers' containers run again, site.yml makes them rejoin (they come
back "pending" with node IDs the new cluster removed). The time recover.yml takes is recorded.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402

LOST = ("manager2", "manager3")


def test_recover_refuses_while_the_swarm_has_quorum(host):
    drill.start_healthy(host)
    run = drill.play("recover.yml", ok=False)
    assert run.returncode != 0
    assert "not recovering: the swarm has quorum" in run.stdout, run.stdout[-3000:]


def test_recover_after_losing_two_of_three_managers(host):
    for name in LOST:
        drill.container(name).stop(timeout=5)
    # Without a majority, raft elects no leader and the managers refuse every write.
    drill.wait(lambda: host.run("docker node ls").rc != 0, 120, "without a leader")
    update = host.run("docker service update --detach --label-add flotilla.drill=quorum_loss demo_web")
    assert update.rc != 0 and "does not have a leader" in update.stderr, update.stderr

    # It asks first: without an answer (no terminal here) nothing changes.
    unconfirmed = drill.play("recover.yml", ok=False)
    assert "not confirmed; nothing changed" in unconfirmed.stdout, unconfirmed.stdout[-3000:]
    assert host.run("docker node ls").rc != 0
    run = drill.play("recover.yml", "-e", "flotilla_confirm=yes", ok=False)
    assert run.returncode == 4, run.stdout[-4000:]  # the two stopped managers are unreachable
    assert not [line for line in run.stdout.splitlines() if "failed=" in line and "failed=0" not in line], \
        run.stdout[-6000:]
    # The stacks are intact and the reachable nodes serve.
    back = drill.wait(lambda: drill.replicas(host).get("demo_web") == "4/4", 120, "demo_web at 4/4")
    assert all(drill.answers(url) for url in drill.urls(without=LOST))
    assert set(drill.nodes(host)) == set(drill.addresses()) - set(LOST)
    drill.record("quorum_loss", recover_yml_seconds=run.seconds, then_seconds_until_web_4_of_4=back)


def test_the_stopped_managers_rejoin_with_site_yml(host):
    for name in LOST:
        drill.container(name).start()
    # Their engines come back with the old raft state (the new cluster removed them): evicting it is
    # the admin's call. site.yml names them and changes nothing; with swarm_repair_nodes they rejoin.
    drill.wait(lambda: all(drill.container(n).exec_run("docker info").exit_code == 0 for n in LOST), 120, "engines up")
    before = {name: n["ID"] for name, n in drill.nodes(host).items()}
    refused = drill.play("site.yml", ok=False)
    assert refused.returncode != 0
    assert "manager2: it still holds the raft state of the swarm that recover.yml replaced" in refused.stdout, (
        refused.stdout[-3000:])
    assert {name: n["ID"] for name, n in drill.nodes(host).items()} == before
    run = drill.play("site.yml", "-e", "swarm_repair_nodes=true")
    assert run.changed["manager2"] > 0 and run.changed["manager3"] > 0, run.changed
    drill.wait(lambda: drill.healthy(host), 180, "healthy with three managers")
    current = drill.nodes(host)
    assert sorted(n for n, v in current.items() if v["Spec"]["Role"] == "manager") == ["manager1", *LOST]
    assert all(current[n]["Spec"]["Labels"] == {"tier": "control"} for n in LOST)
