"""Scenario `security`: rotate the swarm's credentials on the lab `default` converged.

`host` is manager1. The demo is under load (with a load balancer's failover, as in `safety`)
for the scenario's rotations: rotating the tokens and the root CA must not cost a request. A stack
with an encrypted overlay network deploys only where every node's kernel can encrypt. Last, with
the load's check done: autolock end to end (every manager restarted, a lost quorum, the unlock key
rotated, refusals with nodes powered off).
"""

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

from flotilla.load import Load

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402

HOSTS = ("manager1", "manager2", "manager3", "worker1", "worker2")
MANAGERS = HOSTS[:3]


@pytest.fixture(scope="module")
def load():
    with Load(drill.urls(), rate=20, failover=True) as running:
        yield running


def tokens() -> dict[str, str]:
    return {role: drill.output("manager1", "docker", "swarm", "join-token", "--quiet", role)
            for role in ("worker", "manager")}


def trust_roots(host) -> tuple[str, dict[str, str]]:
    """The swarm's root CA certificate, and the one each node trusts."""
    swarm = json.loads(drill.output("manager1", "docker", "info", "--format", "{{json .Swarm.Cluster.TLSInfo}}"))
    return swarm["TrustRoot"], {name: n["Description"]["TLSInfo"]["TrustRoot"] for name, n in drill.nodes(host).items()}


def test_the_cluster_starts_healthy(host, load):
    drill.start_healthy(host)


def test_check_mode_says_what_it_would_rotate_and_rotates_nothing(host, load):
    before, (root, _) = tokens(), trust_roots(host)
    run = drill.play("rotate.yml", "-e", "swarm_rotate_ca=true", "--check")
    assert "--check: the worker and manager join tokens would be rotated on manager1" in run.stdout
    assert "--check: the swarm's root CA would be rotated on manager1" in run.stdout
    assert run.changed["manager1"] == 2 and set(run.changed.values()) - {2} == {0}, run.changed
    assert tokens() == before
    assert trust_roots(host)[0] == root


def test_rotate_join_tokens_and_root_ca_without_a_token_in_the_output(host, load):
    before, (root, _) = tokens(), trust_roots(host)
    run = drill.play("rotate.yml", "-e", "swarm_rotate_ca=true", "-vvv")
    after = tokens()
    assert after["worker"] != before["worker"] and after["manager"] != before["manager"]
    leaked = [role for role, token in [*before.items(), *after.items()] if token in run.stdout]
    assert leaked == [], f"join tokens in rotate.yml's output: {leaked}"
    # Every node trusts the new root CA, and each got a new certificate (about 90 days left).
    new_root, trusted = trust_roots(host)
    assert new_root != root
    assert trusted == {name: new_root for name in HOSTS}
    assert any("certificate ends" in line and "days left" in line for line in run.stdout.splitlines()), \
        "no certificate report in rotate.yml's output"
    for name in HOSTS:
        assert any(line.strip().strip('",').startswith(name) and line.rstrip('",').endswith(("89", "90"))
                   for line in run.stdout.splitlines()), f"{name} missing from the certificate report"
    assert '"WARNING: ' not in run.stdout  # the report's warnings (not Ansible's own "[WARNING]")
    drill.wait(lambda: drill.healthy(host), 120, "healthy after the rotation")


def spec() -> dict:
    return json.loads(drill.output("manager1", "docker", "info", "--format", "{{json .Swarm.Cluster}}"))


