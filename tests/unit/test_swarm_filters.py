"""The swarm role's decisions (flotilla.swarm, src/flotilla/swarm.py), case by case."""


import pytest

from flotilla import swarm as sf


def info(state="inactive", node_id="", control=False, cluster="", name=""):
    swarm = {"LocalNodeState": state, "NodeID": node_id, "ControlAvailable": control}
    if cluster:
        swarm["Cluster"] = {"ID": cluster}
    return {"Name": name, "Swarm": swarm}


def node(node_id, role="worker", state="ready", reach=None, leader=False, hostname=None, addr="", labels=None):
    result = {
        "ID": node_id,
        "Spec": {"Role": role, "Availability": "active", "Labels": labels or {}},
        "Status": {"State": state, "Addr": addr},
        "Description": {"Hostname": hostname or node_id},
    }
    if role == "manager":
        result["ManagerStatus"] = {"Reachability": reach or "reachable", "Leader": leader}
    return result


class TestCluster:
    """The run's one picture of the cluster (role swarm's state entry point)."""

    def test_a_formed_swarm_with_a_host_left_out(self):
        hosts = {"m1": info("active", "a", True, "C"), "m2": info("active", "b", True, "C"), "w1": info("active", "c")}
        hosts["m1"]["ServerVersion"] = "26.1.5"
        hosts["m1"]["Name"] = "node-m1"
        hosts["m1"]["Swarm"]["NodeAddr"] = "192.0.2.1"
        cluster = sf.swarm_cluster(hosts, ["m1", "m2", "m3"], ["w1", "w2"], ["m2", "w1"], ["w2"],
                                   {"m2": "192.0.2.2", "w1": "192.0.2.11"})
        assert cluster["unreachable"] == ["m3", "w2"]  # m3 did not answer the delegated read either
        assert cluster["clusters"] == {"C": ["m1", "m2"]}
        assert cluster["manager_ids"] == {"b": "m2"}  # the run's managers only
        assert cluster["engines"]["m1"] == {"version": "26.1.5", "state": "active", "node_id": "a",
                                            "cluster_id": "C", "manager": True, "addr": "192.0.2.1",
                                            "hostname": "node-m1", "root_dir": "/var/lib/docker"}
        assert cluster["engines"]["w1"]["manager"] is False
        assert cluster["addresses"] == {"m1": "192.0.2.1", "m2": "192.0.2.2", "m3": "", "w1": "192.0.2.11", "w2": ""}
        assert (cluster["acting"], cluster["control"]) == ("m1", "m2")  # m1 outside --limit still acts
        assert cluster["bootstrap"]["refusal"] == ""
        assert (cluster["leader"], cluster["health"]) == ("", {})

    def test_fresh_hosts_init_on_the_first_manager_and_a_run_of_workers_acts_through_it(self):
        hosts = {"m1": info(), "w1": info()}
        cluster = sf.swarm_cluster(hosts, ["m1"], ["w1"])
        assert cluster["bootstrap"]["init"] and cluster["acting"] == cluster["control"] == "m1"
        assert cluster["unreachable"] == [] and cluster["clusters"] == {}
        workers_only = sf.swarm_cluster({"m1": info("active", "a", True, "C"), "w1": info()}, ["m1"], ["w1"], ["w1"])
        assert workers_only["control"] == "m1"

    def test_two_swarms_are_visible_and_refused(self):
        hosts = {"m1": info("active", "a", True, "C1"), "m2": info("active", "b", True, "C2")}
        cluster = sf.swarm_cluster(hosts, ["m1", "m2"], [])
        assert cluster["clusters"] == {"C1": ["m1"], "C2": ["m2"]}
        assert "managers of two swarms" in cluster["bootstrap"]["refusal"]

    def test_nodes_add_the_leader_as_an_inventory_host_and_the_health(self):
        hosts = {"m1": info("active", "a", True, "C"), "m2": info("active", "b", True, "C")}
        cluster = sf.swarm_cluster(hosts, ["m1", "m2"], [])
        nodes = [node("a", "manager", hostname="m1.example"), node("b", "manager", leader=True, hostname="m2.example")]
        seen = sf.swarm_cluster_nodes(cluster, nodes)
        assert seen["leader"] == "m2" and seen["health"]["healthy"] and seen["health"]["has_quorum"]
        assert cluster["leader"] == ""  # a new picture; the old one is not patched
        outside = sf.swarm_cluster_nodes(cluster, [*nodes[:1], node("z", "manager", leader=True, hostname="m9")])
        assert outside["leader"] == "m9"
        lost = sf.swarm_cluster_nodes(cluster, [node("a", "manager"), node("b", "manager", reach="unreachable")])
        assert lost["leader"] == "" and not lost["health"]["has_quorum"]


