"""The cluster compared with the inventory, for playbooks/status.yml: what the inventory says each
host is, what the swarm says it is, and every difference as one line (a "finding"), plus the
tables and the self-contained HTML page people read. Pure functions: the role reads, this judges.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from flotilla.placement import global_wanted
from flotilla.swarm import swarm_labels, swarm_service_shortfall

Node = dict[str, Any]

# Update states that need an admin: Swarm paused the update (or its rollback) on failures. A
# completed rollback is shown, not a finding: the service runs its previous spec, healthy, and keeps
# that state after the next deploy of the same spec (deploy.yml fails the run that caused it).
_UPDATE_TROUBLE = ("paused", "rollback_paused")


def _days_left(not_after: str, moment: datetime) -> float | None:
    if not not_after:
        return None
    ends = datetime.strptime(not_after, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    return (ends - moment).total_seconds() / 86400


def _node_of(host: str, seen: dict[str, Any], nodes: list[Node]) -> Node:
    """The swarm's node of an inventory host: by the node ID its engine gave; by its address only
    when its engine did not answer (a host that left the swarm keeps no node ID, and must not be
    taken for the node it left behind)."""
    by_id = {n.get("ID"): n for n in nodes}
    if seen.get("node_id") in by_id:
        return by_id[seen["node_id"]]
    if seen.get("reachable") and seen.get("engine_answers", True):
        return {}
    addrs = [a for a in seen.get("addrs") or [] if a]
    return next((n for n in nodes if (n.get("Status") or {}).get("Addr") in addrs), {})


def _pairs(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _label_drift(host: str, wanted: dict[str, str], found: dict[str, str]) -> list[str]:
    lines = []
    extra = {k: v for k, v in found.items() if k not in wanted}
    missing = {k: v for k, v in wanted.items() if k not in found}
    other = {k: (found[k], v) for k, v in wanted.items() if k in found and found[k] != v}
    if extra:
        lines.append(f"{host}: node labels not in the inventory: {_pairs(extra)}")
    if missing:
        lines.append(f"{host}: node labels missing: {_pairs(missing)}")
    for key, (now, want) in sorted(other.items()):
        lines.append(f"{host}: node label {key} is {now!r}, the inventory says {want!r}")
    return lines


def status_report(
    hosts: dict[str, dict[str, Any]],
    nodes: list[Node] | None,
    services: list[dict[str, Any]] | None,
    tasks: list[dict[str, Any]] | None,
    stacks_enabled: list[str],
    now: str,
    warn_days: int = 30,
    swarm_error: str = "",
    plans: dict[str, dict[str, Any]] | None = None,
    alerts: list[dict[str, Any]] | None = None,
    links: dict[str, str] | None = None,
    alerts_error: str = "",
) -> dict[str, Any]:
    """Compare the inventory with the live cluster.

    ``hosts``: inventory host -> {"group": "manager"|"worker", "labels" and "availability" (what
    the inventory wants), "addrs" (its addresses), "reachable", and what its engine said when it answered:
    "engine" (version), "node_id", "swarm_state", "daemon_json" (True when /etc/docker/daemon.json
    holds what the inventory wants), "restart_pending", "cert_not_after" (x509 notAfter, or "")}.
    ``nodes``, ``services``, ``tasks``: the swarm's, verbose (docker_swarm_info), or None when no
    manager answered (``swarm_error``: what the manager asked said). ``plans``: role stacks'
    plans of the enabled stacks, compared with the services (stack_drift). ``alerts``: the alerts
    Alertmanager has active (its API v2), each a finding. ``links``: name -> URL of the monitoring
    UIs, shown; ``alerts_error``: why Alertmanager could not be asked, a finding. Returns the rows
    of each table and ``findings``: every difference or firing alert, one line each; ``ok`` when
    there is none.
    """
    moment = datetime.fromisoformat(now.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    findings: list[str] = []
    swarm_nodes = nodes or []
    if nodes is None:
        findings.append("no manager answered: the swarm's nodes and services could not be read"
                        + (f" ({swarm_error.strip()})" if swarm_error.strip() else ""))
    matched: set[str] = set()
    rows = []
    for host, seen in hosts.items():
        node = _node_of(host, seen, swarm_nodes)
        spec, status = node.get("Spec") or {}, node.get("Status") or {}
        manager = node.get("ManagerStatus") or {}
        if node:
            matched.add(str(node.get("ID")))
        days = _days_left(str(seen.get("cert_not_after") or ""), moment)
        engine = seen.get("engine") or ((node.get("Description") or {}).get("Engine") or {}).get("EngineVersion", "")
        if node:
            state = status.get("State", "")
        elif not seen.get("in_run", True):
            state = "not read"
        elif not seen.get("reachable"):
            state = "unreachable"
        elif not seen.get("engine_answers", True):
            state = "no engine"
        else:
            state = "not in swarm"
        row = {
            "host": host,
            "group": seen.get("group", ""),
            "role": spec.get("Role", ""),
            "state": state,
            "availability": spec.get("Availability", ""),
            "manager": ("leader" if manager.get("Leader") else manager.get("Reachability", "")) if manager else "",
            "engine": str(engine),
            "labels": swarm_labels(spec.get("Labels")),
            "cert_days": None if days is None else round(days),
            "node_id": str(node.get("ID", "")),
        }
        rows.append(row)
        if not seen.get("in_run", True):
            pass   # outside this run (--limit): what the swarm says of it is still compared
        elif not seen.get("reachable"):
            findings.append(f"{host}: does not answer over SSH")
        elif not seen.get("engine_answers", True):
            findings.append(f"{host}: no Docker Engine answers (systemctl status docker on it)")
        if nodes is None:
            continue
        if not node and state != "not in swarm":
            continue   # said above: what it is in the swarm cannot be told
        if not node:
            swarm_state = seen.get("swarm_state") or "unknown"
            findings.append(f"{host}: not in the swarm (engine: {swarm_state}); site.yml joins it")
            continue
        if row["state"] != "ready":
            findings.append(f"{host}: node is {row['state']}")
        if row["role"] != seen.get("group"):
            group = seen.get("group")
            findings.append(f"{host}: is a {row['role']}, the inventory says {group} (swarm.yml changes it)")
        wanted_availability = seen.get("availability", "active")
        if row["availability"] != wanted_availability:
            findings.append(f"{host}: availability {row['availability']}, the inventory says {wanted_availability}")
        if manager and manager.get("Reachability") not in (None, "reachable"):
            findings.append(f"{host}: manager {manager.get('Reachability')} (raft)")
        findings += _label_drift(host, swarm_labels(seen.get("labels")), row["labels"])
        if seen.get("reachable") and not seen.get("daemon_json", True):
            findings.append(f"{host}: /etc/docker/daemon.json differs from the inventory's (upgrade.yml applies it)")
        if seen.get("restart_pending"):
            findings.append(f"{host}: the engine runs an older daemon.json than the file (upgrade.yml restarts it)")
        if days is not None and days < 0:
            findings.append(f"{host}: the swarm node certificate ended {-days:.0f} days ago")
        elif days is not None and days < warn_days:
            findings.append(f"{host}: the swarm node certificate ends in {days:.0f} days")
    for node in swarm_nodes:
        if str(node.get("ID")) not in matched:
            name = (node.get("Description") or {}).get("Hostname", node.get("ID"))
            status = node.get("Status") or {}
            findings.append(
                f"node {name} ({status.get('Addr', '?')}, {status.get('State', '')}) is in the swarm, "
                "not in the inventory"
            )
    service_rows, deployed = [], set()
    for service in sorted(services or [], key=lambda s: (s.get("Spec") or {}).get("Name", "")):
        spec = service.get("Spec") or {}
        stack = (spec.get("Labels") or {}).get("com.docker.stack.namespace", "")
        if stack:
            deployed.add(stack)
        own = [t for t in tasks or [] if t.get("ServiceID") == service.get("ID") and t.get("DesiredState") == "running"]
        running = [t for t in own if (t.get("Status") or {}).get("State") == "running"]
        mode = spec.get("Mode") or {}
        if "Replicated" in mode:
            wanted = (mode.get("Replicated") or {}).get("Replicas", 1)
        else:   # one task per eligible node (a task Swarm rejected is no longer "wanted" there)
            wanted = max(len(own), global_wanted(service, swarm_nodes)) if "Global" in mode else len(own)
        update = (service.get("UpdateStatus") or {}).get("State", "")
        kind = "replicated" if "Replicated" in mode else "global" if "Global" in mode else "job"
        service_rows.append({"service": spec.get("Name", ""), "stack": stack, "mode": kind,
                             "running": len(running), "wanted": wanted, "update": update})
        if update in _UPDATE_TROUBLE:
            message = (service.get("UpdateStatus") or {}).get("Message", "")
            findings.append(f"{spec.get('Name')}: update {update}" + (f" ({message})" if message else ""))
    if services is not None:
        findings += swarm_service_shortfall(services, tasks or [], nodes=swarm_nodes)
        for stack in stacks_enabled:
            if stack not in deployed:
                findings.append(f"stack {stack}: enabled in the inventory, not deployed (deploy.yml deploys it)")
        for stack in sorted(deployed - set(stacks_enabled)):
            findings.append(f"stack {stack}: deployed, not in stacks_enabled")
        findings += stack_drift({k: v for k, v in (plans or {}).items() if k in deployed}, services)
    firing = []
    if alerts_error:
        findings.append(f"monitoring: {alerts_error}")
    def alert_key(alert: dict[str, Any]) -> tuple[str, str]:
        return (alert.get("labels") or {}).get("alertname", ""), alert.get("startsAt", "")

    for alert in sorted(alerts or [], key=alert_key):
        labels, notes = alert.get("labels") or {}, alert.get("annotations") or {}
        name = labels.get("alertname", "?")
        about = ", ".join(f"{k}={labels[k]}" for k in ("node", "service") if labels.get(k))
        firing.append({"alert": name, "severity": labels.get("severity", ""), "about": about,
                       "summary": notes.get("summary", ""), "since": alert.get("startsAt", "")})
        findings.append(f"alert {name} firing" + (f" ({about})" if about else "")
                        + (f": {notes['summary']}" if notes.get("summary") else ""))
    names = {s.get("ID"): str((s.get("Spec") or {}).get("Name", "?")) for s in services or []}
    return {
        "generated": moment.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "ok": not findings,
        "findings": findings,
        "nodes": rows,
        "services": service_rows,
        "stacks": {"enabled": list(stacks_enabled), "deployed": sorted(deployed)},
        "alerts": firing,
        "links": dict(links or {}),
        "tasks": [
            {"node_id": t.get("NodeID", ""), "service": names.get(t.get("ServiceID"), "?"), "slot": t.get("Slot"),
             "state": (t.get("Status") or {}).get("State", "")}
            for t in tasks or [] if t.get("DesiredState") == "running"
        ],
    }


def _objects(compose: dict[str, Any], kind: str) -> dict[str, str]:
    """Compose key -> the name the swarm knows (a planned file's is content-hashed)."""
    return {str(key): str((spec or {}).get("name") or key) if isinstance(spec, dict) else str(key)
            for key, spec in (compose.get(kind) or {}).items()}


def _used(service: dict[str, Any], objects: dict[str, str], kind: str) -> set[str]:
    names = set()
    for ref in service.get(kind) or []:
        key = ref.get("source") if isinstance(ref, dict) else ref
        names.add(objects.get(str(key), str(key)))
    return names


def _change(name: str, what: str, now: object, then: object) -> str:
    return f"{name}: a deploy would change {what}: {now} -> {then}"


def stack_drift(plans: dict[str, dict[str, Any]], services: list[dict[str, Any]]) -> list[str]:
    """What a deploy of the planned stacks would change in the services that run, one line each: a
    service to create or to prune, its image, replica count, configs or secrets (a config or secret
    whose content changed has another name: the role names them by content hash).

    ``plans``: stack -> role stacks' plan (``compose`` with the hashed names); ``services``: the
    swarm's, verbose. Only what is compared here is said: ports, networks, environment, resources
    and update settings are not (yet)."""
    live = {str((s.get("Spec") or {}).get("Name")): s.get("Spec") or {} for s in services}
    lines = []
    for stack, plan in sorted(plans.items()):
        compose = plan.get("compose") or {}
        configs, secrets = _objects(compose, "configs"), _objects(compose, "secrets")
        wanted = set()
        for key, spec in sorted((compose.get("services") or {}).items()):
            name = f"{stack}_{key}"
            wanted.add(name)
            found = live.get(name)
            if found is None:
                lines.append(f"{name}: in stack {stack}, not running (a deploy creates it)")
                continue
            container = (found.get("TaskTemplate") or {}).get("ContainerSpec") or {}
            image = str(container.get("Image", "")).split("@")[0]
            if spec.get("image") and image != spec["image"]:
                lines.append(_change(name, "the image", image, spec["image"]))
            deploy = spec.get("deploy") or {}
            replicated = (found.get("Mode") or {}).get("Replicated")
            if deploy.get("mode", "replicated") == "replicated" and replicated is not None:
                if int(replicated.get("Replicas", 1)) != int(deploy.get("replicas", 1)):
                    lines.append(_change(name, "the replicas", replicated.get("Replicas"), deploy.get("replicas", 1)))
            for kind, objects, field, key_name in (("configs", configs, "Configs", "ConfigName"),
                                                   ("secrets", secrets, "Secrets", "SecretName")):
                now = {str(ref.get(key_name)) for ref in container.get(field) or []}
                then = _used(spec, objects, kind)
                if now != then:
                    lines.append(_change(name, f"the {kind}", ", ".join(sorted(now - then)) or "-",
                                         ", ".join(sorted(then - now)) or "-"))
        for name, spec in sorted(live.items()):
            if (spec.get("Labels") or {}).get("com.docker.stack.namespace") == stack and name not in wanted:
                lines.append(f"{name}: runs in stack {stack}, not in its compose file (a deploy prunes it)")
    return lines


def status_host(hostvars: Any, managers: list[str], run: list[str] | None = None) -> dict[str, Any]:
    """One inventory host for status_report, from its variables: what the inventory wants of it,
    and what role status read on it (``__status_seen``; absent when the host did not answer, or
    was not in the run: ``run`` is the hosts the run targeted, e.g. under --limit)."""
    host = str(hostvars["inventory_hostname"])
    seen = dict(hostvars.get("__status_seen") or {})
    addrs = []
    for name in ("swarm_advertise_addr", "ansible_host"):
        try:
            addrs.append(str(hostvars.get(name) or ""))
        except Exception:  # noqa: BLE001 - a value made from facts this run did not gather
            continue
    return {
        "group": "manager" if host in managers else "worker",
        "labels": dict(hostvars.get("swarm_node_labels") or {}),
        "availability": str(hostvars.get("swarm_node_availability") or "active"),
        "addrs": [a for a in addrs if a],
        "reachable": bool(seen),
        "in_run": run is None or host in run,
        **seen,
    }


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(r[i].ljust(widths[i]) for i in range(len(header))).rstrip() for r in [header, *rows]]


