#!/usr/bin/python
"""What the docker_engine role must know about a host before it changes anything there.

Standard library only: it runs before python3-docker (or the engine itself) is installed.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_engine_state
short_description: Read a host's Docker Engine packages, daemon.json and running engine; check a daemon.json
description:
  - Reads the installed versions of the given packages, the current C(/etc/docker/daemon.json)
    (settings and modification time), the running engine's C(/info) over its unix socket, when
    systemd last started the engine, and the settings the role last saw the engine run with
    (O(applied_path), a hash the role writes after the engine started with them): settings that
    differ from those are a restart still owed (a run that stopped before its restart, or a hand
    edit). Without that record, a daemon.json written after the engine started counts as one.
  - With O(config), checks that daemon.json content before anything writes it. Engines 23.0 and
    newer check it themselves (C(dockerd --validate), with the flags of the engine's systemd unit,
    so that a setting that the unit also passes as a flag is caught); older engines get this
    module's check of the setting names and the types of the common ones. On every engine the
    log driver must be one the running engine has, and the log options of the built-in drivers
    must be ones they take (C(dockerd --validate) accepts both, and the engine then does not start).
  - Read-only; never reports changed.
options:
  packages:
    type: list
    elements: str
    default: []
    description: Package names whose installed version to report.
  config:
    type: dict
    description: daemon.json content to check (nothing is checked when omitted).
  config_path:
    type: path
    default: /etc/docker/daemon.json
    description: The engine's configuration file.
  docker_socket:
    type: path
    default: /var/run/docker.sock
    description: The engine's API socket.
  applied_path:
    type: path
    default: /var/lib/flotilla/daemon.json.applied
    description: Where the role records the hash of the settings the running engine started with.
author: Flotilla
"""

RETURN = r"""
packages:
  description: Installed version of each package of O(packages) that is installed.
  returned: always
  type: dict
selections:
  description: The dpkg selection (C(hold), C(deinstall), C(purge)) of each installed package of
    O(packages) whose selection is not C(install).
  returned: always
  type: dict
daemon_json:
  description: C(exists), C(settings) (the parsed content, or null when unreadable), C(error), C(mtime),
    C(applied) (the recorded hash of the settings the engine runs, or empty).
  returned: always
  type: dict
engine:
  description: C(present) and, when an engine answers, C(version), C(root_dir), C(swarm_state),
    C(containers), C(images), C(log_drivers); C(started) (epoch seconds, or null) from systemd;
    C(swarm_on_disk) (the data root holds swarm state).
  returned: always
  type: dict
restart_pending:
  description: daemon.json changed after the running engine started (a restart is owed).
  returned: always
  type: bool
validation:
  description: C(checked_by) (C(dockerd --validate) or C(flotilla), empty when no O(config)) and
    C(problems) (one line each; empty when the content is good).
  returned: always
  type: dict
"""

import http.client
import json
import os
import re
import shlex
import socket
import stat
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

# Options every log driver takes (the engine strips them before the driver's own check).
COMMON_LOG_OPTS = {"mode", "max-buffer-size"}
# The options each built-in driver whose options the engine checks at start accepts.
LOG_OPTS = {
    "json-file": {"max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"},
    "local": {"max-size", "max-file", "compress"},
    "journald": {"labels", "labels-regex", "env", "env-regex", "tag"},
    "none": set(),
}
_SIZE = re.compile(r"^\d+(\.\d+)?\s?[kKmMgGtTpP]?[iI]?[bB]?$")

