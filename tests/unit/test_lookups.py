"""The playbooks' lookups: -e values only (confirmations), and the run's identity (cluster lock)."""

import importlib.util
import os
from pathlib import Path

from ansible import context
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.utils import vars as ansible_vars


def _load(name):
    spec = importlib.util.spec_from_file_location(name, Path(f"playbooks/lookup_plugins/{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extra_var_reads_only_what_the_command_line_gave(monkeypatch):
    lookup = _load("flotilla_extra_var").LookupModule(loader=DataLoader())
    # ansible-core reads -e once per process and keeps it on the function
    monkeypatch.setattr(ansible_vars.load_extra_vars, "extra_vars", None, raising=False)
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(extra_vars=("flotilla_confirm=yes",)))
    assert lookup.run(["flotilla_confirm", "other"], variables={"other": "from inventory"}) == ["yes", ""]
    monkeypatch.setattr(ansible_vars.load_extra_vars, "extra_vars", None, raising=False)
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(extra_vars=()))
    assert lookup.run(["flotilla_confirm"], variables={"flotilla_confirm": "yes"}) == [""]


def test_the_run_is_this_process_and_its_playbook(monkeypatch):
    run = _load("flotilla_run")
    monkeypatch.setattr(context, "CLIARGS", ImmutableDict(args=("/x/playbooks/upgrade.yml",)))
    (found,) = run.LookupModule(loader=DataLoader()).run([])
    assert found["pid"] == os.getpid() and found["playbook"] == "upgrade.yml"
    assert found["id"] == f"{found['controller']}-{os.getpid()}-{run.started(os.getpid())}"
    assert run.started(os.getpid()).isdigit()
    # this process is alive; the same PID with another start time (a PID used again) is not that run
    assert run.LookupModule(loader=DataLoader()).run([], alive=found["id"]) == [True]
    assert run.LookupModule(loader=DataLoader()).run([], alive=found["id"] + "0") == [False]
    assert run.LookupModule(loader=DataLoader()).run([], alive=f"elsewhere-{os.getpid()}-1") == [False]