class TestBootstrap:
    def test_fresh_hosts_init_on_first_manager(self):
        hosts = {"m1": info(), "m2": info(), "w1": info()}
        assert sf.swarm_bootstrap(hosts, ["m1", "m2"], ["w1"]) == {
            "host": "m1", "init": True, "cluster_id": "", "recovered": "", "addr": "", "refusal": ""}

    def test_existing_manager_wins_over_group_order(self):
        hosts = {"m1": info(), "m2": info("active", "b", True, "C"), "w1": info()}
        hosts["m2"]["Swarm"]["NodeAddr"] = "192.0.2.2"
        assert sf.swarm_bootstrap(hosts, ["m1", "m2"], ["w1"]) == {
            "host": "m2", "init": False, "cluster_id": "C", "recovered": "", "addr": "192.0.2.2", "refusal": ""}

    def test_manager_moved_to_workers_still_bootstraps(self):
        hosts = {"m1": info("active", "w", False), "w1": info("active", "a", True, "C")}
        assert sf.swarm_bootstrap(hosts, ["m1"], ["w1"])["host"] == "w1"

    def test_a_manager_that_did_not_answer_stops_a_new_swarm(self):
        # m1 may be in a swarm: creating one on m2 could split the cluster
        result = sf.swarm_bootstrap({"m2": info()}, ["m1", "m2"], [])
        assert result["refusal"] == (
            "not creating a swarm: m1 did not answer, and may be in one; bring it back (or take it out of "
            "the inventory) and run again")

    def test_a_manager_outside_the_limit_is_the_swarm_a_new_manager_joins(self):
        # --limit m4: m1..m3 were read through delegation; m4 joins their swarm, it never inits its own
        hosts = {"m1": info("active", "a", True, "C"), "m2": info("active", "b", True, "C"),
                 "m3": info("active", "c", True, "C"), "m4": info()}
        result = sf.swarm_bootstrap(hosts, ["m1", "m2", "m3", "m4"], [], play=["m4"])
        assert (result["host"], result["init"], result["refusal"]) == ("m1", False, "")

    def test_a_new_swarm_needs_its_first_manager_in_the_run(self):
        hosts = {"m1": info(), "w1": info()}
        assert "--limit leaves it out" in sf.swarm_bootstrap(hosts, ["m1"], ["w1"], play=["w1"])["refusal"]

    def test_hosts_in_a_swarm_no_manager_runs_stop_a_new_one_unless_repairing(self):
        hosts = {"m1": info(), "w1": info("active", "x", False, "OTHER")}
        assert sf.swarm_bootstrap(hosts, ["m1"], ["w1"])["refusal"].startswith(
            "not creating a swarm: w1 (active) is in a swarm that no manager of the inventory runs")
        assert sf.swarm_bootstrap(hosts, ["m1"], ["w1"], repair=True)["refusal"] == ""

    def test_a_locked_manager_stops_a_new_swarm_even_when_repairing(self):
        hosts = {"m1": info(), "m2": info("locked", "b")}
        assert sf.swarm_bootstrap(hosts, ["m1", "m2"], [], repair=True)["refusal"].startswith(
            "not creating a swarm: m2 is locked (autolock) and still in one")

    def test_a_manager_without_a_leader_is_no_second_swarm(self):
        # without a leader, docker info has no cluster: it is the same swarm, not another one
        hosts = {"m1": info("active", "a", True, "C"), "m2": info("active", "b", True)}
        assert sf.swarm_bootstrap(hosts, ["m1", "m2"], [])["refusal"] == ""

    def test_managers_of_two_swarms_are_refused(self):
        hosts = {"m1": info("active", "a", True, "C1"), "m4": info("active", "d", True, "C2")}
        assert sf.swarm_bootstrap(hosts, ["m1", "m4"], [])["refusal"].startswith(
            "the inventory holds managers of two swarms: m1 (cluster C1) and m4 (cluster C2)")

    def test_the_latest_recovered_cluster_wins_over_a_rump_of_the_old_one(self):
        old = info("active", "b", True, "C")
        new = info("active", "a", True, "C")
        new["Swarm"]["Cluster"]["Spec"] = {"Labels": {"io.flotilla.recovered": "20261123T180000Z"}}
        result = sf.swarm_bootstrap({"m1": old, "m2": old, "m3": new}, ["m1", "m2", "m3"], [])
        assert (result["host"], result["refusal"]) == ("m3", "")

    def test_no_reachable_manager(self):
        result = sf.swarm_bootstrap({"w1": info()}, ["m1"], ["w1"])
        assert result["host"] == "" and result["refusal"].startswith("no host of the manager group answered")


def test_outside_info_keeps_the_engines_that_answered():
    results = [{"item": "m1", "host_info": {"Name": "m1"}}, {"item": "m2", "unreachable": True},
               {"item": "m3", "failed": True, "msg": "no engine"}]
    assert sf.swarm_outside_info(results) == {"m1": {"Name": "m1"}}


