"""Lookup `flotilla_run`: who this run is, for the cluster lock (roles/swarm/tasks/lock.yml).

    lookup('flotilla_run')            -> {id, user, controller, pid, playbook}
    lookup('flotilla_run', alive=RUN_ID) -> whether that run (of this controller) still runs

The run is the ansible-playbook process: the controller, its PID and its start time make the ID,
so a PID used again by a later process is not mistaken for the run. A lock left by a run of this
controller whose process is gone belongs to nobody.
"""

from __future__ import annotations

import getpass
import multiprocessing
import os
import socket
from pathlib import Path
from typing import Any

from ansible import context
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: flotilla_run
short_description: This Ansible run's identity (user, controller, ansible-playbook PID, playbook)
description:
  - Without options, a dict describing the run; with O(alive), whether the run with that ID is
    still running on this controller.
options:
  alive:
    description: A run ID (as this lookup returns it) to check.
    type: str
"""


def main_pid() -> int:
    """The ansible-playbook process: lookups run in its worker processes, forked from it."""
    return os.getpid() if multiprocessing.current_process().name == "MainProcess" else os.getppid()


def started(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or ""."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]


def run_id(controller: str, pid: int) -> str:
    return f"{controller}-{pid}-{started(pid)}"


def alive(run: str) -> bool:
    """Whether the run ``run`` (controller-pid-start) of this controller still runs."""
    controller, _, rest = str(run).rpartition("-")[0].rpartition("-")
    pid = rest
    return controller == socket.gethostname() and pid.isdigit() and run_id(controller, int(pid)) == run


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        if "alive" in kwargs:
            return [alive(kwargs["alive"])]
        pid = main_pid()
        playbooks = [os.path.basename(p) for p in context.CLIARGS.get("args") or ()]
        controller = socket.gethostname()
        return [{
            "id": run_id(controller, pid),
            "user": getpass.getuser(),
            "controller": controller,
            "pid": pid,
            "playbook": " ".join(playbooks),
        }]
