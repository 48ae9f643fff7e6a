"""The swarm's node and service tables printed by `flotilla lab status` (pure: JSON in, lines out)."""

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
    return _align([HEADER, *rows])


SERVICE_HEADER = ("SERVICE", "MODE", "REPLICAS", "IMAGE", "UPDATE", "PORTS")


def _align(table: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]


def published_ports(service: dict[str, Any]) -> list[tuple[int, str]]:
    """(published port, mode) of a service, from its spec."""
    ports = ((service.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports") or []
    return [(p["PublishedPort"], p.get("PublishMode", "ingress")) for p in ports if p.get("PublishedPort")]


def port_nodes(
    services: list[dict[str, Any]], task_nodes: dict[str, list[str]], nodes: list[str]
) -> dict[int, list[str]]:
    """Which nodes answer on each published port: every node for the routing mesh and for a
    global service's host-mode port; only the nodes running its tasks (``task_nodes``: service
    name -> nodes) for a replicated service's host-mode port (the monitoring UIs on their node)."""
    found: dict[int, list[str]] = {}
    for service in services:
        spec = service.get("Spec") or {}
        for port, mode in published_ports(service):
            where = nodes
            if mode == "host" and "Global" not in (spec.get("Mode") or {}):
                where = [n for n in nodes if n in task_nodes.get(spec.get("Name", ""), [])]
            found[port] = sorted(set(found.get(port, [])) | set(where), key=nodes.index)
    return dict(sorted(found.items()))


def ingress_hosts(services: list[dict[str, Any]]) -> list[str]:
    """The host names the ingress serves on https, from the routes on the services' labels
    (io.flotilla.ingress.<route>.hosts, with .tls not false)."""
    hosts: set[str] = set()
    for service in services:
        labels = (service.get("Spec") or {}).get("Labels") or {}
        for key, value in labels.items():
            if key.startswith("io.flotilla.ingress.") and key.endswith(".hosts"):
                tls = labels.get(key[: -len("hosts")] + "tls", "true").strip().lower()
                if tls not in ("false", "no", "off", "0"):
                    hosts.update(h.strip().lower() for h in value.split(",") if h.strip())
    return sorted(hosts)


def format_services(listed: list[dict[str, Any]], inspected: list[dict[str, Any]]) -> list[str]:
    """`docker service ls --format json` rows joined with `docker service inspect` by ID."""
    by_id = {s.get("ID", "")[:12]: s for s in inspected}
    rows = []
    for row in sorted(listed, key=lambda r: r.get("Name", "")):
        service = by_id.get(row.get("ID", "")[:12], {})
        update = (service.get("UpdateStatus") or {}).get("State", "") or "-"
        ports = ",".join(f"{port}/{mode}" for port, mode in published_ports(service)) or "-"
        rows.append((row.get("Name", "?"), row.get("Mode", "?"), row.get("Replicas", "?"),
                     row.get("Image", "?").split("@", 1)[0], update, ports))
    return _align([SERVICE_HEADER, *rows])
