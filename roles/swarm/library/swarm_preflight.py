#!/usr/bin/python
"""Preflight probes of the swarm role: what a host offers Swarm, and which Swarm ports reach it.

Standard library only: it runs on hosts that have no Docker SDK (and maybe no engine) yet.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_preflight
short_description: Probe a host for Docker Swarm (engine, kernel, addresses, port reachability)
description:
  - O(mode=gather) reads the local engine's C(/info) over its unix socket (if one answers), the
    kernel features Swarm needs (VXLAN for overlay networks, IPVS for the routing mesh), the
    host's IPv4 addresses, default-route address and networks.
  - O(mode=ports) listens on the given ports for a short while (TCP accept, UDP echo) and probes
    the given peers, so that running it on every node at once tests each pair in both directions.
    Ports already in use locally are reported, not taken over.
  - Read-only; never reports changed.
options:
  mode:
    type: str
    choices: [gather, ports]
    default: gather
    description: What to probe.
  docker_socket:
    type: path
    default: /var/run/docker.sock
    description: The engine's API socket (O(mode=gather)).
  listen:
    type: list
    elements: str
    default: []
    description: Ports to listen on, as C(PORT/tcp) or C(PORT/udp) (O(mode=ports)).
  peers:
    type: list
    elements: dict
    default: []
    description: Hosts to probe, each C({name, addr, ports}) with ports as in O(listen).
  timeout:
    type: float
    default: 10
    description: Seconds after which a port that never answered counts as blocked.
  linger:
    type: float
    default: 1
    description: Seconds to keep listening after this host's own probes finished, for slower peers.
  self_name:
    type: str
    default: ""
    description: Name of this host in the report (O(mode=ports)); the hostname when empty.
author: Flotilla
"""

RETURN = r"""
engine:
  description: C(present), and when present C(version), C(live_restore), C(swarm_state), C(name),
    C(info) (C(Name), C(ServerVersion), C(LiveRestoreEnabled), C(Swarm) of the engine's C(/info)).
  returned: mode=gather
  type: dict
hostname:
  description: The host's name (Swarm names the node by it).
  returned: mode=gather
  type: str
held:
  description: Swarm ports (C(PORT/proto)) already held on this host, with the holder's process
    name (C(kernel) when no process owns the socket).
  returned: mode=gather
  type: dict
kernel:
  description: C(vxlan), C(ipvs), C(encryption) (booleans; C(encryption) is whether an IPsec ESP
    security association with AES-GCM, what encrypted overlay networks use, can be made), and
    C(encryption_error) (the kernel's reason when it cannot).
  returned: mode=gather
  type: dict
addresses:
  description: C(all) (IPv4 addresses of non-Docker interfaces), C(interfaces) (their names),
    C(default) (address of the default-route interface), C(networks) (CIDRs of every interface
    and route).
  returned: mode=gather
  type: dict
firewall:
  description: The sources Flotilla's own firewall (nftables table C(inet flotilla)) admits to the
    Swarm ports (addresses, C(ADDR/LEN) networks, C(FIRST-LAST) ranges), or null when the host has
    no such table.
  returned: mode=gather
  type: list
blocked:
  description: Probes that got no answer, each C({src, dst, addr, port, proto}).
  returned: mode=ports
  type: list
in_use:
  description: Local ports that could not be opened because something already listens there.
  returned: mode=ports
  type: list
"""

import errno
import http.client
import ipaddress
import json
import os
import platform
import socket
import subprocess
import threading
import time

from ansible.module_utils.basic import AnsibleModule

# Interfaces the engine creates; they say nothing about how the host is wired.
DOCKER_IFACE_PREFIXES = ("docker", "br-", "veth", "vx-", "ov-", "vxlan")
PROBE_PAYLOAD = b"flotilla-preflight"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 5.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def engine_info(path: str) -> dict:
    """The engine's /info, reduced to what preflight checks; present=False when none answers."""
    if not os.path.exists(path):
        return {"present": False, "reason": f"{path} does not exist"}
    try:
        conn = _UnixHTTPConnection(path)
        conn.request("GET", "/info")
        response = conn.getresponse()
        data = json.loads(response.read().decode("utf-8"))
        conn.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return {"present": False, "reason": f"{path}: {exc}"}
    swarm = data.get("Swarm") or {}
    return {
        "present": True,
        # The part of `docker info` the swarm role reads, in docker_host_info's shape, so the
        # swarm phase can start from it instead of asking the engine again.
        "info": {key: data.get(key) for key in ("Name", "ServerVersion", "LiveRestoreEnabled", "Swarm")},
        "version": data.get("ServerVersion", ""),
        "live_restore": bool(data.get("LiveRestoreEnabled")),
        "swarm_state": swarm.get("LocalNodeState", ""),
        "control_available": bool(swarm.get("ControlAvailable")),
        "name": data.get("Name", ""),
    }


