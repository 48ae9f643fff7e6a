"""Unit tests of the lab's pure planning logic."""

import ipaddress

import pytest

from flotilla.lab import plan
from flotilla.lab.plan import LabError

SUBNET = ipaddress.ip_network("192.168.250.0/24")


def test_default_lab_is_three_managers_and_two_workers_at_fixed_addresses():
    nodes = plan.plan_nodes(SUBNET, plan.DEFAULT_MANAGERS, plan.DEFAULT_WORKERS)
    assert [(n.name, n.group, n.ip) for n in nodes] == [
        ("manager1", "swarm_managers", "192.168.250.11"),
        ("manager2", "swarm_managers", "192.168.250.12"),
        ("manager3", "swarm_managers", "192.168.250.13"),
        ("worker1", "swarm_workers", "192.168.250.101"),
        ("worker2", "swarm_workers", "192.168.250.102"),
    ]
    assert [n.role for n in nodes] == ["manager"] * 3 + ["worker"] * 2


def test_growing_one_group_keeps_the_addresses_of_the_other():
    small = {n.name: n.ip for n in plan.plan_nodes(SUBNET, 1, 2)}
    large = {n.name: n.ip for n in plan.plan_nodes(SUBNET, 7, 5)}
    assert all(large[name] == ip for name, ip in small.items())


def test_largest_lab_fits_in_a_slash_24():
    nodes = plan.plan_nodes(SUBNET, plan.MAX_MANAGERS, plan.MAX_WORKERS)
    addresses = [ipaddress.ip_address(n.ip) for n in nodes]
    assert len(set(addresses)) == len(nodes)
    assert all(a in SUBNET and a not in (SUBNET.network_address, SUBNET.broadcast_address) for a in addresses)
    assert ipaddress.ip_address("192.168.250.1") not in addresses  # the gateway


@pytest.mark.parametrize(
    ("managers", "workers", "fragment"),
    [
        (0, 2, "--managers 0"),
        (-1, 2, "--managers -1"),
        (3, -1, "--workers -1"),
        (plan.MAX_MANAGERS + 1, 0, "at most"),
        (1, plan.MAX_WORKERS + 1, "at most"),
    ],
)
def test_bad_counts_are_refused_in_one_line(managers, workers, fragment):
    with pytest.raises(LabError) as err:
        plan.validate_counts(managers, workers)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("banana", "not an IPv4 network"),
        ("192.168.250.1/24", "not an IPv4 network"),  # host bits set
        ("fd00::/64", "IPv4"),
        ("192.168.250.0/25", "/24 or larger"),
        ("10.20.0.0/24", "Swarm's default address pool"),
    ],
)
def test_bad_subnets_are_refused(text, fragment):
    with pytest.raises(LabError, match=fragment):
        plan.parse_subnet(text)


def test_good_subnet_is_accepted():
    assert plan.parse_subnet("172.30.0.0/16") == ipaddress.ip_network("172.30.0.0/16")


@pytest.mark.parametrize("name", ["", "Flotilla", "-lab", "a" * 32, "lab_1", "lab 1"])
def test_bad_lab_names_are_refused(name):
    with pytest.raises(LabError, match="not a valid lab name"):
        plan.validate_lab_name(name)


def test_overlap_names_the_network_that_collides():
    existing = [("Docker network 'bridge'", "172.17.0.0/16"), ("host route via eth0", "192.168.0.0/16")]
    assert plan.find_overlap(SUBNET, existing) == ("host route via eth0", "192.168.0.0/16")
    assert plan.find_overlap(ipaddress.ip_network("192.169.0.0/24"), existing) is None


def test_overlap_ignores_ipv6_and_garbage():
    assert plan.find_overlap(SUBNET, [("v6", "fd00::/64"), ("junk", "not-a-net")]) is None


PROC_NET_ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""


def test_proc_net_route_is_parsed_without_the_default_route():
    assert plan.parse_proc_net_route(PROC_NET_ROUTE) == [
        ("host route via eth0", "192.0.2.0/24"),
        ("host route via docker0", "172.17.0.0/16"),
    ]


