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
from datetime import UTC, datetime
from typing import Any

from flotilla.placement import global_wanted
from flotilla.stacks import docker_seconds

Info = dict[str, dict[str, Any]]
Node = dict[str, Any]

BROKEN_STATES = ("pending", "error")


def _swarm(info: dict[str, Any]) -> dict[str, Any]:
    return (info or {}).get("Swarm") or {}


def _is_manager(info: dict[str, Any]) -> bool:
    swarm = _swarm(info)
    return swarm.get("LocalNodeState") == "active" and bool(swarm.get("ControlAvailable"))


# recover.yml marks the cluster it forces into being with this cluster label (a UTC timestamp).
RECOVERED = "io.flotilla.recovered"


def _recovered(info: dict[str, Any]) -> str:
    return str((((_swarm(info).get("Cluster") or {}).get("Spec") or {}).get("Labels") or {}).get(RECOVERED, ""))


def _cluster(info: dict[str, Any]) -> str:
    return str((_swarm(info).get("Cluster") or {}).get("ID", ""))


def swarm_bootstrap(
    info: Info, managers: list[str], workers: list[str], play: list[str] | None = None, repair: bool = False,
) -> dict[str, Any]:
    """Pick the host every swarm-wide step runs on, from the WHOLE inventory.

    ``info`` has the engine of every inventory host that answered, in this run or (for hosts a
    --limit leaves out) read through delegation; a host missing from it did not answer. ``play``
    is the run's hosts (None: all of them).

    An existing manager wins, wherever it is (first in the manager group, then a manager the
    inventory moved to the worker group); it may be outside the run, and hosts in the run join
    it. When managers that were lost come back after recover.yml they may still form a quorum of
    the old raft group: the manager with the latest recovery mark wins, the others rejoin
    (``swarm_membership``). Managers of two different swarms are refused: which one stays is the
    admin's call. A new swarm is created (``init``) only when every manager of the inventory
    answered and no host is in a swarm (unless ``repair``), on the first manager, which must be
    in the run. ``refusal`` says why not (one line), else "".
    """
    play = list(play) if play is not None else [*managers, *workers]
    hosts = [*managers, *workers]
    result = {"host": "", "init": False, "cluster_id": "", "recovered": "", "addr": "", "refusal": ""}
    active = [h for h in hosts if info.get(h) and _is_manager(info[h])]
    if active:
        latest = max(_recovered(info[h]) for h in active)
        host = next(h for h in active if _recovered(info[h]) == latest)
        clusters: dict[str, list[str]] = {}
        for h in active:
            # A manager without a leader shows no cluster: it says nothing about which swarm.
            if _cluster(info[h]) and (_cluster(info[h]) != _cluster(info[host]) or _recovered(info[h]) == latest):
                clusters.setdefault(_cluster(info[h]), []).append(h)
        if len(clusters) > 1:
            swarms = " and ".join(f"{', '.join(names)} (cluster {cid[:12]})" for cid, names in clusters.items())
            result["refusal"] = (
                f"the inventory holds managers of two swarms: {swarms}; decide which swarm stays and make the "
                "other's managers leave it (docker swarm leave --force), or fix the inventory"
            )
        result.update(host=host, cluster_id=_cluster(info[host]), recovered=latest,
                      addr=_swarm(info[host]).get("NodeAddr", ""))
        return result
    silent = [h for h in managers if not info.get(h)]
    locked = [h for h in hosts if info.get(h) and _swarm(info[h]).get("LocalNodeState") == "locked"]
    busy = [h for h in hosts if info.get(h) and _swarm(info[h]).get("LocalNodeState", "inactive") != "inactive"]
    first = next((h for h in managers if info.get(h)), "")
    result.update(host=first, init=True)
    if not first:
        result["refusal"] = (
            "no host of the manager group answered and none is a swarm manager; bring a manager back "
            "(or run playbooks/recover.yml)"
        )
    elif locked:
        # A locked manager still holds its swarm: never a reason to start another, repair or not.
        result["refusal"] = (
            f"not creating a swarm: {', '.join(locked)} {'is' if len(locked) == 1 else 'are'} locked (autolock) and "
            "still in one; unlock (swarm_unlock_key) and run again"
        )
    elif silent:
        result["refusal"] = (
            f"not creating a swarm: {', '.join(silent)} did not answer, and may be in one; bring "
            f"{'it' if len(silent) == 1 else 'them'} back (or take {'it' if len(silent) == 1 else 'them'} "
            "out of the inventory) and run again"
        )
    elif busy and not repair:
        states = ", ".join(f"{h} ({_swarm(info[h]).get('LocalNodeState')})" for h in busy)
        result["refusal"] = (
            f"not creating a swarm: {states} {'is' if len(busy) == 1 else 'are'} in a swarm that no "
            "manager of the inventory runs; make them leave (docker swarm leave --force), or set "
            "swarm_repair_nodes: true to let the playbook do it"
        )
    elif first not in play:
        result["refusal"] = (
            f"not creating a swarm: {first} would create it, and --limit leaves it out of this run; "
            "run without --limit"
        )
    return result