# daemon.json settings of Engine 20.10 (Docker's daemon.json reference) and the JSON type of the
# common ones, for engines without `dockerd --validate`.
KNOWN_SETTINGS_20_10 = {
    "allow-nondistributable-artifacts": list, "api-cors-header": str, "authorization-plugins": list,
    "bip": str, "bridge": str, "builder": dict, "cgroup-parent": str, "cluster-advertise": str,
    "cluster-store": str, "cluster-store-opts": dict, "containerd": str, "containerd-namespace": str,
    "containerd-plugin-namespace": str, "cpu-rt-period": int, "cpu-rt-runtime": int, "data-root": str,
    "debug": bool, "default-address-pools": list, "default-cgroupns-mode": str, "default-gateway": str,
    "default-gateway-v6": str, "default-ipc-mode": str, "default-runtime": str, "default-shm-size": str,
    "default-ulimits": dict, "dns": list, "dns-opts": list, "dns-search": list, "exec-opts": list,
    "exec-root": str, "experimental": bool, "features": dict, "fixed-cidr": str, "fixed-cidr-v6": str,
    "group": str, "host-gateway-ip": str, "hosts": list, "icc": bool, "init": bool, "init-path": str,
    "insecure-registries": list, "ip": str, "ip-forward": bool, "ip-masq": bool, "ip6tables": bool,
    "iptables": bool, "ipv6": bool, "labels": list, "live-restore": bool, "log-driver": str,
    "log-format": str, "log-level": str, "log-opts": dict, "max-concurrent-downloads": int,
    "max-concurrent-uploads": int, "max-download-attempts": int, "metrics-addr": str, "mtu": int,
    "no-new-privileges": bool, "node-generic-resources": list, "oom-score-adjust": int, "pidfile": str,
    "raw-logs": bool, "registry-mirrors": list, "rootless": bool, "runtimes": dict,
    "seccomp-profile": str, "selinux-enabled": bool, "shutdown-timeout": int, "storage-driver": str,
    "storage-opts": list, "swarm-default-advertise-addr": str, "tls": bool, "tlscacert": str,
    "tlscert": str, "tlskey": str, "tlsverify": bool, "userland-proxy": bool,
    "userland-proxy-path": str, "userns-remap": str,
}
_TYPE_NAMES = {list: "a list", dict: "a mapping", str: "a string", int: "an integer", bool: "true or false"}


def log_problems(config: dict, log_drivers: list[str] | None) -> list[str]:
    """What the engine would refuse at start in the log settings, which dockerd --validate lets pass."""
    problems = []
    driver = config.get("log-driver", "json-file")
    if log_drivers and driver not in log_drivers:
        problems.append(
            f"log-driver {driver!r} is not a log driver of this engine (it has {', '.join(sorted(log_drivers))})"
        )
    opts = config.get("log-opts") or {}
    if not isinstance(opts, dict):
        return problems + ["log-opts must be a mapping of option names to strings"]
    allowed = LOG_OPTS.get(driver)
    for key, value in sorted(opts.items()):
        if not isinstance(value, str):
            problems.append(f"log-opts.{key} must be a string (\"{value}\"), not {type(value).__name__}")
        elif allowed is not None and key not in allowed | COMMON_LOG_OPTS:
            problems.append(f"log-opts.{key} is not an option of the {driver} log driver "
                            f"(it takes {', '.join(sorted(allowed | COMMON_LOG_OPTS))})")
        elif key == "max-size" and not _SIZE.match(value):
            problems.append(f"log-opts.max-size {value!r} is not a size (e.g. 10m)")
        elif key == "max-file" and not (value.isdigit() and int(value) >= 1):
            problems.append(f"log-opts.max-file {value!r} is not a positive whole number")
        elif key == "compress" and value.lower() not in ("true", "false", "1", "0"):
            problems.append(f"log-opts.compress {value!r} is not true or false")
        elif key == "mode" and value not in ("blocking", "non-blocking"):
            problems.append(f"log-opts.mode {value!r} is not blocking or non-blocking")
    return problems


