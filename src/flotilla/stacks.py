"""Filters of the stacks role: plan a stack from its rendered files, and judge its convergence.

Every function is pure (text and dicts in, dicts out) so tests/unit/test_stacks_filters.py covers
each case without a cluster. The role feeds them:

- ``stacks_plan``: the stack's name, its rendered compose text and its rendered config/secret
  sources (``{"configs/haproxy.cfg": "..."}``, keyed by the path the compose file names);
- ``stacks_convergence``: community.docker.docker_swarm_info's result with ``services``,
  ``tasks`` and ``nodes`` in ``verbose_output`` (raw ``docker inspect`` objects).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import yaml

from flotilla.placement import constraints as _constraints
from flotilla.placement import global_wanted

LABEL_STACK = "io.flotilla.stack"
LABEL_KEY = "io.flotilla.key"
LABEL_SHA = "io.flotilla.sha256"
HASH_LENGTH = 10
NAME_LIMIT = 64  # Docker's limit for config and secret names

# A small schema of the fields people get wrong; `docker stack config` on a manager does the rest.
_INTEGER_FIELDS = (
    ("deploy", "replicas"),
    ("deploy", "update_config", "parallelism"),
    ("deploy", "rollback_config", "parallelism"),
    ("deploy", "restart_policy", "max_attempts"),
    ("deploy", "placement", "max_replicas_per_node"),
)
_CHOICES = (
    (("deploy", "mode"), ("replicated", "global", "replicated-job", "global-job")),
    (("deploy", "endpoint_mode"), ("vip", "dnsrr")),
    (("deploy", "update_config", "order"), ("start-first", "stop-first")),
    (("deploy", "rollback_config", "order"), ("start-first", "stop-first")),
    (("deploy", "update_config", "failure_action"), ("continue", "pause", "rollback")),
    (("deploy", "rollback_config", "failure_action"), ("continue", "pause")),
    (("deploy", "restart_policy", "condition"), ("none", "on-failure", "any")),
)
_TEMPLATE = re.compile(r"^\$\{.*\}$")


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def object_name(stack: str, key: str, data: str) -> tuple[str, str]:
    """The name a config or secret gets in the swarm: stack, key and a hash of the content, so a
    new content is a new object (services roll to it) and an unchanged one keeps its name."""
    digest = hashlib.sha256(data.encode()).hexdigest()
    prefix = f"{stack}_{key}"[: NAME_LIMIT - HASH_LENGTH - 1]
    return f"{prefix}-{digest[:HASH_LENGTH]}", digest


def _service_problems(name: str, service: Any, declared: dict[str, set[str]]) -> list[str]:
    if not isinstance(service, dict):
        return [f"services.{name} must be a mapping"]
    problems = []
    if not service.get("image"):
        problems.append(f"services.{name} has no image (the stacks role deploys images, it does not build them)")
    for path in _INTEGER_FIELDS:
        value = _get(service, path)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            if not (isinstance(value, str) and _TEMPLATE.match(value)):
                problems.append(f"services.{name}.{'.'.join(path)} must be an integer, not {value!r}")
    for path, choices in _CHOICES:
        value = _get(service, path)
        if value is not None and value not in choices:
            problems.append(f"services.{name}.{'.'.join(path)} is {value!r}; use one of {', '.join(choices)}")
    for kind in ("configs", "secrets"):
        for ref in service.get(kind) or []:
            source = ref.get("source") if isinstance(ref, dict) else ref
            if source not in declared[kind]:
                problems.append(f"services.{name}.{kind}: {source!r} is not declared under top-level {kind}")
    networks = service.get("networks") or []
    for network in networks if isinstance(networks, list) else list(networks):
        if network not in declared["networks"] and network != "default":
            problems.append(f"services.{name}.networks: {network!r} is not declared under top-level networks")
    for port in service.get("ports") or []:
        if isinstance(port, dict) and port.get("mode") not in (None, "host", "ingress"):
            problems.append(f"services.{name}.ports: mode {port.get('mode')!r}; use host or ingress")
    return problems


def encrypted_networks(compose: dict[str, Any]) -> list[str]:
    """The networks of a compose file that ask for encryption (``driver_opts: {encrypted: ...}``:
    Docker encrypts when the option is there, whatever its value)."""
    networks = compose.get("networks") or {}
    return [name for name, spec in networks.items()
            if isinstance(spec, dict) and "encrypted" in (spec.get("driver_opts") or {})]


def _encryption_problems(compose: dict[str, Any], cannot_encrypt: dict[str, str]) -> list[str]:
    wanted = encrypted_networks(compose)
    if not wanted or not cannot_encrypt:
        return []
    by_reason: dict[str, list[str]] = {}
    for host, reason in cannot_encrypt.items():
        by_reason.setdefault(str(reason).strip() or "no reason given", []).append(host)
    found = "; ".join(f"{', '.join(hosts)}: {reason}" for reason, hosts in by_reason.items())
    return [f"networks.{', networks.'.join(wanted)} {'is' if len(wanted) == 1 else 'are'} encrypted (driver_opts "
            f"encrypted), but an IPsec ESP association with AES-GCM, what Docker encrypts with, failed on {found}; "
            "give those hosts a kernel with IPsec ESP and AES-GCM (CONFIG_INET_ESP, CONFIG_CRYPTO_GCM; the "
            "distribution's standard kernel has them) where the kernel lacks them, or remove `encrypted` from the "
            "network"]


def stacks_plan(
    compose_text: str, stack: str, sources: dict[str, str] | None = None, cannot_encrypt: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Turn a stack's rendered files into what the role deploys.

    Returns ``problems`` (empty when the stack is good), the compose dict to deploy in which every
    config/secret read from a file is replaced by an external object whose name carries a hash of
    its content, and the ``configs``/``secrets`` to create (name, data, labels). ``cannot_encrypt``
    names the hosts where role swarm's preflight could not make an IPsec ESP association with
    AES-GCM, each with the reason it got: a network declared ``encrypted`` is then a problem
    (Docker would create it, and the tasks on those hosts could not reach the others).
    """
    sources = sources or {}
    plan: dict[str, Any] = {"stack": stack, "problems": [], "compose": {}, "configs": [], "secrets": []}
    try:
        compose = yaml.safe_load(compose_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        plan["problems"].append(f"not valid YAML{where}: {problem}")
        return plan
    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict) or not compose["services"]:
        plan["problems"].append("has no services (a mapping under top-level 'services')")
        return plan

    declared = {kind: set(compose.get(kind) or {}) for kind in ("configs", "secrets", "networks")}
    for name, service in compose["services"].items():
        plan["problems"].extend(_service_problems(name, service, declared))
    plan["problems"].extend(_encryption_problems(compose, cannot_encrypt or {}))

    result = dict(compose)
    result.pop("version", None)  # obsolete in the Compose specification
    for kind in ("configs", "secrets"):
        objects = {}
        for key, definition in (compose.get(kind) or {}).items():
            definition = definition or {}
            if definition.get("external"):
                objects[key] = definition
                continue
            path = definition.get("file")
            if not path:
                plan["problems"].append(f"{kind}.{key} needs `file: {kind}/<name>` or `external: true`")
                continue
            path = str(path).removeprefix("./")
            if path not in sources:
                known = ", ".join(sorted(p for p in sources if p.startswith(f"{kind}/"))) or "none"
                plan["problems"].append(
                    f"{kind}.{key}: file {path!r} is not in the stack's {kind}/ directory "
                    f"(as {path} or {path}.j2; found: {known})"
                )
                continue
            data = sources[path]
            name, digest = object_name(stack, key, data)
            labels = {LABEL_STACK: stack, LABEL_KEY: key, LABEL_SHA: digest}
            plan[kind].append({"key": key, "name": name, "data": data, "labels": labels})
            objects[key] = {"external": True, "name": name}
        if objects:
            result[kind] = objects
    plan["compose"] = result
    return plan


