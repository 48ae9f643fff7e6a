"""What the scenarios' tests share: the drills (manager_loss, worker_loss, quorum_loss,
backup_restore, upgrade), safety, stacks and lifecycle run, in the Makefile's order, on the lab the
`default` scenario converged, with its inventory (lifecycle with an edited copy of it), and drive
the real playbooks from the controller as an admin would.

Each drill ends with the swarm healthy and the demo serving. The times they measure are benchmark
figures, not assertions: `record` writes them to .reports/drills.json (docs/benchmarks.md).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import yaml

from flotilla.swarm import swarm_health

PROJECT = Path(__file__).resolve().parents[2]
# The drills use the default scenario's lab; FLOTILLA_DRILL_INVENTORY points them at another one
# (e.g. inventory/lab after `make demo`) while writing a drill.
INVENTORY = Path(os.environ.get("FLOTILLA_DRILL_INVENTORY", PROJECT / "molecule/default/inventory"))
FIGURES = PROJECT / ".reports/drills.json"
PLAYS = PROJECT / ".reports/plays.jsonl"


@dataclass
class Run:
    returncode: int
    stdout: str
    seconds: float

    @property
    def changed(self) -> dict[str, int]:
        """changed= per host from the play recap."""
        return {h: int(c) for h, c in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", self.stdout, re.M)}

    @property
    def changed_tasks(self) -> dict[str, list[str]]:
        """The tasks that reported changed, per host ("role : name"), from the default callback's lines."""
        tasks: dict[str, list[str]] = {}
        task = ""
        for line in self.stdout.splitlines():
            if header := re.match(r"^(?:TASK|RUNNING HANDLER) \[(.+)\] \**$", line):
                task = header.group(1)
            elif (changed := re.match(r"^changed: \[([^\]\s]+)", line)) and task:
                tasks.setdefault(changed.group(1), []).append(task)
        return tasks


def play(playbook: str, *extra: str, ok: bool = True, inventory: Path | None = None) -> Run:
    """Run a playbook of playbooks/ against the drill inventory (or ``inventory``), with no
    terminal (a question gets no answer); with ok, fail unless it passed."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    start = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory or INVENTORY), str(PROJECT / "playbooks" / playbook), *extra],
        capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    run = Run(result.returncode, result.stdout + result.stderr, round(time.monotonic() - start, 1))
    _log_play(playbook, extra, run, inventory)
    if ok:
        # The failing tasks' own lines first: a CI summary shows only the message's first lines.
        assert run.returncode == 0, (
            f"{playbook} failed (rc {run.returncode}): {errors(run.stdout)}\n{run.stdout[-5000:]}")
    return run


def errors(stdout: str) -> str:
    """What failed in a playbook's output: each fatal:/failed:/[ERROR]: line, with the "msg" of a
    result printed over several lines, joined. A task whose failures were ignored (ignore_errors,
    ignore_unreachable: "...ignoring" after them) counts for nothing, nor do other tasks' "msg" lines."""
    lines = stdout.splitlines()
    found: list[str] = []
    start = 0   # where the current task's lines begin in found
    for at, line in enumerate(lines):
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            start = len(found)
        elif line.strip() == "...ignoring":
            del found[start:]
        elif line.startswith(("fatal:", "failed:", "[ERROR]:")):
            found.append(line.strip())
            result = lines[at + 1:at + 60] if line.rstrip().endswith("{") else []
            end = next((i for i, m in enumerate(result) if m.startswith("}")), len(result))
            found += [m.strip() for m in result[:end] if m.lstrip().startswith('"msg":')][:1]
    return " | ".join(found[:6])[:1500] or "(no task failed: see the output)"


