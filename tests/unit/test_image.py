"""The node image is cached by a hash of its recipe: same recipe, same tag; any change, new tag."""

import dataclasses

from flotilla.lab.image import IMPORT_CHANGES, Recipe


def test_fingerprint_is_stable_and_names_the_tag():
    recipe = Recipe()
    assert recipe.fingerprint() == Recipe().fingerprint()
    assert recipe.tag == f"flotilla/node:trixie-{recipe.fingerprint()}"
    assert len(recipe.fingerprint()) == 12


def test_fingerprint_changes_with_every_input():
    base = Recipe()
    variants = [
        dataclasses.replace(base, suite="forky"),
        dataclasses.replace(base, mirror="http://other.example/debian"),
        dataclasses.replace(base, security_mirror="http://other.example/debian-security"),
        dataclasses.replace(base, packages=(*base.packages, "less")),
    ]
    prints = {base.fingerprint(), *(v.fingerprint() for v in variants)}
    assert len(prints) == len(variants) + 1


def test_recipe_files_ship_with_the_package():
    files = Recipe().files()
    assert files["flotilla-init"].startswith(b"#!/usr/bin/python3")
    assert b"ssh-keygen -A" in files["flotilla-ssh-hostkeys.service"]
    assert b"@SUITE@-security" in files["debian.sources"]


def test_imported_image_has_a_path_for_exec():
    # Without ENV PATH an imported image gives `docker exec` no PATH, and `docker` is not found.
    assert any(change.startswith("ENV PATH=") and "/usr/bin" in change for change in IMPORT_CHANGES)
