"""Where Swarm places tasks: which nodes a service may run on.

Pure functions over `docker node inspect` objects, shared by the stacks role (is a stack
converged?) and the swarm roles (is every service at full strength after a drain or a restore?).
"""

from __future__ import annotations

import re
from typing import Any

Node = dict[str, Any]

_CONSTRAINT = re.compile(r"^\s*([\w.\-]+)\s*(==|!=)\s*(.*?)\s*$")


def eligible(node: Node, constraints: list[str]) -> bool:
    """Whether Swarm would give a global service's task to ``node``: ready, active, and every
    placement constraint on role, hostname, ID and node labels holds (platform and engine label
    constraints are taken as met: one cluster this kit builds has one platform)."""
    if (node.get("Status") or {}).get("State") != "ready":
        return False
    spec = node.get("Spec") or {}
    if spec.get("Availability") != "active":
        return False
    values = {
        "node.role": spec.get("Role", ""),
        "node.hostname": (node.get("Description") or {}).get("Hostname", ""),
        "node.id": node.get("ID", ""),
    }
    for key, value in (spec.get("Labels") or {}).items():
        values[f"node.labels.{key}"] = value
    for constraint in constraints:
        match = _CONSTRAINT.match(constraint)
        if not match:
            continue
        key, operator, expected = match.groups()
        if key.startswith(("node.platform", "engine.labels")):
            continue
        if (operator == "==") != (values.get(key) == expected):
            return False
    return True


def constraints(service: dict[str, Any]) -> list[str]:
    """A service's placement constraints."""
    spec = service.get("Spec") or {}
    return list(((spec.get("TaskTemplate") or {}).get("Placement") or {}).get("Constraints") or [])


def global_wanted(service: dict[str, Any], nodes: list[Node]) -> int:
    """How many tasks a global service should run: one per eligible node."""
    rules = constraints(service)
    return sum(1 for node in nodes if eligible(node, rules))
