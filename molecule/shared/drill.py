"""What the failure drills share (scenarios manager_loss, worker_loss, quorum_loss, backup_restore
and upgrade): they run, in that order (see the Makefile), on the lab the `default` scenario
converged, with its inventory, and drive the real playbooks from the controller as an admin would.

Each drill ends with the swarm healthy and the demo serving. The times they measure are benchmark
figures, not assertions: `record` writes them to .reports/drills.json (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import yaml

PROJECT = Path(__file__).resolve().parents[2]
# The drills use the default scenario's lab; FLOTILLA_DRILL_INVENTORY points them at another one
# (e.g. inventory/lab after `make demo`) while writing a drill.
INVENTORY = Path(os.environ.get("FLOTILLA_DRILL_INVENTORY", PROJECT / "molecule/default/inventory"))
FIGURES = PROJECT / ".reports/drills.json"


@dataclass
class Run:
    returncode: int
    stdout: str
    seconds: float

    @property
    def changed(self) -> dict[str, int]:
        """changed= per host from the play recap."""
        return {h: int(c) for h, c in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", self.stdout, re.M)}


def play(playbook: str, *extra: str, ok: bool = True) -> Run:
    """Run a playbook of playbooks/ against the drill inventory; with ok, fail unless it passed."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    start = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(PROJECT / "playbooks" / playbook), *extra],
        capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    run = Run(result.returncode, result.stdout + result.stderr, round(time.monotonic() - start, 1))
    if ok:
        assert run.returncode == 0, f"{playbook} failed (rc {run.returncode}):\n{run.stdout[-5000:]}"
    return run


def addresses() -> dict[str, str]:
    """Inventory host name -> address, from the lab's hosts.yml."""
    groups = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["children"]
    return {name: h["ansible_host"] for group in groups.values() for name, h in group["hosts"].items()}


def urls(without: tuple[str, ...] = ()) -> list[str]:
    """The demo's URL on every node (it publishes :8080 in host mode on each)."""
    return [f"http://{addr}:8080/" for name, addr in addresses().items() if name not in without]


def container(name: str):
    """The lab container of inventory host ``name``."""
    # The lab keeps each lab's SSH key in .lab/<lab name>/, and names containers <lab name>-<host>.
    key = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["vars"]["ansible_ssh_private_key_file"]
    return docker.from_env().containers.get(f"{Path(key).parent.name}-{name}")


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


def nodes(host) -> dict[str, dict]:
    """The swarm's nodes by hostname, as `docker node inspect` on ``host`` shows them."""
    ids = host.check_output("docker node ls --quiet").split()
    return {n["Description"]["Hostname"]: n for n in json.loads(host.check_output("docker node inspect " + " ".join(ids)))}


def replicas(host) -> dict[str, str]:
    """Service name -> "running/wanted", as `docker service ls` on ``host`` shows them."""
    out = host.check_output("docker service ls --format '{{.Name}} {{.Replicas}}'")
    return dict(line.split()[:2] for line in out.splitlines())


def healthy(host) -> bool:
    """Every node ready and active, every manager reachable with one leader, every service full,
    the demo answering on every node."""
    current = nodes(host)
    managers = [n for n in current.values() if n["Spec"]["Role"] == "manager"]
    return (
        set(current) == set(addresses())
        and all(n["Status"]["State"] == "ready" for n in current.values())
        and all(n["ManagerStatus"]["Reachability"] == "reachable" for n in managers)
        and sum(1 for n in managers if n["ManagerStatus"].get("Leader")) == 1
        and all(running == wanted for running, wanted in (r.split("/") for r in replicas(host).values()))
        and all(answers(url) for url in urls())
    )


def record(name: str, **figures: object) -> None:
    """Keep a drill's measurements for docs/benchmarks.md, and show them in the test output."""
    FIGURES.parent.mkdir(exist_ok=True)
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    data[name] = figures
    FIGURES.write_text(json.dumps(data, indent=2) + "\n")
    print(f"drill {name}: {figures}")
