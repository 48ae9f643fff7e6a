"""Filters of the ingress role. The logic is flotilla.ingress (src/flotilla/ingress.py), typed and unit-tested;
this file only hands it to Ansible."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from flotilla.ingress import FILTERS
except ImportError:  # a checkout used without `make setup`: the package is in src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))
    from flotilla.ingress import FILTERS


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return FILTERS