def _last_error(
    tasks: list[dict[str, Any]], hostnames: dict[str, str], image: str | None = None, name: str = "task",
) -> str:
    """The latest task (of ``image`` when given) that ended, with its error or final state."""
    ended = [
        t for t in tasks
        if (image is None or _short(_task_image(t)) == _short(image))
        and ((t.get("Status") or {}).get("Err")
             or (t.get("Status") or {}).get("State") in ("failed", "rejected", "complete", "shutdown", "orphaned"))
    ]
    if image is None:
        ended = [t for t in ended if (t.get("Status") or {}).get("Err")]
    if not ended:
        return "no task reported an error"
    last = max(ended, key=lambda t: (t.get("Status") or {}).get("Timestamp", ""))
    status = last.get("Status") or {}
    node = hostnames.get(last.get("NodeID", ""), (last.get("NodeID") or "?")[:12])
    slot = f".{last['Slot']}" if last.get("Slot") else ""
    what = status.get("Err") or (
        f"it ended in state {status.get('State', '?')} ({status.get('Message', '')}) before it ran healthy"
    )
    return f"{name}{slot} ({last.get('ID', '?')[:12]}) on {node}: {what}"


def _task_image(task: dict[str, Any]) -> str:
    return str(((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", ""))


def _short(image: str) -> str:
    return image.split("@", 1)[0]


# Task states in which a task still holds (or is about to hold) its slot.
_LIVE = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running")


def docker_seconds(stamp: str) -> float:
    """A Docker timestamp ("2026-12-01T02:03:22.123456789Z") as seconds since the epoch (0 if unreadable)."""
    if not stamp:
        return 0.0
    text = re.sub(r"(\.\d{6})\d*", r"\1", str(stamp)).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def _latest(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return max(tasks, key=lambda t: (docker_seconds(t.get("CreatedAt", "")),
                                     (t.get("Status") or {}).get("Timestamp", "")))


def _where(task: dict[str, Any], name: str, hostnames: dict[str, str]) -> str:
    slot = f".{task['Slot']}" if task.get("Slot") else ""
    node = hostnames.get(task.get("NodeID", ""), "")
    return f"task {name}{slot} ({task.get('ID', '?')[:12]})" + (f" on {node}" if node else "")


def _dead_ends(
    name: str, spec: dict[str, Any], own: list[dict[str, Any]], image: str, hostnames: dict[str, str],
    now: float, grace: float,
) -> list[str]:
    """What Swarm reports and will not mend by itself, one line each ([] when nothing).

    - a task of the current spec rejected because its image is missing on the node ("No such image");
    - a task Swarm has not placed for ``grace`` seconds ("no suitable node (...)": constraints,
      resources, host ports);
    - a replicated slot whose last task completed (exit 0) under a restart condition that does
      not restart completed tasks (``on-failure``, ``none``): Swarm leaves the slot empty.
    """
    found = []
    current = [t for t in own if _task_image(t) == image]
    groups: dict[Any, list[dict[str, Any]]] = {}
    for task in current:
        groups.setdefault(task.get("Slot") or task.get("NodeID"), []).append(task)
    condition = ((spec.get("TaskTemplate") or {}).get("RestartPolicy") or {}).get("Condition", "any")
    for key in sorted(groups, key=str):
        last = _latest(groups[key])
        status = last.get("Status") or {}
        state, err = status.get("State", ""), status.get("Err", "")
        if "No such image" in err:
            found.append(f"{name}: {_where(last, name, hostnames)}: {err}")
        elif (state == "pending" and "no suitable node" in err
              and now - docker_seconds(last.get("CreatedAt", "")) >= grace):
            found.append(f"{name}: Swarm cannot place {_where(last, name, hostnames)}: {err}")
        elif (state == "complete" and last.get("Slot") and condition in ("on-failure", "none")
              and not any((t.get("Status") or {}).get("State") in _LIVE for t in groups[key])):
            found.append(
                f"{name}: slot {last['Slot']} is empty: {_where(last, name, hostnames)} exited 0 (complete) and "
                f"restart condition {condition} does not replace a task that completed; use condition any, or "
                f"`docker service update --force {name}`"
            )
    return found


def _service_state(
    service: dict[str, Any], tasks: list[dict[str, Any]], nodes: list[dict[str, Any]],
    hostnames: dict[str, str], changed: set[str] | None, intended: str | None = None,
    now: float = 0.0, grace: float = 30.0,
) -> dict[str, Any]:
    spec = service.get("Spec") or {}
    name = spec.get("Name", service.get("ID", "?"))
    mode = spec.get("Mode") or {}
    image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
    update = service.get("UpdateStatus") or {}
    update_state = update.get("State") or "none"
    own = [t for t in tasks if t.get("ServiceID") == service.get("ID")]
    result: dict[str, Any] = {"name": name, "image": _short(image), "update": update_state}

    if "ReplicatedJob" in mode or "GlobalJob" in mode:
        iteration = ((service.get("JobStatus") or {}).get("JobIteration") or {}).get("Index")
        current = [t for t in own if (t.get("JobIteration") or {}).get("Index") == iteration]
        if "ReplicatedJob" in mode:
            job = mode["ReplicatedJob"]
            wanted = int(job.get("TotalCompletions") or job.get("MaxConcurrent") or 1)
        else:
            wanted = global_wanted(service, nodes)
        done = sum(1 for t in current if (t.get("Status") or {}).get("State") == "complete")
        active = [t for t in current if (t.get("Status") or {}).get("State") not in
                  ("complete", "failed", "rejected", "shutdown", "orphaned", "remove")]
        result.update(mode="job", running=done, wanted=wanted)
        if done >= wanted:
            result["state"] = "converged"
        elif not active and any((t.get("Status") or {}).get("State") in ("failed", "rejected") for t in current):
            error = _last_error(current, hostnames, None, name)
            result.update(state="failed", message=f"{name}: the job failed ({error})")
        else:
            result["state"] = "updating"
        return result

    if "Global" in mode:
        wanted = global_wanted(service, nodes)
        result["mode"] = "global"
    else:
        wanted = int((mode.get("Replicated") or {}).get("Replicas", 1))
        result["mode"] = "replicated"
    desired = [t for t in own if t.get("DesiredState") == "running"]
    running = [t for t in desired if (t.get("Status") or {}).get("State") == "running"]
    current = [t for t in running if _task_image(t) == image]
    settled = len(current) == wanted and len(desired) == wanted
    result.update(running=len(current), wanted=wanted)
    dead_ends = [] if settled else _dead_ends(name, spec, own, image, hostnames, now, grace)

    if "Global" in mode and wanted == 0:
        rules = _constraints(service)
        result.update(state="failed", message=(
            f"{name}: no node can run this global service ("
            + (f"none is ready, active and matches {' and '.join(rules)}" if rules
               else "none is ready and active") + "); it runs nowhere"
        ))
    elif dead_ends:
        result.update(state="failed", message="; ".join(dead_ends))
    elif update_state in ("paused", "rollback_paused"):
        reason = update.get("Message") or update_state
        result.update(state="failed", message=(
            f"{name}: the update is {update_state.replace('_', ' ')} ({reason}; "
            f"{_last_error(own, hostnames, None, name)}); fix the cause and deploy again, or run "
            f"`docker service rollback {name}`"
        ))
    elif update_state in ("updating", "rollback_started"):
        result["state"] = "updating"
    elif update_state == "rollback_completed" and (changed is None or name in changed):
        # After a rollback the service's PreviousSpec is gone; the deployed compose says what was tried.
        previous = service.get("PreviousSpec") or {}
        attempted = ((previous.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "") or intended or ""
        if not settled:
            result["state"] = "updating"
        else:
            result.update(state="failed", message=(
                f"{name}: the update to {_short(attempted) or 'the new spec'} failed and was rolled back "
                f"({_last_error(own, hostnames, attempted or None, name)}); {len(current)}/{wanted} tasks run "
                f"the previous version {_short(image)}"
            ))
    else:
        result["state"] = "converged" if settled else "updating"
    return result


# Seconds a failed service waits, from the deploy's change to it, for the rest of its stack to
# settle before the deploy fails (a service that crash-loops because of the failed one never does).
SETTLE = 30.0


def stacks_convergence(
    info: dict[str, Any], stack: str, changed: list[str] | None = None, expected: dict[str, str] | None = None,
    now: str = "", grace: float = 30,
) -> dict[str, Any]:
    """Where a stack's rollout stands: ``state`` is ``converged`` (every service has its wanted
    tasks running the current spec and no update in flight), ``updating`` (wait), or ``failed``
    with ``message`` (an update paused, a rollback happened, or a job failed).

    ``changed`` names the services this run changed (None = all): a rollback an earlier run left
    on a service this run did not touch is history, not a failure of this deployment.
    ``expected`` maps the services the stack must have to the image deployed for each; a service
    not there yet means ``updating``.

    A service Swarm will not bring to strength by itself fails, with Swarm's own words, once no
    other service of the stack is still updating, so that one run names every such service, or
    ``SETTLE`` seconds after the deploy changed it, whichever comes first: a
    global service no node can run, a task whose image is missing, a task that stayed unplaced
    ("no suitable node") for ``grace`` seconds by ``now`` (a Docker timestamp), a slot left empty
    by a completed task.
    """
    services = [
        s for s in (info.get("services") or [])
        if ((s.get("Spec") or {}).get("Labels") or {}).get("com.docker.stack.namespace") == stack
    ]
    nodes = info.get("nodes") or []
    hostnames = {n.get("ID", ""): (n.get("Description") or {}).get("Hostname", "") for n in nodes}
    changed_set = None if changed is None else set(changed)
    states = [
        _service_state(s, info.get("tasks") or [], nodes, hostnames, changed_set,
                       (expected or {}).get((s.get("Spec") or {}).get("Name", "")), docker_seconds(now), float(grace))
        for s in sorted(services, key=lambda s: (s.get("Spec") or {}).get("Name", ""))
    ]
    found = {s["name"] for s in states}
    for name in sorted(set(expected or []) - found):
        states.append({"name": name, "mode": "?", "image": "?", "update": "not created yet",
                       "running": 0, "wanted": 0, "state": "updating"})
    failures = [s for s in states if s["state"] == "failed"]
    failed = "; ".join(s["message"] for s in failures)
    pending = ", ".join(f"{s['name']} {s['running']}/{s['wanted']} ({s['update']})"
                        for s in states if s["state"] == "updating")
    # When the deploy last changed each failed service (0: not known, as good as long ago).
    changed_at = {
        (s.get("Spec") or {}).get("Name", ""): docker_seconds(s.get("UpdatedAt") or s.get("CreatedAt") or "")
        for s in services
    }
    waited = bool(failures) and docker_seconds(now) - min(changed_at.get(s["name"], 0.0) for s in failures) >= SETTLE
    if pending and not waited:
        # A failure waits for the rest of the stack to settle (up to SETTLE seconds), so that one
        # run names every service that will not come up; a wait that runs out names the failures first.
        state = "updating"
        message = f"{failed}; still updating: {pending}" if failed else pending
    elif failed:
        state = "failed"
        message = f"{failed}; still updating: {pending}" if pending else failed
    else:
        state = "converged"
        message = ", ".join(f"{s['name']} {s['running']}/{s['wanted']}" for s in states)
    return {"state": state, "message": message, "services": states}


def _ip(cidr: str) -> str:
    return str(cidr).split("/", 1)[0]


def stacks_discovery_probes(info: dict[str, Any], stack: str) -> list[dict[str, Any]]:
    """Where to check Docker's service discovery for a converged stack, and what it must answer.

    For every node and every overlay network of the stack (not ``ingress``) one running task there
    is the probe: from inside it, ``tasks.<name>`` of each service on that network must resolve to
    the addresses of that service's running tasks on it. ``<name>`` is the service's alias on the
    network (the compose service name, as applications use it), else its full name; from a task
    on a network the stack does not own (external, shared with other stacks) always the full
    name, which is unique in the swarm. A task on several networks gets one answer from Docker's
    DNS, from the first of its networks that knows the name: ``also`` lists, per name, the
    addresses the service has on the probe's other networks, which are right answers too. Returns
    ``[{node, addr, container, task, names: {"tasks.web": ["10.0.1.5", ...]}, also: {...}}]``, sorted.
    """
    nodes = {n.get("ID", ""): n for n in info.get("nodes") or []}
    services = {
        s.get("ID"): s for s in info.get("services") or []
        if ((s.get("Spec") or {}).get("Labels") or {}).get("com.docker.stack.namespace") == stack
    }
    running = [
        t for t in info.get("tasks") or []
        if t.get("ServiceID") in services and t.get("DesiredState") == "running"
        and (t.get("Status") or {}).get("State") == "running"
    ]
    by_service: dict[tuple[str, str], set[str]] = {}   # (service, network) -> addresses
    alias_of: dict[tuple[str, str], str] = {}   # (service, network) -> its alias there
    full: dict[str, str] = {}   # service -> its full name
    owned: dict[str, bool] = {}   # network -> the stack's own (not shared with other stacks)
    where: dict[str, str] = {}   # address -> node that runs the task
    members: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}   # (node, network) -> tasks
    for task in running:
        service_id = task["ServiceID"]
        spec = services[service_id].get("Spec") or {}
        full[service_id] = spec.get("Name", "")
        aliases = {
            n.get("Target"): (n.get("Aliases") or [""])[0]
            for n in (spec.get("TaskTemplate") or {}).get("Networks") or []
        }
        for attachment in task.get("NetworksAttachments") or []:
            network = attachment.get("Network") or {}
            net_spec = network.get("Spec") or {}
            net_name = net_spec.get("Name", "")
            if not net_name or net_name == "ingress" or net_spec.get("Ingress"):
                continue
            owned[net_name] = (net_spec.get("Labels") or {}).get("com.docker.stack.namespace") == stack
            addrs = {_ip(a) for a in attachment.get("Addresses") or []}
            by_service.setdefault((service_id, net_name), set()).update(addrs)
            alias_of[(service_id, net_name)] = aliases.get(network.get("ID")) or ""
            node_name = ((nodes.get(task.get("NodeID", "")) or {}).get("Description") or {}).get("Hostname", "")
            where.update(dict.fromkeys(addrs, node_name or task.get("NodeID", "")[:12]))
            name = f"{spec.get('Name', '?')}.{task.get('Slot') or task.get('NodeID', '')}"
            members.setdefault((task.get("NodeID", ""), net_name), []).append((name, task))
    probes = []
    for (node_id, net_name), tasks in sorted(members.items()):
        name, task = sorted(tasks, key=lambda item: item[0])[0]
        container = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID", "")
        node = nodes.get(node_id) or {}
        if not container:
            continue
        mine = {n for (_, n), found in members.items() for _, t in found if t is task}
        # On a network shared with other stacks every stack's `web` is `tasks.web`, and Docker's DNS
        # may answer from that network first: a task on one asks by full names only.
        shared = any(not owned[n] for n in mine)
        names: dict[str, list[str]] = {}
        also: dict[str, list[list[str]]] = {}
        for (service_id, network), addrs in sorted(by_service.items()):
            if network != net_name:
                continue
            alias = alias_of[(service_id, network)]
            dns = "tasks." + (alias if alias and owned[network] and not shared else full[service_id])
            names[dns] = sorted(addrs)
            others = [sorted(by_service[(service_id, other)]) for other in sorted(mine - {net_name})
                      if (service_id, other) in by_service]
            if others:
                also[dns] = others
        probes.append({
            "node": (node.get("Description") or {}).get("Hostname", node_id[:12]),
            "addr": (node.get("Status") or {}).get("Addr", ""),
            "network": net_name,
            "container": container,
            "task": name,
            "names": dict(sorted(names.items())),
            "also": also,
            "where": {a: where[a] for addrs in names.values() for a in addrs},
        })
    return probes


def stacks_discovery_command(probe: dict[str, Any]) -> list[str]:
    """The command run inside a probe's task: each name, then what the resolver answers for it."""
    script = (
        'command -v getent >/dev/null 2>&1 || { echo "! no getent"; exit 0; }; '
        'for n in "$@"; do echo "= $n"; getent ahostsv4 "$n" || true; done'
    )
    return ["sh", "-c", script, "sh", *sorted(probe.get("names") or {})]


def stacks_discovery_problems(probe: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """What the probe's resolver got wrong, one line each ([] when every name resolves right, or
    when the task's image cannot run the check: no shell or no getent)."""
    output = str(result.get("stdout") or "")
    if result.get("rc") not in (0, None) or "! no getent" in output or "stdout" not in result:
        return []
    answers: dict[str, set[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("= "):
            current = line[2:].strip()
            answers[current] = set()
        elif current and line.split():
            answers[current].add(line.split()[0])
    problems = []
    where = probe.get("where") or {}
    for dns, addrs in sorted((probe.get("names") or {}).items()):
        got = answers.get(dns, set())
        if got == set(addrs) or any(got == set(other) for other in (probe.get("also") or {}).get(dns, [])):
            continue
        here = f"in task {probe.get('task')} on {probe.get('node')} (network {probe.get('network')})"
        if not got:
            problems.append(f"{dns} resolves to nothing {here}, and Swarm runs it at {', '.join(addrs)}")
            continue
        missing = sorted(set(addrs) - got)
        extra = sorted(got - set(addrs))
        missed = ", ".join(f"{a} (a task on {where.get(a, '?')})" for a in missing)
        problems.append(f"{dns} {here} " + "; ".join(
            ([f"misses {missed}"] if missing else [])
            + ([f"still answers {', '.join(extra)} (no running task)"] if extra else [])
        ))
    return problems


def stacks_discovery_report(results: list[dict[str, Any]], probe_key: str = "__stacks_probe") -> list[str]:
    """Every problem of a loop of probes (each result carries its probe under ``probe_key``)."""
    return [line for r in results or [] if probe_key in r for line in stacks_discovery_problems(r[probe_key], r)]


def stacks_images(plan: dict[str, Any]) -> dict[str, str]:
    """The stack's services by their swarm name (``<stack>_<service>``) and the image each gets."""
    services = (plan.get("compose") or {}).get("services") or {}
    return {f"{plan['stack']}_{name}": str((spec or {}).get("image", "")) for name, spec in services.items()}


def stacks_changed_services(diff: Any, stack: str) -> list[str] | None:
    """Service names docker_stack's ``stack_spec_diff`` touches; None (= all) when unreadable."""
    if not isinstance(diff, dict):
        return None
    names = [k for k in diff if isinstance(k, str) and k.startswith(f"{stack}_")]
    return names if names or not diff else None


def stacks_unused(objects: list[str], keep: list[str], services: list[dict[str, Any]]) -> list[str]:
    """Names of a stack's configs or secrets that are neither current nor used by any service's
    spec (the previous spec counts too, so `docker service rollback` keeps working)."""
    used = set(keep)
    for service in services:
        for spec in (service.get("Spec") or {}, service.get("PreviousSpec") or {}):
            container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
            for ref in (container.get("Configs") or []) + (container.get("Secrets") or []):
                used.add(ref.get("ConfigName") or ref.get("SecretName") or "")
    return sorted(name for name in objects if name not in used)


def stacks_services_table(states: list[dict[str, Any]]) -> list[str]:
    """The services of a stack as aligned lines for the play's summary."""
    header = ("SERVICE", "MODE", "REPLICAS", "IMAGE", "UPDATE")
    rows = [header] + [
        (s["name"], s["mode"], f"{s['running']}/{s['wanted']}", s["image"], s["update"]) for s in states
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


# The filters the stacks role uses, by name (roles/stacks/filter_plugins/ hands them to Ansible).
FILTERS: dict[str, Any] = {
    "stacks_plan": stacks_plan,
    "stacks_convergence": stacks_convergence,
    "stacks_changed_services": stacks_changed_services,
    "stacks_images": stacks_images,
    "stacks_unused": stacks_unused,
    "stacks_services_table": stacks_services_table,
    "stacks_discovery_probes": stacks_discovery_probes,
    "stacks_discovery_command": stacks_discovery_command,
    "stacks_discovery_problems": stacks_discovery_problems,
    "stacks_discovery_report": stacks_discovery_report,
}
