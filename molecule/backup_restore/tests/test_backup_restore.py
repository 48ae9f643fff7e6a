"""Drill `backup_restore`: back up, wipe the swarm with reset.yml, restore.yml, with autolock on.

`host` is manager1. The services, the configs (by name and a hash of their data) and the secrets
(by name and ID: their data cannot be read back) are read before the backup and compared after
the restore; the demo must serve again, and site.yml must find nothing to change. Autolock is on
for the whole drill (its key kept by the kit in an ansible-vault file, as an admin's inventory
would): the backup archives with autolock off and turns it on again (a new key, kept), the
restore gives the new cluster autolock again (another new key, kept), and no key shows in any
output.
"""

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import drill  # noqa: E402


def holdings(host) -> dict:
    def inspect(kind):
        ids = host.check_output(f"docker {kind} ls --quiet").split()
        return json.loads(host.check_output(f"docker {kind} inspect " + " ".join(ids))) if ids else []

    # The cluster lock (flotilla-lock) is a run's bookkeeping, not the swarm's content: the
    # manifest leaves it out too (roles/swarm/tasks/objects.yml), and restore.yml removes the one the
    # backup run held.
    return {
        "services": sorted(host.check_output("docker service ls --format '{{.Name}}'").split()),
        "configs": {
            c["Spec"]["Name"]: hashlib.sha256(c["Spec"]["Data"].encode()).hexdigest()
            for c in inspect("config") if c["Spec"]["Name"] != "flotilla-lock"
        },
        "secrets": {s["Spec"]["Name"]: s["ID"] for s in inspect("secret")},
    }


def test_backup_reset_restore_brings_everything_back(host, tmp_path, monkeypatch):
    drill.start_healthy(host)
    before = holdings(host)
    assert before["services"] and before["configs"] and before["secrets"]
    password = b"the lab's vault password"
    (tmp_path / "vault-password").write_bytes(password + b"\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(tmp_path / "vault-password"))
    kept = tmp_path / "unlock-key.vault.yml"
    autolock = ("-e", "swarm_autolock=true", "-e", f"swarm_unlock_key_file={kept}")
    drill.play("swarm.yml", *autolock)
    try:
        drill_with_autolock(host, tmp_path, before, (*autolock, "-e", f"@{kept}"), kept, password)
    finally:
        drill.play("swarm.yml")  # the inventory's setting: autolock off again
    assert not drill.autolock()


def drill_with_autolock(host, tmp_path, before, autolock, kept, password):
    key = drill.unlock_key()
    assert drill.vaulted(kept, password) == key
    backups = tmp_path / "backups"   # made by backup.yml
    backup = drill.play("backup.yml", "-e", f"swarm_backup_dir={backups}", *autolock, "-vvv")
    # Archived with autolock off (a restored manager could not be unlocked alone), then on again:
    # a new key, kept in the vault file; neither key in the output.
    assert drill.autolock()
    key, old = drill.unlock_key(), key
    assert key != old and drill.vaulted(kept, password) == key
    assert old not in backup.stdout and key not in backup.stdout
    (archive,) = [path for path in backups.glob("swarm-*") if not path.name.endswith(".json")]
    manifest = json.loads(Path(f"{archive}.json").read_text())
    assert {k: manifest[k] for k in before} == before
    # Encrypted on the manager (the lab's inventory gives its SSH key as the age recipient): the
    # controller holds no plaintext copy of the swarm's CA key and secrets.
    assert archive.name.endswith(".tar.gz.age") and manifest["encrypted"] == "age"
    assert archive.read_bytes().startswith(b"age-encryption.org/v1\n")
    # The archive holds the swarm's CA key: only its owner reads it, and the manifest vouches for it.
    assert [oct(p.stat().st_mode & 0o777) for p in (backups, archive, Path(f"{archive}.json"))] == [
        "0o700", "0o600", "0o600"]
    assert manifest["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()

    reset = drill.play("reset.yml", "-e", "flotilla_confirm=yes", *autolock)
    assert host.check_output("docker info --format '{{.Swarm.LocalNodeState}}'") == "inactive"
    assert not any(drill.answers(url) for url in drill.urls())

    restore = drill.play("restore.yml", "-e", f"backup={archive}", *autolock, "-vvv")
    assert f"{manifest['manager']} restored from {archive.name}" in restore.stdout
    drill.wait(lambda: drill.healthy(host), 300, "healthy after the restore", every=5)
    assert holdings(host) == before
    drill.record("backup_restore", backup_yml_seconds=backup.seconds, reset_yml_seconds=reset.seconds,
                 restore_yml_seconds=restore.seconds)  # fmt: skip

    # The restored swarm has the inventory's autolock again, with a new key that the run kept.
    assert drill.autolock() and drill.vaulted(kept, password) == drill.unlock_key()
    assert key not in restore.stdout and drill.unlock_key() not in restore.stdout
    run = drill.play("site.yml", *autolock)
    assert set(run.changed.values()) == {0}, run.changed
