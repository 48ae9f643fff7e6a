"""The images role's decisions (flotilla.images, src/flotilla/images.py)."""


from flotilla import images as im

CONTROLLER = [{"Id": "sha256:aaa", "RepoTags": ["example/web:1", "example/web:latest"]},
              {"Id": "sha256:bbb", "RepoTags": ["example/proxy:1"]}]


def test_a_node_with_the_same_ids_needs_nothing():
    assert im.images_missing(["example/web:1", "example/proxy:1"], CONTROLLER, CONTROLLER) == []


def test_a_node_lacking_an_image_or_holding_another_id_needs_it():
    node = [{"Id": "sha256:old", "RepoTags": ["example/web:1"]}]
    assert im.images_missing(["example/web:1", "example/proxy:1"], CONTROLLER, node) == [
        "example/web:1", "example/proxy:1",
    ]


def test_untagged_reference_means_latest():
    assert im.images_missing(["example/web"], CONTROLLER, CONTROLLER) == []
    assert im.images_absent(["example/web", "example/db:2", "registry:5000/x"], CONTROLLER) == [
        "example/db:2", "registry:5000/x",
    ]


def test_archive_name_changes_with_any_image_id():
    refs = ["example/web:1", "example/proxy:1"]
    name = im.images_archive_name(refs, CONTROLLER)
    assert name == im.images_archive_name(list(reversed(refs)), CONTROLLER)
    rebuilt = [dict(CONTROLLER[0], Id="sha256:ccc"), CONTROLLER[1]]
    assert name != im.images_archive_name(refs, rebuilt)
    assert name.startswith("images-") and name.endswith(".tar")


# --- which builds to run: the digest of context, args and bases, kept in a label ---------------

def test_dockerfile_bases_resolve_args_and_skip_stages():
    text = "# a comment\nARG BASE=debian:13\nARG TAG\nFROM ${BASE} AS build\nRUN true\nFROM build\nFROM \\\n  scratch\n"
    assert im.dockerfile_bases(text) == ["debian:13"]
    assert im.dockerfile_bases(text, {"BASE": "example/base:2"}) == ["example/base:2"]
    assert im.dockerfile_bases("FROM --platform=linux/amd64 $BASE\n") is None  # no value: cannot tell
    # An ARG after a FROM belongs to that stage: FROM lines see only those declared before the first.
    assert im.dockerfile_bases("ARG V=1\nFROM x\nARG V=2\nFROM y:$V\n") == ["x", "y:1"]
    # Stage names without case, as Docker reads them; a continuation with trailing blanks.
    staged = "FROM x AS Build\nFROM build\nCOPY --from=Build /a /b\nFROM y \\  \n AS z\n"
    assert im.dockerfile_bases(staged) == ["x", "y"]
    # What this reading cannot follow: a defaulted variable, another image copied from.
    assert im.dockerfile_bases("FROM ${B:-debian:13}\n") is None
    assert im.dockerfile_bases("FROM x\nCOPY --from=nginx:1 /a /b\n") is None
    assert im.dockerfile_bases("FROM x\nRUN --mount=type=bind,from=example/tools:1,target=/t true\n") is None


def _context(tmp_path, text="ARG BASE=example/base:1\nFROM ${BASE}\nCOPY app.py /\n"):
    (tmp_path / "Dockerfile").write_text(text)
    (tmp_path / "app.py").write_text("print('v1')\n")
    return {"name": "example/web", "tag": "1", "context": str(tmp_path), "args": {"VERSION": "1"}}


def _built(build, digest, image_id="sha256:web"):
    tags = [f"{build['name']}:{build['tag']}"]
    return {"Id": image_id, "RepoTags": tags, "Config": {"Labels": {im.BUILD_LABEL: digest}}}


BASE = {"Id": "sha256:base1", "RepoTags": ["example/base:1"]}


def test_a_build_whose_context_args_and_base_are_unchanged_is_not_run_again(tmp_path):
    build = _context(tmp_path)
    [first] = im.images_stale([build], [BASE])  # never built: built, with a digest to label it
    assert first["digest"] and first["name"] == "example/web"
    assert im.images_stale([build], [BASE, _built(build, first["digest"])]) == []
    assert im.images_bases([build]) == ["example/base:1"]


def test_a_changed_file_arg_or_base_image_builds_again(tmp_path):
    build = _context(tmp_path)
    digest = im.images_stale([build], [BASE])[0]["digest"]
    current = _built(build, digest)
    assert im.images_stale([{**build, "args": {"VERSION": "2"}}], [BASE, current])
    assert im.images_stale([build], [{**BASE, "Id": "sha256:base2"}, current])
    (tmp_path / "app.py").chmod(0o755)
    assert im.images_stale([build], [BASE, current])
    (tmp_path / "app.py").chmod(0o644)
    assert not im.images_stale([build], [BASE, current])
    (tmp_path / "app.py").write_text("print('v2')\n")
    assert im.images_stale([build], [BASE, current])


def test_an_image_built_from_one_rebuilt_in_the_same_run_builds_again(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "app").mkdir()
    base = _context(tmp_path / "base")
    app = {**_context(tmp_path / "app", "FROM example/web:1\n"), "name": "example/app"}
    images = [BASE]
    base_digest = im.images_stale([base], images)[0]["digest"]
    images.append(_built(base, base_digest))
    app_digest = im.images_stale([app], images)[0]["digest"]
    images.append(_built(app, app_digest, "sha256:app"))
    assert im.images_stale([base, app], images) == []
    (tmp_path / "base/app.py").write_text("print('v2')\n")
    # base is rebuilt, so app (FROM it) is too, with no digest to trust until the next run.
    assert [(b["name"], b["digest"]) for b in im.images_stale([base, app], images)] == [
        ("example/web", im.images_stale([base], images)[0]["digest"]), ("example/app", "")]


def test_a_build_that_cannot_be_told_unchanged_runs_every_time(tmp_path):
    build = _context(tmp_path)
    # The base is not on the controller (the build will say why), or the Dockerfile names no value.
    assert im.images_stale([build], [])[0]["digest"] == ""
    (tmp_path / "nameless").mkdir()
    nameless = _context(tmp_path / "nameless", "FROM $NOPE\n")
    assert im.images_stale([nameless], [BASE, _built(nameless, "")])[0]["digest"] == ""
    assert im.images_stale([{**build, "context": str(tmp_path / "gone")}], [BASE])[0]["digest"] == ""


def test_the_controllers_images_are_the_fresh_builds_then_what_was_read():
    read = [{"Id": "sha256:old", "RepoTags": ["example/web:1", "example/web:latest"]},
            {"Id": "sha256:p", "RepoTags": ["example/proxy:1"]}]
    built = [{"Id": "sha256:new", "RepoTags": ["example/web:1"]}]
    # The old image keeps the tags no build moved (example/web:latest still names it).
    assert im.images_current(read, built) == built + [{"Id": "sha256:old", "RepoTags": ["example/web:latest"]}, read[1]]
    assert im.images_missing(["example/web:1"], im.images_current(read, built), built) == []
    assert im.images_current(read, []) == read
