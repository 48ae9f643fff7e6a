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
