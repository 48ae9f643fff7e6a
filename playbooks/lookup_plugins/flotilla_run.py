"""Lookup `flotilla_run`: who this run is, for the cluster lock (roles/swarm/tasks/lock.yml).

    lookup('flotilla_run')            -> {id, user, controller, pid, playbook, playbooks}
    lookup('flotilla_run', alive=PID) -> whether ansible-playbook process PID still runs here

The run is the ansible-playbook process: its PID and start time on this controller make the ID.
A lock left by a run of this controller whose process is gone belongs to nobody.
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
short_description: This Ansible run's identity (user, controller, ansible-playbook PID, playbooks)
description:
  - Without options, a dict describing the run; with O(alive), whether that PID is a running
    ansible-playbook process on this controller.
options:
  alive:
    description: A PID to check.
    type: int
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


def alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return "ansible-playbook" in cmdline


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        if "alive" in kwargs:
            return [alive(int(kwargs["alive"]))]
        pid = main_pid()
        playbooks = [os.path.basename(p) for p in context.CLIARGS.get("args") or ()]
        controller = socket.gethostname()
        return [{
            "id": f"{controller}-{pid}-{started(pid)}",
            "user": getpass.getuser(),
            "controller": controller,
            "pid": pid,
            "playbook": " ".join(playbooks),
            "playbooks": playbooks,
        }]
