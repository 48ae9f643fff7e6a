"""Benchmark: how long playbooks/swarm.yml takes to form a swarm, against the floor.

Not a test (nothing here asserts a time). For each size (default 3+2 and 10+5) on a lab of its
own ("bench", 192.168.253.0/24), with the engine already installed by playbooks/bootstrap.yml:

- plain:    bench/plain_swarm.sh, `docker swarm init` + parallel `docker swarm join` over SSH;
- swarm:    ansible-playbook playbooks/swarm.yml on the same nodes, from no swarm (validation,
            port probe, init, joins, labels included);
- rerun:    the same playbook again on the formed swarm (must report changed=0).

Every node leaves the swarm (`docker swarm leave --force`) before each timed formation. On the
first size it also times playbooks/site.yml on fresh nodes (engine install included) and its
re-run. Results: a table on stdout and bench/out/formation-<UTC time>.json.

    .venv/bin/python bench/formation.py [--sizes 3+2,10+5] [--runs 3] [--reuse] [--keep]

Sizes with an even count or more than 7 managers run with swarm_allow_any_manager_count=true.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
LAB = "bench"
SUBNET = "192.168.253.0/24"
INVENTORY = OUT / "inventory-bench" / "hosts.yml"
ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH=f"{ROOT / '.venv/bin'}:{os.environ['PATH']}")


def sh(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=ENV, check=check, stdin=subprocess.DEVNULL)


def timed(argv: list[str]) -> tuple[float, str]:
    start = time.monotonic()
    result = sh(argv, check=False)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(argv[:3])} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    return elapsed, result.stdout


def changed_total(output: str) -> int:
    return sum(int(n) for n in re.findall(r"changed=(\d+)", output))


EXTRA: list[str] = []


def playbook(name: str) -> list[str]:
    return ["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "playbooks" / name), *EXTRA]


def lab_up(managers: int, workers: int) -> dict:
    result = sh([sys.executable, "-m", "flotilla", "lab", "up", f"--name={LAB}", f"--subnet={SUBNET}",
                 f"--managers={managers}", f"--workers={workers}", f"--inventory={INVENTORY}", "--json"])  # fmt: skip
    return json.loads(result.stdout)


def ssh_all(nodes: list[dict], command: str) -> None:
    key = ROOT / ".lab" / LAB / "id_ed25519"
    known = ROOT / ".lab" / LAB / "known_hosts"

    def one(node: dict) -> None:
        sh(["ssh", "-i", str(key), "-o", f"UserKnownHostsFile={known}", "-o", "BatchMode=yes",
            f"root@{node['ip']}", command], check=False)  # fmt: skip

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, nodes))


def plain(nodes: list[dict]) -> float:
    managers = [n["ip"] for n in nodes if n["group"] == "swarm_managers"]
    workers = [n["ip"] for n in nodes if n["group"] == "swarm_workers"]
    key, known = ROOT / ".lab" / LAB / "id_ed25519", ROOT / ".lab" / LAB / "known_hosts"
    elapsed, _ = timed([str(ROOT / "bench/plain_swarm.sh"), str(key), str(known), *managers, "--", *workers])
    return elapsed


def bench_size(managers: int, workers: int, runs: int, with_site: bool, reuse: bool) -> dict:
    print(f"== {managers}+{workers}: {'reused' if reuse else 'fresh'} lab", flush=True)
    if not reuse:
        sh([sys.executable, "-m", "flotilla", "lab", "down", f"--name={LAB}"])
    nodes = lab_up(managers, workers)["nodes"]
    # The kit refuses an even count or more than 7 managers unless told (10+5 is a stress size).
    EXTRA[:] = [] if managers % 2 == 1 and managers <= 7 else ["-e", "swarm_allow_any_manager_count=true"]
    result: dict = {"size": f"{managers}+{workers}", "nodes": len(nodes)}
    if with_site:
        first, out = timed(playbook("site.yml"))
        rerun, out2 = timed(playbook("site.yml"))
        result["site_first"], result["site_rerun"], result["site_rerun_changed"] = first, rerun, changed_total(out2)
        print(f"   site.yml first {first:.1f}s, re-run {rerun:.1f}s (changed={changed_total(out2)})", flush=True)
    else:
        timed(playbook("bootstrap.yml"))
    samples: dict[str, list[float]] = {"plain": [], "swarm": [], "rerun": []}
    changed = []
    for run in range(runs):
        ssh_all(nodes, "docker swarm leave --force")
        samples["plain"].append(plain(nodes))
        ssh_all(nodes, "docker swarm leave --force")
        elapsed, _ = timed(playbook("swarm.yml"))
        samples["swarm"].append(elapsed)
        elapsed, out = timed(playbook("swarm.yml"))
        samples["rerun"].append(elapsed)
        changed.append(changed_total(out))
        print(f"   run {run + 1}: plain {samples['plain'][-1]:.1f}s, swarm.yml {samples['swarm'][-1]:.1f}s, "
              f"re-run {elapsed:.1f}s (changed={changed[-1]})", flush=True)  # fmt: skip
    for name, values in samples.items():
        result[name] = statistics.median(values)
        result[f"{name}_samples"] = values
    result["rerun_changed"] = changed
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3+2,10+5", help="comma-separated MANAGERS+WORKERS")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the bench lab running")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the bench lab's nodes (engine installed) instead of starting fresh"
    )
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in size.split("+")) for size in args.sizes.split(",")]
    OUT.mkdir(parents=True, exist_ok=True)
    results = [
        bench_size(m, w, args.runs, with_site=i == 0 and not args.reuse, reuse=args.reuse)
        for i, (m, w) in enumerate(sizes)
    ]
    if not args.keep:
        sh([sys.executable, "-m", "flotilla", "lab", "down", f"--name={LAB}"])

    base = results[0]
    print(f"\n{'size':<6} {'plain':>7} {'swarm.yml':>10} {'ratio':>6} {'re-run':>7} {'vs first size':>14}")
    for r in results:
        print(f"{r['size']:<6} {r['plain']:>6.1f}s {r['swarm']:>9.1f}s {r['swarm'] / r['plain']:>5.1f}x "
              f"{r['rerun']:>6.1f}s {r['swarm'] / base['swarm']:>13.2f}x")  # fmt: skip
    if "site_first" in base:
        print(f"site.yml on fresh nodes ({base['size']}): first {base['site_first']:.1f}s, re-run "
              f"{base['site_rerun']:.1f}s = {base['site_rerun'] / base['site_first']:.2f}x, "
              f"changed={base['site_rerun_changed']}")  # fmt: skip
    record = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()},
        "runs": args.runs,
        "results": results,
    }
    path = OUT / f"formation-{record['date'].replace(':', '')}.json"
    path.write_text(json.dumps(record, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
