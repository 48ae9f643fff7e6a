"""Filters of the status role. The logic is flotilla.status (src/flotilla/status.py), typed and unit-tested;
this file only hands it to Ansible."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from flotilla.status import FILTERS
except ImportError:  # a checkout used without `make setup`: the package is in src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))
    from flotilla.status import FILTERS


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return FILTERS
