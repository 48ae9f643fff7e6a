"""A packet capture of the lab's network, from the machine the lab runs on: which overlay traffic
crossed between the nodes (VXLAN, UDP 4789, readable; or ESP, what Docker's encrypted overlays send
instead) and whether a marker a test sent in plain http inside the overlay crossed it readable.

The nodes are containers on one Linux bridge: the bridge, made promiscuous while the socket is
open (as tcpdump does), hands the capture every frame it forwards between them. Root only.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

VXLAN_PORT = 4789
_ETH_P_ALL = 0x0003
_SOL_PACKET = 263
_PACKET_ADD_MEMBERSHIP = 1
_PACKET_MR_PROMISC = 1


@dataclass
class Seen:
    vxlan: int = 0   # VXLAN frames (overlay traffic in the clear)
    esp: int = 0     # ESP frames (overlay traffic encrypted)
    marked: int = 0  # VXLAN frames whose inner packet carries the marker, readable


def classify(frame: bytes, marker: bytes) -> tuple[str, bool]:
    """One Ethernet frame: "vxlan", "esp" or "" (anything else), and whether the marker is in the
    VXLAN payload (always False for the rest: a marker is only looked for inside the overlay)."""
    if len(frame) < 34:
        return "", False
    ethertype, offset = struct.unpack("!H", frame[12:14])[0], 14
    if ethertype == 0x8100:  # an 802.1Q tag
        ethertype, offset = struct.unpack("!H", frame[16:18])[0], 18
    if ethertype != 0x0800 or frame[offset] >> 4 != 4:
        return "", False
    header = (frame[offset] & 0x0F) * 4
    protocol = frame[offset + 9]
    payload = offset + header
    if protocol == 50:
        return "esp", False
    if protocol == 17 and len(frame) >= payload + 8:
        if struct.unpack("!H", frame[payload + 2:payload + 4])[0] == VXLAN_PORT:
            return "vxlan", marker in frame[payload + 8:]
    return "", False


def bridge_of(client: Any, container_name: str) -> str:
    """The host's bridge interface of the (first) network a lab container is on."""
    networks = client.containers.get(container_name).attrs["NetworkSettings"]["Networks"]
    network = client.networks.get(next(iter(networks.values()))["NetworkID"])
    return network.attrs.get("Options", {}).get("com.docker.network.bridge.name") or f"br-{network.id[:12]}"


def capture(interface: str, marker: bytes, traffic: Callable[[], object], settle: float = 1.0) -> Seen:
    """Count the overlay frames crossing ``interface`` while ``traffic()`` runs (and ``settle``
    seconds after it returns)."""
    seen = Seen()
    done = threading.Event()
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL)) as sock:
        sock.bind((interface, 0))
        membership = struct.pack("iHH8s", socket.if_nametoindex(interface), _PACKET_MR_PROMISC, 0, b"")
        sock.setsockopt(_SOL_PACKET, _PACKET_ADD_MEMBERSHIP, membership)
        sock.settimeout(0.2)

        def read() -> None:
            while not done.is_set():
                try:
                    frame = sock.recv(65535)
                except TimeoutError:
                    continue
                kind, marked = classify(frame, marker)
                if kind == "vxlan":
                    seen.vxlan += 1
                    seen.marked += marked
                elif kind == "esp":
                    seen.esp += 1

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            traffic()
            time.sleep(settle)
        finally:
            done.set()
            reader.join(timeout=5)
    return seen