def setting_problems(config: dict) -> list[str]:
    """Setting names and types, for engines that cannot check daemon.json themselves."""
    problems = []
    for key, value in sorted(config.items()):
        kind = KNOWN_SETTINGS_20_10.get(key)
        if kind is None:
            problems.append(f"{key} is not a daemon.json setting (Docker's daemon.json reference has no such key)")
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f"{key} must be {_TYPE_NAMES[int]}, not {value!r}")
        elif kind is not int and not isinstance(value, kind):
            problems.append(f"{key} must be {_TYPE_NAMES[kind]}, not {value!r}")
    return problems


def validator_problem(output: str, path: str) -> str:
    """The engine's reason from `dockerd --validate` output, without the file name it adds."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    line = lines[-1] if lines else "dockerd --validate failed without a message"
    line = re.sub(r"^(time=\S+ )?(level=\w+ )?(msg=)?", "", line).strip('"')
    return line.replace(f"unable to configure the Docker daemon with file {path}: ", "")


def unit_flags(exec_start: str) -> list[str]:
    """The flags the engine's systemd unit passes to dockerd (environment references left out)."""
    match = re.search(r"argv\[\]=(.*?) ;", exec_start or "")
    if not match:
        return []
    words = shlex.split(match.group(1))
    return [w for w in words[1:] if not w.startswith("$")]