def swarm_cluster(
    info: Info,
    managers: list[str],
    workers: list[str],
    play: list[str] | None = None,
    unreachable: list[str] | None = None,
    addresses: dict[str, str] | None = None,
    repair: bool = False,
) -> dict[str, Any]:
    """The run's one picture of the cluster, from the WHOLE inventory (role swarm's ``state``).

    ``info`` has the engine of every inventory host that answered (the run's hosts, and the hosts
    a --limit leaves out, read through delegation); ``unreachable`` the hosts reachable.yml left
    out; ``addresses`` each run host's swarm address as state.yml worked it out. Returns:

    - ``managers``, ``workers``: the inventory groups; ``play``: the run's hosts;
    - ``unreachable``: inventory hosts whose engine this run could not read, in inventory order;
    - ``engines``: per host that answered, its engine version, swarm state, node ID, cluster ID,
      whether it is an active manager, the address the swarm knows it by, its hostname (the
      name Swarm gives its node) and the engine's data root (where its swarm state lives);
    - ``clusters``: cluster ID -> the hosts in it (more than one key: the inventory spans swarms);
    - ``manager_ids``: node ID -> host, for the managers of the inventory in the run that are in a swarm;
    - ``addresses``: per inventory host, the address it advertises (the run's hosts), else the
      one its engine reports;
    - ``bootstrap``: ``swarm_bootstrap``'s decision; ``acting``: the manager swarm-wide steps run on
      (the bootstrap manager); ``control``: the manager of the run that node changes after the
      joins run on (the first manager in the run, else ``acting``);
    - ``leader``, ``health``: empty until ``swarm_cluster_nodes`` adds the swarm's node list.
    """
    hosts = [*managers, *workers]
    play = list(play) if play is not None else hosts
    bootstrap = swarm_bootstrap(info, managers, workers, play, repair)
    engines: dict[str, dict[str, Any]] = {}
    for host in hosts:
        if not info.get(host):
            continue
        swarm = _swarm(info[host])
        engines[host] = {
            "version": str(info[host].get("ServerVersion", "")),
            "state": str(swarm.get("LocalNodeState") or "inactive"),
            "node_id": str(swarm.get("NodeID") or ""),
            "cluster_id": _cluster(info[host]),
            "manager": _is_manager(info[host]),
            "addr": str(swarm.get("NodeAddr") or ""),
            "hostname": str(info[host].get("Name") or ""),
            "root_dir": str(info[host].get("DockerRootDir") or "/var/lib/docker"),
        }
    clusters: dict[str, list[str]] = {}
    for host, engine in engines.items():
        if engine["cluster_id"]:
            clusters.setdefault(engine["cluster_id"], []).append(host)
    gone = set(unreachable or []) | {h for h in hosts if h not in engines}
    given = addresses or {}
    return {
        "managers": list(managers),
        "workers": list(workers),
        "play": play,
        "unreachable": [h for h in hosts if h in gone],
        "engines": engines,
        "clusters": clusters,
        "manager_ids": {engines[h]["node_id"]: h for h in managers if h in play and engines.get(h, {}).get("node_id")},
        "addresses": {h: given.get(h) or engines.get(h, {}).get("addr", "") for h in hosts},
        "bootstrap": bootstrap,
        "acting": bootstrap["host"],
        "control": next((h for h in managers if h in play), bootstrap["host"]),
        "leader": "",
        "health": {},
    }


