"""The swarm's node table printed by `flotilla lab status` (pure: node inspect JSON in, lines out)."""

from __future__ import annotations

from typing import Any

HEADER = ("HOSTNAME", "ROLE", "AVAILABILITY", "STATUS", "MANAGER STATUS", "ENGINE", "LABELS")


def node_row(node: dict[str, Any]) -> tuple[str, ...]:
    spec = node.get("Spec") or {}
    manager = node.get("ManagerStatus") or {}
    if manager.get("Leader"):
        manager_status = "leader"
    else:
        manager_status = manager.get("Reachability", "") or "-"
    labels = spec.get("Labels") or {}
    return (
        (node.get("Description") or {}).get("Hostname", "?"),
        spec.get("Role", "?"),
        spec.get("Availability", "?"),
        (node.get("Status") or {}).get("State", "?"),
        manager_status,
        ((node.get("Description") or {}).get("Engine") or {}).get("EngineVersion", "?"),
        ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-",
    )


def format_nodes(nodes: list[dict[str, Any]]) -> list[str]:
    """Rows sorted managers first, then by hostname; columns aligned."""
    rows = sorted((node_row(n) for n in nodes), key=lambda r: (r[1] != "manager", r[0]))
    table = [HEADER, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
