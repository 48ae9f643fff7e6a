"""Each role's documented API stays in step: defaults/main.yml, meta/argument_specs.yml, README."""

from pathlib import Path

import pytest
import yaml

from flotilla import specs

ROLES = sorted(p.parent.parent for p in Path("roles").glob("*/meta/argument_specs.yml"))


def load(path):
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


def options(role):
    """The role's inputs: the options of all its entry points (a role such as swarm_node has no main)."""
    return specs.all_options(role.parent)[role.name]


def test_every_role_has_argument_specs_and_a_readme():
    roles = sorted(p for p in Path("roles").iterdir() if p.is_dir())
    assert roles, "no roles found; run pytest from the repository root"
    assert roles == ROLES
    assert all((role / "README.md").is_file() for role in roles)


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_match_argument_specs(role):
    defaults = load(role / "defaults/main.yml")
    declared = options(role)
    assert set(defaults) == set(declared)
    for name, spec in declared.items():
        assert spec.get("default") == defaults[name], name
        assert name.startswith(f"{role.name}_"), f"{name} is not prefixed with the role name"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_lists_every_variable(role):
    readme = (role / "README.md").read_text(encoding="utf-8")
    missing = [name for name in options(role) if f"| `{name}` |" not in readme]
    assert not missing, f"{role.name}/README.md lacks rows for {missing}"
