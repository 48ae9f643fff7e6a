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


# A reference as it may reach docker_image_info: anything else (an unset or defaulted variable,
# a stray backslash) means the Dockerfile cannot be read that simply.
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")


def dockerfile_bases(text: str, args: dict[str, Any] | None = None) -> list[str] | None:
    """The images a Dockerfile builds FROM (its own stage names left out, compared without case as
    Docker does), with the ARG defaults declared before the first FROM and the build ``args``
    substituted; None when a reference cannot be resolved (a variable without a value, a
    ``${VAR:-default}`` form) or another image is read (``COPY --from=image``, ``--mount=from=``)."""
    values: dict[str, str] = {}
    bases: list[str] = []
    stages: set[str] = set()
    seen_from = False
    # Instructions: continuation lines joined (a backslash, maybe trailing blanks), comments dropped.
    kept = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for line in re.sub(r"\\[ \t]*\n", " ", kept).splitlines():
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
            if not _REFERENCE.match(ref):
                return None
            if ref.lower() not in stages and ref != "scratch":
                bases.append(ref)
            if len(rest) >= 3 and rest[1].upper() == "AS":
                stages.add(rest[2].lower())
        elif re.search(r"--(mount=\S*)?from=", line):
            # COPY --from=<stage or image>, RUN --mount=...,from=<stage or image>: a stage is
            # already counted; another image would be an input this digest does not see.
            source = re.search(r"from=([^\s,]+)", line)
            if source and source.group(1).lower() not in stages and not source.group(1).isdigit():
                return None
    return bases


def _dockerfile(build: dict[str, Any]) -> Path:
    return Path(build["context"]) / str(build.get("dockerfile") or "Dockerfile")


def _bases_of(build: dict[str, Any]) -> list[str] | None:
    try:
        text = _dockerfile(build).read_text(encoding="utf-8-sig")
    except (OSError, ValueError):
        return None
    return dockerfile_bases(text, build.get("args"))


def images_bases(builds: list[dict[str, Any]]) -> list[str]:
    """Every base image the builds' Dockerfiles name (read on the controller), once each."""
    found: list[str] = []
    for build in builds or []:
        found += [b for b in _bases_of(build) or [] if b not in found]
    return found


def _context_digest(build: dict[str, Any], base_ids: list[str]) -> str:
    """sha256 over every file of the build context (path, mode and content), the build args and
    the base images' IDs."""
    digest = hashlib.sha256()
    root = Path(build["context"])
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{path.stat().st_mode & 0o7777:o}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(json.dumps({"args": build.get("args") or {}, "dockerfile": build.get("dockerfile") or "Dockerfile",
                              "bases": base_ids}, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def images_stale(builds: list[dict[str, Any]], images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The builds to run: each item of ``builds`` (``images_build``) whose image is absent from
    ``images`` (the controller's, read by docker_image_info with the bases) or carries another
    build digest than the context, args and base image IDs give now, and each build FROM an image
    another of these builds makes anew. Each comes back with ``digest``, the label value to build
    with (``""``: unknown, so it is built every run: a base that cannot be resolved or is not on
    the controller, a context that cannot be read)."""
    by_ref: dict[str, dict[str, Any]] = {}
    for image in images or []:
        for tag in image.get("RepoTags") or []:
            by_ref[_normalize(tag)] = image
    stale: list[dict[str, Any]] = []
    for build in builds or []:
        digest = ""
        bases = _bases_of(build)
        remade = {_normalize(f"{b['name']}:{b.get('tag') or 'latest'}") for b in stale}
        base_ids = [by_ref.get(_normalize(b), {}).get("Id", "") for b in bases or []]
        if bases is not None and all(base_ids) and not remade & {_normalize(b) for b in bases}:
            try:
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
    build results), then the ones read before, without the tags a build moved to a new image."""
    fresh = [image for image in built or [] if image]
    moved = {_normalize(t) for image in fresh for t in image.get("RepoTags") or []}
    kept = []
    for image in read or []:
        tags = [t for t in image.get("RepoTags") or [] if _normalize(t) not in moved]
        if tags:
            kept.append({**image, "RepoTags": tags})
    return fresh + kept


# The filters the images role uses, by name (roles/images/filter_plugins/ hands them to Ansible).
FILTERS: dict[str, Any] = {
    "images_absent": images_absent,
    "images_missing": images_missing,
    "images_archive_name": images_archive_name,
    "images_bases": images_bases,
    "images_stale": images_stale,
    "images_current": images_current,
}
