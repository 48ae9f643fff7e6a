"""A webhook receiver for the lab's Alertmanager: the controller listens where the lab's inventory
sends alerts (http://<lab_controller_address>:9099/alerts) and keeps every notification, so a
drill can wait for an alert to arrive, and to resolve. Alertmanager's webhook format: a JSON body
with `status` and `alerts`, each with `status`, `labels`, `annotations`, `startsAt`, `endsAt`."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PORT = 9099


@dataclass(frozen=True)
class Notice:
    """One alert of one notification, with the controller's clock when it arrived."""

    received: float
    status: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)


def notices(body: dict[str, Any], received: float) -> list[Notice]:
    """The alerts of one webhook notification."""
    return [Notice(received, a.get("status", body.get("status", "")), dict(a.get("labels") or {}),
                   dict(a.get("annotations") or {})) for a in body.get("alerts") or []]


def matching(seen: list[Notice], alertname: str, status: str = "firing", since: float = 0.0,
             **labels: str) -> list[Notice]:
    """The notices of `alertname` with `status` and these labels, received at `since` or later."""
    return [n for n in seen if n.received >= since and n.status == status
            and n.labels.get("alertname") == alertname
            and all(n.labels.get(k) == v for k, v in labels.items())]


class AlertSink:
    """`with AlertSink(address) as sink:` listens on address:PORT until the block ends."""

    def __init__(self, address: str, port: int = PORT) -> None:
        self.seen: list[Notice] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                with sink._lock:
                    sink.seen.extend(notices(body, time.monotonic()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((address, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> AlertSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, alertname: str, timeout: float, status: str = "firing", since: float = 0.0,
             **labels: str) -> Notice:
        """The first matching notice, waiting up to `timeout` seconds for it (AssertionError after)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = matching(self.seen, alertname, status, since, **labels)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                with self._lock:
                    names = sorted({(n.labels.get("alertname", "?"), n.status) for n in self.seen})
                raise AssertionError(f"no {status} {alertname} {labels} within {timeout:.0f} s; received: {names}")
            time.sleep(0.5)

    def seen_any(self, alertname: str, status: str = "firing", since: float = 0.0, **labels: str) -> bool:
        with self._lock:
            return bool(matching(self.seen, alertname, status, since, **labels))
