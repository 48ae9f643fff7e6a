"""`flotilla` command line: the local lab of VM-like nodes.

    flotilla lab up [--managers N] [--workers M] [--subnet CIDR] [--name LAB] [--inventory FILE]
    flotilla lab status [--name LAB] [--check]
    flotilla lab ssh NODE [COMMAND...]
    flotilla lab down [--name LAB]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from docker.errors import DockerException

from flotilla.lab import plan
from flotilla.lab.plan import LabError

if TYPE_CHECKING:  # flotilla.lab.lab is imported where it is used, not when the CLI starts
    from flotilla.lab.lab import Lab, Paths


def _logger(stream: TextIO) -> Callable[[str], None]:
    def log(message: str) -> None:
        print(f"lab: {message}", flush=True, file=stream)

    return log


def project_root() -> Path:
    """FLOTILLA_HOME, else the nearest directory above the cwd holding ansible.cfg and playbooks/."""
    if os.environ.get("FLOTILLA_HOME"):
        return Path(os.environ["FLOTILLA_HOME"]).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "ansible.cfg").is_file() and (candidate / "playbooks").is_dir():
            return candidate
    return here


def _paths(name: str, inventory: str | None, fingerprint: str) -> Paths:
    from flotilla.lab.lab import Paths

    root = project_root()
    state_dir = root / ".lab" / name
    if inventory:
        inv = Path(inventory).resolve()
    elif name == plan.DEFAULT_LAB:
        inv = root / "inventory" / "lab" / "hosts.yml"
    else:
        inv = state_dir / "hosts.yml"
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Paths(state_dir=state_dir, inventory=inv, apt_cache=cache_home / "flotilla" / "apt" / fingerprint)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flotilla", description="Flotilla tooling.")
    sub = parser.add_subparsers(dest="area", required=True)
    lab = sub.add_parser("lab", help="local lab of VM-like nodes (containers with systemd + sshd)")
    cmds = lab.add_subparsers(dest="command", required=True)

    def with_name(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--name", default=plan.DEFAULT_LAB, help="lab name (default: %(default)s)")
        return p

    up = with_name(cmds.add_parser("up", help="create or repair the lab, write its inventory"))
    up.add_argument("--managers", type=int, help=f"manager nodes (default: existing, else {plan.DEFAULT_MANAGERS})")
    up.add_argument("--workers", type=int, help=f"worker nodes (default: existing, else {plan.DEFAULT_WORKERS})")
    up.add_argument("--subnet", help=f"lab network (default: existing, else {plan.DEFAULT_SUBNET})")
    up.add_argument("--inventory", help="inventory file to write (default: inventory/lab/hosts.yml)")
    up.add_argument("--json", action="store_true", help="print what was done as JSON (for playbooks)")
    down = with_name(cmds.add_parser("down", help="remove every container, volume and network of the lab"))
    down.add_argument("--json", action="store_true", help="print what was removed as JSON (for playbooks)")
    status = with_name(cmds.add_parser(
        "status", help="tables of the lab's nodes, the swarm's nodes and services, then every node's URLs"
    ))
    status.add_argument("--check", action="store_true", help="exit 1 when a node's URL does not answer")
    ssh = with_name(cmds.add_parser("ssh", help="open a shell (or run a command) on a node"))
    ssh.add_argument("node")
    ssh.add_argument("cmd", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except LabError as exc:
        print(f"flotilla: error: {exc}", file=sys.stderr)
        return 2
    except DockerException as exc:
        print(f"flotilla: error: the Docker engine refused: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `flotilla lab status | head`
        sys.stderr.close()
        return 141


def _run(args: argparse.Namespace) -> int:
    # With --json, stdout carries one JSON object and progress goes to stderr.
    log = _logger(sys.stderr if getattr(args, "json", False) else sys.stdout)
    # Input is checked before anything is installed, started or created.
    plan.validate_lab_name(args.name)
    if args.command == "up":
        if args.managers is not None or args.workers is not None:
            plan.validate_counts(
                plan.DEFAULT_MANAGERS if args.managers is None else args.managers,
                0 if args.workers is None else args.workers,
            )
        if args.subnet is not None:
            plan.parse_subnet(args.subnet)

    from flotilla.lab.host import detect_mirrors, ensure_engine
    from flotilla.lab.image import BaseRecipe, Recipe, ensure_base_image, ensure_image
    from flotilla.lab.lab import Lab

    archive, security = detect_mirrors()
    recipe = Recipe(mirror=archive, security_mirror=security)
    paths = _paths(args.name, getattr(args, "inventory", None), recipe.fingerprint())
    client = ensure_engine(project_root() / ".lab", log)
    lab = Lab(client, args.name, paths, log)

    if args.command == "up":
        image = ensure_image(client, recipe, log)
        # The stacks' images (stacks/*/images) are built FROM this one: no registry here.
        base = ensure_base_image(client, BaseRecipe(mirror=archive, security_mirror=security), log)
        result = lab.up(image, args.managers, args.workers, args.subnet, base=base)
        log(f"{len(result.nodes)} nodes up; inventory: {paths.inventory}")
        if args.json:
            print(json.dumps({
                "changed": result.changed, "kept": result.kept, "powered_on": result.powered_on,
                "created": result.created, "removed": result.removed, "inventory": str(paths.inventory),
                "nodes": [{"name": n.name, "group": n.group, "ip": n.ip} for n in result.nodes],
            }))  # fmt: skip
        else:
            _print_status(lab)
    elif args.command == "status":
        if not _print_status(lab) and args.check:
            log("a URL did not answer (see FAILED above)")
            return 1
    elif args.command == "down":
        removed = lab.down()
        log(f"removed {len(removed)} objects of lab {args.name!r}" + (f": {', '.join(removed)}" if removed else ""))
        if args.json:
            print(json.dumps({"changed": bool(removed), "removed": removed}))
    elif args.command == "ssh":
        lab.ssh(args.node, args.cmd)
    return 0


def _print_status(lab: Lab) -> bool:
    """Print the lab's nodes, the swarm's nodes and services, and the URLs; False when a URL
    does not answer."""
    rows = lab.status()
    if not rows:
        print(f"lab {lab.name!r} has no nodes; run `flotilla lab up`")
        return True
    table = [("NODE", "GROUP", "IP", "RUNNING", "SSH", "ENGINE")]
    table += [
        (r.name, r.group, r.ip or "-", "yes" if r.running else "no", "yes" if r.ssh else "no", r.engine)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    nodes = lab.swarm_nodes()
    print()
    if nodes is None:
        print("swarm: none yet (run playbooks/site.yml)")
        return True
    from flotilla.lab.swarm_table import format_nodes

    print(f"swarm: {len(nodes)} nodes")
    for line in format_nodes(nodes):
        print(line)
    return _print_services(lab, {r.name: r.ip for r in rows if r.running and r.ip})


def _print_services(lab: Lab, addresses: dict[str, str]) -> bool:
    """The swarm's services, then the URL of each published port on every node that should answer
    on it, each fetched once. Returns False when a URL does not answer."""
    from flotilla.lab.swarm_table import format_services, port_nodes, published_ports

    ips = list(addresses.values())

    found = lab.swarm_services()
    if not found or not found[0]:
        print("\nservices: none yet (run playbooks/deploy.yml)")
        return True
    listed, inspected = found
    print(f"\nservices: {len(listed)}")
    for line in format_services(listed, inspected):
        print(line)
    pinned = [str((s.get("Spec") or {}).get("Name", "")) for s in inspected
              if any(mode == "host" for _, mode in published_ports(s))
              and "Global" not in ((s.get("Spec") or {}).get("Mode") or {})]
    targets = port_nodes(inspected, {name: lab.task_nodes(name) for name in pinned}, list(addresses))
    if not targets:
        return True
    print("\nURLs (each published port on every node that runs it: the routing mesh and global services on all):")
    healthy = True
    for port, names in targets.items():
        if port in (80, 443) and _ingress(inspected):
            continue  # the ingress answers by host name: checked below
        if not names:
            healthy = False
            print(f"  port {port:<23} FAILED: no node runs a task that publishes it")
        for ip in (addresses[name] for name in names):
            url = f"http://{ip}:{port}/"
            answer = _fetch(url)
            healthy = healthy and not answer.startswith("FAILED")
            print(f"  {url:<28} {answer}")
    return _print_ingress(lab, inspected, ips) and healthy


def _ingress(inspected: list[dict[str, Any]]) -> bool:
    return any((s.get("Spec") or {}).get("Name") == "ingress_proxy" for s in inspected)


def _ingress_uses_acme(inspected: list[dict[str, Any]]) -> bool:
    """Whether the ingress proxies are set up for ACME: the rendered config's name says nothing,
    so the label the ingress stack puts on its service does."""
    proxy = next((s for s in inspected if (s.get("Spec") or {}).get("Name") == "ingress_proxy"), {})
    return ((proxy.get("Spec") or {}).get("Labels") or {}).get("io.flotilla.tls-source") == "acme"


def _print_ingress(lab: Lab, inspected: list[dict[str, Any]], ips: list[str]) -> bool:
    """Each https route of the ingress stack through every node, checked against the lab CA's root
    certificate, and its http URL redirected. False when one fails."""
    from flotilla.lab.https import fetch_https, redirect
    from flotilla.lab.swarm_table import ingress_hosts

    hosts = ingress_hosts(inspected)
    if not _ingress(inspected) or not hosts:
        return True
    # The lab's ACME CA (pebble) issues the demo's certificate; without it, the internal CA does.
    ca = lab.paths.state_dir / "acme" / "roots.pem"
    if not ca.is_file() or not _ingress_uses_acme(inspected):
        ca = lab.paths.state_dir / "pki" / "ca.crt"
    print(f"\nHTTPS through the ingress on every node (certificate checked against {ca.relative_to(project_root())}):")
    healthy = True
    for host in hosts:
        for ip in ips:
            answer = fetch_https(host, ip, ca)
            moved = redirect(host, ip)
            healthy = healthy and not answer.startswith("FAILED") and not moved.startswith("FAILED")
            print(f"  https://{host}/ via {ip:<15} {answer}; http: {moved}")
    print(f"  try: curl --cacert {ca.relative_to(project_root())} --resolve {hosts[0]}:443:{ips[0]} https://{hosts[0]}/")
    return healthy


def _fetch(url: str, tries: int = 4) -> str:
    """A few GETs of a URL: the versions and hosts that answered, or FAILED with the error."""
    import urllib.error
    import urllib.request

    from flotilla.lab.https import describe

    bodies = []
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (the lab's own http URLs)
                bodies.append(response.read(4096))
        except (OSError, urllib.error.URLError) as exc:
            return f"FAILED: {exc}"
    return describe(bodies)
