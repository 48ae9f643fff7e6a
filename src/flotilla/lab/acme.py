"""The lab's ACME CA: Debian's `pebble` (Let's Encrypt's ACME test server) in a container on the
lab network, beside the nodes, with its challenge DNS server (`pebble-challtestsrv`) answering
every name with one node's address. The kit's ingress obtains the cluster's certificate from it
as from Let's Encrypt: HTTP-01, answered through whichever node the name resolves to.

Pebble keeps everything in memory and makes new roots at every start; its own HTTPS certificate
is made once per container. Both are written under ``.lab/<lab>/acme/`` for the controller: ``pebble.pem``
(what the ACME client must trust to talk to pebble), ``roots.pem`` (what clients must trust to
accept the certificates it issues) and ``directory`` (the ACME directory's URL). `lab down`
removes them with the lab's PKI (``.lab/<lab>/pki``): certificates of a CA that is gone are no use.
"""

from __future__ import annotations

import io
import ipaddress
import ssl
import time
import urllib.request
from pathlib import Path

import docker
from docker.errors import ImageNotFound, NotFound

from flotilla.lab import plan
from flotilla.lab.host import Log

OFFSET = 5   # the container's address: the lab subnet's .5
IMAGE = "flotilla/pebble:1"
ACME_PORT, MANAGEMENT_PORT = 14000, 15000
LABEL_ROLE = "io.flotilla.lab.role"

DOCKERFILE = """\
FROM {base}
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pebble openssl \\
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
"""

# The container's program: its HTTPS certificate (once), the DNS server answering every A query
# with one node's address, then pebble validating HTTP-01 on port 80 through that DNS server.
SCRIPT = r"""set -eu
mkdir -p /pebble && cd /pebble
[ -s tls.pem ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj /CN=pebble -addext "subjectAltName=DNS:pebble,IP:$PEBBLE_IP" -keyout tls.key -out tls.pem 2>/dev/null
cat > config.json <<EOF
{"pebble": {"listenAddress": "0.0.0.0:14000", "managementListenAddress": "0.0.0.0:15000",
 "certificate": "/pebble/tls.pem", "privateKey": "/pebble/tls.key", "httpPort": 80, "tlsPort": 443,
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
pebble-challtestsrv -defaultIPv4 "$ANSWER_IP" -defaultIPv6 "" -dns01 :8053 -http01 "" -https01 "" \
  -tlsalpn01 "" -doh "" -management :8055 &
exec pebble -config /pebble/config.json -dnsserver 127.0.0.1:8053
"""


def address(subnet: ipaddress.IPv4Network) -> str:
    return str(subnet.network_address + OFFSET)


def directory_url(subnet: ipaddress.IPv4Network) -> str:
    """The ACME directory the kit's client asks."""
    return f"https://{address(subnet)}:{ACME_PORT}/dir"


def ensure_image(client: docker.DockerClient, base: str, log: Log) -> str:
    try:
        client.images.get(IMAGE)
    except ImageNotFound:
        log(f"building {IMAGE} (Debian's pebble) FROM {base}")
        dockerfile = DOCKERFILE.format(base=base).encode()
        client.images.build(fileobj=io.BytesIO(dockerfile), tag=IMAGE, rm=True, forcerm=True)
    return IMAGE


def ensure_pebble(
    client: docker.DockerClient, lab: str, container_name: str, network: str,
    subnet: ipaddress.IPv4Network, answer_ip: str, base: str, state_dir: Path, log: Log,
) -> str:
    """Start (or keep) the lab's pebble; write its HTTPS certificate, current roots and directory
    URL under ``state_dir``/acme. A new pebble has new roots: the certificate the kit kept from the
    old one (``state_dir``/pki/acme.*, see inventory/lab/group_vars/all/demo.yml) is removed, so
    the next run obtains one again. Returns the ACME directory URL."""
    files = state_dir / "acme"
    image = ensure_image(client, base, log)
    ip = address(subnet)
    wanted = {"PEBBLE_IP": ip, "ANSWER_IP": answer_ip}
    try:
        container = client.containers.get(container_name)
        env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"] or [] if "=" in item)
        if any(env.get(k) != v for k, v in wanted.items()) or container.image.id != client.images.get(image).id:
            container.remove(force=True)
            raise NotFound("outdated")
        if container.status != "running":
            container.start()
    except NotFound:
        log(f"starting the lab's ACME CA (pebble) at {ip}; every name resolves to {answer_ip} for it")
        container = client.containers.create(
            image, ["bash", "-c", SCRIPT], name=container_name, hostname="pebble", detach=True,
            environment={**wanted, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"},
            labels={plan.LABEL_LAB: lab, LABEL_ROLE: "acme"},
            restart_policy={"Name": "unless-stopped"},
        )
        client.networks.get(network).connect(container, ipv4_address=ip)
        container.start()
        for kept in (state_dir / "pki").glob("acme.*"):
            kept.unlink()
    files.mkdir(parents=True, exist_ok=True)
    tls = _wait_for_file(container, "/pebble/tls.pem")
    (files / "pebble.pem").write_bytes(tls)
    roots = _roots(ip, files / "pebble.pem")
    (files / "roots.pem").write_text(roots, encoding="utf-8")
    (files / "directory").write_text(directory_url(subnet) + "\n", encoding="utf-8")
    return directory_url(subnet)


def _wait_for_file(container: docker.models.containers.Container, path: str, timeout: float = 30) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        code, output = container.exec_run(["cat", path])
        if code == 0 and output.strip():
            return bytes(output)
        if time.monotonic() > deadline:
            raise RuntimeError(f"pebble did not write {path} within {timeout:.0f} s: {output.decode(errors='replace')}")
        time.sleep(0.5)


def _roots(ip: str, tls: Path, timeout: float = 30) -> str:
    """Pebble's current root certificate (management API, /roots/0), checked over its HTTPS."""
    context = ssl.create_default_context(cafile=str(tls))
    deadline = time.monotonic() + timeout
    while True:
        try:
            url = f"https://{ip}:{MANAGEMENT_PORT}/roots/0"
            with urllib.request.urlopen(url, context=context, timeout=5) as answer:  # noqa: S310 (the lab's CA)
                return str(answer.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
