"""Filters of the swarm role: the decisions that turn the live swarm and the inventory into a plan.

Every function is pure (dicts in, dicts out) so tests/unit/test_swarm_filters.py can cover each
case without a cluster. The role feeds them:

- ``info``: per inventory host, ``docker info`` as returned by community.docker.docker_host_info
  (``host_info``), or ``{}`` when the host's engine did not answer;
- ``nodes``: the swarm's nodes as full ``docker node inspect`` objects
  (community.docker.docker_swarm_info with ``nodes: true, verbose_output: true``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

Info = dict[str, dict[str, Any]]
Node = dict[str, Any]

BROKEN_STATES = ("pending", "error", "locked")


def _swarm(info: dict[str, Any]) -> dict[str, Any]:
    return (info or {}).get("Swarm") or {}


def _is_manager(info: dict[str, Any]) -> bool:
    swarm = _swarm(info)
    return swarm.get("LocalNodeState") == "active" and bool(swarm.get("ControlAvailable"))


# recover.yml marks the cluster it forces into being with this cluster label (a UTC timestamp).
RECOVERED = "io.flotilla.recovered"


def _recovered(info: dict[str, Any]) -> str:
    return (((_swarm(info).get("Cluster") or {}).get("Spec") or {}).get("Labels") or {}).get(RECOVERED, "")


def swarm_bootstrap(info: Info, managers: list[str], workers: list[str]) -> dict[str, Any]:
    """Pick the host every swarm-wide step runs on.

    An existing manager wins (first in the manager group, then a manager the inventory moved to
    the worker group); with no swarm anywhere, the first reachable host of the manager group
    initialises one. ``init`` tells the role which case it is. When managers that were lost come
    back after recover.yml, they may still form a quorum of the old raft group among themselves:
    the manager with the latest recovery mark wins, the others rejoin (``swarm_membership``).
    """
    hosts = [*managers, *workers]
    active = [h for h in hosts if h in info and _is_manager(info[h])]
    if active:
        latest = max(_recovered(info[h]) for h in active)
        host = next(h for h in active if _recovered(info[h]) == latest)
        cluster = (_swarm(info[host]).get("Cluster") or {}).get("ID", "")
        return {"host": host, "init": False, "cluster_id": cluster, "recovered": latest}
    for host in managers:
        if host in info:
            return {"host": host, "init": True, "cluster_id": "", "recovered": ""}
    return {"host": "", "init": True, "cluster_id": "", "recovered": ""}


def swarm_membership(info: Info, nodes: list[Node], bootstrap: dict[str, Any] | None = None) -> dict[str, str]:
    """Classify each host against the swarm whose node list is ``nodes``.

    ``member``: in this swarm; ``join``: in no swarm; ``rejoin``: a manager that was down while
    recover.yml forced a new cluster and removed it, back with a node ID this swarm no longer
    lists: either stuck in pending or error while its remote managers are this swarm's, or
    active in a rump of the old raft group (same cluster ID, an older recovery mark than the
    bootstrap manager's, see ``swarm_bootstrap``); nothing is left to lose, so it leaves and
    joins again; ``foreign``: active in a swarm that does not
    list it (another cluster, or removed from this one behind its back); ``broken``: stuck in
    pending, error or locked otherwise; ``unknown``: the engine did not answer.
    """
    ids = {node.get("ID") for node in nodes}
    managers = {
        (node.get("ManagerStatus") or {}).get("Addr", "").rpartition(":")[0]
        for node in nodes
        if node.get("ManagerStatus")
    } - {""}
    result = {}
    for host, host_info in info.items():
        swarm = _swarm(host_info)
        state = swarm.get("LocalNodeState", "")
        remotes = {(r.get("Addr") or "").rpartition(":")[0] for r in swarm.get("RemoteManagers") or []}
        if not host_info:
            result[host] = "unknown"
        elif state == "inactive":
            result[host] = "join"
        elif state == "active" and swarm.get("NodeID") in ids:
            result[host] = "member"
        elif state == "active":
            bootstrap = bootstrap or {}
            rump = (
                (swarm.get("Cluster") or {}).get("ID") == bootstrap.get("cluster_id")
                and _recovered(host_info) < bootstrap.get("recovered", "")
            )
            result[host] = "rejoin" if rump else "foreign"
        elif state in ("pending", "error") and swarm.get("NodeID") not in ids and remotes & managers:
            result[host] = "rejoin"
        elif state in BROKEN_STATES:
            result[host] = "broken"
        else:
            result[host] = "unknown"
    return result


def swarm_stale_nodes(info: Info, nodes: list[Node]) -> list[Node]:
    """Down entries left behind by hosts that were re-installed and joined again.

    A node is stale when its hostname is the engine name of an inventory host, it is ``down``,
    and its ID is not the ID that host's engine has now.
    """
    current = {}
    for host_info in info.values():
        node_id = _swarm(host_info).get("NodeID")
        if host_info.get("Name") and node_id:
            current.setdefault(host_info["Name"], set()).add(node_id)
    stale = []
    for node in nodes:
        hostname = (node.get("Description") or {}).get("Hostname", "")
        state = (node.get("Status") or {}).get("State", "")
        if hostname in current and state == "down" and node.get("ID") not in current[hostname]:
            stale.append(node)
    return stale


def swarm_role_changes(
    info: Info, nodes: list[Node], managers: list[str], workers: list[str]
) -> dict[str, list[str]]:
    """Hosts whose swarm role differs from their inventory group: promote first, then demote."""
    roles = {node.get("ID"): (node.get("Spec") or {}).get("Role") for node in nodes}
    promote, demote = [], []
    for host in managers:
        node_id = _swarm(info.get(host, {})).get("NodeID")
        if roles.get(node_id) == "worker":
            promote.append(host)
    for host in workers:
        node_id = _swarm(info.get(host, {})).get("NodeID")
        if roles.get(node_id) == "manager":
            demote.append(host)
    return {"promote": promote, "demote": demote}


def swarm_health(nodes: list[Node]) -> dict[str, Any]:
    """Raft health seen from one manager: counts, leader, and why it is not healthy (if so)."""
    managers = [n for n in nodes if (n.get("Spec") or {}).get("Role") == "manager"]
    reachable = [
        n for n in managers if (n.get("ManagerStatus") or {}).get("Reachability") == "reachable"
    ]
    leaders = [n for n in managers if (n.get("ManagerStatus") or {}).get("Leader")]
    problems = [
        f"manager {_name(n)} is {(n.get('ManagerStatus') or {}).get('Reachability', 'unknown')}"
        for n in managers
        if n not in reachable
    ]
    if not leaders:
        problems.append("the swarm has no leader")
    quorum = len(managers) // 2 + 1
    return {
        "managers": len(managers),
        "reachable": len(reachable),
        "quorum": quorum,
        "leader": _name(leaders[0]) if leaders else "",
        # Raft can commit: a leader, and a majority of the managers reachable.
        "has_quorum": bool(leaders) and len(reachable) >= quorum,
        "healthy": not problems,
        "problems": problems,
    }


def swarm_removal_check(nodes: list[Node], node_id: str) -> str:
    """Why removing the node ``node_id`` would be unsafe, or "" when it is safe.

    Removing a manager shrinks the raft group from N to N-1; the managers left must still be
    able to form a majority of N-1, and the swarm must have quorum now to accept the change.
    """
    target = next((n for n in nodes if n.get("ID") == node_id), None)
    if target is None:
        return f"node {node_id} is not in this swarm"
    if (target.get("Spec") or {}).get("Role") != "manager":
        return ""
    managers = [n for n in nodes if (n.get("Spec") or {}).get("Role") == "manager"]
    others = [n for n in managers if n.get("ID") != node_id and _reachable(n)]
    if len(managers) == 1:
        return f"{_name(target)} is the last manager; promote another node before removing it"
    reachable_now = len(others) + _reachable(target)
    if reachable_now < len(managers) // 2 + 1:
        return (
            f"the swarm has no quorum ({reachable_now} of {len(managers)} managers reachable); "
            "recover it first (playbooks/recover.yml)"
        )
    remaining = len(managers) - 1
    if len(others) < remaining // 2 + 1:
        return (
            f"removing {_name(target)} would leave {len(others)} reachable of {remaining} "
            f"managers, fewer than the {remaining // 2 + 1} a quorum needs; bring the other "
            "managers back first"
        )
    return ""


def swarm_service_shortfall(
    services: list[dict[str, Any]], tasks: list[dict[str, Any]], node_id: str = ""
) -> list[str]:
    """What keeps the services from running at full strength, one line each ([] when they do).

    ``services`` and ``tasks`` are full inspect objects (community.docker.docker_swarm_info with
    ``services``, ``tasks`` and ``verbose_output``). A replicated service needs at least its
    replica count of tasks running; a global one needs every task the orchestrator wants
    (desired state running) to run. With ``node_id`` (a node being drained), no task the swarm
    still wants may be left on that node. Jobs are not long-running and are skipped.
    """
    wanted = [t for t in tasks if t.get("DesiredState") == "running"]
    problems = []
    for service in sorted(services, key=lambda s: (s.get("Spec") or {}).get("Name", "")):
        spec = service.get("Spec") or {}
        name = spec.get("Name") or service.get("ID", "?")
        mode = spec.get("Mode") or {}
        own = [t for t in wanted if t.get("ServiceID") == service.get("ID")]
        running = [t for t in own if (t.get("Status") or {}).get("State") == "running"]
        if "Replicated" in mode:
            replicas = int((mode["Replicated"] or {}).get("Replicas", 1))
            if len(running) < replicas:
                problems.append(f"{name}: {len(running)}/{replicas} tasks running")
        elif "Global" in mode:
            if len(running) < len(own):
                problems.append(f"{name}: {len(running)}/{len(own)} tasks running")
        else:
            continue
        if node_id:
            left = [t for t in own if t.get("NodeID") == node_id]
            if left:
                problems.append(f"{name}: {len(left)} task(s) still on the drained node")
    return problems


def swarm_backup_compare(backup: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """What a restore did not bring back, one line each ([] when everything is there).

    Both sides have the shape roles/swarm/tasks/objects.yml reads and backup.yml writes into the
    backup's manifest: ``services`` (names), ``configs`` (name: sha256 of the data) and
    ``secrets`` (name: ID; a secret's data cannot be read back, and its ID is kept in the raft
    state, so a secret with the same name and ID is the same secret).
    """
    services = found.get("services") or []
    problems = [f"service {name} is missing" for name in backup.get("services") or [] if name not in services]
    for kind, what in (("configs", "content hash"), ("secrets", "ID")):
        had, has = backup.get(kind) or {}, found.get(kind) or {}
        for name in sorted(had):
            if name not in has:
                problems.append(f"{kind[:-1]} {name} is missing")
            elif has[name] != had[name]:
                problems.append(f"{kind[:-1]} {name} has another {what}")
    return problems


def _reachable(node: Node) -> int:
    return int((node.get("ManagerStatus") or {}).get("Reachability") == "reachable")


def _name(node: Node) -> str:
    return (node.get("Description") or {}).get("Hostname") or node.get("ID", "?")


def swarm_find_node(nodes: list[Node], node_id: str, addr: str) -> Node | dict:
    """A host's node: by its engine's node ID, else (just joined) the live node at its address."""
    if node_id:
        for node in nodes:
            if node.get("ID") == node_id:
                return node
    for node in nodes:
        status = node.get("Status") or {}
        if addr and status.get("Addr") == addr and status.get("State") != "down":
            return node
    return {}


def swarm_node_id(info: dict[str, Any]) -> str:
    """The swarm node ID of a host's engine ("" when it is in no swarm)."""
    return _swarm(info).get("NodeID", "")


def swarm_pool_overlaps(pools: list[str], networks: list[str]) -> list[str]:
    """Pairs "pool overlaps network" for address pools that collide with host networks."""
    found = []
    for pool in pools:
        pool_net = ipaddress.ip_network(pool, strict=False)
        for network in networks:
            net = ipaddress.ip_network(network, strict=False)
            if net.version == pool_net.version and pool_net.overlaps(net):
                found.append(f"{pool} overlaps {network}")
    return found


def swarm_duplicates(addresses: dict[str, str]) -> dict[str, list[str]]:
    """Addresses used by more than one host: {address: [hosts]}."""
    by_addr: dict[str, list[str]] = {}
    for host, addr in addresses.items():
        if addr:
            by_addr.setdefault(addr, []).append(host)
    return {addr: hosts for addr, hosts in by_addr.items() if len(hosts) > 1}


def swarm_version_at_least(version: str, minimum: str) -> bool:
    """Compare engine versions like '26.1.5+dfsg1', '28.5.1' or '5:28.5.1-1~debian.13' by release."""

    def release(text: str) -> tuple[int, ...]:
        head = str(text).split(":")[-1].split("+")[0].split("-")[0].split("~")[0]
        parts = []
        for piece in head.split("."):
            digits = "".join(ch for ch in piece if ch.isdigit())
            parts.append(int(digits) if digits else 0)
        return tuple(parts)

    return release(version) >= release(minimum)


NODE_PORTS = ["7946/tcp", "7946/udp", "4789/udp"]
MANAGER_PORTS = ["2377/tcp"]
# Holders of a Swarm port that are Swarm itself: the engine, and the kernel's VXLAN socket.
SWARM_HOLDERS = ("dockerd", "kernel")


def _wanted(manager: bool) -> list[str]:
    return NODE_PORTS + (MANAGER_PORTS if manager else [])


def swarm_listen_ports(held: dict[str, str], manager: bool) -> list[str]:
    """Ports the preflight probe listens on: the node's Swarm ports nothing holds yet."""
    return [port for port in _wanted(manager) if port not in (held or {})]


def swarm_port_conflicts(held: dict[str, str], manager: bool) -> list[str]:
    """Swarm ports held by a program other than the engine ("7946/udp (by nginx)")."""
    return [
        f"{port} (by {owner})"
        for port, owner in sorted((held or {}).items())
        if port in _wanted(manager) and owner not in SWARM_HOLDERS
    ]


def swarm_probe_peers(
    held: dict[str, dict[str, str]], addrs: dict[str, str], me: str, managers: list[str]
) -> list[dict[str, Any]]:
    """What one host probes on each other host: the peer's Swarm ports.

    A UDP port the peer's engine or kernel already holds cannot be probed (they do not echo),
    so it is left out; a held TCP port can (the engine accepts the connection).
    """
    peers = []
    for host in sorted(held):
        if host == me:
            continue
        peer_held = held[host] or {}
        ports = [
            port
            for port in _wanted(host in managers)
            if not (port.endswith("/udp") and port in peer_held)
        ]
        peers.append({"name": host, "addr": addrs[host], "ports": ports})
    return peers


def swarm_port_table(blocked: list[dict[str, str]]) -> list[str]:
    """Aligned lines 'FROM  TO  PORT' for blocked probes, header first ([] when none)."""
    if not blocked:
        return []
    rows = [("FROM", "TO", "PORT")] + [
        (b["src"], f"{b['dst']} ({b['addr']})", f"{b['port']}/{b['proto']}") for b in blocked
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return ["  ".join(r[i].ljust(widths[i]) for i in range(3)).rstrip() for r in rows]


def swarm_labels(labels: dict[str, Any] | None) -> dict[str, str]:
    """Node labels as the engine stores them (strings), so a YAML 1 or true compares equal."""
    result = {}
    for key, value in (labels or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        result[str(key)] = "" if value is None else str(value)
    return result


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "swarm_bootstrap": swarm_bootstrap,
            "swarm_membership": swarm_membership,
            "swarm_stale_nodes": swarm_stale_nodes,
            "swarm_role_changes": swarm_role_changes,
            "swarm_health": swarm_health,
            "swarm_service_shortfall": swarm_service_shortfall,
            "swarm_removal_check": swarm_removal_check,
            "swarm_backup_compare": swarm_backup_compare,
            "swarm_node_id": swarm_node_id,
            "swarm_find_node": swarm_find_node,
            "swarm_pool_overlaps": swarm_pool_overlaps,
            "swarm_duplicates": swarm_duplicates,
            "swarm_version_at_least": swarm_version_at_least,
            "swarm_port_table": swarm_port_table,
            "swarm_labels": swarm_labels,
            "swarm_listen_ports": swarm_listen_ports,
            "swarm_probe_peers": swarm_probe_peers,
            "swarm_port_conflicts": swarm_port_conflicts,
        }