def test_duplicate_names():
    hosts = {"a": info(name="web"), "b": info(name="web"), "c": info(name="db")}
    assert sf.swarm_duplicate_names(hosts) == {"web": ["a", "b"]}


class TestMembership:
    def test_states(self):
        hosts = {
            "member": info("active", "a"),
            "new": info("inactive"),
            "other": info("active", "zzz"),
            "stuck": info("pending", "p"),
            "locked": info("locked", "l"),
            "gone": {},
        }
        assert sf.swarm_membership(hosts, [node("a")]) == {
            "member": "member", "new": "join", "other": "foreign", "stuck": "broken", "locked": "locked",
            "gone": "unknown",
        }  # fmt: skip


    def test_rump_of_the_old_raft_group_rejoins(self):
        rump = info("active", "old", True, "C")
        boot = {"host": "m1", "cluster_id": "C", "recovered": "20261123T180000Z"}
        assert sf.swarm_membership({"m2": rump}, [node("a", "manager")], boot) == {"m2": "rejoin"}
        # another cluster, or the same one without a newer recovery: foreign, the admin decides
        assert sf.swarm_membership({"m2": info("active", "old", True, "X")}, [node("a")], boot) == {"m2": "foreign"}
        assert sf.swarm_membership({"m2": rump}, [node("a")], dict(boot, recovered="")) == {"m2": "foreign"}

    def test_manager_removed_by_recover_rejoins(self):
        pending = info("pending", "old")
        pending["Swarm"]["RemoteManagers"] = [{"NodeID": "x", "Addr": "10.0.0.11:2377"}]
        manager = node("a", "manager", leader=True)
        manager["ManagerStatus"]["Addr"] = "10.0.0.11:2377"
        assert sf.swarm_membership({"m2": pending}, [manager]) == {"m2": "rejoin"}

    @pytest.mark.parametrize(
        "node_id, remote",
        [
            ("a", "10.0.0.11:2377"),  # still listed: pending because the swarm has no leader yet
            ("old", "10.9.9.9:2377"),  # its managers are another swarm's
            ("old", None),  # no remote managers known
        ],
    )
    def test_pending_stays_broken_unless_removed_from_this_swarm(self, node_id, remote):
        pending = info("pending", node_id)
        if remote:
            pending["Swarm"]["RemoteManagers"] = [{"NodeID": "x", "Addr": remote}]
        manager = node("a", "manager", leader=True)
        manager["ManagerStatus"]["Addr"] = "10.0.0.11:2377"
        assert sf.swarm_membership({"m2": pending}, [manager]) == {"m2": "broken"}


class TestBackupCompare:
    BACKUP = {"services": ["web"], "configs": {"c-1": "h1"}, "secrets": {"s-1": "id1"}}

    def test_everything_back(self):
        assert sf.swarm_backup_compare(self.BACKUP, dict(self.BACKUP, services=["web", "new"])) == []

    def test_missing_and_different(self):
        found = {"services": [], "configs": {"c-1": "h2"}, "secrets": {}}
        assert sf.swarm_backup_compare(self.BACKUP, found) == [
            "service web is missing", "config c-1 has another content hash", "secret s-1 is missing",
        ]  # fmt: skip

    def test_secret_with_another_id_is_another_secret(self):
        found = dict(self.BACKUP, secrets={"s-1": "id2"})
        assert sf.swarm_backup_compare(self.BACKUP, found) == ["secret s-1 has another ID"]


class TestStale:
    def test_down_duplicate_of_reinstalled_host(self):
        hosts = {"w1": info("active", "new", name="w1")}
        nodes = [node("old", state="down", hostname="w1"), node("new", hostname="w1")]
        assert [n["ID"] for n in sf.swarm_stale_nodes(hosts, nodes)] == ["old"]

    def test_a_down_node_that_only_shares_the_hostname_is_not_stale(self):
        hosts = {"w1": info("active", "new", name="w1")}
        nodes = [node("old", state="down", hostname="w1", addr="10.0.0.5"),
                 node("other", state="down", hostname="w1", addr="10.9.9.9"), node("new", hostname="w1")]
        assert [n["ID"] for n in sf.swarm_stale_nodes(hosts, nodes, {"w1": "10.0.0.5"})] == ["old"]

    @pytest.mark.parametrize(
        "nodes",
        [
            [node("old", state="ready", hostname="w1")],  # not down: a different live host
            [node("old", state="down", hostname="w9")],  # not the name of an inventory host
            [node("new", state="down", hostname="w1")],  # the host's own entry, just down
        ],
    )
    def test_not_stale(self, nodes):
        assert sf.swarm_stale_nodes({"w1": info("active", "new", name="w1")}, nodes) == []


