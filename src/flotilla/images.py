"""Filters of the images role: which images to build, which a node lacks, the archive's name.

Functions over community.docker.docker_image_info's ``images`` (raw ``docker image inspect``
objects); tests/unit/test_images_filters.py covers them. Only ``images_stale`` and
``images_bases`` read files: the build contexts, on the controller.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

# The label a build gets: the digest of what made it (context, build args, base image IDs).
BUILD_LABEL = "io.flotilla.build"


def _normalize(ref: str) -> str:
    """``name`` means ``name:latest``; a registry or digest reference stays as written."""
    last = ref.rsplit("/", 1)[-1]
    return ref if (":" in last or "@" in ref) else f"{ref}:latest"


def _ids_by_ref(images: list[dict[str, Any]]) -> dict[str, str]:
    ids = {}
    for image in images or []:
        for tag in image.get("RepoTags") or []:
            ids[_normalize(tag)] = image.get("Id", "")
    return ids


def images_absent(refs: list[str], images: list[dict[str, Any]]) -> list[str]:
    """The refs that none of ``images`` carries as a tag."""
    have = _ids_by_ref(images)
    return [ref for ref in refs if _normalize(ref) not in have]


def images_missing(refs: list[str], wanted: list[dict[str, Any]], present: list[dict[str, Any]]) -> list[str]:
    """The refs a node must load: absent there, or there with another image ID than the
    controller's (``wanted``)."""
    have = _ids_by_ref(present)
    want = _ids_by_ref(wanted)
    return [ref for ref in refs if have.get(_normalize(ref)) != want.get(_normalize(ref))]


def images_archive_name(refs: list[str], images: list[dict[str, Any]]) -> str:
    """A file name that changes whenever any shipped image changes (hash of refs and IDs)."""
    ids = _ids_by_ref(images)
    digest = hashlib.sha256()
    for ref in sorted(_normalize(r) for r in refs):
        digest.update(f"{ref}={ids.get(ref, '')}\n".encode())
    return f"images-{digest.hexdigest()[:16]}.tar"


def dockerfile_bases(text: str, args: dict[str, Any] | None = None) -> list[str] | None:
    """The images a Dockerfile builds FROM (its own stage names left out), with the ARG defaults
    declared before the first FROM and the build ``args`` substituted; None when a reference
    cannot be resolved (a variable without a value)."""
    values: dict[str, str] = {}
    bases: list[str] = []
    stages: set[str] = set()
    seen_from = False
    # Instructions: continuation lines joined, comments dropped.
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    for line in joined.splitlines():
        words = line.split()
        if not words:
            continue
        keyword = words[0].upper()
        if keyword == "ARG" and not seen_from:
            for word in words[1:]:
                name, _, default = word.partition("=")
                values[name] = str((args or {}).get(name, default.strip("\"'")))
        elif keyword == "FROM":
            seen_from = True
            rest = [w for w in words[1:] if not w.startswith("--")]
            if not rest:
                return None
            ref = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values.get(m.group(1) or m.group(2), "\0"), rest[0])
            if "\0" in ref or not ref:
                return None
            if ref not in stages and ref != "scratch":
                bases.append(ref)
            if len(rest) >= 3 and rest[1].upper() == "AS":
                stages.add(rest[2])
    return bases


def _dockerfile(build: dict[str, Any]) -> Path:
    return Path(build["context"]) / str(build.get("dockerfile") or "Dockerfile")


def images_bases(builds: list[dict[str, Any]]) -> list[str]:
    """Every base image the builds' Dockerfiles name (read on the controller), once each."""
    found: list[str] = []
    for build in builds or []:
        try:
            bases = dockerfile_bases(_dockerfile(build).read_text(encoding="utf-8"), build.get("args"))
        except OSError:
            bases = None
        found += [b for b in bases or [] if b not in found]
    return found


def _context_digest(build: dict[str, Any], base_ids: list[str]) -> str:
    """sha256 over every file of the build context (path and content), the build args and the
    base images' IDs."""
    digest = hashlib.sha256()
    root = Path(build["context"])
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(json.dumps({"args": build.get("args") or {}, "dockerfile": build.get("dockerfile") or "Dockerfile",
                              "bases": base_ids}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def images_stale(builds: list[dict[str, Any]], images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The builds to run: each item of ``builds`` (``images_build``) whose image is absent from
    ``images`` (the controller's, read by docker_image_info with the bases) or carries another
    build digest than the context, args and base image IDs give now. Each comes back with
    ``digest``, the label value to build with (``""``: unknown, so it is built every run: a
    base that cannot be resolved or read, a context that cannot be read)."""
    by_ref: dict[str, dict[str, Any]] = {}
    for image in images or []:
        for tag in image.get("RepoTags") or []:
            by_ref[_normalize(tag)] = image
    stale = []
    for build in builds or []:
        digest = ""
        try:
            bases = dockerfile_bases(_dockerfile(build).read_text(encoding="utf-8"), build.get("args"))
            base_ids = [by_ref.get(_normalize(b), {}).get("Id", "") for b in bases or []]
            if bases is not None and all(base_ids):
                digest = _context_digest(build, base_ids)
        except OSError:
            digest = ""
        current = by_ref.get(_normalize(f"{build['name']}:{build.get('tag') or 'latest'}"))
        labels = ((current or {}).get("Config") or {}).get("Labels") or {}
        if not digest or labels.get(BUILD_LABEL) != digest:
            stale.append({**build, "digest": digest})
    return stale


def images_current(read: list[dict[str, Any]], built: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The controller's images after the builds: those just built (their inspection, from the
    build results), then the ones read before that no build replaced."""
    fresh = [image for image in built or [] if image]
    tags = {_normalize(t) for image in fresh for t in image.get("RepoTags") or []}
    return fresh + [image for image in read or []
                    if not any(_normalize(t) in tags for t in image.get("RepoTags") or [])]


# The filters the images role uses, by name (roles/images/filter_plugins/ hands them to Ansible).
FILTERS: dict[str, Any] = {
    "images_absent": images_absent,
    "images_missing": images_missing,
    "images_archive_name": images_archive_name,
    "images_bases": images_bases,
    "images_stale": images_stale,
    "images_current": images_current,
}