def _module_known(name: str, release: str) -> bool:
    if os.path.isdir(f"/sys/module/{name}"):
        return True
    for listing in ("modules.builtin", "modules.dep"):
        try:
            with open(f"/lib/modules/{release}/{listing}", encoding="utf-8") as handle:
                if any(f"/{name}.ko" in line for line in handle):
                    return True
        except OSError:
            continue
    return False


# What Docker's encrypted overlay networks ask of the kernel: an IPsec ESP security association in
# transport mode with AES-GCM (rfc4106). Tried for real, in a network namespace of its own that
# disappears with the command, so no state of the host's networking is touched; the kernel loads
# the modules it needs (esp4, xfrm) on demand, as it would for the engine.
ENCRYPTION_PROBE = [
    "unshare", "--net", "ip", "xfrm", "state", "add", "src", "192.0.2.1", "dst", "192.0.2.2",
    "proto", "esp", "spi", "0x100", "reqid", "1", "mode", "transport",
    "aead", "rfc4106(gcm(aes))", "0x" + "11" * 20, "128",
]


def encryption_support(run=subprocess.run) -> tuple[bool, str]:
    """Whether this kernel can carry encrypted overlay traffic, and if not the kernel's reason."""
    try:
        done = run(ENCRYPTION_PROBE, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if done.returncode == 0:
        return True, ""
    said = (done.stderr or done.stdout or "").strip().splitlines()
    return False, said[-1] if said else f"{ENCRYPTION_PROBE[0]} ip xfrm exited {done.returncode}"


def kernel_features() -> dict:
    release = platform.release()
    encryption, reason = encryption_support()
    return {
        "vxlan": _module_known("vxlan", release),
        "ipvs": os.path.exists("/proc/net/ip_vs") or _module_known("ip_vs", release),
        "encryption": encryption,
        "encryption_error": reason,
    }


def parse_ip_addr(data: list) -> list[dict]:
    """`ip -j -4 addr` output -> [{iface, addr, cidr}] (loopback left out)."""
    found = []
    for iface in data:
        name = iface.get("ifname", "")
        if name == "lo":
            continue
        for info in iface.get("addr_info", []):
            if info.get("family") != "inet":
                continue
            addr = info["local"]
            cidr = str(ipaddress.ip_interface(f"{addr}/{info['prefixlen']}").network)
            found.append({"iface": name, "addr": addr, "cidr": cidr})
    return found


def parse_routes(text: str) -> tuple[str, list[str]]:
    """/proc/net/route -> (default-route interface, other routed networks as CIDRs)."""
    default_iface, networks = "", []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, dest, mask = fields[0], fields[1], fields[7]
        dest_ip = socket.inet_ntoa(bytes.fromhex(dest)[::-1])
        mask_ip = socket.inet_ntoa(bytes.fromhex(mask)[::-1])
        if dest_ip == "0.0.0.0" and mask_ip == "0.0.0.0":
            default_iface = default_iface or iface
        else:
            networks.append(str(ipaddress.ip_network(f"{dest_ip}/{mask_ip}", strict=False)))
    return default_iface, networks


def addresses() -> dict:
    out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True)
    entries = parse_ip_addr(json.loads(out.stdout or "[]"))
    try:
        with open("/proc/net/route", encoding="ascii") as handle:
            default_iface, routed = parse_routes(handle.read())
    except OSError:
        default_iface, routed = "", []
    own = [e for e in entries if not e["iface"].startswith(DOCKER_IFACE_PREFIXES)]
    default = next((e["addr"] for e in entries if e["iface"] == default_iface), "")
    networks = sorted({e["cidr"] for e in entries} | set(routed))
    return {
        "all": [e["addr"] for e in own],
        "interfaces": sorted({e["iface"] for e in own}),
        "default": default,
        "networks": networks,
    }


SWARM_PORTS = ["2377/tcp", "7946/tcp", "7946/udp", "4789/udp"]


def parse_ss_owner(text: str) -> str:
    """First process name in `ss -p` output ('' when the kernel holds the socket)."""
    marker = 'users:(("'
    start = text.find(marker)
    if start < 0:
        return ""
    start += len(marker)
    return text[start:text.index('"', start)]


def held_ports() -> dict:
    """Swarm ports something on this host already holds, with the holder's process name.

    The holder is "kernel" for sockets no process owns (the VXLAN socket of overlay networks).
    """
    held = {}
    for text in SWARM_PORTS:
        port, proto = _parse_port(text)
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("0.0.0.0", port))
                continue
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
        flag = "-Hlntp" if proto == "tcp" else "-Hlnup"
        out = subprocess.run(["ss", flag, f"sport = :{port}"], capture_output=True, text=True, check=False)
        held[text] = parse_ss_owner(out.stdout) or "kernel"
    return held


