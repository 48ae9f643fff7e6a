"""HTTPS checks of the ingress on the lab, as a client would make them: `flotilla lab status --check`
and the molecule scenario `stacks` use them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def fetch_https(
    host: str, ip: str, ca: Path, tries: int = 4, timeout: float = 5, headers: dict[str, str] | None = None
) -> str:
    """GETs of https://HOST/ sent to one node (as curl --resolve does), the certificate verified
    for HOST against the CA: the versions and hosts that answered, or FAILED with the error."""
    import socket
    import ssl

    try:
        context = ssl.create_default_context(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        return f"FAILED: no CA certificate to check with ({exc})"
    bodies: list[bytes] = []
    for _ in range(tries):
        try:
            with (
                socket.create_connection((ip, 443), timeout=timeout) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode())
                data = b""
                while chunk := tls.recv(65536):
                    data += chunk
        except (OSError, ssl.SSLError) as exc:
            return f"FAILED: {exc}"
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 200 " not in status + " ":
            return f"FAILED: {status or 'no answer'}"
        bodies.append(body)
    return describe(bodies)


def describe(bodies: list[bytes]) -> str:
    """What the demo's answers (JSON with its version and the task's node) say, in one line."""
    versions, hosts = set(), []
    for body in bodies:
        try:
            answer = json.loads(body)
        except ValueError:
            title = re.search(rb"<title>([^<]{1,80})</title>", body, re.IGNORECASE)
            if title:   # a web UI (the monitoring stack's Prometheus and Alertmanager)
                return f"answers: page {title.group(1).decode('utf-8', 'replace').strip()!r}"
            return f"answers, not JSON: {body[:60]!r}"
        versions.add(str(answer.get("version", "?")))
        if answer.get("hostname") not in hosts:
            hosts.append(str(answer.get("hostname", "?")))
    return f"version {', '.join(sorted(versions))} from {', '.join(hosts)} ({len(bodies)} requests)"


def redirect(host: str, ip: str) -> str:
    """Where http://HOST/ sent to one node redirects: "301 -> https://HOST/" is right."""
    import http.client

    connection = http.client.HTTPConnection(ip, 80, timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
    except OSError as exc:
        return f"FAILED: {exc}"
    finally:
        connection.close()
    location = response.getheader("Location", "")
    if response.status in (301, 308) and location == f"https://{host}/":
        return f"{response.status} -> {location}"
    return f"FAILED: {response.status} {location or '(no Location)'}"


def served_certificate(host: str, ip: str, ca: Path) -> dict[str, Any]:
    """The certificate one node serves for HOST, verified against ``ca`` (ssl's getpeercert())."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection((ip, 443), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return dict(tls.getpeercert() or {})