def status_table(report: dict[str, Any]) -> list[str]:
    """The report for people: nodes, services, then the findings (or that there are none)."""
    lines = _table(
        ("HOST", "GROUP", "ROLE", "STATE", "AVAILABILITY", "MANAGER", "ENGINE", "CERT DAYS", "LABELS"),
        [(r["host"], r["group"], r["role"], r["state"], r["availability"], r["manager"], r["engine"],
          "" if r["cert_days"] is None else str(r["cert_days"]),
          ",".join(f"{k}={v}" for k, v in sorted(r["labels"].items()))) for r in report["nodes"]],
    )
    lines.append("")
    lines += _table(("SERVICE", "STACK", "MODE", "RUNNING", "UPDATE"),
                    [(s["service"], s["stack"], s["mode"], f"{s['running']}/{s['wanted']}", s["update"])
                     for s in report["services"]])
    lines.append("")
    if report.get("alerts"):
        lines += _table(("ALERT", "SEVERITY", "ABOUT", "SINCE"),
                        [(a["alert"], a["severity"], a["about"], a["since"][:19]) for a in report["alerts"]])
        lines.append("")
    lines += [f"{name}: {url}" for name, url in (report.get("links") or {}).items()]
    if report["ok"]:
        lines.append("the cluster is as the inventory says")
    else:
        lines += [f"DRIFT: {line}" for line in report["findings"]]
    return lines


