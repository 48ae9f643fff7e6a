"""The lab's node image: Debian minbase with systemd and sshd, built here, cached by recipe hash.

No registry is needed: debootstrap builds the root file system from the Debian mirror and
`docker import` turns it into an image. Docker Engine is deliberately NOT in the image: the kit's
docker_engine role installs it, exactly as on a bare VM.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from flotilla.lab.host import Log, apt_install
from flotilla.lab.plan import LabError

IMAGE_REPOSITORY = "flotilla/node"
IMAGE_LABEL = "io.flotilla.image"
RECIPE_VERSION = "2"

# Image configuration set at import: systemd through our init wrapper, and a PATH, which an
# imported image otherwise lacks (so `docker exec` into a node would find no `docker`).
IMPORT_CHANGES = (
    'CMD ["/usr/local/sbin/flotilla-init"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    f'LABEL {IMAGE_LABEL}="node"',
)

# Units that cannot work in a container, or would wait for a console that does not exist.
MASKED_UNITS = (
    "systemd-firstboot.service",
    "systemd-modules-load.service",
    "getty.target",
    "console-getty.service",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
)


def _fingerprint(parts: tuple[str, ...], files: dict[str, bytes]) -> str:
    """A short hash of everything that determines an image's content (its tag)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    for name, content in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Recipe:
    """Everything that determines the image's content; its hash is the image tag."""

    suite: str = "trixie"
    mirror: str = "http://deb.debian.org/debian"
    security_mirror: str = "http://deb.debian.org/debian-security"
    packages: tuple[str, ...] = field(
        default=(
            "systemd", "systemd-sysv", "dbus", "python3", "openssh-server", "sudo", "iproute2",
            "iputils-ping", "ca-certificates", "procps", "netcat-openbsd",
        )
    )  # fmt: skip

    def files(self) -> dict[str, bytes]:
        pkg = resources.files("flotilla.lab") / "files"
        return {name: (pkg / name).read_bytes() for name in sorted(
            ("flotilla-init", "flotilla-ssh-hostkeys.service", "debian.sources")
        )}

    def fingerprint(self) -> str:
        return _fingerprint(
            (RECIPE_VERSION, self.suite, self.mirror, self.security_mirror, *self.packages, *MASKED_UNITS,
             *IMPORT_CHANGES),
            self.files(),
        )  # fmt: skip

    @property
    def tag(self) -> str:
        return f"{IMAGE_REPOSITORY}:{self.suite}-{self.fingerprint()}"


BASE_REPOSITORY = "flotilla/debian"
BASE_LABEL_VALUE = "base"
BASE_IMPORT_CHANGES = (
    'CMD ["/bin/bash"]',
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    f'LABEL {IMAGE_LABEL}="{BASE_LABEL_VALUE}"',
)


@dataclass(frozen=True)
class BaseRecipe:
    """The application base image (`FROM flotilla/debian:trixie` in stacks/*/images/*/Dockerfile):
    Debian minbase with python3, no systemd, no sshd. No registry is reachable in the lab, so the
    demo's images are built from this one instead of a pulled `debian` or `python` image."""

    suite: str = "trixie"
    mirror: str = "http://deb.debian.org/debian"
    security_mirror: str = "http://deb.debian.org/debian-security"
    packages: tuple[str, ...] = ("python3", "ca-certificates")

    def files(self) -> dict[str, bytes]:
        pkg = resources.files("flotilla.lab") / "files"
        return {"debian.sources": (pkg / "debian.sources").read_bytes()}

    def fingerprint(self) -> str:
        return _fingerprint(
            (RECIPE_VERSION, self.suite, self.mirror, self.security_mirror, *self.packages, *BASE_IMPORT_CHANGES),
            self.files(),
        )

    @property
    def tag(self) -> str:
        return f"{BASE_REPOSITORY}:{self.suite}-{self.fingerprint()}"

    @property
    def alias(self) -> str:
        """The stable name Dockerfiles use; it always points at the current recipe's image."""
        return f"{BASE_REPOSITORY}:{self.suite}"


