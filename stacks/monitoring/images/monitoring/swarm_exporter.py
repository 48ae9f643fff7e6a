#!/usr/bin/env python3
"""Flotilla's swarm-state exporter: what the swarm says of itself, as Prometheus metrics.

It runs on every node (a global service of the stack `monitoring`), with the engine's socket and
the node's swarm certificates mounted read-only. Every instance exports its own node's certificate
expiry; the instance on the swarm's leader also exports the cluster: each node's state,
availability, role and manager reachability, the quorum margin, each service's wanted and running
tasks and update state. Every instance on a manager also exports when backup.yml last made a
backup (the time it writes in the node's /var/lib/flotilla/backup.last, mounted read-only). A
scrape reads the engine then (no cache); a manager that is not the leader reads only its own node.

The judging is pure (`samples`), tested in tests/unit/test_swarm_exporter.py; the rest is I/O.
"""

from __future__ import annotations

import argparse
import ssl
import time
from calendar import timegm
from typing import Any

Sample = tuple[str, str, dict[str, str], float]
BACKUP_FILE = "/flotilla/backup.last"

HELP = {
    "flotilla_swarm_exporter_leader": "1 on the exporter that exports the cluster (it runs on the swarm's leader)",
    "flotilla_swarm_node_up": "1 when the swarm sees the node ready, 0 when down or unknown",
    "flotilla_swarm_node_active": "1 when the node's availability is active (not drained or paused)",
    "flotilla_swarm_node_info": "A node's role, availability, state and engine version, as labels",
    "flotilla_swarm_manager_reachable": "1 when the manager is reachable by the others",
    "flotilla_swarm_managers": "Managers in the swarm",
    "flotilla_swarm_quorum_margin": "Reachable managers beyond the quorum; below 0 the swarm has lost it",
    "flotilla_swarm_service_wanted": "Tasks the service should run (replicas, or one per eligible node)",
    "flotilla_swarm_service_running": "Tasks of the service running on nodes that are up",
    "flotilla_swarm_service_update_state": "1 for the state of the service's last update (none if never updated)",
    "flotilla_node_certificate_expiry_timestamp_seconds": "When this node's swarm certificate expires (Unix time)",
    "flotilla_backup_last_success_timestamp_seconds": "When backup.yml last made a backup of the swarm (Unix time)",
}


def _stack(service: dict[str, Any]) -> str:
    return ((service.get("Spec") or {}).get("Labels") or {}).get("com.docker.stack.namespace", "")


def service_counts(service: dict[str, Any], tasks: list[dict[str, Any]], down: set[str]) -> tuple[str, int, int]:
    """(mode, wanted, running) of one service. Wanted is the swarm's own count: replicas, or for a
    global service the tasks it wants running (one per eligible node; Swarm stops wanting the one
    on a node that is down). Running counts tasks running on nodes that are up (a down node's last
    report is not a running task)."""
    mode_spec = (service.get("Spec") or {}).get("Mode") or {}
    mine = [t for t in tasks if t.get("ServiceID") == service.get("ID") and t.get("DesiredState") == "running"]
    running = sum(1 for t in mine if (t.get("Status") or {}).get("State") == "running" and t.get("NodeID") not in down)
    if "Replicated" in mode_spec:
        return "replicated", int((mode_spec["Replicated"] or {}).get("Replicas", 1)), running
    if "Global" in mode_spec:
        return "global", len(mine), running
    return next(iter(mode_spec), "unknown").lower(), len(mine), running


