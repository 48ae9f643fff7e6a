"""The sample inventory parses with the real ansible-inventory and matches what the roles accept."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent


def inventory(path):
    out = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", path, "--list"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def test_sample_inventory_has_disjoint_manager_and_worker_groups():
    data = inventory("inventory/sample")
    managers = set(data["swarm_managers"]["hosts"])
    workers = set(data["swarm_workers"]["hosts"])
    assert len(managers) % 2 == 1
    assert workers
    assert not managers & workers


def test_sample_group_vars_choose_a_valid_engine_source():
    specs = yaml.safe_load(Path("roles/docker_engine/meta/argument_specs.yml").read_text())
    choices = specs["argument_specs"]["main"]["options"]["docker_engine_source"]["choices"]
    for path in ("inventory/sample/group_vars/all/main.yml", "inventory/lab/group_vars/all/main.yml"):
        assert yaml.safe_load(Path(path).read_text())["docker_engine_source"] in choices