def ensure_image(client: docker.DockerClient, recipe: Recipe, log: Log) -> str:
    """Return the image reference for the recipe, building it only when it does not exist."""
    try:
        client.images.get(recipe.tag)
    except ImageNotFound:
        _build(client, recipe, log)
    return recipe.tag


def ensure_base_image(client: docker.DockerClient, recipe: BaseRecipe, log: Log) -> str:
    """Build the application base image once per recipe and point its stable alias at it."""
    try:
        image = client.images.get(recipe.tag)
    except ImageNotFound:
        _build(client, recipe, log)
        image = client.images.get(recipe.tag)
    if recipe.alias not in image.tags:
        repository, tag = recipe.alias.split(":")
        image.tag(repository, tag)
    return recipe.alias


def _build(client: docker.DockerClient, recipe: Recipe | BaseRecipe, log: Log) -> None:
    apt_install(["debootstrap", "debian-archive-keyring"], log)
    kind = "node" if isinstance(recipe, Recipe) else "application base"
    log(f"building {kind} image {recipe.tag} with debootstrap (about a minute, once per recipe)")
    with tempfile.TemporaryDirectory(prefix="flotilla-image-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        build_log = Path(tmp) / "debootstrap.log"
        with build_log.open("w") as out:
            proc = subprocess.run(
                [
                    "debootstrap", "--variant=minbase", f"--include={','.join(recipe.packages)}",
                    recipe.suite, str(rootfs), recipe.mirror,
                ],
                stdout=out, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
        if proc.returncode != 0:
            tail = build_log.read_text(errors="replace").strip().splitlines()[-3:]
            raise LabError(f"debootstrap of {recipe.suite} from {recipe.mirror} failed: {' | '.join(tail)}")
        if isinstance(recipe, Recipe):
            _customize(rootfs, recipe)
        else:
            _customize_base(rootfs, recipe)
        archive = Path(tmp) / "rootfs.tar"
        subprocess.run(
            ["tar", "-C", str(rootfs), "--numeric-owner", "--xattrs", "-cf", str(archive), "."],
            check=True,
        )
        repository, tag = recipe.tag.split(":")
        client.api.import_image_from_file(
            str(archive),
            repository=repository,
            tag=tag,
            changes=list(IMPORT_CHANGES if isinstance(recipe, Recipe) else BASE_IMPORT_CHANGES),
        )
    log(f"built {recipe.tag}")


def _write_sources(rootfs: Path, sources: str, recipe: Recipe | BaseRecipe) -> None:
    for key, value in (("@ARCHIVE@", recipe.mirror), ("@SECURITY@", recipe.security_mirror),
                       ("@SUITE@", recipe.suite)):
        sources = sources.replace(key, value)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(sources)
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)


def _customize(rootfs: Path, recipe: Recipe) -> None:
    files = recipe.files()
    init = rootfs / "usr/local/sbin/flotilla-init"
    init.write_bytes(files["flotilla-init"])
    init.chmod(0o755)

    units = rootfs / "etc/systemd/system"
    (units / "flotilla-ssh-hostkeys.service").write_bytes(files["flotilla-ssh-hostkeys.service"])
    wants = units / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "flotilla-ssh-hostkeys.service").symlink_to("../flotilla-ssh-hostkeys.service")
    for unit in MASKED_UNITS:
        (units / unit).unlink(missing_ok=True)
        (units / unit).symlink_to("/dev/null")

    _write_sources(rootfs, files["debian.sources"].decode(), recipe)

    # Per-node identity is created at first boot, as on a freshly installed VM.
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc/machine-id").write_text("")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (rootfs / "etc/hostname").unlink(missing_ok=True)
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


def _customize_base(rootfs: Path, recipe: BaseRecipe) -> None:
    _write_sources(rootfs, recipe.files()["debian.sources"].decode(), recipe)
    # Smaller archives to ship to air-gapped nodes: no package lists, caches or documentation.
    for pattern in ("var/lib/apt/lists/*_*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb"):
        for path in rootfs.glob(pattern):
            path.unlink()
    for directory in ("usr/share/doc", "usr/share/man", "usr/share/info"):
        for path in sorted((rootfs / directory).glob("**/*"), reverse=True):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