def _log_play(playbook: str, extra: tuple[str, ...], run: Run, inventory: Path | None) -> None:
    """One line per playbook run in .reports/plays.jsonl (which test, what, how long, rc, and the
    cluster lock if one is left after it): where make test spends its time, since nearly all of it
    is playbook runs, and which run left a lock behind."""
    PLAYS.parent.mkdir(parents=True, exist_ok=True)
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    # An argument that may carry an unlock key, a token or a password is not written down.
    args = ["(hidden)" if re.search(r"key|token|password|secret", arg, re.I) else arg for arg in extra]
    line = {"test": test, "playbook": playbook, "args": args, "seconds": run.seconds, "rc": run.returncode,
            "lock_left": _lock_left(inventory), "errors": errors(run.stdout) if run.returncode else ""}
    with PLAYS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def _lock_left(inventory: Path | None) -> dict[str, str] | None:
    """The labels of the cluster lock (flotilla-lock) as manager1 sees it; None when there is none
    or it cannot be read (no swarm, manager1 down): a record for plays.jsonl, never a failure."""
    try:
        found = container("manager1", inventory).exec_run(
            ["docker", "config", "inspect", "--format", "{{json .Spec.Labels}}", "flotilla-lock"])
        return json.loads(found.output) if found.exit_code == 0 else None
    except Exception:  # noqa: BLE001 - a diagnostic only
        return None


def addresses() -> dict[str, str]:
    """Inventory host name -> address, from the lab's hosts.yml."""
    groups = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["children"]
    return {name: h["ansible_host"] for group in groups.values() for name, h in group["hosts"].items()}


def inventory_var(name: str, default: Any = None) -> Any:
    """A variable of the drill inventory's group_vars/all files, as written (untemplated; the last
    file in name order wins, as Ansible loads them)."""
    value = default
    for path in sorted((INVENTORY / "group_vars" / "all").glob("*.yml")):
        found = yaml.safe_load(path.read_text()) or {}
        if name in found:
            value = found[name]
    return value


def platform(name: str) -> bool:
    """Whether the drill inventory runs the platform stack `monitoring` or central logs (the demo
    lab's inventory does; molecule's does not yet: their checks run against the demo lab with
    FLOTILLA_DRILL_INVENTORY=inventory/lab)."""
    if name == "logs":
        return bool(inventory_var("logs_enabled", False))
    return name in (inventory_var("stacks_enabled", []) or [])


def prometheus(path: str, node: str = "manager1") -> dict:
    """Prometheus's HTTP API on `node` (monitoring_node: the lab's manager1 by default; the lab's
    firewall admits the controller)."""
    with urllib.request.urlopen(f"http://{addresses()[node]}:9090{path}", timeout=10) as answer:
        return json.load(answer)


def alert_sink():
    """A webhook receiver where the lab's Alertmanager sends alerts (flotilla.lab.alerts), on the
    controller's address on the lab network (lab_controller_address, written by `lab up`)."""
    from flotilla.lab.alerts import AlertSink

    return AlertSink(yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["vars"]["lab_controller_address"])


def urls(without: tuple[str, ...] = ()) -> list[str]:
    """The demo's URL on every node (it publishes :8080 in host mode on each)."""
    return [f"http://{addr}:8080/" for name, addr in addresses().items() if name not in without]


def lab_dir(inventory: Path | None = None) -> Path:
    """The lab's own directory on the controller (.lab/<lab name>/, where its SSH key is)."""
    hosts = (inventory or INVENTORY) / "hosts.yml"
    return Path(yaml.safe_load(hosts.read_text())["all"]["vars"]["ansible_ssh_private_key_file"]).parent


def container(name: str, inventory: Path | None = None):
    """The lab container of inventory host ``name`` (of the drill inventory, or ``inventory``)."""
    # The lab keeps each lab's SSH key in .lab/<lab name>/, and names containers <lab name>-<host>.
    hosts = (inventory or INVENTORY) / "hosts.yml"
    key = yaml.safe_load(hosts.read_text())["all"]["vars"]["ansible_ssh_private_key_file"]
    return docker.from_env().containers.get(f"{Path(key).parent.name}-{name}")


def output(name: str, *argv: str, inventory: Path | None = None, tries: int = 5) -> str:
    """What a command that always prints something prints on a lab node (as root, in its container).

    docker exec now and then hands back an empty output for a command that printed, when the
    process ends before the stream is read (docker/docker-py#2042, moby/moby#27289); an empty
    answer is asked for again rather than compared.
    """
    for _ in range(tries):
        result = container(name, inventory).exec_run(list(argv))
        assert result.exit_code == 0, f"{argv} on {name}: {result.output.decode()}"
        if result.output.strip():
            return result.output.decode().strip()
        time.sleep(0.5)
    raise AssertionError(f"{argv} on {name} printed nothing, {tries} times")


