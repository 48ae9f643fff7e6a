"""Scenario `default`: what docker_engine must have done on every lab node.

Expected values come from the scenario inventory (inventory/group_vars/all.yml), the same
variables the converge run used, and are checked against the live engine, not only files.
"""

import fnmatch
import json

import pytest


@pytest.fixture(scope="module")
def wanted(host):
    return host.ansible.get_variables()


def test_engine_service_is_enabled_and_running(host):
    service = host.service("docker")
    assert service.is_enabled
    assert service.is_running


def test_engine_answers_with_the_daemon_json_settings(host, wanted):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["log-driver"] == "json-file"
    assert config["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert config["labels"] == wanted["docker_engine_daemon_options"]["labels"]

    # The running engine loaded that file (a restart happened after it was written).
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["Labels"] == wanted["docker_engine_daemon_options"]["labels"]
    assert info["Driver"] == "overlay2"


def test_python_sdk_is_importable_for_community_docker(host):
    version = host.check_output("python3 -c 'import docker; print(docker.__version__)'")
    assert version[0].isdigit()


# The lab's nodes run Debian 13, where the role pins and holds the engine and its CLI together
# (docker.io and docker-cli, roles/docker_engine/vars/Debian.yml).
@pytest.mark.parametrize("name", ["docker.io", "docker-cli"])
def test_engine_packages_are_pinned_and_held(host, wanted, name):
    package = host.package(name)
    assert package.is_installed
    assert fnmatch.fnmatch(package.version, wanted["docker_engine_version"])
    selection = host.check_output(f"dpkg --get-selections {name}").split()
    assert selection == [name, "hold" if wanted["docker_engine_hold"] else "install"]


def test_engine_runs_containers(host):
    # No registry is reachable, so run a container from an image imported from the host's files.
    host.check_output(
        "tar -C / -chf - usr/bin/true lib64/ld-linux-x86-64.so.2 lib/x86_64-linux-gnu/libc.so.6"
        " | docker import - flotilla-verify:probe"
    )
    try:
        assert host.run("docker run --rm flotilla-verify:probe /usr/bin/true").rc == 0
    finally:
        host.run("docker image rm -f flotilla-verify:probe")
