"""Action `flotilla_inputs`: check this host's inputs (inventory and -e) against every role's specs.

    - flotilla_inputs:

playbooks/inputs.yml runs it first in every playbook that changes hosts. Ansible checks a role's
argument specs only when the role starts, after earlier plays may have changed hosts; this checks
them all at once, before anything changes. Values are templated with the roles' defaults under the
inventory (as the roles would see them); one that cannot be resolved yet is left to the role.
The decisions live in flotilla.specs; this file is the shim.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

ROOT = Path(__file__).resolve().parents[2]
try:
    from flotilla import specs
except ImportError:  # the kit run without `pip install -e .`: use the source tree beside the playbooks
    sys.path.insert(0, str(ROOT / "src"))
    from flotilla import specs

DOCUMENTATION = r"""
name: flotilla_inputs
short_description: Check a host's inputs against the argument specs of every role of the kit
description:
  - Types, choices and element types of every variable the roles declare (all entry points) that
    the inventory or -e sets for this host, and the inventory's groups (the manager group has hosts,
    no host is in both, no variable that once named a group). Fails with one line naming each
    problem (the host and the input, or the group).
options: {}
"""


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        roles = ROOT / "roles"
        try:
            spec = specs.inputs(roles)
        except ValueError as error:
            return {**result, "failed": True, "msg": str(error)}
        # The roles' defaults under the inventory: a value such as "{{ swarm_backup_dir }}/x"
        # resolves as the role would resolve it. Loaded through Ansible, so they template as theirs.
        defaults: dict[str, Any] = {}
        for path in sorted(roles.glob("*/defaults/main.yml")):
            defaults.update(self._loader.load_from_file(str(path)) or {})
        templar = self._templar.copy_with_new_env(available_variables={**defaults, **task_vars})

        def template(value: Any) -> Any:
            try:
                return templar.template(value)
            except AnsibleError as error:
                raise ValueError(str(error)) from error

        values, unresolved = specs.given_inputs(spec, task_vars, template)
        errors = ArgumentSpecValidator(spec).validate(values, validate_role_argument_spec=True).error_messages
        host = task_vars.get("inventory_hostname", "?")
        # The groups once per run: the first host of the play reports them.
        whole = host == next(iter(task_vars.get("ansible_play_hosts") or [host]))
        problems = specs.inventory_problems(host, task_vars.get("groups", {}), list(task_vars), whole)
        if errors:
            problems.insert(0, f"{host}: {specs.input_errors(spec, values, errors)}; fix the value in the inventory "
                               "or on the command line (each role's README lists its variables)")
        result.update(changed=False, checked=sorted(values), unresolved=unresolved)
        if problems:
            result.update(failed=True, msg=". ".join(problems))
        return result
