"""The controller: its Docker engine, its apt, its files. Side effects live here."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import docker
from docker.errors import DockerException

from flotilla.lab.plan import LabError, parse_apt_mirrors, parse_proc_net_route

Log = Callable[[str], None]

DEFAULT_MIRROR = "http://deb.debian.org/debian"
ENGINE_START_TIMEOUT = 90


def is_debian_like() -> bool:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return False
    fields = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    ids = {fields.get("ID", "").strip('"')} | set(fields.get("ID_LIKE", "").strip('"').split())
    return bool(ids & {"debian", "ubuntu"})


def apt_install(packages: Sequence[str], log: Log) -> None:
    """Install Debian packages on the controller (root only)."""
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return
    if os.geteuid() != 0 or not is_debian_like() or not shutil.which("apt-get"):
        raise LabError(
            f"the lab needs {' '.join(missing)} on this machine; install it "
            f"(Debian/Ubuntu: apt-get install {' '.join(missing)}) and re-run"
        )
    log(f"installing {' '.join(missing)} with apt-get (once per machine)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LabError(f"`{' '.join(cmd)}` failed: {tail[0]}")


def _dpkg_installed(package: str) -> bool:
    if not shutil.which("dpkg-query"):
        return False
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Status}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0 and proc.stdout.strip() == "installed"


def _client() -> docker.DockerClient | None:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException:
        return None
    return client


def ensure_engine(state_dir: Path, log: Log) -> docker.DockerClient:
    """Return a client for a running Docker engine, installing and starting one if needed."""
    client = _client()
    if client is not None:
        return client
    if os.environ.get("DOCKER_HOST"):
        raise LabError(
            f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer; start that engine or unset "
            "DOCKER_HOST to let the lab use (or start) the local one"
        )
    if os.geteuid() != 0 or not is_debian_like():
        raise LabError(
            "no Docker engine answers on /var/run/docker.sock; install Docker Engine "
            "(Debian/Ubuntu: apt-get install docker.io), start it, and re-run"
        )
    if not shutil.which("dockerd"):
        apt_install(["docker.io"], log)
        client = _client()  # the package may have started the engine itself
        if client is not None:
            return client
    return _start_dockerd(state_dir, log)


def _pid_is_dockerd(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text(encoding="utf-8").strip())
        comm = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return None
    return pid if comm == "dockerd" else None


def _start_dockerd(state_dir: Path, log: Log) -> docker.DockerClient:
    engine_dir = state_dir / "engine"
    engine_dir.mkdir(parents=True, exist_ok=True)
    pidfile, logfile = engine_dir / "dockerd.pid", engine_dir / "dockerd.log"
    if _pid_is_dockerd(pidfile) is None:
        # A pidfile left by a killed daemon (or a reused pid) must not block the next start.
        pidfile.unlink(missing_ok=True)
        log(f"starting dockerd in the background (log: {logfile})")
        with logfile.open("ab") as out:
            subprocess.Popen(  # noqa: S603 - fixed argv
                ["dockerd", "--pidfile", str(pidfile)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    deadline = time.monotonic() + ENGINE_START_TIMEOUT
    while time.monotonic() < deadline:
        client = _client()
        if client is not None:
            return client
        time.sleep(0.5)
    tail = logfile.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
    raise LabError(
        f"dockerd did not answer within {ENGINE_START_TIMEOUT}s; see {logfile} "
        f"(last line: {tail[0] if tail else 'empty'})"
    )


def detect_mirrors() -> tuple[str, str]:
    """The Debian mirror this machine's apt uses (FLOTILLA_DEBIAN_MIRROR overrides it)."""
    texts = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + sorted(
        glob.glob("/etc/apt/sources.list.d/*.list")
    ) + ["/etc/apt/sources.list"]:
        try:
            texts.append(Path(path).read_text(encoding="utf-8"))
        except OSError:
            continue
    archive, security = parse_apt_mirrors(texts)
    archive = os.environ.get("FLOTILLA_DEBIAN_MIRROR") or archive or DEFAULT_MIRROR
    security = os.environ.get("FLOTILLA_DEBIAN_SECURITY_MIRROR") or security or (
        archive.rsplit("/", 1)[0] + "/debian-security"
    )
    return archive, security


def host_routes() -> list[tuple[str, str]]:
    """The controller's routed networks, which a lab subnet must not overlap."""
    try:
        return parse_proc_net_route(Path("/proc/net/route").read_text(encoding="utf-8"))
    except OSError:
        return []


def ensure_ssh_key(key_file: Path, log: Log) -> None:
    if key_file.exists() and key_file.with_suffix(".pub").exists():
        return
    if not shutil.which("ssh-keygen"):
        apt_install(["openssh-client"], log)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "flotilla-lab", "-f", str(key_file)],
        check=True,
    )
