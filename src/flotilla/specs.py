"""The kit's roles as inputs: their entry points, the variables each reads, their argument specs.

Ansible checks a role's argument specs only for the entry point in use, and only when that entry
point starts: a bad type in an input of a later role would otherwise pass every earlier play,
including ones that change hosts. `inputs`, `given_inputs` and `input_errors` are what
playbooks/inputs.yml checks every input with before anything changes (through the action
`flotilla_inputs`), with `inventory_problems` for the inventory's groups; the other functions are
what tests/unit/test_specs.py holds the roles to (every entry point another file names has specs,
each spec covers the variables it reads, no input is dead)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROLE_ACTIONS = ("include_role", "import_role")
TASK_ACTIONS = ("include_tasks", "import_tasks")
NESTED = ("block", "rescue", "always")


@dataclass(frozen=True)
class EntryPoint:
    """A role entry point another file runs: `include_role: {name: role, tasks_from: entry}`."""

    role: str
    entry: str
    where: str  # file that names it, for messages


def _action(task: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        for key in (name, f"ansible.builtin.{name}"):
            if key in task:
                return task[key]
    return None


def walk(tasks: Any) -> Iterator[dict[str, Any]]:
    """Every task of a task list, blocks included (depth first, in file order)."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in NESTED:
            yield from walk(task.get(key))


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def role_calls(path: Path) -> list[EntryPoint]:
    """The entry points of roles a playbook or task file runs with tasks_from (main is implied otherwise)."""
    data = _load(path) or []
    plays = data if path.parent.name == "playbooks" else [{"tasks": data}]
    calls = []
    for play in plays:
        if not isinstance(play, dict):
            continue
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            for task in walk(play.get(section)):
                args = _action(task, ROLE_ACTIONS)
                if isinstance(args, dict) and "name" in args:
                    calls.append(EntryPoint(args["name"], str(args.get("tasks_from", "main")), str(path)))
    return calls


def included_files(path: Path) -> list[str]:
    """Task files of the same role a task file includes or imports (names as written)."""
    names = []
    for task in walk(_load(path)):
        args = _action(task, TASK_ACTIONS)
        name = args.get("file") if isinstance(args, dict) else args
        if isinstance(name, str) and "{{" not in name:
            names.append(name)
    return names


def task_closure(role_dir: Path, entry: str) -> list[Path]:
    """The entry point's task file and every task file of the role it includes, transitively."""
    seen: list[Path] = []
    todo = [role_dir / "tasks" / f"{entry}.yml"]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.append(path)
        todo.extend(role_dir / "tasks" / name for name in included_files(path))
    return seen


def defaults(role_dir: Path) -> dict[str, Any]:
    values: dict[str, Any] = _load(role_dir / "defaults" / "main.yml") or {}
    return values


def dependencies(role_dir: Path) -> list[str]:
    """The roles a role depends on (meta/main.yml), transitively: their defaults are the role's too."""
    found: list[str] = []
    todo = [role_dir]
    while todo:
        meta = _load(todo.pop() / "meta" / "main.yml") or {}
        for dep in meta.get("dependencies") or []:
            name = dep.get("role") if isinstance(dep, dict) else dep
            if isinstance(name, str) and name not in found:
                found.append(name)
                todo.append(role_dir.parent / name)
    return found


def argument_specs(role_dir: Path) -> dict[str, Any]:
    entries: dict[str, Any] = (_load(role_dir / "meta" / "argument_specs.yml") or {}).get("argument_specs", {})
    return entries


def templates_rendered(paths: list[Path], role_dir: Path) -> list[Path]:
    """The role's templates the task files render (``template: src:``)."""
    found = []
    for path in paths:
        for task in walk(_load(path)):
            args = _action(task, ("template",))
            src = args.get("src") if isinstance(args, dict) else None
            if isinstance(src, str) and (role_dir / "templates" / src).is_file():
                found.append(role_dir / "templates" / src)
    return found