class TestRoleChanges:
    def test_promote_and_demote_from_groups(self):
        hosts = {"m1": info("active", "a"), "w1": info("active", "b"), "m3": info("active", "c")}
        nodes = [node("a", "manager"), node("b", "worker"), node("c", "manager")]
        changes = sf.swarm_role_changes(hosts, nodes, ["m1", "w1"], ["m3"])
        assert changes == {"promote": ["w1"], "demote": ["m3"]}

    def test_hosts_not_in_swarm_are_not_changed(self):
        changes = sf.swarm_role_changes({"w1": info("inactive")}, [node("a", "manager")], [], ["w1"])
        assert changes == {"promote": [], "demote": []}


class TestHealth:
    def test_healthy(self):
        nodes = [node("a", "manager", leader=True), node("b", "manager"), node("c", "manager"), node("w")]
        health = sf.swarm_health(nodes)
        assert health["healthy"] and health["leader"] == "a" and health["quorum"] == 2

    def test_unreachable_manager_and_no_leader(self):
        health = sf.swarm_health([node("a", "manager"), node("b", "manager", reach="unreachable")])
        assert not health["healthy"]
        assert health["problems"] == ["manager b is unreachable", "the swarm has no leader"]
        assert not health["has_quorum"]

    @pytest.mark.parametrize(
        ("reach", "has_quorum"),
        [(["reachable", "reachable", "unreachable"], True), (["reachable", "unreachable", "unreachable"], False)],
    )
    def test_quorum_needs_a_leader_and_a_majority(self, reach, has_quorum):
        nodes = [node(str(i), "manager", reach=r, leader=i == 0) for i, r in enumerate(reach)]
        health = sf.swarm_health(nodes)
        assert health["has_quorum"] is has_quorum and not health["healthy"]


class TestBackupPlan:
    IDS = {"a": "manager1", "b": "manager2", "c": "manager3"}
    MANAGERS = ["manager1", "manager2", "manager3"]

    def plan(self, nodes, chosen="", single=False, autolock=False, key="set swarm_unlock_key_file", ids=None):
        ids = self.IDS if ids is None else ids
        return sf.swarm_backup_plan(nodes, ids, chosen, self.MANAGERS, single, autolock, key)

    def three(self, leader="a"):
        return [node(i, "manager", leader=i == leader) for i in "abc"] + [node("w")]

    def test_the_first_reachable_manager_that_is_not_the_leader(self):
        result = self.plan(self.three(leader="a"))
        assert (result["host"], result["refusal"]) == ("manager2", "")
        assert self.plan(self.three(leader="b"))["host"] == "manager1"

    def test_the_admins_choice_wins_but_must_be_a_manager(self):
        assert self.plan(self.three(), chosen="manager1")["host"] == "manager1"
        assert self.plan(self.three(), chosen="worker1")["refusal"] == (
            "swarm_backup_host worker1 is not a manager of the inventory")

    def test_a_manager_outside_the_play_is_not_chosen(self):
        result = self.plan(self.three(leader="a"), ids={"a": "manager1"})
        assert result["host"] == "manager1"  # the leader, the only one this run reaches

    def test_refused_when_unhealthy_first(self):
        nodes = [node("a", "manager", leader=True), node("b", "manager", reach="unreachable"), node("c", "manager")]
        assert self.plan(nodes, autolock=True)["refusal"] == (
            "the swarm is not healthy (manager b is unreachable); fix it first")

    def test_one_manager_needs_consent(self):
        nodes = [node("a", "manager", leader=True), node("w")]
        assert self.plan(nodes)["refusal"].startswith("the swarm has one manager: stopping it makes")
        result = self.plan(nodes, single=True)
        assert (result["host"], result["refusal"]) == ("manager1", "")

    def test_autolock_needs_a_place_to_keep_the_new_key(self):
        assert self.plan(self.three(), autolock=True)["refusal"] == (
            "autolock is on, and the backup turns it off while it archives (Docker unlocks a restored manager only "
            "once its swarm has a leader, which it cannot have alone) and on again, which makes a new unlock key "
            "that this run could not keep: set swarm_unlock_key_file")
        assert self.plan(self.three(), autolock=True, key="")["refusal"] == ""
        assert self.plan(self.three(), autolock=False)["refusal"] == ""

    def test_no_manager_of_the_play_in_the_swarm(self):
        assert self.plan(self.three(), ids={})["refusal"] == (
            "no manager of the inventory is a reachable swarm manager in this run")


