"""Lookup `flotilla_argument_specs`: the options of every role of the kit, as one argument spec.

    query('flotilla_argument_specs')

playbooks/validate.yml checks the inventory's and -e values against it before anything changes:
Ansible itself checks a role's argument specs only when the role (or the entry point) starts, after
earlier plays may have changed hosts. The logic lives in flotilla.specs; this is the shim.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

ROOT = Path(__file__).resolve().parents[2]
try:
    from flotilla.specs import inputs
except ImportError:  # the kit run without `pip install -e .`: use the source tree beside the playbooks
    sys.path.insert(0, str(ROOT / "src"))
    from flotilla.specs import inputs

DOCUMENTATION = r"""
name: flotilla_argument_specs
short_description: The options of every role of the kit (meta/argument_specs.yml, all entry points) as one spec
description:
  - Types, choices and element types only; defaults and required are left to the roles.
"""


class LookupModule(LookupBase):
    def run(self, terms: list[str], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        try:
            return [inputs(ROOT / "roles")]
        except ValueError as error:
            raise AnsibleLookupError(str(error)) from error
