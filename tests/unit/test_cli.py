"""Bad input to `flotilla lab up` is refused in one line before anything is touched.

The command runs as a real subprocess with DOCKER_HOST pointing at a socket that does not exist:
had it tried to reach (or install) an engine first, it would print a different error.
"""

import os
import subprocess
import sys

import pytest


def run_flotilla(*args, tmp_path):
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock", FLOTILLA_HOME=str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "flotilla", *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--managers", "0"], "--managers 0: a swarm needs at least one manager"),
        (["--managers", "-2"], "--managers -2"),
        (["--workers", "-1"], "--workers -1: the worker count cannot be negative"),
        (["--subnet", "10.9.0.0/24"], "overlaps Swarm's default address pool"),
        (["--subnet", "nonsense"], "not an IPv4 network"),
        (["--name", "Bad_Name"], "not a valid lab name"),
    ],
)
def test_lab_up_refuses_bad_input_in_one_line(args, fragment, tmp_path):
    proc = run_flotilla("lab", "up", *args, tmp_path=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("flotilla: error: ")
    assert fragment in lines[0]
    assert not (tmp_path / ".lab").exists()  # no state written


def test_unanswering_docker_host_is_reported_clearly(tmp_path):
    proc = run_flotilla("lab", "status", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "does not answer" in proc.stderr
    assert "Traceback" not in proc.stderr