_COLOURS = {"ready": "#2e7d32", "down": "#c62828", "unreachable": "#c62828", "not in swarm": "#ef6c00"}


def status_html(report: dict[str, Any]) -> str:
    """A self-contained page (no scripts, no external files): a box per node with its tasks, the
    node's colour its state, then the services and the findings."""
    esc = html.escape
    boxes = []
    for row in report["nodes"]:
        colour = _COLOURS.get(row["state"], "#ef6c00")
        tasks = sorted(
            f"{t['service']}{'.' + str(t['slot']) if t['slot'] else ''} ({t['state']})"
            for t in report["tasks"] if row["node_id"] and t["node_id"] == row["node_id"]
        )
        boxes.append(
            f'<div class="node" style="border-color:{colour}"><h2 style="background:{colour}">{esc(row["host"])}</h2>'
            f'<p>{esc(row["role"] or row["group"])} &middot; {esc(row["state"])} &middot; {esc(row["availability"])}'
            f'{" &middot; " + esc(row["manager"]) if row["manager"] else ""}<br>engine {esc(row["engine"])}</p>'
            f'<ul>{"".join(f"<li>{esc(t)}</li>" for t in tasks) or "<li><em>no tasks</em></li>"}</ul></div>'
        )
    services = "".join(
        f"<tr><td>{esc(s['service'])}</td><td>{esc(s['stack'])}</td><td>{esc(s['mode'])}</td>"
        f"<td>{s['running']}/{s['wanted']}</td><td>{esc(s['update'])}</td></tr>"
        for s in report["services"]
    )
    links = " &middot; ".join(
        f'<a href="{esc(url)}">{esc(name)}</a>' for name, url in (report.get("links") or {}).items())
    findings = ("".join(f"<li>{esc(f)}</li>" for f in report["findings"])
                if report["findings"] else "<li>the cluster is as the inventory says</li>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flotilla cluster status</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
.nodes {{ display: flex; flex-wrap: wrap; gap: 1em; }}
.node {{ border: 3px solid; border-radius: 6px; width: 15em; }}
.node h2 {{ margin: 0; padding: .3em .5em; color: #fff; font-size: 1.1em; }}
.node p, .node ul {{ margin: .4em .6em; font-size: .9em; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
td, th {{ border: 1px solid #ccc; padding: .2em .6em; text-align: left; }}
.{'ok' if report['ok'] else 'drift'} {{ color: {'#2e7d32' if report['ok'] else '#c62828'}; }}
</style></head>
<body><h1>Flotilla cluster status</h1><p>{esc(report['generated'])}{' &middot; ' + links if links else ''}</p>
<div class="nodes">{''.join(boxes)}</div>
<table><tr><th>service</th><th>stack</th><th>mode</th><th>running</th><th>update</th></tr>{services}</table>
<h2 class="{'ok' if report['ok'] else 'drift'}">{'No drift' if report['ok'] else 'Drift'}</h2>
<ul>{findings}</ul></body></html>
"""


FILTERS = {
    "status_host": status_host,
    "status_report": status_report,
    "status_table": status_table,
    "status_html": status_html,
}
