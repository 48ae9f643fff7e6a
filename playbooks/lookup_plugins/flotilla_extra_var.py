"""Lookup `flotilla_extra_var`: the value of a variable given on the command line (-e), or "".

    lookup('flotilla_extra_var', 'flotilla_confirm')

Confirmations count only when typed for this run: a `flotilla_confirm: yes` left in group_vars
would answer every later run unasked, and an inventory value is indistinguishable from an -e one
through the usual variable lookup (-e wins, but both look the same). This reads -e alone.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.lookup import LookupBase
from ansible.utils.vars import load_extra_vars

DOCUMENTATION = r"""
name: flotilla_extra_var
short_description: The value of a variable given with -e on the command line, or an empty string
description:
  - Reads the run's extra vars (-e) only; inventory and play variables do not count.
options:
  _terms:
    description: Variable names.
    required: true
"""


class LookupModule(LookupBase):
    def run(self, terms: list[str], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        extra = load_extra_vars(self._loader)
        return [extra.get(term, "") for term in terms]