def swarm_cluster_nodes(cluster: dict[str, Any], nodes: list[Node]) -> dict[str, Any]:
    """The picture of the cluster with the swarm's node list read from its acting manager: the
    leader (as an inventory host when one runs it, else the node's hostname) and raft health."""
    health = swarm_health(nodes)
    leader_ids = [n.get("ID") for n in nodes if (n.get("ManagerStatus") or {}).get("Leader")]
    by_id = {e["node_id"]: h for h, e in cluster["engines"].items() if e["node_id"]}
    leader = next((by_id[i] for i in leader_ids if i in by_id), health["leader"])
    return {**cluster, "leader": leader, "health": health}


def swarm_engines(hosts: list[Any]) -> Info:
    """Each host's engine as this run's probe read it (``hosts`` are hostvars; role swarm's probe
    registers ``__swarm_preflight``); hosts whose engine did not answer are left out."""
    found = {}
    for host in hosts:
        engine = (host.get("__swarm_preflight") or {}).get("engine") or {}
        if engine.get("present") and engine.get("info"):
            found[host["inventory_hostname"]] = engine["info"]
    return found


def swarm_active_managers(info: Info, hosts: list[str]) -> list[str]:
    """The hosts (in the given order) whose engine is an active swarm manager."""
    return [h for h in hosts if info.get(h) and _is_manager(info[h])]


def swarm_outside_info(results: list[dict[str, Any]]) -> Info:
    """Engines of hosts read through delegation (a loop of docker_host_info over ``item``s):
    those that answered, by host; unreachable or failed ones are left out (unknown)."""
    return {
        r["item"]: r["host_info"]
        for r in results or []
        if r.get("host_info") and not r.get("unreachable") and not r.get("failed")
    }


def swarm_duplicate_names(info: Info) -> dict[str, list[str]]:
    """Engine host names (Swarm names nodes by them) used by more than one host."""
    names: dict[str, list[str]] = {}
    for host, host_info in sorted(info.items()):
        if host_info and host_info.get("Name"):
            names.setdefault(host_info["Name"], []).append(host)
    return {name: hosts for name, hosts in names.items() if len(hosts) > 1}


