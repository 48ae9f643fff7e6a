"""The load generator's arithmetic and a real run against a local HTTP server."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flotilla.load import Load, Sample, per_second, percentile, summarize


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.50) == 50.0
    assert percentile([], 0.99) == 0.0


def test_summary_counts_versions_and_errors():
    samples = [Sample(0.1, 0.01, "u", True, "1"), Sample(0.2, 0.02, "u", True, "2"),
               Sample(1.5, 0.5, "u", False, "ConnectionRefusedError")]
    summary = summarize(samples, 2.0)
    assert (summary.total, summary.failed, summary.rate) == (3, 1, 1.5)
    assert summary.versions == {"1": 1, "2": 1}
    assert summary.errors == {"ConnectionRefusedError": 1}
    assert per_second(samples) == [(0, 2, 0), (1, 1, 1)]


class Handler(BaseHTTPRequestHandler):
    """Answers version 7, or HTTP 500 on /bad."""

    def do_GET(self):  # noqa: N802
        status = 500 if self.path == "/bad" else 200
        body = json.dumps({"version": "7"}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_load_hits_the_urls_at_the_rate_and_sees_failures():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with Load([f"{base}/", f"{base}/bad"], rate=50) as load:
            time.sleep(1.0)
    finally:
        server.shutdown()
    summary = load.summary()
    assert 35 <= summary.total <= 60
    assert summary.versions == {"7": summary.total - summary.failed}
    assert summary.errors == {"HTTP 500": summary.failed}
    assert abs(summary.failed - summary.total / 2) <= 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on exit: connections to it are refused


@pytest.mark.parametrize("failover", [False, True])
def test_failover_sends_a_refused_request_to_the_next_node(failover):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    down = f"http://127.0.0.1:{_closed_port()}/"
    try:
        with Load([down, f"http://127.0.0.1:{server.server_port}/"], rate=20, failover=failover) as load:
            time.sleep(0.5)
    finally:
        server.shutdown()
    summary = load.summary()
    refused = sum(1 for s in load.samples if s.url == down)
    assert refused > 0
    if failover:
        assert (summary.failed, summary.redispatched) == (0, refused)
    else:
        assert (summary.failed, summary.redispatched) == (refused, 0)
        assert summary.errors == {"ConnectionRefusedError": refused}


def _certificate(tmp_path, name):
    """A self-signed certificate for ``name`` (its own CA), as PEM files: (cert, key)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.mark.parametrize(("name", "ok"), [("demo.test", True), ("other.test", False)])
def test_https_load_asks_an_address_for_a_name_and_verifies_its_certificate(tmp_path, name, ok):
    import ssl

    cert, key = _certificate(tmp_path, "demo.test")
    hosts = []

    class Named(Handler):
        def do_GET(self):  # noqa: N802
            hosts.append(self.headers["Host"])
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Named)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Load([f"https://127.0.0.1:{server.server_port}/"], rate=20, tls=(name, str(cert))) as load:
            time.sleep(0.5)
    finally:
        server.shutdown()
    summary = load.summary()
    assert summary.total >= 5
    if ok:
        assert summary.failed == 0 and summary.versions == {"7": summary.total}
        assert set(hosts) == {"demo.test"}
    else:   # the certificate does not name other.test: every request fails, none is sent
        assert summary.failed == summary.total and hosts == []