class TestRestoreTarget:
    MANAGERS = ["manager1", "manager2", "manager3"]
    ADDRS = {"manager1": "10.0.0.11", "manager2": "10.0.0.12", "manager3": "10.0.0.13"}

    def target(self, manifest, chosen=""):
        return sf.swarm_restore_target(manifest, chosen, self.MANAGERS, self.ADDRS, "swarm-x.tar.gz")

    def test_the_manager_the_backup_was_taken_on(self):
        assert self.target({"manager": "manager2", "address": "10.0.0.12"}) == {"host": "manager2", "refusal": ""}

    def test_the_first_manager_when_the_inventory_lost_that_one(self):
        assert self.target({"manager": "gone", "address": ""}) == {"host": "manager1", "refusal": ""}

    def test_another_address_is_refused_naming_both(self):
        result = self.target({"manager": "gone", "address": "10.0.0.99"})
        assert result["refusal"].startswith(
            "swarm-x.tar.gz was taken on gone at 10.0.0.99, and manager1 advertises 10.0.0.11; swarm state restores")

    def test_the_admins_choice_must_be_a_manager_of_the_run(self):
        assert self.target({"manager": "manager2", "address": "10.0.0.12"}, chosen="manager2")["refusal"] == ""
        assert self.target({}, chosen="worker1") == {
            "host": "worker1", "refusal": "swarm_restore_host worker1 is not a manager of this run"}


class TestRemovalCheck:
    def managers(self, *reach):
        return [node(f"m{i}", "manager", reach=r, leader=i == 0) for i, r in enumerate(reach)]

    def test_worker_is_always_safe(self):
        assert sf.swarm_removal_check([*self.managers("reachable"), node("w")], "w") == ""

    def test_last_manager(self):
        assert "last manager" in sf.swarm_removal_check(self.managers("reachable"), "m0")

    def test_dead_manager_of_three_can_go(self):
        assert sf.swarm_removal_check(self.managers("reachable", "reachable", "unreachable"), "m2") == ""

    def test_live_manager_when_another_is_dead_cannot(self):
        message = sf.swarm_removal_check(self.managers("reachable", "reachable", "unreachable"), "m1")
        assert "fewer than the 2 a quorum needs" in message

    def test_no_quorum(self):
        message = sf.swarm_removal_check(self.managers("reachable", "unreachable", "unreachable"), "m2")
        assert "no quorum" in message

    def test_unknown_node(self):
        assert "not in this swarm" in sf.swarm_removal_check([], "x")


def test_find_node_by_id_then_by_address():
    nodes = [node("a", addr="10.0.0.1"), node("old", state="down", addr="10.0.0.2"), node("b", addr="10.0.0.2")]
    assert sf.swarm_find_node(nodes, "a", "10.0.0.9")["ID"] == "a"
    assert sf.swarm_find_node(nodes, "", "10.0.0.2")["ID"] == "b"
    assert sf.swarm_find_node(nodes, "", "10.0.0.3") == {}


@pytest.mark.parametrize(
    ("pools", "networks", "expected"),
    [
        (["10.0.0.0/8"], ["192.168.250.0/24", "172.17.0.0/16"], []),
        (["10.0.0.0/8"], ["10.20.0.0/16"], ["10.0.0.0/8 overlaps 10.20.0.0/16"]),
        (["172.16.0.0/12"], ["172.17.0.0/16"], ["172.16.0.0/12 overlaps 172.17.0.0/16"]),
        (["10.0.0.0/8"], ["fd00::/64"], []),
    ],
)
def test_pool_overlaps(pools, networks, expected):
    assert sf.swarm_pool_overlaps(pools, networks) == expected


def test_duplicates():
    assert sf.swarm_duplicates({"a": "1.1.1.1", "b": "1.1.1.1", "c": "2.2.2.2", "d": ""}) == {"1.1.1.1": ["a", "b"]}


@pytest.mark.parametrize(
    ("version", "minimum", "ok"),
    [("26.1.5+dfsg1", "20.10.0", True), ("20.10.24+dfsg1", "20.10.0", True), ("19.03.15", "20.10.0", False),
     ("5:28.5.1-1~debian.13~trixie", "20.10.0", True), ("28.5.1", "28.5.1", True)],
)  # fmt: skip
def test_version_at_least(version, minimum, ok):
    assert sf.swarm_version_at_least(version, minimum) is ok


def test_labels_are_strings():
    assert sf.swarm_labels({"rack": 1, "ssd": True, "zone": "a", "x": None}) == {
        "rack": "1", "ssd": "true", "zone": "a", "x": ""
    }  # fmt: skip
    assert sf.swarm_labels(None) == {}


