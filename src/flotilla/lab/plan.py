"""Pure planning logic for the lab: names, addresses, validation, capabilities, inventory.

Nothing here talks to Docker or the network, so every rule is unit-tested in tests/unit.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

LABEL_LAB = "io.flotilla.lab"
LABEL_NODE = "io.flotilla.node"
LABEL_GROUP = "io.flotilla.group"

MANAGER_GROUP = "swarm_managers"
WORKER_GROUP = "swarm_workers"

DEFAULT_LAB = "flotilla"
DEFAULT_SUBNET = "192.168.250.0/24"
DEFAULT_MANAGERS = 3
DEFAULT_WORKERS = 2

# Host offsets inside the lab subnet: managers at .11, .12, ...; workers at .101, .102, ...
# Fixed offsets keep a node's address stable when the other group grows or shrinks.
MANAGER_OFFSET = 10
WORKER_OFFSET = 100
MAX_MANAGERS = WORKER_OFFSET - MANAGER_OFFSET - 1
MAX_WORKERS = 150

# Swarm's default address pool; a lab subnet inside it would collide with overlay networks.
SWARM_DEFAULT_POOL = ipaddress.ip_network("10.0.0.0/8")

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
_NODE_RE = re.compile(r"^(manager|worker)([1-9][0-9]*)$")

# Linux capability names by bit number (include/uapi/linux/capability.h), as Docker spells them.
CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip


class LabError(Exception):
    """A problem the user can fix; its message is one line naming the input and the fix."""


@dataclass(frozen=True)
class Node:
    """One VM-like lab node."""

    name: str
    group: str
    ip: str

    @property
    def role(self) -> str:
        return "manager" if self.group == MANAGER_GROUP else "worker"


@dataclass(frozen=True)
class LabSpec:
    """The wanted shape of a lab."""

    name: str
    managers: int
    workers: int
    subnet: ipaddress.IPv4Network

    @property
    def network_name(self) -> str:
        return f"{self.name}-net"

    def container_name(self, node: str) -> str:
        return f"{self.name}-{node}"

    def volume_name(self, node: str) -> str:
        return f"{self.name}-{node}-docker"

    def nodes(self) -> list[Node]:
        return plan_nodes(self.subnet, self.managers, self.workers)


def validate_lab_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise LabError(
            f"--name {name!r} is not a valid lab name: use 1-31 lowercase letters, digits or '-'"
        )
    return name


def validate_counts(managers: int, workers: int) -> None:
    if managers < 1:
        raise LabError(
            f"--managers {managers}: a swarm needs at least one manager; use --managers 1 or more"
        )
    if managers > MAX_MANAGERS:
        raise LabError(f"--managers {managers}: the lab supports at most {MAX_MANAGERS} managers")
    if workers < 0:
        raise LabError(f"--workers {workers}: the worker count cannot be negative; use 0 or more")
    if workers > MAX_WORKERS:
        raise LabError(f"--workers {workers}: the lab supports at most {MAX_WORKERS} workers")


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise LabError(
            f"--subnet {text!r} is not an IPv4 network in CIDR form (e.g. {DEFAULT_SUBNET}): {exc}"
        ) from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise LabError(f"--subnet {text}: the lab needs an IPv4 subnet such as {DEFAULT_SUBNET}")
    if net.prefixlen > 24:
        raise LabError(f"--subnet {text}: use a /24 or larger so every node gets its fixed address")
    if net.overlaps(SWARM_DEFAULT_POOL):
        raise LabError(
            f"--subnet {text} overlaps Swarm's default address pool {SWARM_DEFAULT_POOL}; "
            f"choose another subnet such as {DEFAULT_SUBNET}"
        )
    return net


def plan_nodes(subnet: ipaddress.IPv4Network, managers: int, workers: int) -> list[Node]:
    validate_counts(managers, workers)
    base = subnet.network_address
    nodes = [
        Node(f"manager{i}", MANAGER_GROUP, str(base + MANAGER_OFFSET + i))
        for i in range(1, managers + 1)
    ]
    nodes += [
        Node(f"worker{i}", WORKER_GROUP, str(base + WORKER_OFFSET + i))
        for i in range(1, workers + 1)
    ]
    return nodes


def parse_node_name(name: str) -> tuple[str, int] | None:
    """('manager', 3) for 'manager3'; None for a name the lab does not create."""
    match = _NODE_RE.match(name)
    return (match.group(1), int(match.group(2))) if match else None


def node_sort_key(name: str) -> tuple[int, int, str]:
    """Order managers before workers, then numerically (worker10 after worker9)."""
    parsed = parse_node_name(name)
    if parsed is None:
        return (2, 0, name)
    return (0 if parsed[0] == "manager" else 1, parsed[1], name)


def find_overlap(
    subnet: ipaddress.IPv4Network, existing: Iterable[tuple[str, str]]
) -> tuple[str, str] | None:
    """Return the first (owner, cidr) among existing networks that overlaps the subnet."""
    for owner, cidr in existing:
        try:
            other = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if other.version == 4 and other.prefixlen > 0 and subnet.overlaps(other):
            return owner, cidr
    return None


def parse_proc_net_route(text: str) -> list[tuple[str, str]]:
    """Parse /proc/net/route into (interface, cidr) pairs, leaving out the default route."""
    routes = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, dest_hex, mask_hex = fields[0], fields[1], fields[7]
        dest = ipaddress.IPv4Address(int(dest_hex, 16).to_bytes(4, "little"))
        mask = ipaddress.IPv4Address(int(mask_hex, 16).to_bytes(4, "little"))
        net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        if net.prefixlen:
            routes.append((f"host route via {iface}", str(net)))
    return routes


def capabilities_to_drop(capbnd: int) -> list[str]:
    """Capabilities Docker's ALL would add that this machine's bounding set lacks.

    Adding a capability outside the bounding set makes container start fail ("unable to apply
    caps"), which is why `--privileged` fails on some hosts; dropping exactly these works.
    """
    return [name for bit, name in enumerate(CAPABILITIES) if not capbnd >> bit & 1]


def parse_capbnd(status_text: str) -> int:
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    raise LabError("cannot read CapBnd from /proc/self/status; is this a Linux host?")


# What Docker's encrypted overlay networks ask of the kernel, as role swarm's preflight tries it
# (roles/swarm/library/swarm_preflight.py): an IPsec ESP association with AES-GCM, in a network
# namespace that disappears with the command. The lab's nodes share the machine's kernel.
ENCRYPTION_PROBE = (
    "unshare", "--net", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2",
    "proto", "esp", "spi", "0x100", "reqid", "1", "mode", "transport",
    "aead", "rfc4106(gcm(aes))", "0x" + "11" * 20, "128",
)  # fmt: skip


def render_inventory(
    nodes: Iterable[Node], key_file: str, known_hosts: str, public_key: str = "", overlay_encryption: bool = False,
    controller: str = "",
) -> dict[str, Any]:
    """The Ansible YAML inventory of a lab: groups swarm_managers and swarm_workers.

    ``lab_overlay_encryption`` says whether the machine's kernel can encrypt overlay traffic
    (``ENCRYPTION_PROBE``, tried at `lab up`): the lab's group_vars encrypt the platform's and the
    demo's networks when it can. Fixed for the lab's life, so a network is never asked to change.
    ``lab_controller_address`` is this machine's address on the lab's network (its gateway): the
    address the lab's firewall admits to the monitoring UIs, and where its alerts are sent.

    The lab's backups are encrypted with age to the lab's own SSH key (``public_key``, the
    content of ``key_file``.pub: age takes SSH ed25519 keys as recipients and identities); the
    identity stays in the key file, read when a restore needs it. Real clusters use a key of
    their own, kept in vault (inventory/sample/)."""
    groups: dict[str, dict[str, Any]] = {MANAGER_GROUP: {"hosts": {}}, WORKER_GROUP: {"hosts": {}}}
    for node in sorted(nodes, key=lambda n: node_sort_key(n.name)):
        groups[node.group]["hosts"][node.name] = {"ansible_host": node.ip}
    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": key_file,
                "lab_overlay_encryption": overlay_encryption,
                **({"lab_controller_address": controller} if controller else {}),
                # The lab pins each node's real host key (read from the node, not scanned).
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
                ),
                **({"swarm_backup_age_recipients": [" ".join(public_key.split()[:2])],
                    "swarm_restore_age_identity": f"{{{{ lookup('ansible.builtin.file', '{key_file}') }}}}"}
                   if public_key else {}),
            },
            "children": groups,
        }
    }


def known_hosts_lines(host_keys: dict[str, str]) -> str:
    """known_hosts content from {ip: 'ssh-ed25519 AAAA...'}."""
    lines = []
    for ip in sorted(host_keys, key=ipaddress.ip_address):
        key_type, key_data = host_keys[ip].split()[:2]
        lines.append(f"{ip} {key_type} {key_data}")
    return "\n".join(lines) + "\n" if lines else ""


def parse_apt_mirrors(texts: Iterable[str]) -> tuple[str | None, str | None]:
    """Find the Debian archive and security mirrors in apt sources (one-line or deb822 form)."""
    uris: list[str] = []
    for text in texts:
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("URIs:"):
                uris += line.split()[1:]
            elif line.startswith("deb "):
                uris += [w for w in line.split()[1:] if "://" in w][:1]
    security = next((u.rstrip("/") for u in uris if "debian-security" in u), None)
    archive = next(
        (u.rstrip("/") for u in uris if u.rstrip("/").endswith("/debian")), None
    )
    return archive, security
