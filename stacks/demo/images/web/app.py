"""The demo's web service: answers `/` with JSON {version, hostname, ...} and `/healthz`.

Python standard library only. On SIGTERM it stops accepting connections, lets the requests in
flight finish, and exits 0, so a rolling update loses no request. Version "broken" is the
deliberately bad release: its /healthz never passes, so Swarm rolls the update back.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VERSION = os.environ.get("DEMO_VERSION", "unknown")
PORT = int(os.environ.get("DEMO_PORT", "8000"))
GREETING_FILE = Path(os.environ.get("DEMO_GREETING_FILE", "/etc/demo/greeting.txt"))
TOKEN_FILE = Path(os.environ.get("DEMO_TOKEN_FILE", "/run/secrets/api_token"))


class Handler(BaseHTTPRequestHandler):
    server_version = "flotilla-demo-web"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/healthz":
            healthy = VERSION != "broken"
            self._reply(200 if healthy else 503, {"healthy": healthy})
        elif self.path == "/":
            self._reply(200, {
                "version": VERSION,
                "hostname": socket.gethostname(),
                "task": os.environ.get("DEMO_TASK", ""),
                "greeting": GREETING_FILE.read_text(encoding="utf-8").strip() if GREETING_FILE.exists() else "",
                "token_loaded": TOKEN_FILE.exists() and TOKEN_FILE.stat().st_size > 0,
            })
        else:
            self._reply(404, {"error": "not found"})

    def _reply(self, status: int, body: dict) -> None:
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
        pass  # one line per request would flood `docker service logs` under load


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the requests in flight
    block_on_close = True
    allow_reuse_address = True


def main() -> int:
    server = Server(("0.0.0.0", PORT), Handler)

    def stop(signum: int, _frame: object) -> None:
        # shutdown() blocks until serve_forever() returns, so it runs in its own thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"demo web {VERSION} listening on :{PORT}", flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()  # stop accepting, then join the handler threads still answering
    print("demo web stopped after finishing requests in flight", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
