"""Logic of the firewall role (roles/firewall): who the rule set admits, checks of its inputs.

Pure functions over plain data; roles/firewall/filter_plugins/firewall.py hands them to Ansible.
"""

from __future__ import annotations

import ipaddress
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(text: str) -> Network:
    return ipaddress.ip_network(str(text).strip(), strict=False)


def _split(networks: list[Network]) -> dict[str, list[str]]:
    """By family, sorted, each address or network once and none inside another: a named nft set
    with ``flags interval`` refuses overlapping elements ("conflicting intervals"), e.g. a node's
    address beside its network. (CIDR blocks are nested or apart; neighbours are kept as given.)"""
    kept: list[Network] = []
    for net in sorted(set(networks), key=lambda n: (n.version, n.prefixlen, n.network_address)):
        if not any(net.version == k.version and net.subnet_of(k) for k in kept):  # type: ignore[arg-type]
            kept.append(net)
    kept.sort(key=lambda n: (n.version, n.network_address, n.prefixlen))
    return {
        "v4": [n.with_prefixlen if n.prefixlen < 32 else str(n.network_address) for n in kept if n.version == 4],
        "v6": [n.with_prefixlen if n.prefixlen < 128 else str(n.network_address) for n in kept if n.version == 6],
    }


def _networks(text: str) -> list[Network]:
    """An address, ADDR/LEN network or FIRST-LAST range (as nft lists a set) as networks."""
    first, dash, last = str(text).strip().partition("-")
    if dash:
        return list(ipaddress.summarize_address_range(ipaddress.ip_address(first), ipaddress.ip_address(last)))
    return [_network(text)]


def _first_address(candidates: str | list[str] | None) -> str:
    """The first of ``candidates`` that is an IP address ("" when none is)."""
    for text in [candidates] if isinstance(candidates, str) else candidates or []:
        try:
            return str(ipaddress.ip_address(str(text).strip()))
        except ValueError:
            continue
    return ""


def firewall_members(
    addresses: dict[str, str],
    nodes: list[dict[str, Any]],
    extra: list[str],
    fallback: dict[str, str | list[str]] | None = None,
    kept: list[str] | None = None,
) -> dict[str, list[str]]:
    """The sources admitted to the Swarm ports, by family (``{"v4": [...], "v6": [...]}``).

    ``addresses`` is every inventory host's swarm address (role swarm's picture of the cluster,
    the WHOLE inventory; "" for a host that did not answer), ``fallback`` the address the
    inventory gives such a host (the first IP address of swarm_advertise_addr, ansible_host: a
    node that is down now must still be admitted when it comes back), ``nodes`` the swarm's node list (a node joined by
    hand is a member too: cutting it off would lose what the admin had), ``extra`` the admin's own
    additions (a node's other addresses, e.g. its data-path address), ``kept`` what the nodes'
    tables admit now, passed when the node list could not be read (nobody is dropped on a guess).
    Empty and unparsable addresses (a host name) are left out.
    """
    found: list[Network] = []
    inventory = [addr or _first_address((fallback or {}).get(host)) for host, addr in addresses.items()]
    for text in [*inventory, *((n.get("Status") or {}).get("Addr", "") for n in nodes), *extra, *(kept or [])]:
        if not text or text == "0.0.0.0":
            continue
        try:
            found.extend(_networks(text))
        except (TypeError, ValueError):
            continue
    return _split(found)


def firewall_problems(published: list[dict[str, Any]], ssh_sources: list[str], extra: list[str]) -> list[str]:
    """What is wrong in the firewall's inputs, one line each naming the variable ([] when nothing)."""
    problems: list[str] = []

    def check(where: str, values: list[Any]) -> None:
        for value in values:
            try:
                _network(value)
            except ValueError:
                problems.append(f"{where}: {value!r} is not an address or network (e.g. 192.0.2.0/24)")

    check("firewall_ssh_sources", list(ssh_sources))
    check("firewall_member_sources", list(extra))
    seen: set[tuple[int, str]] = set()
    for index, entry in enumerate(published):
        where = f"firewall_published_ports[{index}]"
        port, proto = entry.get("port"), str(entry.get("proto") or "tcp")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            problems.append(f"{where}.port: {port!r} is not a port number (1-65535)")
            continue
        if proto not in ("tcp", "udp"):
            problems.append(f"{where}.proto: {proto!r} is not tcp or udp")
        if (port, proto) in seen:
            problems.append(f"{where}: {port}/{proto} is listed twice; give each port one list of sources")
        seen.add((port, proto))
        check(f"{where}.sources", list(entry.get("sources") or []))
    return problems


def firewall_published(published: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The published ports with a source list, as the template writes them: port, proto and the
    sources by family. An empty source list admits nobody (the port is closed to the world)."""
    return [
        {
            "port": int(entry["port"]),
            "proto": str(entry.get("proto") or "tcp"),
            **_split([_network(s) for s in entry.get("sources") or []]),
        }
        for entry in sorted(published, key=lambda e: (int(e["port"]), str(e.get("proto") or "tcp")))
    ]


def firewall_sources(sources: list[str]) -> dict[str, list[str]]:
    """Addresses and networks by family (``{"v4": [...], "v6": [...]}``), sorted and unique."""
    return _split([_network(s) for s in sources])


def firewall_ssh_cut(controller: str, sources: list[str]) -> str:
    """Why the rule set would cut the controller's SSH connection ("" when it would not).

    ``controller`` is the connection's source address as the host sees it (SSH_CONNECTION);
    ``sources`` the admitted SSH sources (empty: SSH is not restricted).
    """
    if not sources:
        return ""
    if not controller:
        return "the controller's address could not be read from SSH_CONNECTION, so the SSH rule cannot be checked"
    try:
        addr = ipaddress.ip_address(controller.split("%")[0])
    except ValueError:
        return f"the controller's address {controller!r} is not an IP address"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if any(addr in _network(s) for s in sources):
        return ""
    return (f"firewall_ssh_sources ({', '.join(sources)}) does not admit the controller's own SSH connection from "
            f"{addr}; add it (or its network) to firewall_ssh_sources")


def firewall_outside(cluster: dict[str, Any], play: list[str]) -> list[str]:
    """The swarm's nodes a --limit leaves out that must admit a host of the run before it joins.

    Empty unless a host of the run is not yet an active swarm node (it is about to join); then the
    inventory's active nodes outside the run that answered (``cluster`` is role swarm's picture).
    """
    engines = cluster.get("engines") or {}
    if all((engines.get(host) or {}).get("state") == "active" for host in play):
        return []
    gone = set(cluster.get("unreachable") or [])
    return [
        host
        for host in [*cluster.get("managers", []), *cluster.get("workers", [])]
        if host not in play and host not in gone and (engines.get(host) or {}).get("state") == "active"
    ]


FILTERS = {
    "firewall_outside": firewall_outside,
    "firewall_members": firewall_members,
    "firewall_problems": firewall_problems,
    "firewall_published": firewall_published,
    "firewall_sources": firewall_sources,
    "firewall_ssh_cut": firewall_ssh_cut,
}