def parse_nft_elements(data: dict) -> list[str]:
    """Elements of the sets in `nft -j list set` output, as text (ADDR, ADDR/LEN, FIRST-LAST)."""

    def text(elem) -> str:
        if isinstance(elem, dict) and "elem" in elem:
            return text(elem["elem"].get("val"))
        if isinstance(elem, dict) and "prefix" in elem:
            return f"{elem['prefix']['addr']}/{elem['prefix']['len']}"
        if isinstance(elem, dict) and "range" in elem:
            return f"{elem['range'][0]}-{elem['range'][1]}"
        return str(elem)

    return [text(e) for item in data.get("nftables", []) for e in (item.get("set") or {}).get("elem") or []]


def firewall_members() -> list[str] | None:
    """What Flotilla's firewall admits to the Swarm ports, or None when its table is not there."""
    members: list[str] = []
    for name in ("members4", "members6"):
        try:
            out = subprocess.run(["nft", "-j", "list", "set", "inet", "flotilla", name],
                                 capture_output=True, text=True, check=False)
        except OSError:  # no nft: no table of ours
            return None
        if out.returncode != 0:
            return None
        members += parse_nft_elements(json.loads(out.stdout or "{}"))
    return members


def _parse_port(text: str) -> tuple[int, str]:
    port, _, proto = str(text).partition("/")
    return int(port), (proto or "tcp").lower()


def _serve(sock: socket.socket, proto: str, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            if proto == "tcp":
                conn, _ = sock.accept()
                conn.close()
            else:
                data, peer = sock.recvfrom(512)
                if data == PROBE_PAYLOAD:
                    sock.sendto(data, peer)
        except (TimeoutError, OSError):
            continue
    sock.close()


def open_listeners(ports: list[str], stop: threading.Event) -> list[str]:
    """Listen on each port in a thread; return the ports something else already holds."""
    in_use = []
    for text in ports:
        port, proto = _parse_port(text)
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
            if proto == "tcp":
                sock.listen(64)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                in_use.append(f"{port}/{proto}")
                continue
            raise
        threading.Thread(target=_serve, args=(sock, proto, stop), daemon=True).start()
    return in_use


def probe(addr: str, port: int, proto: str, deadline: float) -> bool:
    """True once the port answers; retries refusals (peer not listening yet) until the deadline."""
    while time.monotonic() < deadline:
        try:
            if proto == "tcp":
                with socket.create_connection((addr, port), timeout=0.5):
                    return True
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.3)
                sock.connect((addr, port))
                sock.send(PROBE_PAYLOAD)
                if sock.recv(512) == PROBE_PAYLOAD:
                    return True
        except (TimeoutError, OSError):
            pass
        time.sleep(0.1)
    return False


def run_ports(module: AnsibleModule, self_name: str) -> dict:
    params = module.params
    stop = threading.Event()
    start = time.monotonic()
    in_use = open_listeners(params["listen"], stop)
    deadline = start + params["timeout"]
    results: list[dict] = []
    lock = threading.Lock()

    def worker(peer: dict, text: str) -> None:
        port, proto = _parse_port(text)
        if not probe(peer["addr"], port, proto, deadline):
            with lock:
                results.append(
                    {"src": self_name, "dst": peer["name"], "addr": peer["addr"],
                     "port": port, "proto": proto}
                )

    threads = [
        threading.Thread(target=worker, args=(peer, text), daemon=True)
        for peer in params["peers"]
        for text in peer.get("ports", [])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(params["linger"])
    stop.set()
    results.sort(key=lambda b: (b["dst"], b["port"], b["proto"]))
    return {"blocked": results, "in_use": in_use}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "mode": {"type": "str", "choices": ["gather", "ports"], "default": "gather"},
            "docker_socket": {"type": "path", "default": "/var/run/docker.sock"},
            "listen": {"type": "list", "elements": "str", "default": []},
            "peers": {"type": "list", "elements": "dict", "default": []},
            "timeout": {"type": "float", "default": 10},
            "linger": {"type": "float", "default": 1},
            "self_name": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    if module.params["mode"] == "gather":
        try:
            result = {
                "engine": engine_info(module.params["docker_socket"]),
                "kernel": kernel_features(),
                "addresses": addresses(),
                "held": held_ports(),
                "firewall": firewall_members(),
                "hostname": socket.gethostname(),
            }
        except (OSError, subprocess.CalledProcessError, ValueError) as exc:
            module.fail_json(msg=f"preflight probe failed: {exc}")
        module.exit_json(changed=False, **result)
    try:
        result = run_ports(module, module.params["self_name"] or socket.gethostname())
    except OSError as exc:
        module.fail_json(msg=f"cannot listen for the port probe: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