def swarm_membership(info: Info, nodes: list[Node], bootstrap: dict[str, Any] | None = None) -> dict[str, str]:
    """Classify each host against the swarm whose node list is ``nodes``.

    ``member``: in this swarm; ``join``: in no swarm; ``rejoin``: a manager that was down while
    recover.yml forced a new cluster and removed it, back with a node ID this swarm no longer
    lists: either stuck in pending or error while its remote managers are this swarm's, or
    active in a rump of the old raft group (same cluster ID, an older recovery mark than the
    bootstrap manager's, see ``swarm_bootstrap``); nothing is left to lose, so it leaves and
    joins again; ``foreign``: active in a swarm that does not
    list it (another cluster, or removed from this one behind its back); ``locked``: a manager
    autolock locked (it needs the unlock key, never a leave); ``broken``: stuck in pending or
    error otherwise; ``unknown``: the engine did not answer.
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
        elif state == "locked":
            # Autolock after a restart: the raft state is intact, only the key is missing. Never
            # "broken": swarm_repair_nodes would make it leave.
            result[host] = "locked"
        elif state in BROKEN_STATES:
            result[host] = "broken"
        else:
            result[host] = "unknown"
    return result


def swarm_backup_plan(
    nodes: list[Node],
    ids: dict[str, str],
    chosen: str,
    managers: list[str],
    single_manager: bool,
    autolock: bool,
    key_problem: str,
) -> dict[str, Any]:
    """Which manager backup.yml archives, and why it must not (``refusal``, "" when it may).

    With ``autolock`` the backup turns autolock off while it archives and on again, which makes a
    new unlock key: ``key_problem`` says why the run could not keep it ("" when it can: role swarm's
    custody needs swarm_unlock_key_file and a vault password file).

    ``ids`` maps node IDs to the inventory names of the managers in the play; ``chosen`` is
    swarm_backup_host. Unless chosen, the first reachable manager that is not the leader (its
    engine stops for the copy while the others keep quorum), else the leader of a one-manager swarm.
    """
    health = swarm_health(nodes)
    reachable = [n for n in nodes if (n.get("ManagerStatus") or {}).get("Reachability") == "reachable"]
    followers = [ids[n["ID"]] for n in reachable if not n["ManagerStatus"].get("Leader") and n.get("ID") in ids]
    leaders = [ids[n["ID"]] for n in reachable if n["ManagerStatus"].get("Leader") and n.get("ID") in ids]
    host = chosen or next(iter(followers + leaders), "")
    refusal = ""
    if not health["healthy"]:
        refusal = f"the swarm is not healthy ({'; '.join(health['problems'])}); fix it first"
    elif health["managers"] <= 1 and not single_manager:
        refusal = ("the swarm has one manager: stopping it makes the swarm read-only while the backup runs "
                   "(services keep running); set swarm_backup_single_manager: true "
                   "(-e swarm_backup_single_manager=true) to accept that")
    elif host not in managers:
        refusal = (f"swarm_backup_host {host} is not a manager of the inventory" if host
                   else "no manager of the inventory is a reachable swarm manager in this run")
    elif autolock and key_problem:
        refusal = ("autolock is on, and the backup turns it off while it archives (Docker unlocks a restored "
                   "manager only once its swarm has a leader, which it cannot have alone) and on again, which "
                   f"makes a new unlock key that this run could not keep: {key_problem}")
    return {"host": host, "health": health, "refusal": refusal}


def swarm_restore_target(
    manifest: dict[str, Any], chosen: str, managers: list[str], addresses: dict[str, str], archive: str
) -> dict[str, str]:
    """The manager restore.yml restores onto, and why it must not (``refusal``, "" when it may).

    ``managers`` are the inventory's managers in the run, ``addresses`` what each advertises.
    Unless ``chosen`` (swarm_restore_host), the manager the backup was taken on when the inventory
    still has it, else the first manager. The raft state names its managers by address
    (docker/docs#7931): restored on a host with another address, the manager's own raft entry
    points elsewhere and every join times out, so the address must be the backup's.
    """
    host = chosen or next((h for h in [str(manifest.get("manager") or ""), *managers] if h in managers), "")
    taken_at = str(manifest.get("address") or "")
    refusal = ""
    if host not in managers:
        refusal = (f"swarm_restore_host {host} is not a manager of this run" if host
                   else "no manager of the inventory is in this run")
    elif taken_at and taken_at != addresses.get(host):
        refusal = (f"{archive} was taken on {manifest.get('manager', '?')} at {taken_at}, and {host} advertises "
                   f"{addresses.get(host, '?')}; swarm state restores only onto a manager at the same address: set "
                   "swarm_restore_host to that host, or give this host that address")
    return {"host": host, "refusal": refusal}


_QUORUM_LOST = ("does not have a leader", "context deadline exceeded", "DeadlineExceeded")


def swarm_recover_plan(
    hosts: list[str], infos: list[dict[str, Any]], reads: list[dict[str, Any]], rafts: list[dict[str, Any]],
    choose: str = "", force: bool = False,
) -> dict[str, Any]:
    """Decide whether recover.yml may force a new cluster, and on which manager.

    Per manager of the inventory that answered (``hosts``, inventory order): its engine
    (docker_host_info result), its attempt to read the nodes (docker_node_info result, skipped
    when it is no manager), and a find of its raft directory. Refuses (``refusal``) while a read
    shows a quorum (unless ``force``), when a read failed for another reason than a lost quorum
    (that is no proof the quorum is gone), or when no manager survived. The survivor is ``choose``
    when given, else the manager whose raft state was written last (it has the freshest log),
    inventory order breaking a tie. Also returns ``health`` of a quorum read, if any.
    """
    managers, failed, health = [], [], {}
    for host, info, read, raft in zip(hosts, infos, reads, rafts, strict=True):
        if not _swarm((info or {}).get("host_info") or {}).get("ControlAvailable"):
            continue
        newest = max((f.get("mtime", 0) for f in (raft or {}).get("files") or []), default=0)
        managers.append((host, newest))
        swarm = _swarm((info or {}).get("host_info") or {})
        message = str((read or {}).get("msg", ""))
        if (read or {}).get("nodes") is not None:
            found = swarm_health(read["nodes"])
            if found["has_quorum"]:
                health = found
        elif not (
            any(text in message or text in str(swarm.get("Error", "")) for text in _QUORUM_LOST)
            # A manager without a leader cannot answer GET /swarm either, so community.docker
            # says it is no manager, and its docker info has no cluster: no quorum.
            or ("must run on swarm manager node" in message and not (swarm.get("Cluster") or {}).get("ID"))
        ):
            failed.append(f"{host} ({' '.join(message.split())[:200] or 'no answer'})")
    result: dict[str, Any] = {"survivor": "", "health": health, "refusal": ""}
    alive = [h for h, _ in managers]
    if health and not force:
        result["refusal"] = (
            f"not recovering: the swarm has quorum (leader {health['leader']}, {health['reachable']} of "
            f"{health['managers']} managers reachable); recover.yml forces a new cluster only after a majority "
            "of managers is lost. Bring lost nodes back with site.yml, "
            "or set swarm_recover_force=true to force it anyway"
        )
    elif failed:
        result["refusal"] = (
            f"not recovering: reading the swarm failed on {', '.join(failed)}, which is no proof that the "
            "quorum is lost; fix that and run again"
        )
    elif choose and choose not in alive:
        result["refusal"] = (
            f"not recovering: swarm_recover_host {choose} is not a manager that answers; "
            + (f"choose one of {', '.join(alive)}" if alive else "restore a backup (playbooks/restore.yml)")
        )
    elif not alive:
        result["refusal"] = (
            "not recovering: no manager of the inventory that answers is a swarm manager; restore a backup "
            "(playbooks/restore.yml)"
        )
    else:
        freshest = max(newest for _, newest in managers)
        result["survivor"] = choose or next(h for h, newest in managers if newest == freshest)
    return result


def swarm_stale_nodes(info: Info, nodes: list[Node], addrs: dict[str, str] | None = None) -> list[Node]:
    """Down entries left behind by hosts that were re-installed and joined again.

    A node is stale when it is ``down``, its ID is not the ID an inventory host's engine has now,
    and it is that host's old self: same hostname and, when ``addrs`` (host -> swarm address) is
    given, the same address. Another machine that merely shares a hostname is never stale.
    """
    current: dict[str, tuple[set[str], set[str]]] = {}
    for host, host_info in info.items():
        node_id = _swarm(host_info).get("NodeID")
        if host_info.get("Name") and node_id:
            ids, where = current.setdefault(host_info["Name"], (set(), set()))
            ids.add(node_id)
            if addrs and addrs.get(host):
                where.add(addrs[host])
    stale = []
    for node in nodes:
        hostname = (node.get("Description") or {}).get("Hostname", "")
        status = node.get("Status") or {}
        if hostname not in current or status.get("State") != "down" or node.get("ID") in current[hostname][0]:
            continue
        if addrs is not None and status.get("Addr") not in current[hostname][1]:
            continue
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


def _shortfall(
    services: list[dict[str, Any]], tasks: list[dict[str, Any]], node_id: str, nodes: list[Node] | None
) -> list[tuple[str, str]]:
    wanted_tasks = [t for t in tasks if t.get("DesiredState") == "running"]
    problems = []
    for service in sorted(services, key=lambda s: (s.get("Spec") or {}).get("Name", "")):
        spec = service.get("Spec") or {}
        name = spec.get("Name") or service.get("ID", "?")
        mode = spec.get("Mode") or {}
        own = [t for t in wanted_tasks if t.get("ServiceID") == service.get("ID")]
        running = [t for t in own if (t.get("Status") or {}).get("State") == "running"]
        if "Replicated" in mode:
            replicas = int((mode["Replicated"] or {}).get("Replicas", 1))
            if len(running) < replicas:
                problems.append((name, f"{name}: {len(running)}/{replicas} tasks running"))
        elif "Global" in mode:
            # With the nodes known, one task per eligible node: a task Swarm rejected on a node
            # is no longer "wanted" there, and counting only wanted tasks would miss it.
            wanted = max(len(own), global_wanted(service, nodes)) if nodes is not None else len(own)
            if len(running) < wanted:
                problems.append((name, f"{name}: {len(running)}/{wanted} tasks running"))
        else:
            continue
        if node_id:
            left = [t for t in own if t.get("NodeID") == node_id]
            if left:
                problems.append((name, f"{name}: {len(left)} task(s) still on the drained node"))
    return problems


def swarm_service_shortfall(
    services: list[dict[str, Any]], tasks: list[dict[str, Any]], node_id: str = "",
    nodes: list[Node] | None = None,
) -> list[str]:
    """What keeps the services from running at full strength, one line each ([] when they do).

    ``services`` and ``tasks`` are full inspect objects (community.docker.docker_swarm_info with
    ``services``, ``tasks`` and ``verbose_output``). A replicated service needs at least its
    replica count of tasks running; a global one one task per eligible node when ``nodes`` is
    given (else every task the orchestrator wants). With ``node_id`` (a node being drained), no
    task the swarm still wants may be left on that node. Jobs are not long-running and are skipped.
    """
    return [line for _, line in _shortfall(services, tasks, node_id, nodes)]


def swarm_short_services(
    services: list[dict[str, Any]], tasks: list[dict[str, Any]], nodes: list[Node] | None = None
) -> list[str]:
    """Names of the services below full strength (see swarm_service_shortfall)."""
    return sorted({name for name, _ in _shortfall(services, tasks, "", nodes)})


def swarm_stuck_hosts(
    tasks: list[dict[str, Any]], nodes: list[Node], addresses: dict[str, str], now: str, older: int = 30
) -> list[dict[str, str]]:
    """The hosts holding a task the swarm wants running that has been ``assigned`` for ``older`` s or
    more at ``now`` (RFC 3339: the swarm's own clock, a manager's SystemTime), in ``addresses``
    order: ``host`` and its ``node_id`` each.

    Read once a restore's rebalance waited (roles/swarm_node/tasks/rebalance.yml): the node's agent
    never took the task up (seen after a restore: an agent that lost its session while the swarm was
    rebuilt rejected tasks with "swarm is not active", then left the next one assigned). A task of
    a rolling update is assigned for a moment only, hence ``older``. A restart of that engine gives
    its agent a new session. ``addresses`` is host -> swarm address (role swarm's
    ``swarm_cluster.addresses``); a node is matched by its address, else by its hostname.
    """
    limit = docker_seconds(now) - older
    stuck = {
        str(t.get("NodeID"))
        for t in tasks
        if t.get("NodeID") and t.get("DesiredState") == "running"
        and (t.get("Status") or {}).get("State") == "assigned"
        and 0 < docker_seconds(str((t.get("Status") or {}).get("Timestamp", ""))) <= limit
    }
    by_addr = {addr: host for host, addr in addresses.items() if addr}
    hosts: dict[str, str] = {}
    for node in nodes:
        if node.get("ID") in stuck:
            hosts[by_addr.get(str((node.get("Status") or {}).get("Addr") or "")) or _name(node)] = str(node["ID"])
    return [{"host": host, "node_id": hosts[host]} for host in addresses if host in hosts]


def swarm_backup_compare(backup: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """What a restore did not bring back, one line each ([] when everything is there).

    Both sides have the shape roles/swarm/tasks/objects.yml reads and role swarm_backup writes into the
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
    return str((node.get("Description") or {}).get("Hostname") or node.get("ID", "?"))


def swarm_find_node(nodes: list[Node], node_id: str, addr: str) -> Node:
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
    return str(_swarm(info).get("NodeID", ""))


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


def firewall_admits(addr: str, sources: list[str]) -> bool:
    """Whether ``addr`` is one of ``sources`` (addresses, ADDR/LEN networks, FIRST-LAST ranges)."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    for source in sources:
        try:
            if "-" in source:
                first, last = (ipaddress.ip_address(part) for part in source.split("-", 1))
                if first.version == ip.version and first <= ip <= last:  # type: ignore[operator]
                    return True
            elif ip in ipaddress.ip_network(source, strict=False):
                return True
        except ValueError:
            continue
    return False


def swarm_probe_peers(
    held: dict[str, dict[str, str]],
    addrs: dict[str, str],
    me: str,
    managers: list[str],
    firewalls: dict[str, list[str] | None] | None = None,
) -> list[dict[str, Any]]:
    """What one host probes on each other host: the peer's Swarm ports.

    A UDP port the peer's engine or kernel already holds cannot be probed (they do not echo),
    so it is left out; a held TCP port can (the engine accepts the connection). A peer whose own
    Flotilla firewall (``firewalls``: host -> the sources it admits, None without one) does not
    admit this host yet is left out too: the run's firewall phase (playbooks/phase-firewall.yml, in
    every playbook that joins hosts) admits it before any join.
    """
    peers = []
    for host in sorted(held):
        if host == me:
            continue
        admitted = (firewalls or {}).get(host)
        if admitted is not None and not firewall_admits(addrs.get(me, ""), admitted):
            continue
        peer_held = held[host] or {}
        ports = [
            port
            for port in _wanted(host in managers)
            if not (port.endswith("/udp") and port in peer_held)
        ]
        peers.append({"name": host, "addr": addrs[host], "ports": ports})
    return peers


def swarm_blocked_probes(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The pairwise port probes that got no answer, from each host's result (``blocked``,
    ``in_use``; a skipped probe has neither), leaving out those to a port the target host could
    not listen on because something took it since the probe read the ports held: an engine that
    was starting (after a restart, rejoining its swarm) binds 7946 and 4789 late, and a port Swarm
    holds cannot be probed, as preflight already knows for the ports held when it looked."""
    taken = {(host, port) for host, result in results.items() for port in (result or {}).get("in_use") or []}
    return [probe for result in results.values() for probe in (result or {}).get("blocked") or []
            if (probe.get("dst"), f"{probe.get('port')}/{probe.get('proto')}") not in taken]


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


