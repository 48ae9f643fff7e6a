"""Filters of the images role: which images a node lacks, and the archive's content name.

Pure functions over community.docker.docker_image_info's ``images`` (raw ``docker image
inspect`` objects); tests/unit/test_images_filters.py covers them.
"""

from __future__ import annotations

import hashlib
from typing import Any


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


# The filters the images role uses, by name (roles/images/filter_plugins/ hands them to Ansible).
FILTERS: dict[str, Any] = {
    "images_absent": images_absent,
    "images_missing": images_missing,
    "images_archive_name": images_archive_name,
}
