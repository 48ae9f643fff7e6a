"""Benchmark: HTTP requests lost during rolling updates of the demo stack (target: 0 of >= 3000).

Not a test. Against the running demo lab (`make demo` first), with a steady load from the
controller spread over every node's :8080 (default 60 requests/s, each a new connection):

- update:   playbooks/deploy.yml -e demo_web_version=2 (v1 -> v2, start-first, one task at a time);
- rollback: playbooks/deploy.yml -e demo_web_version=broken (the play must fail; Swarm rolls back);
- back to v1 afterwards (not measured), so the demo is left as `make demo` made it.

For each phase: total requests, failures (by error), p50/p99/max latency, the deploy's duration and
exit code. Results: a table on stdout, bench/out/rolling-update-<UTC time>.json, and a plot of
requests and errors per second (bench/out/rolling-update-<UTC time>.png; needs matplotlib:
`make bench-rolling-update` installs it from requirements-bench.txt).

    .venv/bin/python bench/rolling_update.py [--rate 60] [--settle 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import yaml

from flotilla.load import Load, per_second

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
INVENTORY = ROOT / "inventory" / "lab"
ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH=f"{ROOT / '.venv/bin'}:{os.environ['PATH']}")


def deploy(*extra: str) -> tuple[int, float, str]:
    start = time.monotonic()
    result = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "playbooks/deploy.yml"), *extra],
        capture_output=True, text=True, env=ENV, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    message = next((line for line in result.stdout.splitlines() if "stack demo:" in line and "ERROR" in line), "")
    return result.returncode, time.monotonic() - start, message


def lab_urls() -> list[str]:
    hosts = yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["children"]
    return [f"http://{h['ansible_host']}:8080/" for group in hosts.values() for h in group["hosts"].values()]


def phase(name: str, urls: list[str], rate: float, settle: float, *extra: str) -> dict:
    print(f"{name}: deploy.yml {' '.join(extra)} under {rate:.0f} requests/s on {len(urls)} nodes", flush=True)
    with Load(urls, rate=rate) as load:
        time.sleep(settle)
        update_start = time.monotonic() - load._t0  # noqa: SLF001 (same package, for the plot's markers)
        rc, duration, message = deploy(*extra)
        time.sleep(settle)
    summary = load.summary()
    return {
        "phase": name, "args": list(extra), "rc": rc, "deploy_seconds": round(duration, 1), "message": message,
        "update_window": [round(update_start, 1), round(update_start + duration, 1)],
        "summary": dataclasses.asdict(summary),
        "per_second": per_second(load.samples),
    }  # fmt: skip


def plot(results: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (make bench-rolling-update installs it); no plot", file=sys.stderr)
        return False
    fig, axes = plt.subplots(len(results), 1, figsize=(10, 3.2 * len(results)), squeeze=False)
    for ax, result in zip(axes[:, 0], results, strict=True):
        seconds = [s for s, _, _ in result["per_second"]]
        ax.plot(seconds, [n for _, n, _ in result["per_second"]], label="requests/s", color="tab:blue")
        ax.bar(seconds, [f for _, _, f in result["per_second"]], label="failed/s", color="tab:red")
        ax.axvspan(*result["update_window"], alpha=0.15, color="tab:green", label="deploy.yml running")
        s = result["summary"]
        ax.set_title(f"{result['phase']}: {s['total']} requests, {s['failed']} failed, p99 {s['p99_ms']} ms, "
                     f"deploy {result['deploy_seconds']} s (rc {result['rc']})", fontsize=10)  # fmt: skip
        ax.set_xlabel("seconds")
        ax.set_ylim(bottom=0)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=60.0, help="requests per second (default 60)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of load before and after each deploy")
    args = parser.parse_args()
    if not (INVENTORY / "hosts.yml").exists():
        print("no lab inventory: run `make demo` first", file=sys.stderr)
        return 2
    urls = lab_urls()
    OUT.mkdir(parents=True, exist_ok=True)
    rc, _, message = deploy()
    if rc != 0:
        print(f"the demo does not deploy cleanly (rc {rc}): {message}", file=sys.stderr)
        return 2
    results = [
        phase("update v1 -> v2", urls, args.rate, args.settle, "-e", "demo_web_version=2"),
        phase("rollback of broken", urls, args.rate, args.settle, "-e", "demo_web_version=broken"),
    ]
    deploy("-e", "demo_web_version=1")

    print(f"\n{'phase':<20} {'requests':>8} {'failed':>6} {'p50':>8} {'p99':>8} {'max':>8} {'deploy':>7} {'rc':>3}")
    for r in results:
        s = r["summary"]
        print(f"{r['phase']:<20} {s['total']:>8} {s['failed']:>6} {s['p50_ms']:>6.1f}ms {s['p99_ms']:>6.1f}ms "
              f"{s['max_ms']:>6.1f}ms {r['deploy_seconds']:>6.1f}s {r['rc']:>3}")  # fmt: skip
        if s["errors"]:
            print(f"  errors: {s['errors']}")
        if r["message"]:
            print(f"  play said: {r['message'].split('Action failed: ', 1)[-1]}")
    stamp = time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime())
    record = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()},
        "rate": args.rate, "nodes": len(urls), "results": results,
    }  # fmt: skip
    (OUT / f"rolling-update-{stamp}.json").write_text(json.dumps(record, indent=2))
    png = OUT / f"rolling-update-{stamp}.png"
    if plot(results, png):
        print(f"plot: {png}")
    ok = all(r["summary"]["failed"] == 0 for r in results) and results[0]["rc"] == 0 and results[1]["rc"] != 0
    print("target (0 failed requests, v2 deployed, broken rolled back with a failed play):", "met" if ok else "MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