def swarm_ca_pending(nodes: list[Node], swarm: dict[str, Any]) -> list[str]:
    """What a root CA rotation still waits for ([] once it is done): the swarm's own flag while
    it is set, then each node whose certificate is not yet from the swarm's current root (a node
    that is down included: Swarm finishes the rotation only when every node in its list has one).

    ``swarm`` is the swarm's inspect (docker_swarm_info's ``swarm_facts``: ``TLSInfo``,
    ``RootRotationInProgress``); ``nodes`` its node list (verbose)."""
    pending = ["the swarm (rotation in progress)"] if swarm.get("RootRotationInProgress") else []
    root = (swarm.get("TLSInfo") or {}).get("TrustRoot", "")
    for node in nodes:
        if ((node.get("Description") or {}).get("TLSInfo") or {}).get("TrustRoot", "") != root:
            down = (node.get("Status") or {}).get("State") == "down"
            pending.append(_name(node) + (" (down)" if down else ""))
    return pending


def swarm_cert_report(not_after: dict[str, str], now: str, warn_days: int) -> dict[str, list[str]]:
    """Each host's node certificate expiry, as table lines, and a warning per host whose certificate
    ends within ``warn_days`` or could not be read.

    ``not_after``: host -> the certificate's notAfter as community.crypto's x509_certificate_info
    gives it (``20270302101500Z``), or "" when the host has none (not in a swarm, not readable);
    ``now``: the current UTC time, ISO 8601. Swarm renews a node's certificate by itself, in the
    second half of its validity, while the node reaches a manager: one that is close to its end was
    cut off (or its clock is wrong), and the node drops out of the swarm when it ends."""
    moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    rows = [("host", "certificate ends", "days left")]
    warnings = []
    for host, end in not_after.items():
        if not end:
            rows.append((host, "(none read)", ""))
            warnings.append(f"{host}: no swarm node certificate could be read; is it in the swarm?")
            continue
        ends = datetime.strptime(end, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
        days = (ends - moment).total_seconds() / 86400
        rows.append((host, ends.strftime("%Y-%m-%d %H:%M UTC"), f"{days:.0f}"))
        if days < warn_days:
            warnings.append(
                f"{host}: its swarm certificate ends in {days:.0f} days ({ends:%Y-%m-%d}); Swarm renews it by itself "
                "while the node reaches a manager and its clock is right: check both, or renew every certificate "
                "now with playbooks/rotate.yml -e swarm_rotate_ca=true")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)).rstrip() for r in rows]
    return {"lines": lines, "warnings": warnings}


