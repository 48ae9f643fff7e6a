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
