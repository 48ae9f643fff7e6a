"""Filters of the docker_engine role: what a host's engine change would do, and whether it is safe.

Pure functions (tests/unit/test_docker_engine_filters.py). ``state`` is the result of the role's
docker_engine_state module: installed ``packages``, the current ``daemon_json``, the running
``engine``, ``restart_pending`` and the ``validation`` of the wanted daemon.json.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

DEFAULT_ROOT = "/var/lib/docker"
# apt's simulation: "Inst docker.io [26.1.5+dfsg1-9+deb13u1] (26.1.5+dfsg1-9+deb13u1+b1 Debian:13 [amd64])"
_APT_UPGRADE = re.compile(r"^Inst (\S+) \[(\S+)\] \((\S+)", re.M)
_APT_NEW = re.compile(r"^Inst (\S+) \((\S+)", re.M)
# apt's version patterns (fnmatch): "26.1.5*".
_PATTERN = re.compile(r"[*?\[]")


def docker_engine_in_swarm(state: dict[str, Any]) -> bool:
    """The host's engine is a swarm node (active, pending, locked, error), or holds swarm state."""
    engine = (state or {}).get("engine") or {}
    return engine.get("swarm_state", "") not in ("", "inactive") or bool(engine.get("swarm_on_disk"))


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def docker_engine_unmanaged(state: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Settings of the current daemon.json that the wanted one drops: "key=value" each, or the
    parse error of a daemon.json that is not valid JSON."""
    current = (state or {}).get("daemon_json") or {}
    if current.get("error"):
        return [f"(not valid JSON: {current['error']})"]
    settings = current.get("settings") or {}
    return [f"{key}={_value(value)}" for key, value in sorted(settings.items()) if key not in wanted]


def docker_engine_refusals(
    state: dict[str, Any], wanted: dict[str, Any], host: str, source: str,
    conflicting: list[str], switch_source: bool,
) -> list[str]:
    """Why this host's engine change must not happen, one sentence each ([] when it may)."""
    state = state or {}
    engine = state.get("engine") or {}
    found = []
    validation = state.get("validation") or {}
    if validation.get("problems"):
        found.append(
            f"{host}: daemon.json refused ({validation.get('checked_by') or 'check'} of engine "
            f"{engine.get('version') or '?'}): {'; '.join(validation['problems'])}; nothing was written "
            "(fix docker_engine_daemon_options or the docker_engine_log_* settings)"
        )
    current_root = engine.get("root_dir") or ((state.get("daemon_json") or {}).get("settings") or {}).get(
        "data-root") or DEFAULT_ROOT
    wanted_root = wanted.get("data-root") or DEFAULT_ROOT
    holds = [what for what, has in (
        ("swarm state", docker_engine_in_swarm(state)),
        (f"{engine.get('containers', 0)} containers", engine.get("containers")),
        (f"{engine.get('images', 0)} images", engine.get("images")),
    ) if has]
    if current_root.rstrip("/") != wanted_root.rstrip("/") and holds:
        found.append(
            f"{host}: data-root would move from {current_root} to {wanted_root}, but the engine keeps "
            f"{', '.join(holds)} in {current_root}: it would come back empty (a manager would start a new, "
            f"empty swarm); move the data first (engine stopped) or keep data-root {current_root}"
        )
    installed = [p for p in conflicting if p in (state.get("packages") or {})]
    if installed and not switch_source:
        found.append(
            f"{host}: {', '.join(installed)} installed, but docker_engine_source is {source}: switching "
            "replaces the engine's packages; set docker_engine_switch_source: true and run "
            "playbooks/upgrade.yml, which does it node by node"
        )
    return found


def docker_engine_pending(
    apt_output: str, config_changed: bool, state: dict[str, Any], conflicting: list[str],
) -> list[str]:
    """What applying the role would change on this host, one line each ([] when nothing).

    ``apt_output`` is apt's simulation of installing the wanted package specs (the apt module in
    check mode), ``config_changed`` whether the wanted daemon.json differs from the current one.
    """
    lines = [f"{name} {old} -> {new}" for name, old, new in _APT_UPGRADE.findall(apt_output or "")]
    upgraded = {line.split()[0] for line in lines}
    new = [f"{name} {version}" for name, version in _APT_NEW.findall(apt_output or "") if name not in upgraded]
    if new:
        lines.append("new packages: " + ", ".join(new))
    installed = [p for p in conflicting if p in ((state or {}).get("packages") or {})]
    if installed:
        lines.append("remove " + ", ".join(installed))
    if config_changed:
        lines.append("/etc/docker/daemon.json")
    elif (state or {}).get("restart_pending"):
        lines.append("restart (the engine does not run the settings of daemon.json yet)")
    return lines


def docker_engine_packages_settled(
    state: dict[str, Any], specs: list[str], pinned: list[str], hold: bool, conflicting: list[str],
) -> bool:
    """apt has nothing to do on this host: every wanted package ("name" or "name=version") is
    installed at exactly that version, its dpkg selection is "hold" for the ``pinned`` ones when
    ``hold`` asks for it and "install" otherwise, and no package of the other source is installed.
    Then the role skips apt's list refresh, its simulation and the install; any doubt answers False.
    A version pattern ("26.1.5*") is never settled: apt moves to the newest version that matches,
    which only apt knows."""
    state = state or {}
    installed = state.get("packages") or {}
    selections = state.get("selections") or {}
    if any(name in installed for name in conflicting):
        return False
    for spec in specs:
        name, _, version = spec.partition("=")
        if name not in installed or (version and (_PATTERN.search(version) or installed[name] != version)):
            return False
        wanted = "hold" if hold and name in pinned else "install"
        if selections.get(name, "install") != wanted:
            return False
    return True


def docker_engine_config_settled(state: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """/etc/docker/daemon.json already holds the wanted settings, as a root-owned 0644 file in a
    root-owned 0755 directory (library/docker_engine_state.py reads both): then the role skips
    writing it. Only the layout of the file may differ: the settings are compared as JSON, where
    1 is not true and 1500.0 is not 1500 (the engine refuses a wrong type; the template fixes it)."""
    daemon_json = (state or {}).get("daemon_json") or {}
    settings = daemon_json.get("settings")
    return (
        bool(daemon_json.get("exists"))
        and isinstance(settings, dict)
        and docker_engine_settings_hash(settings) == docker_engine_settings_hash(wanted)
        and daemon_json.get("file") == {"uid": 0, "gid": 0, "mode": "0644"}
        and daemon_json.get("directory") == {"uid": 0, "gid": 0, "mode": "0755"}
    )


def docker_engine_service_settled(state: dict[str, Any]) -> bool:
    """The engine's systemd unit is active and enabled (the probe's reading, before this run)."""
    engine = (state or {}).get("engine") or {}
    return bool(engine.get("active")) and bool(engine.get("enabled"))


def docker_engine_settings_hash(settings: dict[str, Any]) -> str:
    """The hash recorded for the settings the engine runs (library/docker_engine_state.py reads it):
    sha256 of the JSON with sorted keys and no spaces, so layout and key order do not count."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def docker_engine_blocked(hosts: list[Any]) -> list[str]:
    """"host: change, change" for each host (its hostvars) with a pending engine change."""
    return [
        f"{host['inventory_hostname']}: {', '.join(host['docker_engine_pending'])}"
        for host in hosts if host.get("docker_engine_pending")
    ]


# The filters the docker_engine role uses, by name (roles/docker_engine/filter_plugins/ hands them to Ansible).
def docker_engine_stale_vxlan(ip_link_lines: list[str]) -> list[str]:
    """The overlay driver's VXLAN links (``vx-<vni>-<network>``) in ``ip -o link show type vxlan``.

    Run with the engine stopped, every one listed is left over: the overlay driver creates each in
    the host's namespace and moves it into its network's sandbox at once. One left behind (an engine
    that left a swarm, or stopped, while tasks used the network) makes every later task on that
    network fail with "error creating vxlan interface: file exists".
    """
    names = []
    for line in ip_link_lines:
        fields = line.split(": ")
        if len(fields) > 1:
            name = fields[1].split("@")[0]
            if name.startswith("vx-"):
                names.append(name)
    return names


FILTERS: dict[str, Any] = {
    "docker_engine_stale_vxlan": docker_engine_stale_vxlan,
    "docker_engine_in_swarm": docker_engine_in_swarm,
    "docker_engine_unmanaged": docker_engine_unmanaged,
    "docker_engine_refusals": docker_engine_refusals,
    "docker_engine_pending": docker_engine_pending,
    "docker_engine_blocked": docker_engine_blocked,
    "docker_engine_settings_hash": docker_engine_settings_hash,
    "docker_engine_packages_settled": docker_engine_packages_settled,
    "docker_engine_config_settled": docker_engine_config_settled,
    "docker_engine_service_settled": docker_engine_service_settled,
}