def on(name: str, *argv: str, inventory: Path | None = None) -> str:
    """Run a command on a lab node once (as root, in its container); what it prints, stripped.
    For commands that change something (output() asks again on an empty answer)."""
    result = container(name, inventory).exec_run(list(argv))
    assert result.exit_code == 0, f"{argv} on {name}: {result.output.decode()}"
    return result.output.decode().strip()


def read(name: str, path: str, inventory: Path | None = None) -> bytes:
    """A file of a lab node, through the engine's archive API (no exec, whose output can be lost)."""
    stream, _ = container(name, inventory).get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        assert member is not None and member.isfile(), f"{path} on {name} is not a file"
        data = tar.extractfile(member)
        assert data is not None
        return data.read()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def wait(check: Callable[[], object], timeout: float, what: str, every: float = 1.0) -> float:
    """Poll ``check`` until it returns something true; the seconds it took. Fails after timeout."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return round(time.monotonic() - start, 1)
        except (AssertionError, subprocess.CalledProcessError, json.JSONDecodeError):
            pass
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not {what} after {timeout:.0f} s")
        time.sleep(every)


def vaulted(path: Path, password: bytes, name: str = "swarm_unlock_key") -> str:
    """A variable that ansible-vault encrypt_string wrote to a vars file, decrypted with ``password``."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    text = path.read_text()
    body = text.split(f"{name}: !vault |", 1)[1]
    cipher = "\n".join(line.strip() for line in body.strip().splitlines())
    return VaultLib([("default", VaultSecret(password))]).decrypt(cipher).decode()


def unlock_key(name: str = "manager1") -> str:
    """The swarm's unlock key, read on manager ``name`` (autolock on)."""
    return output(name, "docker", "swarm", "unlock-key", "--quiet")


def autolock(name: str = "manager1") -> bool:
    """Whether the swarm that manager ``name`` is in has autolock on."""
    spec = "{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}"
    return output(name, "docker", "info", "--format", spec) == "true"


def nodes(host) -> dict[str, dict]:
    """The swarm's nodes by hostname, as `docker node inspect` on ``host`` shows them."""
    ids = host.check_output("docker node ls --quiet").split()
    inspected = json.loads(host.check_output("docker node inspect " + " ".join(ids)))
    return {n["Description"]["Hostname"]: n for n in inspected}


def replicas(host) -> dict[str, str]:
    """Service name -> "running/wanted", as `docker service ls` on ``host`` shows them."""
    out = host.check_output("docker service ls --format '{{.Name}} {{.Replicas}}'")
    return dict(line.split()[:2] for line in out.splitlines())


def problems(host) -> list[str]:
    """What keeps the swarm from being healthy ([] when it is): every inventory host a node, ready,
    every manager reachable with one leader, every service at full strength, the demo answering
    on every node."""
    current = nodes(host)
    found = []
    if set(current) != set(addresses()):
        found.append(f"nodes {sorted(current)} are not the inventory's {sorted(addresses())}")
    found += [f"{name} is {n['Status']['State']}" for name, n in current.items() if n["Status"]["State"] != "ready"]
    found += swarm_health(list(current.values()))["problems"]  # the raft view the roles use
    found += [f"{name} runs {r}" for name, r in replicas(host).items() if r.split("/")[0] != r.split("/")[1]]
    found += [f"{url} does not answer" for url in urls() if not answers(url)]
    return found


def healthy(host) -> bool:
    """The swarm is healthy (see problems); prints what is not, for the drill's output."""
    found = problems(host)
    if found:
        print("not healthy yet: " + "; ".join(found))
    return not found


def start_healthy(host, within: float = 60) -> None:
    """A drill starts from a healthy swarm. The scenario before it ended healthy, but the swarm may
    still be settling (a task moving, a proxy answering late on a busy machine): wait up to
    ``within`` seconds, then fail naming what is not healthy."""
    try:
        wait(lambda: healthy(host), within, "healthy", every=2)
    except AssertionError:
        raise AssertionError("the drill starts from a healthy swarm, but: " + "; ".join(problems(host))) from None


def record(name: str, **figures: object) -> None:
    """Keep a drill's measurements for docs/benchmarks.md, and show them in the test output."""
    FIGURES.parent.mkdir(exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[name] = figures
    FIGURES.write_text(json.dumps(data, indent=2) + "\n")
    print(f"drill {name}: {figures}")