# The filters the swarm roles use, by name (roles/swarm/filter_plugins/ hands them to Ansible).
FILTERS: dict[str, Any] = {
    "swarm_bootstrap": swarm_bootstrap,
    "swarm_cluster": swarm_cluster,
    "swarm_cluster_nodes": swarm_cluster_nodes,
    "swarm_outside_info": swarm_outside_info,
    "swarm_active_managers": swarm_active_managers,
    "swarm_engines": swarm_engines,
    "swarm_recover_plan": swarm_recover_plan,
    "swarm_backup_plan": swarm_backup_plan,
    "swarm_restore_target": swarm_restore_target,
    "swarm_duplicate_names": swarm_duplicate_names,
    "swarm_membership": swarm_membership,
    "swarm_stale_nodes": swarm_stale_nodes,
    "swarm_role_changes": swarm_role_changes,
    "swarm_health": swarm_health,
    "swarm_service_shortfall": swarm_service_shortfall,
    "swarm_short_services": swarm_short_services,
    "swarm_stuck_hosts": swarm_stuck_hosts,
    "swarm_removal_check": swarm_removal_check,
    "swarm_backup_compare": swarm_backup_compare,
    "swarm_node_id": swarm_node_id,
    "swarm_find_node": swarm_find_node,
    "swarm_pool_overlaps": swarm_pool_overlaps,
    "swarm_duplicates": swarm_duplicates,
    "swarm_version_at_least": swarm_version_at_least,
    "swarm_port_table": swarm_port_table,
    "swarm_blocked_probes": swarm_blocked_probes,
    "swarm_labels": swarm_labels,
    "swarm_ca_pending": swarm_ca_pending,
    "swarm_cert_report": swarm_cert_report,
    "swarm_listen_ports": swarm_listen_ports,
    "swarm_probe_peers": swarm_probe_peers,
    "swarm_port_conflicts": swarm_port_conflicts,
}
