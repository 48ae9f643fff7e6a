"""Filters of the logs role. The logic is flotilla.logs (src/flotilla/logs.py), typed and unit-tested;
this file only hands it to Ansible."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

try:
    from flotilla.logs import FILTERS
except ImportError:  # a checkout used without `make setup`: the package is in src/
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))
    from flotilla.logs import FILTERS


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return FILTERS