def test_a_settings_change_after_a_ca_rotation_keeps_the_rotation_counter(host, load):
    # The rotation raised the swarm's CA rotation counter. docker_swarm sends an update with only
    # the options a task gives: swarm.yml gives the counter too, or a settings change would set it
    # back to 0, which Swarm takes as an order to rotate the CA again.
    counter = spec()["Spec"]["CAConfig"]["ForceRotate"]
    limit = spec()["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"]
    assert counter >= 1
    try:
        assert sum(drill.play("swarm.yml", "-e", f"swarm_task_history_limit={limit + 1}").changed.values()) > 0
        changed = spec()
        assert changed["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == limit + 1
        assert changed["Spec"]["CAConfig"]["ForceRotate"] == counter
        assert not changed.get("RootRotationInProgress"), "a settings change started a CA rotation"
    finally:
        drill.play("swarm.yml")
    # Back as the inventory says. (swarm.yml's changed=0 after the rotation is the autolock test's,
    # with the key kept in the vault file.)
    assert spec()["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == limit


ENCRYPTED = """
services:
  web:
    image: flotilla/demo-web:1
    networks: [secure]
networks:
  secure:
    driver: overlay
    driver_opts: {encrypted: ""}
"""


def test_an_encrypted_network_deploys_only_where_every_kernel_can_encrypt(host, load, tmp_path):
    # What the probe asks each kernel (roles/swarm/library/swarm_preflight.py): an ESP association
    # with AES-GCM, in a network namespace of its own. This machine's kernel has no ESP.
    can = {name: drill.container(name).exec_run([
        "unshare", "--net", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2", "proto", "esp",
        "spi", "0x100", "reqid", "1", "mode", "transport", "aead", "rfc4106(gcm(aes))", "0x" + "11" * 20, "128",
    ]).exit_code == 0 for name in HOSTS}  # fmt: skip
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc/compose.yml").write_text(ENCRYPTED)
    try:
        run = drill.play("deploy.yml", "-e", f"stacks_dir={tmp_path}", "-e", "stack=enc", ok=all(can.values()))
        networks = json.loads(host.check_output(
            "docker network inspect $(docker network ls --quiet --filter name=enc_secure) 2>/dev/null || echo []"))
        if all(can.values()):
            assert [n["Options"].get("encrypted") is not None for n in networks] == [True]
        else:
            without = ", ".join(name for name in HOSTS if not can[name])
            assert run.returncode != 0
            assert ("networks.secure is encrypted (driver_opts encrypted), but an IPsec ESP association with AES-GCM, "
                    f"what Docker encrypts with, failed on {without}: ") in run.stdout, run.stdout[-3000:]
            assert networks == []  # refused before anything was created
            assert not host.check_output("docker service ls --quiet --filter label=com.docker.stack.namespace=enc")
    finally:
        host.run("docker stack rm enc")
        drill.wait(lambda: not host.check_output(
            "docker network ls --quiet --filter label=com.docker.stack.namespace=enc"), 60, "enc removed")


def test_a_backup_without_a_key_to_encrypt_to_is_refused_and_an_encrypted_one_needs_its_key(host, load, tmp_path):
    engines = {name: drill.output(name, "systemctl", "is-active", "docker") for name in HOSTS}
    run = drill.play("backup.yml", "-e", '{"swarm_backup_age_recipients": []}', "-e", f"swarm_backup_dir={tmp_path}",
                     ok=False)  # fmt: skip
    assert run.returncode != 0
    assert "not backing up: swarm_backup_age_recipients is empty" in run.stdout, run.stdout[-3000:]
    assert list(tmp_path.iterdir()) == []
    assert {name: drill.output(name, "systemctl", "is-active", "docker") for name in HOSTS} == engines
    # An encrypted archive and no key to open it: refused on the controller, before any host is read.
    archive = tmp_path / "swarm-x-20260101T000000Z.tar.gz.age"
    archive.write_bytes(b"age-encryption.org/v1\n")
    Path(f"{archive}.json").write_text(json.dumps(
        {"sha256": hashlib.sha256(archive.read_bytes()).hexdigest(), "encrypted": "age", "manager": "manager1"}))
    run = drill.play("restore.yml", "-e", f"backup={archive}", "-e", "swarm_restore_age_identity=", ok=False)
    assert run.returncode != 0
    assert f"not restoring: {archive.name} is encrypted with age, and swarm_restore_age_identity is empty" in run.stdout


def kek_versions() -> dict[str, str]:
    """Which unlock key each manager's raft key is encrypted with (the header Swarm writes)."""
    key = "/var/lib/docker/swarm/certificates/swarm-node.key"
    return {name: drill.output(name, "sed", "-n", "s/^kek-version: *//p", key) for name in MANAGERS}


def engine_states() -> dict[str, str]:
    return {name: drill.output(name, "docker", "info", "--format", "{{.Swarm.LocalNodeState}}") for name in MANAGERS}


# --- Role firewall: a stranger on the lab network (a container that is no node) ------------------

STRANGER = """
for addr in {addrs}; do
  for port in {ports}; do
    ( timeout 3 bash -c "</dev/tcp/$addr/$port" 2>/dev/null; rc=$?
      case $rc in 0) said=open;; 124) said=silent;; *) said=refused;; esac
      echo "$addr $port $said" ) &
  done
  {udp}
done
wait
"""


def stranger(ports=(2377, 7946, 8080), udp=False) -> dict[tuple[str, int], str]:
    """What a container on the lab network that is not a node gets from each node's TCP ports
    (open, refused, silent: dropped); with ``udp``, it also sends each node a packet on 7946/udp
    and 4789/udp (nothing answers: the nodes' counters say what was dropped)."""
    node = drill.container("manager1")
    network = next(iter(node.attrs["NetworkSettings"]["Networks"]))
    script = STRANGER.format(addrs=" ".join(drill.addresses().values()), ports=" ".join(map(str, ports)),
                             udp="echo probe > /dev/udp/$addr/7946; echo probe > /dev/udp/$addr/4789" if udp else ":")
    out = node.client.containers.run(node.image.id, ["bash", "-c", script], network=network, remove=True)
    names = {addr: name for name, addr in drill.addresses().items()}
    return {(names[a], int(p)): said for a, p, said in (line.split() for line in out.decode().splitlines())}


def dropped(counter: str) -> dict[str, int]:
    """Packets each node's Flotilla table dropped, by counter (swarm_dropped, published_dropped)."""
    return {name: json.loads(drill.output(name, "nft", "-j", "list", "counter", "inet", "flotilla", counter))
            ["nftables"][1]["counter"]["packets"] for name in HOSTS}


def digests() -> dict[str, str]:
    """The digest each node's loaded table carries, read as the role reads it (nft's plain listing)."""
    found = {name: re.search(r'comment "(flotilla [0-9a-f]+)"',
                             drill.output(name, "nft", "list", "table", "inet", "flotilla")) for name in HOSTS}
    assert all(found.values()), f"a table without Flotilla's digest on {[n for n, m in found.items() if not m]}"
    return {name: match.group(1) for name, match in found.items() if match}


def controller() -> str:
    """The controller's address on the lab network, as the nodes see it (the network's gateway)."""
    node = drill.container("manager1")
    network = node.client.networks.get(next(iter(node.attrs["NetworkSettings"]["Networks"])))
    return network.attrs["IPAM"]["Config"][0]["Gateway"]


def test_a_stranger_reaches_the_published_port_and_no_swarm_port(host, load):
    before = dropped("swarm_dropped")
    said = stranger()
    assert {k: v for k, v in said.items() if k[1] == 8080} == {(name, 8080): "open" for name in HOSTS}
    assert {k: v for k, v in said.items() if k[1] != 8080} == {(n, p): "silent" for n in HOSTS for p in (2377, 7946)}
    # Its UDP packets to 7946 and 4789 are dropped too (no answer to wait for: the counters say it),
    # counted apart from the TCP probes' SYNs and their retries.
    tcp = dropped("swarm_dropped")
    assert all(tcp[name] >= before[name] + 2 for name in HOSTS), (before, tcp)
    assert stranger(ports=(), udp=True) == {}
    after = dropped("swarm_dropped")
    assert all(after[name] >= tcp[name] + 2 for name in HOSTS), (tcp, after)
    assert drill.healthy(host)   # the members still talk


def test_a_published_port_limited_to_some_sources_and_back(host, load):
    limited = json.dumps({"firewall_published_ports": [{"port": 8080, "sources": [controller()]}]})
    before = dropped("published_dropped")
    run = drill.play("firewall.yml", "-e", limited)
    assert all(run.changed[name] > 0 for name in HOSTS), run.changed
    assert set(drill.play("firewall.yml", "-e", limited).changed.values()) == {0}
    try:
        assert set(stranger(ports=(8080,)).values()) == {"silent"}
        after = dropped("published_dropped")
        assert all(after[name] > before[name] for name in HOSTS), (before, after)
        assert all(drill.answers(url) for url in drill.urls())   # the controller is still served
    finally:
        drill.play("firewall.yml")
    assert set(stranger(ports=(8080,)).values()) == {"open"}


def test_a_rule_set_that_would_cut_the_controllers_ssh_is_refused_before_anything_changes(host, load):
    before = digests()
    run = drill.play("firewall.yml", "-e", '{"firewall_ssh_sources": ["192.0.2.0/24"]}', ok=False)
    assert run.returncode != 0
    assert ("manager1: firewall_ssh_sources (192.0.2.0/24) does not admit the controller's own SSH connection "
            f"from {controller()}; add it (or its network) to firewall_ssh_sources") in run.stdout, run.stdout[-3000:]
    assert digests() == before
    assert not any(run.changed.values()), run.changed


def test_a_table_deleted_by_hand_is_put_back_there_only(host, load):
    before = digests()
    drill.on("worker2", "nft", "delete", "table", "inet", "flotilla")
    run = drill.play("firewall.yml")
    assert run.changed["worker2"] == 1 and {n: c for n, c in run.changed.items() if n != "worker2"} == \
        dict.fromkeys((n for n in run.changed if n != "worker2"), 0), run.changed
    assert digests() == before


def test_the_demo_never_failed_a_request(host, load):
    summary = load.summary()
    drill.record("security", requests=summary.total, failed=summary.failed, redispatched=summary.redispatched)
    assert summary.total > 0 and summary.failed == 0, summary


# Last, after the load's check: it powers managers off (a lost quorum) and a worker, whose requests
# time out until the load balancer gives up on them.
def test_autolock_keeps_its_key_in_the_vault_unlocks_every_manager_and_rotates_it(host, tmp_path, monkeypatch):
    password = b"the lab's vault password"
    (tmp_path / "vault-password").write_bytes(password + b"\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(tmp_path / "vault-password"))
    kept = tmp_path / "unlock-key.vault.yml"
    try:
        # Turned on with no file to keep the key in: the run says the command that keeps it, never the key.
        run = drill.play("swarm.yml", "-e", "swarm_autolock=true", "-vvv")
        key = drill.unlock_key()
        assert key.startswith("SWMKEY-1-") and key not in run.stdout
        assert "WARNING: autolock is on and swarm_unlock_key is empty" in run.stdout, run.stdout[-3000:]
        assert (f"ssh root@{drill.addresses()['manager1']} docker swarm unlock-key -q | ansible-vault encrypt_string "
                "--stdin-name swarm_unlock_key > inventory/<yours>/group_vars/all/unlock-key.vault.yml") in run.stdout
        # With swarm_unlock_key_file the kit writes it there, encrypted; then the inventory has it: changed=0.
        keep = ("-e", "swarm_autolock=true", "-e", f"swarm_unlock_key_file={kept}")
        run = drill.play("swarm.yml", *keep, "-vvv")
        assert key not in run.stdout and key not in kept.read_text()
        assert kept.read_text().startswith("swarm_unlock_key: !vault |")
        assert drill.vaulted(kept, password) == key
        keep += ("-e", f"@{kept}")
        assert set(drill.play("swarm.yml", *keep).changed.values()) == {0}

        # Every manager's engine restarted: all locked, no quorum. The swarm phase of site.yml (swarm.yml:
        # site.yml would also bring the engines back to the inventory's version, which the upgrade drill
        # moved) unlocks them all, before it takes the cluster lock.
        for name in MANAGERS:
            drill.on(name, "systemctl", "restart", "docker")
        drill.wait(lambda: set(engine_states().values()) == {"locked"}, 60, "every manager locked")
        run = drill.play("swarm.yml", *keep, "-vvv")
        assert key not in run.stdout
        assert set(engine_states().values()) == {"active"}
        drill.wait(lambda: drill.healthy(host), 120, "healthy with every manager unlocked")

        # Quorum lost with autolock on: Docker cannot force a new cluster from a locked state, so
        # recover.yml refuses before it touches anything; the managers back, swarm.yml unlocks them.
        for name in ("manager2", "manager3"):  # powered off, as in the quorum_loss drill
            drill.container(name).stop(timeout=5)
        run = drill.play("recover.yml", "-e", "flotilla_confirm=yes", *keep, ok=False)
        assert run.returncode != 0
        assert "not recovering: autolock is on (manager1's raft key is encrypted with the unlock key)" in run.stdout, \
            run.stdout[-3000:]
        assert drill.output("manager1", "docker", "info", "--format", "{{.Swarm.LocalNodeState}}") == "active"
        for name in ("manager2", "manager3"):
            drill.container(name).start()
        drill.wait(lambda: engine_states() == {"manager1": "active", "manager2": "locked", "manager3": "locked"},
                   120, "manager2 and manager3 back, locked")
        # Powered on again (a new network namespace), before any playbook: flotilla-firewall.service
        # loaded the same table at boot.
        assert len(set(digests().values())) == 1, digests()
        drill.play("swarm.yml", *keep)
        drill.wait(lambda: drill.healthy(host), 120, "healthy with manager2 and manager3 unlocked")

        # rotate.yml: a new key, kept once every manager encrypted its raft key with it.
        versions = kek_versions()
        run = drill.play("rotate.yml", *keep, "-vvv")
        new = drill.unlock_key()
        assert new != key and key not in run.stdout and new not in run.stdout
        assert drill.vaulted(kept, password) == new
        after = kek_versions()
        assert len(set(after.values())) == 1, after
        assert all(int(after[m]) > int(versions[m]) for m in MANAGERS), (versions, after)
        # manager2 and worker2 powered off: rotate.yml refuses a new unlock key (manager2 would need the old
        # one) and a new root CA (worker2 would never get its certificate), before anything rotates. (A
        # locked manager is no obstacle: every playbook that takes the cluster lock unlocks it first.)
        for name in ("manager2", "worker2"):  # powered off
            drill.container(name).stop(timeout=5)
        drill.wait(lambda: drill.nodes(host)["worker2"]["Status"]["State"] == "down"
                   and drill.nodes(host)["manager2"]["ManagerStatus"]["Reachability"] == "unreachable",
                   90, "manager2 and worker2 down")
        before = tokens()
        run = drill.play("rotate.yml", *keep, ok=False)
        assert run.returncode != 0 and "not rotating the unlock key: manager2 is down" in run.stdout, run.stdout[-3000:]
        ca_only = ("-e", "swarm_rotate_unlock_key=false", "-e", "swarm_rotate_ca=true")
        run = drill.play("rotate.yml", *keep, *ca_only, ok=False)
        assert run.returncode != 0 and "not rotating the root CA: " in run.stdout, run.stdout[-3000:]
        assert "worker2" in run.stdout.split("not rotating the root CA: ")[1].split("\n")[0]
        assert tokens() == before and drill.unlock_key() == new
        # Back: manager2 restarted after the rotation is locked, and the kept key unlocks it.
        for name in ("manager2", "worker2"):
            drill.container(name).start()
        drill.wait(lambda: engine_states()["manager2"] == "locked", 120, "manager2 back, locked")
        drill.play("swarm.yml", *keep)
        assert engine_states()["manager2"] == "active"
        drill.wait(lambda: drill.healthy(host), 120, "healthy with manager2 unlocked and worker2 back")
    finally:
        # The inventory's setting (autolock off) turns it off again.
        drill.play("swarm.yml")
        assert not drill.autolock()
