"""Pure parts of the preflight module (roles/swarm/library/swarm_preflight.py), and a real probe
over loopback: listeners answer, a port nobody serves counts as blocked."""

import importlib.util
import socket
import threading
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location("swarm_preflight", Path("roles/swarm/library/swarm_preflight.py"))
sp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(sp)


def test_parse_ip_addr_skips_loopback_and_non_inet():
    data = [
        {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
        {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.168.250.11", "prefixlen": 24}]},
        {"ifname": "docker0", "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16}]},
    ]
    assert sp.parse_ip_addr(data) == [
        {"iface": "eth0", "addr": "192.168.250.11", "cidr": "192.168.250.0/24"},
        {"iface": "docker0", "addr": "172.17.0.1", "cidr": "172.17.0.0/16"},
    ]


def test_parse_routes():
    text = (
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t01FAA8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t00FAA8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "eth1\t0000000A\t010114AC\t0003\t0\t0\t0\t000000FF\t0\t0\t0\n"
    )
    assert sp.parse_routes(text) == ("eth0", ["192.168.250.0/24", "10.0.0.0/8"])


def test_parse_ss_owner():
    line = 'udp UNCONN 0 0 *:7946 *:* users:(("dockerd",pid=845,fd=25))'
    assert sp.parse_ss_owner(line) == "dockerd"
    assert sp.parse_ss_owner("udp UNCONN 0 0 0.0.0.0:4789 0.0.0.0:*") == ""


def test_parse_nft_elements_reads_addresses_prefixes_and_ranges():
    data = {"nftables": [
        {"metainfo": {"version": "1.1.3"}},
        {"set": {"family": "inet", "name": "members4", "table": "flotilla", "type": "ipv4_addr",
                 "flags": ["interval"],
                 "elem": ["192.168.250.11", {"prefix": {"addr": "10.1.0.0", "len": 16}},
                          {"range": ["10.2.0.1", "10.2.0.9"]},
                          {"elem": {"val": "192.168.250.12", "comment": "x"}}]}},
    ]}
    assert sp.parse_nft_elements(data) == ["192.168.250.11", "10.1.0.0/16", "10.2.0.1-10.2.0.9", "192.168.250.12"]
    assert sp.parse_nft_elements({"nftables": [{"set": {"name": "members6"}}]}) == []


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_probe_answers_from_listeners_and_times_out_without():
    stop = threading.Event()
    tcp, udp = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    assert sp.open_listeners([f"{tcp}/tcp", f"{udp}/udp"], stop) == []
    try:
        deadline = sp.time.monotonic() + 3
        assert sp.probe("127.0.0.1", tcp, "tcp", deadline)
        assert sp.probe("127.0.0.1", udp, "udp", deadline)
        silent = free_port(socket.SOCK_DGRAM)
        assert not sp.probe("127.0.0.1", silent, "udp", sp.time.monotonic() + 1)
        assert sp.open_listeners([f"{tcp}/tcp"], threading.Event()) == [f"{tcp}/tcp"]
    finally:
        stop.set()


class _Done:
    def __init__(self, returncode, stderr="", stdout=""):
        self.returncode, self.stderr, self.stdout = returncode, stderr, stdout


def test_encryption_support_is_what_the_kernel_says_of_an_esp_gcm_association():
    asked = []

    def run(argv, **_):
        asked.append(argv)
        return _Done(0)

    assert sp.encryption_support(run) == (True, "")
    assert asked[0][:2] == ["unshare", "--net"] and "rfc4106(gcm(aes))" in asked[0]  # its own namespace
    assert sp.encryption_support(lambda *_, **__: _Done(2, "Error: Requested AEAD algorithm not found.\n")) == (
        False, "Error: Requested AEAD algorithm not found.")
    assert sp.encryption_support(lambda *_, **__: _Done(1)) == (False, "unshare ip xfrm exited 1")

    def missing(*_, **__):
        raise FileNotFoundError("No such file or directory: 'unshare'")

    assert sp.encryption_support(missing) == (False, "No such file or directory: 'unshare'")