def settings_hash(settings: dict | None) -> str:
    """The hash the role records for daemon.json settings (key order and layout do not count)."""
    import hashlib

    return hashlib.sha256(json.dumps(settings, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def restart_pending(settings: dict | None, applied: str, mtime: float | None, started: float | None) -> bool:
    """The running engine does not run daemon.json's settings: they differ from the ones recorded
    when it started; with no record, the file was written after the engine started (a second of
    clock slack). A file only laid out anew is no change."""
    if applied:
        return settings_hash(settings) != applied
    return bool(mtime and started and mtime > started + 1)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _engine(path: str) -> dict:
    if not os.path.exists(path):
        return {"present": False}
    try:
        conn = _UnixHTTPConnection(path)
        conn.request("GET", "/info")
        data = json.loads(conn.getresponse().read().decode("utf-8"))
        conn.close()
    except (OSError, ValueError, http.client.HTTPException):
        return {"present": False}
    swarm = data.get("Swarm") or {}
    return {
        "present": True,
        "version": data.get("ServerVersion", ""),
        "root_dir": data.get("DockerRootDir", ""),
        "swarm_state": swarm.get("LocalNodeState", ""),
        "containers": int(data.get("Containers") or 0),
        "images": int(data.get("Images") or 0),
        "log_drivers": list((data.get("Plugins") or {}).get("Log") or []),
    }


def _systemd(*properties: str) -> dict[str, str]:
    try:
        out = subprocess.run(
            ["systemctl", "show", "docker", *(f"--property={p}" for p in properties)],
            capture_output=True, text=True, check=False, timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _started(show: dict[str, str]) -> float | None:
    """When the engine became active, in epoch seconds (systemd keeps a monotonic timestamp)."""
    if show.get("ActiveState") != "active":
        return None
    try:
        mono = int(show.get("ActiveEnterTimestampMonotonic") or 0) / 1e6
    except ValueError:
        return None
    return time.time() - (time.monotonic() - mono) if mono else None


def parse_dpkg(out: str) -> tuple[dict[str, str], dict[str, str]]:
    """dpkg-query's "package, version, status" lines: the installed packages' versions, and the
    dpkg selection of those whose selection is not "install". The status's second letter is the
    package's state ("i": installed), its first the selection ("h": hold, "r": deinstall, "p":
    purge), so a held package ("hi") is installed too."""
    found, selections = {}, {}
    names = {"h": "hold", "r": "deinstall", "p": "purge", "u": "unknown"}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2][1:2] == "i":
            found[parts[0]] = parts[1]
            if parts[2][:1] != "i":
                selections[parts[0]] = names.get(parts[2][:1], parts[2][:1])
    return found, selections


def _packages(names: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    if not names:
        return {}, {}
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n", *names],
            capture_output=True, text=True, check=False, timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}, {}
    return parse_dpkg(out)


def _applied(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _owner_mode(path: str) -> dict | None:
    """uid, gid and permission bits ("0644") of ``path``; None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return {"uid": st.st_uid, "gid": st.st_gid, "mode": f"{stat.S_IMODE(st.st_mode):04o}"}


def _daemon_json(path: str) -> dict:
    directory = _owner_mode(os.path.dirname(path))
    if not os.path.exists(path):
        return {"exists": False, "settings": {}, "error": "", "mtime": None, "file": None, "directory": directory}
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        settings = json.loads(text) if text.strip() else {}
        error = "" if isinstance(settings, dict) else "not a JSON object"
    except (OSError, ValueError) as exc:
        settings, error = None, str(exc)
    return {"exists": True, "settings": settings if not error else None, "error": error,
            "mtime": os.stat(path).st_mtime, "file": _owner_mode(path), "directory": directory}


def _validate(dockerd: str, config: dict, engine: dict, flags: list[str]) -> dict:
    problems = log_problems(config, engine.get("log_drivers"))
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="flotilla-daemon-", delete=False) as handle:
        json.dump(config, handle)
        path = handle.name
    try:
        os.chmod(path, 0o600)
        try:
            result = subprocess.run(
                [dockerd, "--validate", "--config-file", path, *flags],
                capture_output=True, text=True, check=False, timeout=60,
            )
            output = result.stdout + result.stderr
        except (OSError, subprocess.SubprocessError) as exc:
            result, output = None, str(exc)
        if result is not None and result.returncode == 0:
            return {"checked_by": "dockerd --validate", "problems": problems}
        if result is not None and "unknown flag: --validate" not in output:
            return {"checked_by": "dockerd --validate", "problems": [validator_problem(output, path), *problems]}
        # Engines before 23.0 cannot check a file without starting: check names and types here.
        return {"checked_by": "flotilla", "problems": setting_problems(config) + problems}
    finally:
        os.unlink(path)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "packages": {"type": "list", "elements": "str", "default": []},
            "config": {"type": "dict"},
            "config_path": {"type": "path", "default": "/etc/docker/daemon.json"},
            "docker_socket": {"type": "path", "default": "/var/run/docker.sock"},
            "applied_path": {"type": "path", "default": "/var/lib/flotilla/daemon.json.applied"},
        },
        supports_check_mode=True,
    )
    params = module.params
    engine = _engine(params["docker_socket"])
    show = _systemd("ActiveState", "ActiveEnterTimestampMonotonic", "ExecStart", "UnitFileState")
    engine["started"] = _started(show)
    engine["active"] = show.get("ActiveState") == "active"
    engine["enabled"] = show.get("UnitFileState") == "enabled"
    daemon_json = _daemon_json(params["config_path"])
    daemon_json["applied"] = _applied(params["applied_path"])
    root = engine.get("root_dir") or (daemon_json.get("settings") or {}).get("data-root") or "/var/lib/docker"
    engine["swarm_on_disk"] = os.path.exists(os.path.join(root, "swarm", "state.json"))
    validation = {"checked_by": "", "problems": []}
    dockerd = _which("dockerd")
    if params["config"] is not None and dockerd:
        validation = _validate(dockerd, params["config"], engine, unit_flags(show.get("ExecStart", "")))
    packages, selections = _packages(params["packages"])
    module.exit_json(
        changed=False,
        packages=packages,
        selections=selections,
        daemon_json=daemon_json,
        engine=engine,
        restart_pending=engine["present"] and restart_pending(
            daemon_json["settings"], daemon_json["applied"], daemon_json["mtime"], engine["started"]),
        validation=validation,
    )


def _which(name: str) -> str:
    for directory in os.environ.get("PATH", "/usr/bin").split(":") + ["/usr/sbin", "/usr/bin"]:
        if os.access(os.path.join(directory, name), os.X_OK):
            return os.path.join(directory, name)
    return ""


if __name__ == "__main__":
    main()
