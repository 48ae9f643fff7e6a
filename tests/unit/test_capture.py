"""The capture's reading of frames off the lab's bridge (flotilla.lab.capture)."""

import struct

from flotilla.lab.capture import classify

MAC = b"\x02\x42\xc0\xa8\xfa\x0b" * 2


def ipv4(protocol: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, protocol, 0,
                         bytes([192, 168, 250, 11]), bytes([192, 168, 250, 101]))
    return header + payload


def udp(port: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload


def frame(packet: bytes, vlan: bool = False) -> bytes:
    return MAC + (b"\x81\x00\x00\x05" if vlan else b"") + b"\x08\x00" + packet


INNER = b"\x08\x00\x00\x00\x00\x10\x00\x00" + MAC + b"\x08\x00" + b"GET /?capture=m4rk3r HTTP/1.1\r\n"


def test_vxlan_in_the_clear_shows_the_marker():
    assert classify(frame(ipv4(17, udp(4789, INNER))), b"m4rk3r") == ("vxlan", True)
    assert classify(frame(ipv4(17, udp(4789, INNER)), vlan=True), b"m4rk3r") == ("vxlan", True)
    assert classify(frame(ipv4(17, udp(4789, INNER))), b"other") == ("vxlan", False)


def test_esp_and_other_traffic_never_show_a_marker():
    assert classify(frame(ipv4(50, b"\x00\x00\x01\x00" + INNER)), b"m4rk3r") == ("esp", False)
    # the marker outside the overlay (another UDP port, TCP) is not what the capture looks for
    assert classify(frame(ipv4(17, udp(7946, INNER))), b"m4rk3r") == ("", False)
    assert classify(frame(ipv4(6, INNER)), b"m4rk3r") == ("", False)
    assert classify(MAC + b"\x86\xdd" + INNER, b"m4rk3r") == ("", False)   # IPv6
    assert classify(b"\x00" * 20, b"m4rk3r") == ("", False)                # truncated
