"""The roles' inputs: every entry point has argument specs that cover what it reads; no input is dead.

The first tests hold the kit's own roles and playbooks to that (read from the files, no cluster);
the last ones test flotilla.specs itself on small roles written here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from flotilla import specs

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
PLAYBOOKS = ROOT / "playbooks"


def callers() -> list[specs.EntryPoint]:
    paths = sorted([*PLAYBOOKS.glob("*.yml"), *ROLES.glob("*/tasks/*.yml"), *ROLES.glob("*/handlers/*.yml")])
    return [call for path in paths for call in specs.role_calls(path)]


def entry_points() -> list[tuple[str, str]]:
    roles = {path.parent.parent.name for path in ROLES.glob("*/tasks/main.yml")}
    return sorted({(call.role, call.entry) for call in callers()} | {(role, "main") for role in roles})


def test_the_kit_runs_roles_through_entry_points():
    # The scan below must see the entry points the playbooks use, or the other tests prove nothing.
    found = set(entry_points())
    assert {("swarm", "preflight"), ("swarm_backup", "main"), ("swarm_node", "drain"), ("docker_engine", "restart"),
            ("stacks", "validate")} <= found


@pytest.mark.parametrize(("role", "entry"), entry_points())
def test_every_entry_point_has_argument_specs_covering_what_it_reads(role, entry):
    role_dir = ROLES / role
    spec = specs.argument_specs(role_dir)
    assert entry in spec, f"roles/{role}/meta/argument_specs.yml has no entry point {entry} (tasks_from: {entry})"
    assert specs.task_closure(role_dir, entry), f"roles/{role}/tasks/{entry}.yml is missing"
    read = specs.entry_reads(role_dir, entry, set(specs.defaults(role_dir)))
    declared = set(spec[entry].get("options") or {})
    assert read <= declared, f"{role}/{entry} reads {sorted(read - declared)} without declaring them"


def settings_read(role_dir: Path, entry: str, names: set[str]) -> set[str]:
    """Which of ``names`` an entry point reads, leaving out the ones it only sets (``name:`` keys,
    as in the vars of an include)."""
    read = set()
    for name in specs.entry_reads(role_dir, entry, names):
        texts = [p.read_text() for p in specs.task_closure(role_dir, entry)]
        if any(re.search(rf"(?<![\w.]){name}(?!\w)", re.sub(rf"(?m)^\s*{name}:", "", text)) for text in texts):
            read.add(name)
    return read


@pytest.mark.parametrize(("role", "entry"), entry_points())
def test_an_entry_point_reads_another_roles_settings_only_through_a_dependency(role, entry):
    # A dependency (meta/main.yml) loads the other role's defaults and checks them with its main
    # argument spec whenever this role starts; without one the variable would be undefined.
    role_dir = ROLES / role
    allowed = set(specs.dependencies(role_dir)) | {role}
    for other in sorted(p for p in ROLES.iterdir() if p.name not in allowed and (p / "defaults/main.yml").is_file()):
        read = settings_read(role_dir, entry, set(specs.defaults(other)))
        assert not read, f"{role}/{entry} reads {sorted(read)} of role {other.name} without depending on it"


def include_vars() -> list[tuple[str, str, str, str]]:
    """(including role, included role, variable set, its value) of every include_role with vars or apply."""
    found = []
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        for task in specs.walk(yaml.safe_load(path.read_text())):
            args = task.get("ansible.builtin.include_role")
            if isinstance(args, dict):
                values = {**(task.get("vars") or {}), **{f"apply.{k}": v for k, v in (args.get("apply") or {}).items()}}
                found += [(path.parent.parent.name, args["name"], name, str(value)) for name, value in values.items()]
    return found


def test_include_vars_read_only_defaults_the_included_role_sees():
    # The vars of an include_role are templated in the included role's context, which sees its own
    # defaults, its dependencies', and the including role's own, but not the including role's
    # dependencies' (swarm_backup passing "{{ swarm_maintenance_timeout }}" to docker_engine was
    # undefined there, and left a manager's engine stopped). Such a value is set as a fact first.
    owners = {name: role.name for role in ROLES.iterdir() for name in specs.defaults(role)}
    assert include_vars(), "the scan found no include_role with vars"
    for includer, included, name, value in include_vars():
        seen = {includer, included, *specs.dependencies(ROLES / included)}
        for var, owner in owners.items():
            if owner not in seen and re.search(rf"(?<![\w.]){var}(?!\w)", value):
                raise AssertionError(f"roles/{includer} passes {name}: {value} to role {included}, "
                                     f"which does not see role {owner}'s {var}; set it as a fact first")


@pytest.mark.parametrize("role_dir", sorted(p for p in ROLES.iterdir() if (p / "defaults/main.yml").is_file()),
                         ids=lambda p: p.name)
def test_every_default_is_an_option_and_every_option_has_a_default(role_dir):
    options = specs.all_options(ROLES)[role_dir.name]
    assert set(options) == set(specs.defaults(role_dir))


@pytest.mark.parametrize("role_dir", sorted(p for p in ROLES.iterdir() if (p / "defaults/main.yml").is_file()),
                         ids=lambda p: p.name)
def test_no_input_is_dead(role_dir):
    # A documented variable that nothing reads misleads the admin who sets it.
    names = set(specs.defaults(role_dir))
    dependents = [p for p in ROLES.iterdir() if role_dir.name in specs.dependencies(p)]
    readers = [p for role in [role_dir, *dependents] for p in role.rglob("*") if p.is_file()
               and p.parent.name not in ("defaults", "meta") and p.suffix in (".yml", ".j2", ".py")]
    readers += sorted(PLAYBOOKS.rglob("*.yml"))
    # A platform stack's templates read its role's inputs (stacks/ingress: role ingress).
    readers += sorted(p for p in (ROLES.parent / "stacks" / role_dir.name).rglob("*.j2"))
    assert names - specs.variables_read(readers, names) == set()


def test_an_option_means_the_same_in_every_entry_point_and_role():
    merged = specs.inputs(ROLES)
    assert merged["swarm_node_availability"] == {"type": "str", "choices": ["active", "pause", "drain"]}
    assert merged["swarm_unlock_key"]["no_log"] is True
    assert "default" not in merged["swarm_backup_dir"]  # "{{ playbook_dir }}/.." is the role's, not an input


def test_every_playbook_that_changes_hosts_checks_the_inputs_first():
    checked = {"inputs.yml", "validate.yml"}
    for path in sorted(PLAYBOOKS.glob("*.yml")):
        if path.name in ("inputs.yml", "reachable.yml", "release.yml"):
            continue   # pieces the playbooks import, after inputs.yml
        if path.name.startswith("phase-"):
            # imported after validate.yml; run alone, its first step stops the run
            guard = yaml.safe_load(path.read_text())[0]["pre_tasks"][0]
            assert guard["ansible.builtin.assert"]["that"] == "swarm_cluster is defined", path.name
            continue
        first = next(p for p in yaml.safe_load(path.read_text())
                     if "hosts" in p or "ansible.builtin.import_playbook" in p)
        if path.name == "restore.yml":  # its first play checks that -e backup names a file, on the controller
            first = yaml.safe_load(path.read_text())[1]
        assert first.get("ansible.builtin.import_playbook") in checked, path.name
    validate = yaml.safe_load((PLAYBOOKS / "validate.yml").read_text())
    assert validate[0] == {"name": "Check every input's type and value",
                           "ansible.builtin.import_playbook": "inputs.yml"}


# flotilla.specs on roles written here


def write(root: Path, files: dict[str, object]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    return root


def test_role_calls_are_found_in_blocks_and_handlers(tmp_path):
    playbook = write(tmp_path, {"playbooks/p.yml": [
        {"hosts": "all", "tasks": [{"block": [{"ansible.builtin.include_role": {"name": "r", "tasks_from": "x"}}]}],
         "handlers": [{"import_role": {"name": "r"}}]}]})
    calls = specs.role_calls(playbook / "playbooks/p.yml")
    assert [(c.role, c.entry) for c in calls] == [("r", "x"), ("r", "main")]


def test_task_closure_follows_includes_of_the_role_transitively(tmp_path):
    role = write(tmp_path / "r", {
        "tasks/x.yml": [{"ansible.builtin.import_tasks": "y.yml"}],
        "tasks/y.yml": [{"rescue": [{"include_tasks": {"file": "z.yml"}}]}, {"include_tasks": "{{ dyn }}.yml"}],
        "tasks/z.yml": [{"ansible.builtin.include_tasks": "x.yml"}],  # a loop ends
    })
    assert [p.name for p in specs.task_closure(role, "x")] == ["x.yml", "y.yml", "z.yml"]


def test_variables_read_match_whole_names_only(tmp_path):
    path = write(tmp_path, {"t.yml": "msg: '{{ r_timeout_seconds }} {{ x.r_poll }} {{ r_mode }}'\n"}) / "t.yml"
    assert specs.variables_read([path], {"r_timeout", "r_poll", "r_mode"}) == {"r_mode"}


def test_a_variable_defined_two_ways_is_refused(tmp_path):
    spec = {"argument_specs": {"main": {"options": {"r_a": {"type": "int", "default": 1}}},
                               "x": {"options": {"r_a": {"type": "str", "default": "1"}}}}}
    write(tmp_path, {"r/meta/argument_specs.yml": spec})
    with pytest.raises(ValueError, match="option r_a of entry point x differs"):
        specs.all_options(tmp_path)


def test_inputs_keep_types_and_choices_only(tmp_path):
    spec = {"argument_specs": {"main": {"options": {
        "r_mode": {"type": "str", "choices": ["a", "b"], "default": "a", "required": True, "description": "d"},
        "r_list": {"type": "list", "elements": "dict", "options": {"name": {"type": "str", "required": True}}},
    }}}}
    write(tmp_path, {"r/meta/argument_specs.yml": spec})
    assert specs.inputs(tmp_path) == {
        "r_mode": {"type": "str", "choices": ["a", "b"]},
        "r_list": {"type": "list", "elements": "dict", "options": {"name": {"type": "str", "required": True}}},
    }


@pytest.mark.parametrize(("role", "entry"), [(r, e) for r, e in entry_points() if e != "main"])
def test_every_entry_point_is_in_its_roles_readme(role, entry):
    readme = (ROLES / role / "README.md").read_text()
    assert f"`{entry}`" in readme, f"roles/{role}/README.md does not name its entry point `{entry}`"


def test_given_inputs_are_templated_and_unresolvable_ones_left_to_the_role():
    spec = {"r_a": {"type": "int"}, "r_b": {"type": "str"}, "r_c": {"type": "str"}}

    def template(value):
        if value == "{{ vault_x }}":
            raise ValueError("'vault_x' is undefined")
        return value.replace("{{ r_group }}", "managers") if isinstance(value, str) else value

    values, unresolved = specs.given_inputs(spec, {"r_a": 3, "r_b": "/x/{{ r_group }}", "r_c": "{{ vault_x }}",
                                                   "other": "{{ vault_x }}"}, template)
    assert values == {"r_a": 3, "r_b": "/x/managers"}
    assert unresolved == ["r_c"]


def test_input_errors_never_show_a_secret():
    spec = {"r_key": {"type": "str", "no_log": True}, "r_n": {"type": "int"}}
    line = specs.input_errors(spec, {"r_key": "SWMKEY-1-abc", "r_n": "x"},
                              ["bad r_key: SWMKEY-1-abc is not valid", "r_n: 'x' is not an int"])
    assert line == "bad r_key: ******** is not valid; r_n: 'x' is not an int"


def test_an_entry_point_reads_through_templates_and_the_roles_internal_variables(tmp_path):
    role = write(tmp_path / "r", {
        "tasks/x.yml": [{"ansible.builtin.template": {"src": "f.j2", "dest": "/f"}}, {"debug": {"msg": "{{ __r_a }}"}}],
        "templates/f.j2": "{{ r_in_template }}",
        "vars/main.yml": {"__r_a": "{{ __r_b }}", "__r_b": "{{ r_deep }}", "__r_unused": "{{ r_not_read }}"},
    })
    assert specs.entry_reads(role, "x", {"r_in_template", "r_deep", "r_not_read"}) == {"r_in_template", "r_deep"}


def test_inventory_problems_name_gone_variables_per_host_and_the_groups_once():
    groups = {"swarm_managers": ["m1", "w1"], "swarm_workers": ["w1", "w2"]}
    assert specs.inventory_problems("m1", groups, ["swarm_no_log", "ansible_host"], whole=False) == []
    assert specs.inventory_problems("w2", groups, ["swarm_manager_group", "swarm_worker_group"], whole=False) == [
        "w2: swarm_manager_group and swarm_worker_group are no longer read: the kit's inventory groups are named "
        "swarm_managers and swarm_workers; rename the groups in the inventory and drop the variable"]
    assert specs.inventory_problems("localhost", groups, [], whole=True) == [
        "w1 in both 'swarm_managers' and 'swarm_workers'; keep each host in one of the two groups"]
    assert specs.inventory_problems("localhost", {"swarm_workers": ["w1"]}, ["swarm_worker_group"], whole=True) == [
        "localhost: swarm_worker_group is no longer read: the kit's inventory groups are named swarm_managers and "
        "swarm_workers; rename the groups in the inventory and drop the variable",
        "inventory group 'swarm_managers' is empty or missing; put at least one host in it "
        "(see inventory/sample/hosts.yml)"]


@pytest.mark.parametrize("fact", specs.RUN_FACTS)
def test_a_fact_the_run_sets_is_refused_as_an_input(fact):
    assert specs.inventory_problems("m1", {"swarm_managers": ["m1"]}, [fact, "swarm_no_log"], whole=False) == [
        f"m1: {fact} is a fact the kit sets during a run; remove it from the inventory and the command line"]


def test_run_facts_are_every_public_fact_the_roles_and_playbooks_set():
    paths = sorted(ROOT.glob("roles/*/tasks/*.yml")) + sorted(ROOT.glob("playbooks/**/*.yml"))
    assert set(specs.RUN_FACTS) == specs.facts_set(paths)