class TestPorts:
    def test_listen_on_what_nothing_holds(self):
        assert sf.swarm_listen_ports({}, True) == ["7946/tcp", "7946/udp", "4789/udp", "2377/tcp"]
        assert sf.swarm_listen_ports({"7946/udp": "dockerd"}, False) == ["7946/tcp", "4789/udp"]

    def test_conflicts_name_foreign_holders_only(self):
        held = {"7946/udp": "dockerd", "4789/udp": "kernel", "2377/tcp": "nginx"}
        assert sf.swarm_port_conflicts(held, True) == ["2377/tcp (by nginx)"]
        assert sf.swarm_port_conflicts(held, False) == []

    def test_peers_skip_udp_their_engine_holds(self):
        held = {"m1": {}, "w1": {"7946/udp": "dockerd", "7946/tcp": "dockerd", "4789/udp": "kernel"}}
        addrs = {"m1": "10.0.0.1", "w1": "10.0.0.2"}
        assert sf.swarm_probe_peers(held, addrs, "m1", ["m1"]) == [
            {"name": "w1", "addr": "10.0.0.2", "ports": ["7946/tcp"]}
        ]
        assert sf.swarm_probe_peers(held, addrs, "w1", ["m1"]) == [
            {"name": "m1", "addr": "10.0.0.1", "ports": ["7946/tcp", "7946/udp", "4789/udp", "2377/tcp"]}
        ]

    @pytest.mark.parametrize(
        ("admitted", "probed"),
        [
            (None, ["m1"]),                         # no Flotilla firewall on m1: probed
            (["10.0.0.2"], ["m1"]),                 # its firewall admits w1 already
            (["10.0.0.0/24"], ["m1"]),
            (["10.0.0.1-10.0.0.9"], ["m1"]),
            (["10.0.0.1", "10.0.1.0/24"], []),      # not yet: the firewall phase admits w1 first
            ([], []),
        ],
    )
    def test_peers_skip_a_flotilla_firewall_that_does_not_admit_us_yet(self, admitted, probed):
        held = {"m1": {}, "w1": {}}
        addrs = {"m1": "10.0.0.1", "w1": "10.0.0.2"}
        peers = sf.swarm_probe_peers(held, addrs, "w1", ["m1"], {"m1": admitted, "w1": None})
        assert [p["name"] for p in peers] == probed

    def test_table(self):
        blocked = [{"src": "m1", "dst": "w1", "addr": "10.0.0.2", "port": 4789, "proto": "udp"}]
        assert sf.swarm_port_table(blocked) == ["FROM  TO             PORT", "m1    w1 (10.0.0.2)  4789/udp"]
        assert sf.swarm_port_table([]) == []


def service(service_id, name, replicas=None):
    mode = {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}}
    return {"ID": service_id, "Spec": {"Name": name, "Mode": mode}}


def task(service_id, node_id, state="running", desired="running"):
    return {"ServiceID": service_id, "NodeID": node_id, "DesiredState": desired, "Status": {"State": state}}


class TestServiceShortfall:
    def test_full_strength_has_no_shortfall(self):
        services = [service("s1", "demo_web", 2), service("s2", "demo_proxy")]
        tasks = [task("s1", "n1"), task("s1", "n2"), task("s2", "n1"), task("s2", "n2")]
        assert sf.swarm_service_shortfall(services, tasks) == []

    def test_replicated_service_short_of_replicas(self):
        tasks = [task("s1", "n1"), task("s1", "n2", state="starting"), task("s1", "n3", "shutdown", "shutdown")]
        assert sf.swarm_service_shortfall([service("s1", "demo_web", 2)], tasks) == ["demo_web: 1/2 tasks running"]

    def test_start_first_update_may_run_more_than_replicas(self):
        tasks = [task("s1", "n1"), task("s1", "n2"), task("s1", "n3")]
        assert sf.swarm_service_shortfall([service("s1", "demo_web", 2)], tasks) == []

    def test_global_service_counts_only_the_tasks_it_wants(self):
        tasks = [task("s2", "n1"), task("s2", "n2", "preparing"), task("s2", "n3", "shutdown", "shutdown")]
        assert sf.swarm_service_shortfall([service("s2", "demo_proxy")], tasks) == ["demo_proxy: 1/2 tasks running"]

    def test_task_still_wanted_on_the_drained_node(self):
        services = [service("s1", "demo_web", 2)]
        tasks = [task("s1", "n1"), task("s1", "n2"), task("s1", "n3", "running", "shutdown")]
        assert sf.swarm_service_shortfall(services, tasks, "n1") == ["demo_web: 1 task(s) still on the drained node"]
        assert sf.swarm_service_shortfall(services, tasks, "n3") == []

    def test_global_service_with_a_rejected_task_is_short_on_the_eligible_nodes(self):
        # Swarm rejected the task on n2 ("cannot create a swarm scoped network when swarm is not
        # active") and wants none there any more: only the nodes show the gap.
        nodes = [{"ID": n, "Spec": {"Role": "worker", "Availability": "active"}, "Status": {"State": "ready"}}
                 for n in ("n1", "n2")]
        tasks = [task("s2", "n1"), task("s2", "n2", "rejected", "shutdown")]
        assert sf.swarm_service_shortfall([service("s2", "demo_proxy")], tasks) == []
        assert sf.swarm_service_shortfall([service("s2", "demo_proxy")], tasks, nodes=nodes) == [
            "demo_proxy: 1/2 tasks running"]
        assert sf.swarm_short_services([service("s2", "demo_proxy"), service("s1", "demo_web", 1)],
                                       tasks + [task("s1", "n1")], nodes) == ["demo_proxy"]

    def test_jobs_are_skipped(self):
        job = {"ID": "j", "Spec": {"Name": "migrate", "Mode": {"ReplicatedJob": {"TotalCompletions": 1}}}}
        assert sf.swarm_service_shortfall([job], [task("j", "n1", "complete", "shutdown")]) == []