def samples(
    self_id: str,
    nodes: list[dict[str, Any]] | None,
    services: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    hostname: str,
    certificate_expiry: float | None,
    backup_time: float | None = None,
) -> list[Sample]:
    """Every sample of one scrape. `nodes` is None where the engine is no manager (no cluster view);
    the cluster is exported only by the leader's exporter, so each series comes from one target."""
    out: list[Sample] = []

    def add(name: str, labels: dict[str, str], value: float) -> None:
        out.append((name, HELP[name], labels, float(value)))

    if certificate_expiry is not None:
        add("flotilla_node_certificate_expiry_timestamp_seconds", {"node": hostname}, certificate_expiry)
    if backup_time is not None:
        add("flotilla_backup_last_success_timestamp_seconds", {"node": hostname}, backup_time)
    me = next((n for n in nodes or [] if n.get("ID") == self_id), {})
    leader = bool((me.get("ManagerStatus") or {}).get("Leader"))
    add("flotilla_swarm_exporter_leader", {"node": hostname}, leader)
    if not leader or nodes is None:
        return out

    down: set[str] = set()
    managers = reachable = 0
    for node in sorted(nodes, key=lambda n: (n.get("Description") or {}).get("Hostname", "")):
        name = (node.get("Description") or {}).get("Hostname", node.get("ID", ""))
        spec, status = node.get("Spec") or {}, node.get("Status") or {}
        role, state = spec.get("Role", ""), status.get("State", "unknown")
        availability = spec.get("Availability", "")
        if state != "ready":
            down.add(node.get("ID", ""))
        add("flotilla_swarm_node_up", {"node": name, "role": role}, state == "ready")
        add("flotilla_swarm_node_active", {"node": name, "role": role}, availability == "active")
        engine = ((node.get("Description") or {}).get("Engine") or {}).get("EngineVersion", "")
        add("flotilla_swarm_node_info",
            {"node": name, "id": node.get("ID", ""), "role": role, "availability": availability,
             "state": state, "engine": engine}, 1)
        if node.get("ManagerStatus"):
            managers += 1
            ok = node["ManagerStatus"].get("Reachability") == "reachable"
            reachable += ok
            add("flotilla_swarm_manager_reachable", {"node": name}, ok)
    add("flotilla_swarm_managers", {}, managers)
    add("flotilla_swarm_quorum_margin", {}, reachable - (managers // 2 + 1))

    for service in sorted(services, key=lambda s: (s.get("Spec") or {}).get("Name", "")):
        name = (service.get("Spec") or {}).get("Name", service.get("ID", ""))
        mode, wanted, running = service_counts(service, tasks, down)
        labels = {"service": name, "stack": _stack(service), "mode": mode}
        add("flotilla_swarm_service_wanted", labels, wanted)
        add("flotilla_swarm_service_running", labels, running)
        state = (service.get("UpdateStatus") or {}).get("State") or "none"
        add("flotilla_swarm_service_update_state", {"service": name, "stack": _stack(service), "state": state}, 1)
    return out


def backup_time(path: str) -> float | None:
    """The Unix time backup.yml wrote in ``path`` (None when there is none or it is not a number)."""
    try:
        with open(path, encoding="ascii") as handle:
            return float(int(handle.read().strip()))
    except (OSError, ValueError):
        return None


def certificate_expiry(path: str) -> float | None:
    """notAfter of a PEM certificate as Unix time (None when it cannot be read)."""
    try:
        decoded = ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]  # noqa: SLF001
        return float(timegm(time.strptime(decoded["notAfter"], "%b %d %H:%M:%S %Y %Z")))
    except (OSError, ValueError, KeyError, AttributeError, ssl.SSLError):
        return None


class Collector:
    """prometheus_client's custom collector: one read of the engine per scrape."""

    def __init__(self, client: Any, cert: str, backup: str = BACKUP_FILE) -> None:
        self.client, self.cert, self.backup = client, cert, backup

    def collect(self) -> Any:
        from docker.errors import APIError
        from prometheus_client.core import GaugeMetricFamily

        api = self.client.api
        info = api.info()
        swarm = info.get("Swarm") or {}
        nodes, services, tasks = None, [], []
        if swarm.get("ControlAvailable"):
            try:
                # Its own node first: a manager that is not the leader reads no more than that.
                nodes = [api.inspect_node(swarm.get("NodeID", ""))]
                if (nodes[0].get("ManagerStatus") or {}).get("Leader"):
                    nodes = api.nodes()
                    services = api.services()
                    tasks = api.tasks(filters={"desired-state": "running"})
            except APIError:   # no leader (a lost quorum): this node's own figures only
                nodes, services, tasks = None, [], []
        families: dict[str, Any] = {}
        for name, text, labels, value in samples(
                swarm.get("NodeID", ""), nodes, services, tasks, info.get("Name", ""),
                certificate_expiry(self.cert), backup_time(self.backup) if swarm.get("ControlAvailable") else None):
            family = families.get(name)
            if family is None:
                family = families[name] = GaugeMetricFamily(name, text, labels=list(labels))
            family.add_metric(list(labels.values()), value)
        yield from families.values()


def main() -> None:
    import docker
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9423)
    parser.add_argument("--certificate", default="/swarm-certificates/swarm-node.crt")
    parser.add_argument("--backup-record", default=BACKUP_FILE)
    args = parser.parse_args()
    REGISTRY.register(Collector(docker.from_env(), args.certificate, args.backup_record))  # type: ignore[arg-type]
    start_http_server(args.port)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