def test_capabilities_missing_from_the_bounding_set_are_dropped():
    # This machine's CapBnd: every capability up to CHECKPOINT_RESTORE except SYS_RESOURCE.
    assert plan.capabilities_to_drop(0x000001FFFEFFFFFF) == ["SYS_RESOURCE"]
    assert plan.capabilities_to_drop((1 << len(plan.CAPABILITIES)) - 1) == []
    assert plan.capabilities_to_drop(0) == list(plan.CAPABILITIES)


def test_capbnd_is_read_from_proc_status():
    status = "Name:\tpython\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n"
    assert plan.parse_capbnd(status) == 0x1FFFEFFFFFF
    with pytest.raises(LabError, match="CapBnd"):
        plan.parse_capbnd("Name:\tpython\n")


def test_inventory_groups_hosts_in_order_and_pins_host_keys():
    nodes = plan.plan_nodes(SUBNET, 1, 11)
    inventory = plan.render_inventory(reversed(nodes), "/lab/id_ed25519", "/lab/known_hosts")
    groups = inventory["all"]["children"]
    assert list(groups["swarm_managers"]["hosts"]) == ["manager1"]
    assert list(groups["swarm_workers"]["hosts"])[-2:] == ["worker10", "worker11"]
    assert groups["swarm_workers"]["hosts"]["worker1"] == {"ansible_host": "192.168.250.101"}
    ssh_args = inventory["all"]["vars"]["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/lab/known_hosts" in ssh_args
    assert "StrictHostKeyChecking=yes" in ssh_args
    assert "swarm_backup_age_recipients" not in inventory["all"]["vars"]
    assert inventory["all"]["vars"]["lab_overlay_encryption"] is False
    assert plan.render_inventory(nodes, "/k", "/h", overlay_encryption=True)["all"]["vars"]["lab_overlay_encryption"]
    assert "lab_controller_address" not in plan.render_inventory(nodes, "/k", "/h")["all"]["vars"]
    assert plan.render_inventory(nodes, "/k", "/h", controller="192.168.250.1")["all"]["vars"][
        "lab_controller_address"] == "192.168.250.1"
    # With the lab's public key: backups encrypted to it, restored with the key file (read then).
    lab_vars = plan.render_inventory(nodes, "/lab/id_ed25519", "/lab/known_hosts", "ssh-ed25519 AAAA flotilla-lab\n")
    assert lab_vars["all"]["vars"]["swarm_backup_age_recipients"] == ["ssh-ed25519 AAAA"]
    identity = lab_vars["all"]["vars"]["swarm_restore_age_identity"]
    assert identity == "{{ lookup('ansible.builtin.file', '/lab/id_ed25519') }}"


def test_known_hosts_lines_are_sorted_by_address_and_drop_comments():
    lines = plan.known_hosts_lines(
        {"192.168.250.101": "ssh-ed25519 BBBB root@worker1", "192.168.250.11": "ssh-ed25519 AAAA root@manager1"}
    )
    assert lines == "192.168.250.11 ssh-ed25519 AAAA\n192.168.250.101 ssh-ed25519 BBBB\n"
    assert plan.known_hosts_lines({}) == ""


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (
            [
                "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
                "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
            ],
            ("http://mirror.example/debian", "http://mirror.example/debian-security"),
        ),
        (
            ["deb [arch=amd64] http://ftp.example/debian/ bookworm main\n# deb http://old/debian x main\n"],
            ("http://ftp.example/debian", None),
        ),
        (["deb https://packages.example/apt cloud-sdk main\n"], (None, None)),
    ],
)
def test_apt_mirrors_are_found_in_both_source_formats(texts, expected):
    assert plan.parse_apt_mirrors(texts) == expected


@pytest.mark.parametrize(
    ("name", "parsed"),
    [("manager1", ("manager", 1)), ("worker12", ("worker", 12)), ("worker0", None), ("web1", None)],
)
def test_node_names(name, parsed):
    assert plan.parse_node_name(name) == parsed


def test_node_sort_key_orders_managers_first_and_numerically():
    names = ["worker10", "other", "worker9", "manager2", "manager10", "manager1"]
    assert sorted(names, key=plan.node_sort_key) == [
        "manager1", "manager2", "manager10", "worker9", "worker10", "other"
    ]  # fmt: skip
