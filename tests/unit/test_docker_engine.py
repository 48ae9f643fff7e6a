"""The docker_engine role's decisions (flotilla.engine, src/flotilla/engine.py) and the pure parts of its
probe module (library/docker_engine_state.py): what an engine change would do, and when it must
not happen."""

import importlib.util
from pathlib import Path

import pytest

from flotilla import engine as de


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, Path(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ds = _load("docker_engine_state", "roles/docker_engine/library/docker_engine_state.py")

WANTED = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
DRIVERS = ["journald", "json-file", "local", "syslog"]


def state(swarm="active", containers=3, images=2, root="/var/lib/docker", settings=None, packages=None,
          problems=(), restart=False):
    return {
        "packages": packages or {"docker.io": "26.1.5"},
        "daemon_json": {"exists": True, "settings": dict(WANTED) if settings is None else settings, "error": ""},
        "engine": {"present": True, "version": "26.1.5+dfsg1", "root_dir": root, "swarm_state": swarm,
                   "containers": containers, "images": images, "log_drivers": DRIVERS},
        "restart_pending": restart,
        "validation": {"checked_by": "dockerd --validate", "problems": list(problems)},
    }


class TestLogChecks:
    """What `dockerd --validate` lets pass and the engine then refuses at start."""

    def test_an_unknown_log_driver_names_the_ones_the_engine_has(self):
        assert ds.log_problems({"log-driver": "nosuchdriver"}, DRIVERS) == [
            "log-driver 'nosuchdriver' is not a log driver of this engine (it has journald, json-file, local, syslog)"
        ]

    @pytest.mark.parametrize(("opts", "problem"), [
        ({"nope": "1"}, "log-opts.nope is not an option of the json-file log driver"),
        ({"max-size": "banana"}, "log-opts.max-size 'banana' is not a size"),
        ({"max-file": "0"}, "log-opts.max-file '0' is not a positive whole number"),
        ({"max-file": 3}, "log-opts.max-file must be a string"),
        ({"mode": "sometimes"}, "log-opts.mode 'sometimes' is not blocking or non-blocking"),
    ])
    def test_json_file_options(self, opts, problem):
        (found,) = ds.log_problems({"log-driver": "json-file", "log-opts": opts}, DRIVERS)
        assert found.startswith(problem)

    def test_good_settings_and_drivers_whose_options_are_not_known_pass(self):
        assert ds.log_problems(WANTED, DRIVERS) == []
        assert ds.log_problems({"log-driver": "syslog", "log-opts": {"syslog-address": "udp://x:514"}}, DRIVERS) == []
        assert ds.log_problems({"log-opts": {"max-buffer-size": "4m", "mode": "non-blocking"}}, DRIVERS) == []


def test_older_engines_get_setting_names_and_types_checked():
    assert ds.setting_problems({"no-such-option": True, "max-concurrent-downloads": "x", "debug": True}) == [
        "max-concurrent-downloads must be an integer, not 'x'",
        "no-such-option is not a daemon.json setting (Docker's daemon.json reference has no such key)",
    ]


def test_the_validators_reason_loses_the_temporary_file_name():
    out = ("unable to configure the Docker daemon with file /tmp/flotilla-daemon-x.json: the following "
           "directives don't match any configuration option: no-such-option\n")
    assert ds.validator_problem(out, "/tmp/flotilla-daemon-x.json") == (
        "the following directives don't match any configuration option: no-such-option")


def test_unit_flags_come_from_systemds_execstart_without_environment_references():
    show = ("{ path=/usr/sbin/dockerd ; argv[]=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock "
            "$DOCKER_OPTS ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }")
    assert ds.unit_flags(show) == ["-H", "fd://", "--containerd=/run/containerd/containerd.sock"]
    assert ds.unit_flags("") == []


def test_settings_other_than_the_engine_started_with_are_a_restart_owed():
    applied = ds.settings_hash(WANTED)
    assert not ds.restart_pending({"log-opts": WANTED["log-opts"], "log-driver": "json-file"}, applied, 2000.0, 900.0)
    assert ds.restart_pending({**WANTED, "debug": True}, applied, 800.0, 900.0)  # a hand edit, even an old one


def test_without_a_record_a_daemon_json_newer_than_the_engine_is_a_restart_owed():
    assert ds.restart_pending(WANTED, "", 1000.0, 900.0)
    assert not ds.restart_pending(WANTED, "", 900.0, 1000.0)
    assert not ds.restart_pending(WANTED, "", 1000.5, 1000.0)  # within the clock slack
    assert not ds.restart_pending(WANTED, "", 1000.0, None)     # the engine does not run


class TestRefusals:
    def test_a_good_change_is_not_refused(self):
        assert de.docker_engine_refusals(state(), WANTED, "manager1", "distribution", [], False) == []

    def test_the_engines_own_reason_is_one_line_naming_the_host(self):
        (line,) = de.docker_engine_refusals(
            state(problems=["log-driver 'nosuchdriver' is not a log driver of this engine (it has json-file)"]),
            WANTED, "manager1", "distribution", [], False)
        assert line.startswith("manager1: daemon.json refused (dockerd --validate of engine 26.1.5+dfsg1): "
                               "log-driver 'nosuchdriver' is not a log driver")
        assert "nothing was written" in line and "\n" not in line

    def test_a_data_root_move_is_refused_while_the_engine_holds_data(self):
        (line,) = de.docker_engine_refusals(state(), {**WANTED, "data-root": "/srv/docker"}, "worker1",
                                            "distribution", [], False)
        assert line.startswith("worker1: data-root would move from /var/lib/docker to /srv/docker, but the "
                               "engine keeps swarm state, 3 containers, 2 images in /var/lib/docker")

    def test_a_data_root_on_a_fresh_engine_is_free(self):
        fresh = state(swarm="inactive", containers=0, images=0)
        assert de.docker_engine_refusals(fresh, {**WANTED, "data-root": "/srv/docker"}, "w", "distribution", [],
                                         False) == []

    def test_a_source_switch_needs_asking_for(self):
        ce = state(packages={"docker-ce": "5:28.5.1", "containerd.io": "1.7"})
        conflicting = ["docker-ce", "docker-ce-cli", "containerd.io"]
        (line,) = de.docker_engine_refusals(ce, WANTED, "worker2", "distribution", conflicting, False)
        assert line.startswith("worker2: docker-ce, containerd.io installed, but docker_engine_source is "
                               "distribution")
        assert de.docker_engine_refusals(ce, WANTED, "worker2", "distribution", conflicting, True) == []


def test_hand_edits_are_named_before_they_go():
    edited = state(settings={**WANTED, "debug": True, "dns": ["192.0.2.53"]})
    assert de.docker_engine_unmanaged(edited, WANTED) == ["debug=true", 'dns=["192.0.2.53"]']
    assert de.docker_engine_unmanaged(state(), WANTED) == []
    broken = state()
    broken["daemon_json"] = {"exists": True, "settings": None, "error": "Expecting value: line 1 column 1"}
    assert de.docker_engine_unmanaged(broken, WANTED) == ["(not valid JSON: Expecting value: line 1 column 1)"]


def test_in_swarm_counts_every_swarm_state_and_state_on_disk():
    assert de.docker_engine_in_swarm(state("locked"))
    assert not de.docker_engine_in_swarm(state("inactive"))
    stopped = {"engine": {"present": False, "swarm_on_disk": True}}
    assert de.docker_engine_in_swarm(stopped)


APT_UPGRADE = """Reading package lists...
Inst docker.io [26.1.5+dfsg1-9+deb13u1] (26.1.5+dfsg1-9+deb13u1+b1 Debian:13.2/stable [amd64])
Inst docker-cli [26.1.5+dfsg1-9+deb13u1] (26.1.5+dfsg1-9+deb13u1+b1 Debian:13.2/stable [amd64])
Conf docker.io (26.1.5+dfsg1-9+deb13u1+b1 Debian:13.2/stable [amd64])
"""


def test_pending_lists_package_moves_removals_the_file_and_an_owed_restart():
    assert de.docker_engine_pending(APT_UPGRADE, False, state(), []) == [
        "docker.io 26.1.5+dfsg1-9+deb13u1 -> 26.1.5+dfsg1-9+deb13u1+b1",
        "docker-cli 26.1.5+dfsg1-9+deb13u1 -> 26.1.5+dfsg1-9+deb13u1+b1",
    ]
    ce = state(packages={"docker-ce": "5:28.5.1"}, restart=True)
    assert de.docker_engine_pending("", False, ce, ["docker-ce", "docker-ce-cli"]) == [
        "remove docker-ce", "restart (the engine does not run the settings of daemon.json yet)"]
    assert de.docker_engine_pending("", True, ce, []) == ["/etc/docker/daemon.json"]
    new = "Inst python3-docker (7.1.0-1 Debian:13.2/stable [all])\n"
    assert de.docker_engine_pending(new, False, state(), []) == [
        "new packages: python3-docker 7.1.0-1"]
    assert de.docker_engine_pending("", False, state(), []) == []


def test_held_packages_are_installed_with_their_selection():
    out = ("docker.io\t26.1.5+dfsg1-9\thi \n"
           "python3-docker\t7.1.0-2\tii \n"
           "docker-cli\t26.1.5+dfsg1-9\tri \n"   # installed, selected for removal
           "runc\t1.1.15\trc \n"                 # removed, its configuration files left
           "containerd\t1.7.24\tiU \n"          # unpacked, not configured
           "docker-ce\t\tun \n")
    assert ds.parse_dpkg(out) == (
        {"docker.io": "26.1.5+dfsg1-9", "python3-docker": "7.1.0-2", "docker-cli": "26.1.5+dfsg1-9"},
        {"docker.io": "hold", "docker-cli": "deinstall"})


class TestPackagesSettled:
    """When apt has nothing to do, the role skips its list refresh, simulation and install."""

    VERSION = "26.1.5+dfsg1-9"
    SPECS = [f"docker.io={VERSION}", f"docker-cli={VERSION}", "python3-docker"]
    PINNED = ["docker.io", "docker-cli"]
    HELD = {"docker.io": "hold", "docker-cli": "hold"}

    def probe(self, selections=None, **versions):
        packages = {"docker.io": self.VERSION, "docker-cli": self.VERSION, "python3-docker": "7.1.0-2"}
        packages.update(versions)
        return {"packages": {k: v for k, v in packages.items() if v},
                "selections": self.HELD if selections is None else selections}

    def test_every_package_at_its_version_and_selection_is_settled(self):
        assert de.docker_engine_packages_settled(self.probe(), self.SPECS, self.PINNED, True, ["docker-ce"])
        unpinned = ["docker.io", "docker-cli", "python3-docker"]
        assert de.docker_engine_packages_settled(self.probe(selections={}), unpinned, self.PINNED, False, [])

    @pytest.mark.parametrize(("probe", "hold"), [
        ({"python3-docker": ""}, True),                                 # a package missing
        ({"docker-cli": "25.0.0+dfsg1-1"}, True),                        # another version than the pin
        ({"selections": {"docker.io": "hold"}}, True),                   # one pinned package not held
        ({}, False),                                                     # held, but the hold is to go
        ({"selections": {"docker.io": "deinstall"}}, False),             # selected for removal
        ({"selections": {**HELD, "python3-docker": "hold"}}, True),      # an unpinned package held
        ({"docker-ce": "5:28.5.1"}, True),                               # the other source's package
    ])
    def test_anything_apt_would_change_is_not_settled(self, probe, hold):
        probe = dict(probe)
        selections = probe.pop("selections", None)
        assert not de.docker_engine_packages_settled(
            self.probe(selections=selections, **probe), self.SPECS, self.PINNED, hold, ["docker-ce"])

    def test_a_version_pattern_is_left_to_apt(self):
        # apt moves to the newest version the pattern matches, which only apt knows.
        specs = ["docker.io=26.1.5*", "docker-cli=26.1.5*"]
        assert not de.docker_engine_packages_settled(self.probe(), specs, self.PINNED, True, [])
        assert not de.docker_engine_packages_settled({}, ["docker.io"], ["docker.io"], False, [])


class TestFileAndServiceSettled:
    """When daemon.json, the engine's unit and the record are as wanted, the role skips writing them."""

    ROOT_FILE = {"uid": 0, "gid": 0, "mode": "0644"}
    ROOT_DIR = {"uid": 0, "gid": 0, "mode": "0755"}

    def probe(self, **daemon_json):
        found = {"exists": True, "settings": dict(WANTED), "file": self.ROOT_FILE, "directory": self.ROOT_DIR}
        return {"daemon_json": {**found, **daemon_json}}

    def test_the_wanted_settings_in_a_root_owned_file_are_settled(self):
        assert de.docker_engine_config_settled(self.probe(), WANTED)
        # Key order and layout do not count; the settings do.
        assert de.docker_engine_config_settled(self.probe(settings=dict(reversed(list(WANTED.items())))), WANTED)

    @pytest.mark.parametrize("daemon_json", [
        {"exists": False, "settings": {}, "file": None},                     # no file yet
        {"settings": {**WANTED, "debug": True}},                             # a hand edit
        ({"settings": {**WANTED, "debug": 1}}, {**WANTED, "debug": True}),   # 1 for true: the engine refuses it
        ({"settings": {**WANTED, "mtu": 1500.0}}, {**WANTED, "mtu": 1500}),  # a float for a number
        {"settings": None, "error": "Expecting value"},                      # not JSON
        {"file": {"uid": 0, "gid": 0, "mode": "0600"}},                      # another mode
        {"file": {"uid": 1000, "gid": 0, "mode": "0644"}},                   # another owner
        {"directory": {"uid": 0, "gid": 0, "mode": "0700"}},                 # the directory's mode
    ])
    def test_anything_the_template_would_change_is_not_settled(self, daemon_json):
        daemon_json, wanted = daemon_json if isinstance(daemon_json, tuple) else (daemon_json, WANTED)
        assert not de.docker_engine_config_settled(self.probe(**daemon_json), wanted)
        assert not de.docker_engine_config_settled({}, WANTED)

    @pytest.mark.parametrize(("engine", "settled"), [
        ({"active": True, "enabled": True}, True),
        ({"active": True, "enabled": False}, False),
        ({"active": False, "enabled": True}, False),
        ({}, False),
    ])
    def test_the_service_is_settled_only_active_and_enabled(self, engine, settled):
        assert de.docker_engine_service_settled({"engine": engine}) is settled

    def test_the_probe_reads_owner_and_mode(self, tmp_path):
        path = tmp_path / "daemon.json"
        path.write_text('{"debug": true}\n')
        path.chmod(0o640)
        found = ds._daemon_json(str(path))
        assert found["settings"] == {"debug": True}
        assert found["file"]["mode"] == "0640"
        assert found["directory"]["mode"] == f"{tmp_path.stat().st_mode & 0o7777:04o}"
        assert ds._daemon_json(str(tmp_path / "none.json"))["file"] is None


def test_blocked_names_each_swarm_node_with_its_changes():
    hosts = [{"inventory_hostname": "manager1", "docker_engine_pending": ["/etc/docker/daemon.json"]},
             {"inventory_hostname": "worker9"},
             {"inventory_hostname": "worker1", "docker_engine_pending": []}]
    assert de.docker_engine_blocked(hosts) == ["manager1: /etc/docker/daemon.json"]


def test_the_recorded_hash_is_the_one_the_probe_compares():
    assert de.docker_engine_settings_hash(WANTED) == ds.settings_hash(dict(reversed(list(WANTED.items()))))


def test_stale_vxlan_links_are_the_overlay_drivers_only():
    lines = [
        "4: vx-001001-iqii9: <BROADCAST,MULTICAST> mtu 1450 qdisc noop state DOWN mode DEFAULT group default",
        "7: vxlan0@if24: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN",
        "9: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450",
        "",
    ]
    assert de.docker_engine_stale_vxlan(lines) == ["vx-001001-iqii9"]