class TestRecoverPlan:
    NO_LEADER = ("Error while reading from Swarm manager: 500 Server Error (\"rpc error: code = Unknown desc = "
                 "The swarm does not have a leader. It's possible that too few managers are online.\")")

    @staticmethod
    def host_info(control=True):
        return {"host_info": {"Swarm": {"LocalNodeState": "active", "ControlAvailable": control}}}

    @staticmethod
    def raft(*mtimes):
        return {"files": [{"path": f"/var/lib/docker/swarm/raft/wal-v3-encrypted/{i}", "mtime": m}
                          for i, m in enumerate(mtimes)]}

    def plan(self, reads, rafts, **kwargs):
        hosts = ["m1", "m2", "m3"][: len(reads)]
        return sf.swarm_recover_plan(hosts, [self.host_info()] * len(hosts), reads, rafts, **kwargs)

    def test_the_survivor_is_the_manager_with_the_freshest_raft_state(self):
        lost = {"failed": True, "msg": self.NO_LEADER}
        result = self.plan([lost, lost], [self.raft(100, 200), self.raft(150, 300)])
        assert (result["survivor"], result["refusal"]) == ("m2", "")

    def test_a_quorum_refuses_unless_forced(self):
        nodes = [node("a", "manager", leader=True, hostname="m1"), node("b", "manager", hostname="m2"),
                 node("c", "manager", hostname="m3")]
        result = self.plan([{"nodes": nodes}], [self.raft(1)])
        assert result["refusal"].startswith("not recovering: the swarm has quorum (leader m1, 3 of 3 managers")
        assert self.plan([{"nodes": nodes}], [self.raft(1)], force=True)["survivor"] == "m1"

    def test_a_manager_that_cannot_answer_as_one_without_a_cluster_lost_its_quorum(self):
        # community.docker fails before reading nodes: GET /swarm fails without a leader
        lost = {"failed": True, "msg": "Error running docker swarm module: must run on swarm manager node"}
        assert self.plan([lost], [self.raft(1)])["survivor"] == "m1"

    def test_a_read_that_failed_otherwise_is_no_proof_of_a_lost_quorum(self):
        result = self.plan([{"failed": True, "msg": "Error connecting: permission denied"}], [self.raft(1)])
        assert result["refusal"] == (
            "not recovering: reading the swarm failed on m1 (Error connecting: permission denied), which is no "
            "proof that the quorum is lost; fix that and run again")

    def test_a_chosen_survivor_must_be_a_manager_that_answers(self):
        lost = {"failed": True, "msg": self.NO_LEADER}
        assert self.plan([lost], [self.raft(1)], choose="m3")["refusal"].startswith(
            "not recovering: swarm_recover_host m3 is not a manager that answers; choose one of m1")
        assert self.plan([lost], [self.raft(1)], choose="m1")["survivor"] == "m1"


def test_active_managers_keep_the_given_order():
    hosts = {"m1": info(), "m2": info("active", "b", True, "C"), "w1": info("active", "a", False, "C"),
             "m3": info("active", "c", True, "C")}
    assert sf.swarm_active_managers(hosts, ["m3", "m1", "m2", "w1", "gone"]) == ["m3", "m2"]


def test_engines_come_from_the_probe_and_hosts_without_an_engine_are_left_out():
    hosts = [
        {"inventory_hostname": "m1", "__swarm_preflight": {"engine": {"present": True, "info": info(name="m1")}}},
        {"inventory_hostname": "m2", "__swarm_preflight": {"engine": {"present": False}}},
        {"inventory_hostname": "m3"},
    ]
    assert sf.swarm_engines(hosts) == {"m1": info(name="m1")}


def test_a_port_the_target_engine_took_after_the_probe_is_not_blocked():
    results = {
        "m1": {"blocked": [{"src": "m1", "dst": "m3", "addr": "10.0.0.3", "port": 7946, "proto": "udp"},
                           {"src": "m1", "dst": "m3", "addr": "10.0.0.3", "port": 2377, "proto": "tcp"}],
               "in_use": []},
        "w1": {"blocked": [{"src": "w1", "dst": "m3", "addr": "10.0.0.3", "port": 4789, "proto": "udp"}]},
        "m3": {"blocked": [], "in_use": ["7946/udp", "4789/udp"]},
        "w2": {"skipped": True},
    }
    assert sf.swarm_blocked_probes(results) == [
        {"src": "m1", "dst": "m3", "addr": "10.0.0.3", "port": 2377, "proto": "tcp"}]
    assert sf.swarm_blocked_probes({"w2": {"skipped": True}}) == []


