"""A lab of VM-like Debian nodes: containers running systemd and sshd on one bridge network.

Everything the lab creates carries the label io.flotilla.lab=<name>, so `up` adopts what an
earlier run left and `down` removes exactly that and nothing else.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import docker
import yaml
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from flotilla.lab import acme, plan
from flotilla.lab.host import Log, ensure_ssh_key, host_routes
from flotilla.lab.plan import LabError, LabSpec, Node

BOOT_TIMEOUT = 120
T = TypeVar("T")
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=yes")


@dataclass(frozen=True)
class Paths:
    """Where a lab keeps its files on the controller (a gitignored directory)."""

    state_dir: Path
    inventory: Path
    apt_cache: Path

    @property
    def key_file(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "lab.json"


@dataclass(frozen=True)
class UpResult:
    """What `up` did to each node, for humans and for `--json`."""

    nodes: list[Node]
    kept: list[str]
    powered_on: list[str]
    created: list[str]
    removed: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.powered_on or self.created or self.removed)


@dataclass(frozen=True)
class NodeStatus:
    name: str
    group: str
    ip: str
    running: bool
    ssh: bool
    engine: str


class Lab:
    def __init__(self, client: docker.DockerClient, name: str, paths: Paths, log: Log) -> None:
        self.client = client
        self.name = plan.validate_lab_name(name)
        self.paths = paths
        self.log = log

    # --- what exists -------------------------------------------------------------------------

    def _containers(self) -> dict[str, Container]:
        found = self.client.containers.list(all=True, filters={"label": f"{plan.LABEL_LAB}={self.name}"})
        return {c.labels[plan.LABEL_NODE]: c for c in found if plan.LABEL_NODE in c.labels}

    def _network(self) -> docker.models.networks.Network | None:
        nets = self.client.networks.list(filters={"label": f"{plan.LABEL_LAB}={self.name}"})
        return nets[0] if nets else None

    @staticmethod
    def _subnet_of(network: docker.models.networks.Network) -> str:
        configs = (network.attrs.get("IPAM") or {}).get("Config") or [{}]
        return str(configs[0].get("Subnet", ""))

    def _current_spec(self, managers: int | None, workers: int | None, subnet: str | None) -> LabSpec:
        """The wanted shape: flags win; otherwise keep what exists; otherwise the defaults."""
        existing = self._containers()
        highest = {"manager": 0, "worker": 0}
        for node in existing:
            parsed = plan.parse_node_name(node)
            if parsed:
                highest[parsed[0]] = max(highest[parsed[0]], parsed[1])
        if managers is None:
            managers = highest["manager"] or plan.DEFAULT_MANAGERS
        if workers is None:
            workers = highest["worker"] if existing else plan.DEFAULT_WORKERS
        plan.validate_counts(managers, workers)
        network = self._network()
        if subnet is None:
            subnet = self._subnet_of(network) if network else plan.DEFAULT_SUBNET
        return LabSpec(self.name, managers, workers, plan.parse_subnet(subnet))

    # --- up ----------------------------------------------------------------------------------

    def up(
        self, image: str, managers: int | None, workers: int | None, subnet: str | None, base: str | None = None
    ) -> UpResult:
        spec = self._current_spec(managers, workers, subnet)
        nodes = spec.nodes()
        self._preflight(spec, nodes)  # every check before anything is created

        ensure_ssh_key(self.paths.key_file, self.log)
        network = self._ensure_network(spec)
        existing = self._containers()
        wanted = {n.name for n in nodes}
        removed = []
        for name, container in existing.items():
            if name not in wanted:
                self.log(f"removing {name}: not in the wanted shape ({spec.managers}+{spec.workers})")
                self._remove_node(spec, name, container)
                removed.append(name)

        kept, started, created = [], [], []
        for node in nodes:
            container = existing.get(node.name)
            outcome = self._revive(container, node, network.name) if container is not None else None
            if outcome == "kept":
                kept.append(node.name)
                continue
            if outcome == "powered on":
                started.append(node.name)
                continue
            if container is not None:
                self._remove_node(spec, node.name, container)
            self._create_node(spec, node, image, network.name)
            created.append(node.name)
        for verb, names in (("kept running", kept), ("powered on", started), ("started new", created)):
            if names:
                self.log(f"{verb} nodes: {', '.join(names)}")

        with ThreadPoolExecutor(max_workers=8) as pool:
            prepared = pool.map(lambda n: self._prepare_node(spec.container_name(n.name), n), nodes)
            host_keys = dict(zip([n.ip for n in nodes], prepared, strict=True))
        self.paths.known_hosts.write_text(plan.known_hosts_lines(host_keys), encoding="utf-8")
        self._write_inventory(nodes, self._overlay_encryption(spec.container_name(nodes[0].name)),
                              str(spec.subnet.network_address + 1))

        with ThreadPoolExecutor(max_workers=8) as pool:
            unreachable = [n.name for n, ok in zip(nodes, pool.map(self._ssh_ok, nodes), strict=True) if not ok]
        if unreachable:
            raise LabError(f"SSH login failed for {', '.join(unreachable)}; see `flotilla lab status`")
        if base is not None:
            # The lab's ACME CA, beside the nodes; every name resolves to the last node for it, a
            # node that runs no ACME client, so the challenge is answered through any node.
            acme.ensure_pebble(
                self.client, self.name, spec.container_name("pebble"), network.name, spec.subnet,
                nodes[-1].ip, base, self.paths.state_dir, self.log,
            )
        return UpResult(nodes, kept, started, created, removed)

    def _preflight(self, spec: LabSpec, nodes: list[Node]) -> None:
        ours = self._network()
        others = []
        for net in self.client.networks.list():
            if ours is not None and net.id == ours.id:
                continue
            for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
                if cfg.get("Subnet"):
                    others.append((f"Docker network {net.name!r}", cfg["Subnet"]))
        own_routes = {self._subnet_of(ours)} if ours is not None else set()
        others += [r for r in host_routes() if r[1] not in own_routes]
        clash = plan.find_overlap(spec.subnet, others)
        if clash:
            raise LabError(
                f"--subnet {spec.subnet} overlaps {clash[0]} ({clash[1]}); choose a free subnet with --subnet"
            )
        if ours is not None and self._subnet_of(ours) != str(spec.subnet) and self._containers():
            raise LabError(
                f"lab {self.name!r} runs on {self._subnet_of(ours)}, not {spec.subnet}; "
                f"run `flotilla lab down --name {self.name}` first to change its subnet"
            )
        for node in nodes:
            try:
                other = self.client.containers.get(spec.container_name(node.name))
            except NotFound:
                continue
            if other.labels.get(plan.LABEL_LAB) != self.name:
                raise LabError(
                    f"a container named {other.name!r} exists and is not part of lab {self.name!r}; "
                    "remove or rename it, or choose another --name"
                )

    def _ensure_network(self, spec: LabSpec) -> docker.models.networks.Network:
        network = self._network()
        if network is not None and self._subnet_of(network) == str(spec.subnet):
            return network
        if network is not None:
            network.remove()
        gateway = str(spec.subnet.network_address + 1)
        return self.client.networks.create(
            spec.network_name,
            driver="bridge",
            ipam=docker.types.IPAMConfig(
                pool_configs=[docker.types.IPAMPool(subnet=str(spec.subnet), gateway=gateway)]
            ),
            labels={plan.LABEL_LAB: self.name},
        )

    def _revive(self, container: Container, node: Node, network: str) -> str | None:
        """Keep a running node, power a stopped one on with its disk; None means replace it."""
        endpoint = container.attrs.get("NetworkSettings", {}).get("Networks", {}).get(network, {})
        address = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or endpoint.get("IPAddress")
        if address != node.ip:
            self.log(f"replacing {node.name}: it is not on {node.ip}")
            return None
        if container.status == "running":
            return "kept"
        try:
            container.start()
        except APIError as exc:
            self.log(f"replacing {node.name}: it does not start ({exc.explanation})")
            return None
        return "powered on"

    def _create_node(self, spec: LabSpec, node: Node, image: str, network: str) -> None:
        labels = {plan.LABEL_LAB: self.name, plan.LABEL_NODE: node.name, plan.LABEL_GROUP: node.group}
        self._remove_volume(spec, node.name)  # a new node gets a blank disk, like a fresh VM
        volume = self.client.volumes.create(spec.volume_name(node.name), labels=labels)
        apt_cache = self.paths.apt_cache / spec.container_name(node.name)
        apt_cache.mkdir(parents=True, exist_ok=True)
        capbnd = plan.parse_capbnd(Path("/proc/self/status").read_text(encoding="utf-8"))
        api = self.client.api
        host_config = api.create_host_config(
            network_mode=network,
            # VM-like without --privileged (which fails where the bounding set lacks a capability).
            cap_add=["ALL"],
            cap_drop=plan.capabilities_to_drop(capbnd),
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            cgroupns="private",
            tmpfs={
                "/run": "rw,nosuid,nodev,exec,mode=755",
                "/run/lock": "rw,nosuid,nodev,noexec,mode=1777",
                "/tmp": "rw,nosuid,nodev,exec,mode=1777",
            },
            binds={
                volume.name: {"bind": "/var/lib/docker", "mode": "rw"},
                str(apt_cache): {"bind": "/var/cache/apt/archives", "mode": "rw"},
            },
        )
        # What the CLI calls `--security-opt systempaths=unconfined`: /proc and /sys unmasked and
        # writable, so the node's own engine can set sysctls. The API has no option name for it.
        host_config["MaskedPaths"] = []
        host_config["ReadonlyPaths"] = []
        created = api.create_container(
            image,
            name=spec.container_name(node.name),
            hostname=node.name,
            labels=labels,
            environment={"container": "docker"},
            stop_signal="SIGRTMIN+3",
            host_config=host_config,
            networking_config=api.create_networking_config(
                {network: api.create_endpoint_config(ipv4_address=node.ip)}
            ),
        )
        api.start(created["Id"])

    def _remove_node(self, spec: LabSpec, name: str, container: Container) -> None:
        container.remove(force=True, v=True)
        self._remove_volume(spec, name)

    def _remove_volume(self, spec: LabSpec, name: str) -> None:
        try:
            volume = self.client.volumes.get(spec.volume_name(name))
        except NotFound:
            return
        if volume.attrs.get("Labels", {}).get(plan.LABEL_LAB) == self.name:
            volume.remove(force=True)

    def _exec(self, container: Container, *argv: str) -> tuple[int, str]:
        result = container.exec_run(list(argv), demux=False)
        return result.exit_code, (result.output or b"").decode(errors="replace").strip()

    def _prepare_node(self, container_name: str, node: Node) -> str:
        """Wait for sshd, authorize the lab key, and return the node's real host key."""
        container = self.client.containers.get(container_name)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            code, host_key = self._exec(container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub")
            active, _ = self._exec(container, "systemctl", "is-active", "--quiet", "ssh.service")
            # The key file can exist before ssh-keygen has written it: wait for "TYPE DATA".
            if code == 0 and active == 0 and len(host_key.split()) >= 2:
                break
            if time.monotonic() > deadline:
                raise LabError(f"{node.name} did not start sshd within {BOOT_TIMEOUT}s; try `flotilla lab up` again")
            time.sleep(0.5)
        pubkey = self.paths.key_file.with_suffix(".pub").read_bytes()
        container.put_archive("/", _tar_authorized_keys(pubkey))
        return host_key

    def _ssh_command(self, node: Node, *argv: str) -> list[str]:
        return [
            "ssh", *SSH_OPTIONS, "-i", str(self.paths.key_file),
            "-o", f"UserKnownHostsFile={self.paths.known_hosts}", f"root@{node.ip}", *argv,
        ]  # fmt: skip

    def _ssh_ok(self, node: Node, attempts: int = 10) -> bool:
        """Whether a real SSH login with the lab key and the pinned host key works."""
        for attempt in range(attempts):
            proc = subprocess.run(self._ssh_command(node, "true"), capture_output=True, check=False)
            if proc.returncode == 0:
                return True
            if attempt + 1 < attempts:
                time.sleep(1)
        return False

    def _overlay_encryption(self, container_name: str) -> bool:
        """Whether this machine's kernel can encrypt overlay traffic (tried in a node: the nodes
        share the kernel, and have the tools)."""
        code, said = self._exec(self.client.containers.get(container_name), *plan.ENCRYPTION_PROBE)
        if code != 0:
            reason = said.splitlines()[-1] if said else f"exit {code}"
            self.log(f"overlay networks stay unencrypted: this kernel cannot make an IPsec ESP association "
                     f"with AES-GCM ({reason})")
        return code == 0

    def _write_inventory(self, nodes: list[Node], overlay_encryption: bool, controller: str) -> None:
        public_key = self.paths.key_file.with_suffix(".pub").read_text(encoding="utf-8")
        inventory = plan.render_inventory(
            nodes, str(self.paths.key_file), str(self.paths.known_hosts), public_key, overlay_encryption, controller
        )
        self.paths.inventory.parent.mkdir(parents=True, exist_ok=True)
        header = (
            f"# Written by `flotilla lab up` for lab {self.name!r}: re-run it to refresh, do not edit.\n"
            "# Real clusters start from inventory/sample/ instead.\n---\n"
        )
        self.paths.inventory.write_text(
            header + yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False), encoding="utf-8"
        )
        self.paths.state_file.write_text(
            json.dumps({"inventory": str(self.paths.inventory)}, indent=2) + "\n", encoding="utf-8"
        )

    # --- down --------------------------------------------------------------------------------

    def down(self) -> list[str]:
        removed = []
        selector = {"label": f"{plan.LABEL_LAB}={self.name}"}
        for container in self.client.containers.list(all=True, filters=selector):
            container.remove(force=True, v=True)
            removed.append(f"container {container.name}")
        for volume in self.client.volumes.list(filters=selector):
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        for network in self.client.networks.list(filters=selector):
            try:
                network.remove()
            except APIError as exc:
                raise LabError(f"cannot remove network {network.name}: {exc.explanation}") from None
            removed.append(f"network {network.name}")
        if self.paths.state_file.exists():
            inventory = Path(json.loads(self.paths.state_file.read_text(encoding="utf-8"))["inventory"])
            inventory.unlink(missing_ok=True)
            self.paths.state_file.unlink()
        self.paths.known_hosts.unlink(missing_ok=True)
        # The lab's CAs (the ingress's internal CA, pebble's files) die with it: a certificate
        # kept from a pebble that is gone would be served, and trusted by nobody.
        for leftover in ("pki", "acme"):
            if (self.paths.state_dir / leftover).is_dir():
                shutil.rmtree(self.paths.state_dir / leftover)
                removed.append(f"files {self.paths.state_dir.name}/{leftover}")
        return removed

    # --- status ------------------------------------------------------------------------------

    def status(self) -> list[NodeStatus]:
        network = self._network()
        containers = self._containers()

        def probe(item: tuple[str, Container]) -> NodeStatus:
            name, container = item
            ip = ""
            if network is not None:
                networks = container.attrs.get("NetworkSettings", {}).get("Networks", {})
                ip = networks.get(network.name, {}).get("IPAddress", "")
            running = container.status == "running"
            engine, ssh = "-", False
            if running:
                code, out = self._exec(container, "docker", "version", "--format", "{{.Server.Version}}")
                engine = out if code == 0 and out else "-"
                ssh = bool(ip) and self.paths.known_hosts.exists() and self._ssh_ok(Node(name, "", ip), attempts=1)
            return NodeStatus(name, container.labels.get(plan.LABEL_GROUP, "?"), ip, running, ssh, engine)

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(probe, sorted(containers.items(), key=lambda kv: plan.node_sort_key(kv[0]))))

    def _on_a_manager(self, ask: Callable[[Container], T | None]) -> T | None:
        """``ask`` each running node in order until one answers (workers and nodes outside a
        swarm return None); None when no node runs a swarm manager."""
        containers = self._containers()
        for name in sorted(containers, key=plan.node_sort_key):
            if containers[name].status == "running":
                answer = ask(containers[name])
                if answer is not None:
                    return answer
        return None

    def swarm_nodes(self) -> list[dict[str, Any]] | None:
        """`docker node inspect` of every node, asked of the first running manager."""

        def ask(container: Container) -> list[dict[str, Any]] | None:
            code, ids = self._exec(container, "docker", "node", "ls", "--quiet")
            if code != 0 or not ids:
                return None
            code, out = self._exec(container, "docker", "node", "inspect", *ids.split())
            return json.loads(out) if code == 0 else None

        return self._on_a_manager(ask)

    def swarm_services(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        """`docker service ls` rows and `docker service inspect` objects, asked of the first
        running manager."""

        def ask(container: Container) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
            code, out = self._exec(container, "docker", "service", "ls", "--format", "json")
            if code != 0:
                return None
            listed = [json.loads(line) for line in out.splitlines() if line.strip()]
            if not listed:
                return [], []
            code, out = self._exec(container, "docker", "service", "inspect", *(r["ID"] for r in listed))
            return listed, (json.loads(out) if code == 0 else [])

        return self._on_a_manager(ask)

    def task_nodes(self, service: str) -> list[str]:
        """The nodes where a service's tasks run (`docker service ps`), asked of a running manager."""

        def ask(container: Container) -> list[str] | None:
            code, out = self._exec(container, "docker", "service", "ps", "--filter", "desired-state=running",
                                   "--format", "{{.Node}}", service)
            return out.split() if code == 0 else None

        return self._on_a_manager(ask) or []

    def ssh(self, node_name: str, argv: list[str]) -> None:
        containers = self._containers()
        if node_name not in containers:
            known = ", ".join(sorted(containers, key=plan.node_sort_key)) or "none"
            raise LabError(f"no node {node_name!r} in lab {self.name!r} (nodes: {known})")
        network = self._network()
        if network is None:
            raise LabError(f"lab {self.name!r} has no network; run `flotilla lab up --name {self.name}`")
        ip = containers[node_name].attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        command = self._ssh_command(Node(node_name, "", ip), *argv)
        if os.isatty(0) and not argv:
            command.insert(1, "-t")
        os.execvp(command[0], command)


def _tar_authorized_keys(pubkey: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ssh_dir = tarfile.TarInfo("root/.ssh")
        ssh_dir.type, ssh_dir.mode = tarfile.DIRTYPE, 0o700
        tar.addfile(ssh_dir)
        keys = tarfile.TarInfo("root/.ssh/authorized_keys")
        keys.size, keys.mode = len(pubkey), 0o600
        tar.addfile(keys, io.BytesIO(pubkey))
    return buf.getvalue()