def entry_reads(role_dir: Path, entry: str, names: set[str]) -> set[str]:
    """Which of ``names`` an entry point reads: in its task files, the templates they render, and
    the role's internal variables (vars/*.yml) those use, transitively."""
    files = task_closure(role_dir, entry)
    texts = [path.read_text() for path in files + templates_rendered(files, role_dir)]
    internal: dict[str, str] = {}
    for path in sorted((role_dir / "vars").glob("*.yml")):
        for name, value in (_load(path) or {}).items():
            internal[name] = internal.get(name, "") + "\n" + yaml.safe_dump(value)
    used: set[str] = set()
    frontier = list(texts)
    while frontier:
        blob = "\n".join(frontier)
        frontier = []
        for name, text in internal.items():
            if name not in used and re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", blob):
                used.add(name)
                frontier.append(text)
    blob = "\n".join(texts + [internal[name] for name in used])
    return {name for name in names if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", blob)}


def variables_read(paths: list[Path], names: set[str]) -> set[str]:
    """Which of `names` the files mention (as whole words)."""
    found = set()
    for path in paths:
        text = path.read_text()
        found |= {name for name in names if re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", text)}
    return found


def all_options(roles_dir: Path) -> dict[str, dict[str, Any]]:
    """Per role, the options of all its entry points in one spec (they share one set of defaults).

    An option is defined once per role; entry points reuse its definition, so a clash is a bug
    in the role's argument_specs.yml and is raised.
    """
    result: dict[str, dict[str, Any]] = {}
    for role_dir in sorted(p for p in roles_dir.iterdir() if (p / "meta" / "argument_specs.yml").is_file()):
        options: dict[str, Any] = {}
        for entry, spec in argument_specs(role_dir).items():
            for name, option in (spec.get("options") or {}).items():
                if name in options and options[name] != option:
                    raise ValueError(f"{role_dir.name}: option {name} of entry point {entry} differs from its "
                                     "definition in another entry point; define it once")
                options[name] = option
        result[role_dir.name] = options
    return result


def type_only(options: dict[str, Any]) -> dict[str, Any]:
    """The options as validate_argument_spec checks inputs given in the inventory or with -e.

    Top-level defaults are dropped (an input left out is the role default's business, and a default
    such as "{{ playbook_dir }}/.." is not a value to check), and so is `required`; the options of
    a dict or list of dicts are checked as written.
    """
    keep = ("type", "choices", "elements", "no_log", "options")
    return {name: {key: value for key, value in option.items() if key in keep} for name, option in options.items()}


def inputs(roles_dir: Path) -> dict[str, Any]:
    """Every role's options in one spec, as validate_argument_spec checks the inventory and -e values.

    Each variable belongs to one role (its name starts with the role's prefix); a variable that two
    roles define differently is raised.
    """
    merged: dict[str, Any] = {}
    for role, options in all_options(roles_dir).items():
        for name, option in type_only(options).items():
            if name in merged and merged[name] != option:
                raise ValueError(f"option {name} of role {role} differs from another role's definition")
            merged[name] = option
    return merged


def given_inputs(
    spec: dict[str, Any], given: dict[str, Any], template: Callable[[Any], Any]
) -> tuple[dict[str, Any], list[str]]:
    """The values of the inputs that are set (inventory, -e), templated, and the names left aside.

    ``template`` resolves a value with the roles' defaults under the inventory; a value it cannot
    resolve (a vault variable this run does not load, a fact not gathered yet) is left aside, not
    fatal: the role that reads it checks it when it starts, as Ansible does.
    """
    values: dict[str, Any] = {}
    unresolved: list[str] = []
    for name in spec:
        if name not in given:
            continue
        try:
            values[name] = template(given[name])
        except Exception:  # any template error: the role's own check reports it later
            unresolved.append(name)
    return values, unresolved


def input_errors(spec: dict[str, Any], values: dict[str, Any], errors: list[str]) -> str:
    """One line for the admin from the validator's errors; values of no_log inputs never appear."""
    secrets = [str(values[name]) for name, option in spec.items()
               if option.get("no_log") and name in values and str(values[name])]
    line = "; ".join(errors)
    for secret in secrets:
        line = line.replace(secret, "********")
    return line


# Variables that once named the inventory groups; the groups are now swarm_managers and swarm_workers.
GONE_INPUTS = re.compile(r"^swarm_(manager|worker)_group$")

# Facts the kit sets during a run (documented in the role READMEs and reachable.yml). Set in the
# inventory or with -e they would stand for this run's own findings (a lock it never took, stacks
# it never checked, hosts it never probed), so they are refused before the run starts.
# tests/unit/test_specs.py holds this list to facts_set() of the roles and playbooks.
RUN_FACTS = (
    "docker_engine_drift", "docker_engine_pending", "flotilla_unreachable", "ingress_https", "ingress_routes",
    "ingress_rules", "ingress_tls_hosts", "ingress_tls_pem", "stacks_docker_api", "stacks_plans", "status_report",
    "swarm_cluster", "swarm_encryption", "swarm_ipvs_available", "swarm_lock_held", "swarm_node_removed",
)


def facts_set(paths: list[Path]) -> set[str]:
    """The public facts (names without a leading underscore) that the task files and playbooks
    ``paths`` set with set_fact or register."""
    found: set[str] = set()
    for path in paths:
        data = _load(path) or []
        plays = data if path.parent.name == "playbooks" else [{"tasks": data}]
        for play in plays:
            if not isinstance(play, dict):
                continue
            for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                for task in walk(play.get(section)):
                    facts = _action(task, ("set_fact",))
                    names = [*(facts if isinstance(facts, dict) else {}), task.get("register") or ""]
                    found |= {name for name in names if name and not name.startswith("_") and name != "cacheable"}
    return found


def inventory_problems(host: str, groups: dict[str, list[str]], names: list[str], whole: bool) -> list[str]:
    """What is wrong with the inventory, one sentence per problem naming the fix.

    ``names`` are the variables set for ``host`` (checked before the run sets any fact): one that
    named a group once would now be ignored in silence; one of ``RUN_FACTS`` would stand for what
    the run finds. With ``whole`` (one host of the run reports for the whole inventory) also the
    groups: the manager group must have hosts, and no host may be in both groups.
    """
    problems = []
    taken = [name for name in RUN_FACTS if name in names]
    if taken:
        problems.append(
            f"{host}: {' and '.join(taken)} {'is a fact' if len(taken) == 1 else 'are facts'} the kit sets during "
            "a run; remove it from the inventory and the command line"
        )
    gone = sorted(name for name in names if GONE_INPUTS.match(name))
    if gone:
        problems.append(
            f"{host}: {' and '.join(gone)} {'is' if len(gone) == 1 else 'are'} no longer read: the kit's "
            "inventory groups are named swarm_managers and swarm_workers; rename the groups in the inventory and "
            "drop the variable"
        )
    if whole:
        managers, workers = groups.get("swarm_managers", []), groups.get("swarm_workers", [])
        if not managers:
            problems.append("inventory group 'swarm_managers' is empty or missing; put at least one host in it "
                            "(see inventory/sample/hosts.yml)")
        both = [name for name in managers if name in workers]
        if both:
            problems.append(f"{', '.join(both)} in both 'swarm_managers' and 'swarm_workers'; "
                            "keep each host in one of the two groups")
    return problems
