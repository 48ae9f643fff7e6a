"""A steady HTTP(S) load against several URLs, recording every request (for the rolling-update
benchmark and the stacks scenario): who answered, how fast, and whether it failed.

Requests go out on a fixed schedule (``rate`` per second, spread round-robin over the URLs) from
a pool of threads, each a new connection, as independent clients would. A request fails when the
connection fails, it times out, or the status is not 200.

With ``failover``, a request whose connection is refused or reset before any answer is sent again
to the next URL, as a load balancer in front of the nodes does when one is taken out for
maintenance (HAProxy's ``option redispatch``); it fails only when no node takes it, and
``Summary.redispatched`` counts the requests that needed another node.

With ``tls=(name, cafile)``, ``https://ADDRESS/`` URLs are asked for that host name (SNI, Host
header, certificate verified against the CA), one node at a time, as ``curl --resolve`` does.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Sample:
    start: float  # seconds since the load started
    latency: float  # seconds
    url: str
    ok: bool
    detail: str  # version served, or the error
    redispatched: int = 0  # nodes that refused the connection before one answered (failover)


@dataclass
class Summary:
    total: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    rate: float
    redispatched: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def summarize(samples: list[Sample], duration: float) -> Summary:
    latencies = [s.latency for s in samples]
    versions: dict[str, int] = {}
    errors: dict[str, int] = {}
    for s in samples:
        bucket = versions if s.ok else errors
        bucket[s.detail] = bucket.get(s.detail, 0) + 1
    return Summary(
        total=len(samples),
        failed=sum(1 for s in samples if not s.ok),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 1),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 1),
        max_ms=round(max(latencies, default=0.0) * 1000, 1),
        rate=round(len(samples) / duration, 1) if duration > 0 else 0.0,
        redispatched=sum(1 for s in samples if s.redispatched),
        versions=versions,
        errors=errors,
    )


def per_second(samples: list[Sample]) -> list[tuple[int, int, int]]:
    """(second, requests, failures) for every second of the run."""
    if not samples:
        return []
    last = int(max(s.start for s in samples))
    counts = [[0, 0] for _ in range(last + 1)]
    for s in samples:
        counts[int(s.start)][0] += 1
        counts[int(s.start)][1] += 0 if s.ok else 1
    return [(i, c[0], c[1]) for i, c in enumerate(counts)]


# Refused or reset before an answer: the node is not serving, another one can take the request.
_NOT_SERVING = ("ConnectionRefusedError", "ConnectionResetError", "RemoteDisconnected")


class _NamedHTTPS(http.client.HTTPSConnection):
    """HTTPS to one address, for a host name (as `curl --resolve NAME:443:ADDRESS` does): the TLS
    server name, the certificate check and the Host header are the name's."""

    def __init__(self, address: str, port: int, name: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self._name, self._tls = name, context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self._name)


def _get(url: str, timeout: float, tls: tuple[str, ssl.SSLContext] | None = None) -> tuple[bool, str]:
    parts = urlsplit(url)
    if not parts.hostname:
        return False, "no host in the URL"
    conn: http.client.HTTPConnection
    if tls is not None and parts.scheme == "https":
        conn = _NamedHTTPS(parts.hostname, parts.port or 443, tls[0], tls[1], timeout)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"Host": tls[0]} if tls is not None else {})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return False, f"HTTP {response.status}"
        try:
            return True, str(json.loads(body).get("version", "?"))
        except ValueError:
            return True, "?"
    except (OSError, http.client.HTTPException) as exc:
        return False, type(exc).__name__
    finally:
        conn.close()


class Load:
    """Run ``with Load(urls, rate) as load: ...``; ``load.samples`` holds every request."""

    def __init__(
        self, urls: list[str], rate: float = 60.0, timeout: float = 5.0, workers: int = 32, failover: bool = False,
        tls: tuple[str, str] | None = None,
    ) -> None:
        if not urls or rate <= 0:
            raise ValueError("Load needs at least one URL and a positive rate")
        self.urls = urls
        # (host name, CA file): https://ADDRESS/ URLs are asked for that name, its certificate
        # verified against that CA (one context for every thread).
        self.tls = (tls[0], ssl.create_default_context(cafile=tls[1])) if tls else None
        self.rate = rate
        self.timeout = timeout
        self.failover = failover
        self.samples: list[Sample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers)
        self._thread = threading.Thread(target=self._schedule, daemon=True)
        self._t0 = 0.0
        self.duration = 0.0

    def __enter__(self) -> Load:
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        self.duration = time.monotonic() - self._t0

    def _schedule(self) -> None:
        interval = 1.0 / self.rate
        n = 0
        while not self._stop.is_set():
            due = self._t0 + n * interval
            delay = due - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
                if self._stop.is_set():
                    break
            self._pool.submit(self._one, n % len(self.urls))
            n += 1

    def _one(self, index: int) -> None:
        start = time.monotonic()
        url = self.urls[index]
        ok, detail = _get(url, self.timeout, self.tls)
        tries = len(self.urls) if self.failover else 1
        redispatched = 0
        while not ok and detail in _NOT_SERVING and redispatched + 1 < tries:
            redispatched += 1
            ok, detail = _get(self.urls[(index + redispatched) % len(self.urls)], self.timeout, self.tls)
        sample = Sample(start - self._t0, time.monotonic() - start, url, ok, detail, redispatched)
        with self._lock:
            self.samples.append(sample)

    def summary(self) -> Summary:
        with self._lock:
            return summarize(list(self.samples), self.duration or (time.monotonic() - self._t0))
