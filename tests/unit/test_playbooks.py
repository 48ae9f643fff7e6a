"""Declarations of the playbooks that decide how a run fails (read from the YAML, no cluster)."""

from pathlib import Path

import yaml


def plays(name: str) -> list[dict]:
    return [p for p in yaml.safe_load(Path("playbooks", name).read_text()) if "hosts" in p]


def test_reset_stops_every_host_at_the_first_failure():
    assert [p.get("any_errors_fatal") for p in plays("reset.yml")] == [True, True]


def test_confirmations_read_the_command_line_only():
    # playbooks/tasks/confirm.yml is the one place a confirmation is read; no playbook reads a
    # plain `confirm` variable that group_vars could set.
    for path in Path("playbooks").glob("*.yml"):
        text = path.read_text()
        assert "confirm | default" not in text, path
    confirm = Path("playbooks/tasks/confirm.yml").read_text()
    assert confirm.count("lookup('flotilla_extra_var', 'flotilla_confirm')") == 2


def test_every_playbook_that_takes_the_cluster_lock_releases_it():
    for name in ("backup.yml", "deploy.yml", "swarm.yml", "upgrade.yml", "remove-node.yml", "reset.yml"):
        last = yaml.safe_load(Path("playbooks", name).read_text())[-1]
        assert last.get("ansible.builtin.import_playbook") == "release.yml", name
