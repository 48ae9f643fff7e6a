"""The firewall role's decisions (flotilla.firewall, src/flotilla/firewall.py), case by case."""

import pytest

from flotilla import firewall as fw


def node(addr, state="ready"):
    return {"ID": addr, "Status": {"State": state, "Addr": addr}}


class TestMembers:
    def test_inventory_and_swarm_nodes_and_extra_sources_by_family(self):
        addresses = {"m1": "10.0.0.1", "w1": "10.0.0.2", "w2": ""}   # w2: never read, not in the swarm
        nodes = [node("10.0.0.1"), node("10.0.0.9", "down")]          # 10.0.0.9 joined by hand
        members = fw.firewall_members(addresses, nodes, ["2001:db8::1", "192.0.2.0/24"])
        assert members == {"v4": ["10.0.0.1", "10.0.0.2", "10.0.0.9", "192.0.2.0/24"], "v6": ["2001:db8::1"]}

    def test_unreadable_and_unspecified_addresses_are_left_out(self):
        assert fw.firewall_members({"m1": "0.0.0.0"}, [node("not an address"), {"ID": "x"}], []) == {"v4": [], "v6": []}


class TestProblems:
    def test_good_inputs(self):
        published = [{"port": 443, "sources": ["0.0.0.0/0"]}, {"port": 53, "proto": "udp", "sources": []}]
        assert fw.firewall_problems(published, ["192.0.2.7", "2001:db8::/32"], []) == []

    @pytest.mark.parametrize(
        ("published", "ssh", "extra", "says"),
        [
            ([{"port": "https"}], [], [], "firewall_published_ports[0].port: 'https' is not a port number (1-65535)"),
            ([{"port": 70000}], [], [], "firewall_published_ports[0].port: 70000 is not a port number"),
            ([{"port": True}], [], [], "firewall_published_ports[0].port: True is not a port number"),
            ([{"port": 80, "proto": "icmp"}], [], [], "firewall_published_ports[0].proto: 'icmp' is not tcp or udp"),
            ([{"port": 80}, {"port": 80, "proto": "tcp"}], [], [],
             "firewall_published_ports[1]: 80/tcp is listed twice"),
            ([{"port": 80, "sources": ["10.0.0.0/33"]}], [], [],
             "firewall_published_ports[0].sources: '10.0.0.0/33' is not an address or network"),
            ([], ["controller"], [], "firewall_ssh_sources: 'controller' is not an address or network"),
            ([], [], ["300.1.1.1"], "firewall_member_sources: '300.1.1.1' is not an address or network"),
        ],
    )
    def test_each_problem_names_the_variable(self, published, ssh, extra, says):
        problems = fw.firewall_problems(published, ssh, extra)
        assert len(problems) == 1 and problems[0].startswith(says)


def test_published_ports_sorted_with_sources_by_family():
    published = [{"port": 9090, "sources": ["192.0.2.0/24", "2001:db8::/32", "192.0.2.0/24"]},
                 {"port": 53, "proto": "udp"}]
    assert fw.firewall_published(published) == [
        {"port": 53, "proto": "udp", "v4": [], "v6": []},
        {"port": 9090, "proto": "tcp", "v4": ["192.0.2.0/24"], "v6": ["2001:db8::/32"]},
    ]


@pytest.mark.parametrize(
    ("controller", "sources", "cut"),
    [
        ("192.168.250.1", [], False),                      # SSH not restricted
        ("192.168.250.1", ["192.168.250.0/24"], False),
        ("192.168.250.1", ["192.168.250.1"], False),
        ("::ffff:192.168.250.1", ["192.168.250.1"], False),  # an IPv4 client on a dual-stack sshd
        ("fe80::1%eth0", ["fe80::/64"], False),
        ("192.168.250.1", ["10.0.0.0/8"], True),
        ("192.168.250.1", ["2001:db8::/32"], True),
        ("", ["10.0.0.0/8"], True),                          # unknown: refused, not guessed
        ("bogus", ["10.0.0.0/8"], True),
    ],
)
def test_ssh_cut(controller, sources, cut):
    reason = fw.firewall_ssh_cut(controller, sources)
    assert bool(reason) is cut
    if cut and controller == "192.168.250.1":
        assert reason == (f"firewall_ssh_sources ({', '.join(sources)}) does not admit the controller's own SSH "
                          "connection from 192.168.250.1; add it (or its network) to firewall_ssh_sources")


class TestOutside:
    cluster = {
        "managers": ["m1", "m2"], "workers": ["w1", "w2"], "unreachable": ["m2"],
        "engines": {"m1": {"state": "active"}, "m2": {"state": "active"}, "w1": {"state": "active"},
                    "w2": {"state": "inactive"}},
    }

    def test_a_host_about_to_join_needs_the_reachable_members_outside_the_run(self):
        assert fw.firewall_outside(self.cluster, ["w2"]) == ["m1", "w1"]

    def test_nobody_outside_when_every_host_of_the_run_is_a_member(self):
        assert fw.firewall_outside(self.cluster, ["w1"]) == []
        assert fw.firewall_outside(self.cluster, ["m1", "m2", "w1"]) == []

    def test_a_fresh_host_with_no_engine_yet_is_joining_too(self):
        cluster = {**self.cluster, "engines": {k: v for k, v in self.cluster["engines"].items() if k != "w2"}}
        assert fw.firewall_outside(cluster, ["w2"]) == ["m1", "w1"]


class TestMembersWhenTheSwarmCannotBeRead:
    def test_a_host_that_did_not_answer_is_admitted_at_its_inventory_address(self):
        members = fw.firewall_members({"m1": "10.0.0.1", "m2": ""}, [], [], {"m2": "10.0.0.2", "m1": "10.0.0.99"})
        assert members["v4"] == ["10.0.0.1", "10.0.0.2"]

    def test_the_first_ip_address_the_inventory_gives_is_taken(self):
        assert fw.firewall_members({"m2": ""}, [], [], {"m2": ["eth1", "10.0.0.2"]})["v4"] == ["10.0.0.2"]
        assert fw.firewall_members({"m2": ""}, [], [], {"m2": ["", "m2.example.org"]})["v4"] == []

    def test_what_the_tables_admit_now_is_kept(self):
        kept = ["10.0.0.9", "10.0.1.0/24", "10.0.2.4-10.0.2.7"]
        members = fw.firewall_members({"m1": "10.0.0.1"}, [], [], {}, kept)
        assert members["v4"] == ["10.0.0.1", "10.0.0.9", "10.0.1.0/24", "10.0.2.4/30"]


def test_an_address_inside_an_admitted_network_is_given_once():
    # A named nft set with flags interval refuses overlapping elements; neighbours stay apart.
    members = fw.firewall_members({"m1": "192.168.250.11", "m2": "192.168.250.12"}, [],
                                  ["192.168.250.0/28", "2001:db8::1", "2001:db8::/64"])
    assert members == {"v4": ["192.168.250.0/28"], "v6": ["2001:db8::/64"]}
    assert fw.firewall_members({"m1": "10.0.0.1", "m2": "10.0.0.2"}, [], [])["v4"] == ["10.0.0.1", "10.0.0.2"]
    assert fw.firewall_sources(["192.0.2.0/24", "192.0.2.7"]) == {"v4": ["192.0.2.0/24"], "v6": []}