class TestRotation:
    @staticmethod
    def node(name, root, state="ready"):
        return {"ID": name, "Status": {"State": state},
                "Description": {"Hostname": name, "TLSInfo": {"TrustRoot": root}}}

    def test_a_ca_rotation_waits_for_the_swarm_then_for_every_node_down_ones_too(self):
        swarm = {"TLSInfo": {"TrustRoot": "NEW"}, "RootRotationInProgress": True}
        nodes = [self.node("m1", "NEW"), self.node("w1", "OLD"), self.node("w2", "OLD", state="down")]
        assert sf.swarm_ca_pending(nodes, swarm) == ["the swarm (rotation in progress)", "w1", "w2 (down)"]
        swarm["RootRotationInProgress"] = False
        assert sf.swarm_ca_pending(nodes[:2], swarm) == ["w1"]
        assert sf.swarm_ca_pending([self.node("m1", "NEW"), self.node("w1", "NEW")], swarm) == []

    def test_the_certificate_report_warns_about_certificates_near_their_end_and_unread_ones(self):
        report = sf.swarm_cert_report(
            {"m1": "20270302101500Z", "w1": "20261210000000Z", "w2": ""}, "2026-12-02T12:00:00+00:00", 30)
        assert report["lines"] == [
            "host  certificate ends      days left",
            "m1    2027-03-02 10:15 UTC  90",
            "w1    2026-12-10 00:00 UTC  8",
            "w2    (none read)",
        ]
        assert [w.split(":")[0] for w in report["warnings"]] == ["w1", "w2"]
        assert "ends in 8 days (2026-12-10)" in report["warnings"][0]
        # A naive time is UTC; nothing near its end: no warning.
        assert sf.swarm_cert_report({"m1": "20270302101500Z"}, "2026-12-02T12:00:00", 30)["warnings"] == []


class TestStuckHosts:
    NODES = [{"ID": "n1", "Description": {"Hostname": "m1"}, "Status": {"Addr": "10.0.0.1"}},
             {"ID": "n2", "Description": {"Hostname": "node-b"}, "Status": {"Addr": "10.0.0.2"}},
             {"ID": "n3", "Description": {"Hostname": "w2"}, "Status": {"Addr": "172.17.0.9"}}]
    ADDRESSES = {"m1": "10.0.0.1", "w1": "10.0.0.2", "w2": "10.0.0.3"}
    NOW = "2026-12-03T22:10:00Z"

    @staticmethod
    def at(t, stamp):
        return {**t, "Status": {**t["Status"], "Timestamp": stamp}}

    def test_a_task_left_assigned_names_its_host_by_address_else_by_hostname(self):
        old = "2026-12-03T22:09:00.123456789Z"
        tasks = [task("s1", "n1"), self.at(task("s2", "n2", "assigned"), old),
                 self.at(task("s2", "n3", "assigned"), old), task("s1", "n3")]
        assert sf.swarm_stuck_hosts(tasks, self.NODES, self.ADDRESSES, self.NOW) == [
            {"host": "w1", "node_id": "n2"}, {"host": "w2", "node_id": "n3"}]

    def test_a_task_assigned_for_a_moment_of_a_rolling_update_names_nothing(self):
        tasks = [self.at(task("s2", "n2", "assigned"), "2026-12-03T22:09:45Z"),
                 self.at(task("s2", "n3", "assigned"), "not a time")]
        assert sf.swarm_stuck_hosts(tasks, self.NODES, self.ADDRESSES, self.NOW) == []
        assert sf.swarm_stuck_hosts(tasks, self.NODES, self.ADDRESSES, self.NOW, older=10) == [
            {"host": "w1", "node_id": "n2"}]

    def test_times_with_an_offset_or_nanoseconds_compare_as_instants(self):
        tasks = [self.at(task("s2", "n2", "assigned"), "2026-12-03T22:09:20.999999999Z")]
        # the manager's SystemTime in its own zone: 23:10:00+01:00 is 22:10:00Z, 40 s later
        assert sf.swarm_stuck_hosts(tasks, self.NODES, self.ADDRESSES, "2026-12-03T23:10:00.5+01:00") == [
            {"host": "w1", "node_id": "n2"}]
        assert sf.swarm_stuck_hosts(tasks, self.NODES, self.ADDRESSES, "2026-12-03T22:09:40Z") == []

    def test_tasks_running_starting_or_no_longer_wanted_name_nothing(self):
        old = "2026-12-03T22:00:00Z"
        tasks = [self.at(t, old) for t in (task("s1", "n1"), task("s1", "n2", "starting"),
                                           task("s1", "n3", "assigned", "shutdown"), task("s2", "", "pending"))]
        assert sf.swarm_stuck_hosts(tasks, self.NODES, self.ADDRESSES, self.NOW) == []
