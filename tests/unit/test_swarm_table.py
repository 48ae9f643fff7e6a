"""The node table of `flotilla lab status`."""

from flotilla.lab.swarm_table import format_nodes


def test_table_rows_managers_first_with_labels():
    nodes = [
        {"Spec": {"Role": "worker", "Availability": "drain", "Labels": {"tier": "app", "a": "1"}},
         "Status": {"State": "ready"}, "Description": {"Hostname": "worker1", "Engine": {"EngineVersion": "26.1.5"}}},
        {"Spec": {"Role": "manager", "Availability": "active", "Labels": {}}, "Status": {"State": "ready"},
         "ManagerStatus": {"Leader": True, "Reachability": "reachable"},
         "Description": {"Hostname": "manager1", "Engine": {"EngineVersion": "26.1.5"}}},
    ]  # fmt: skip
    assert format_nodes(nodes) == [
        "HOSTNAME  ROLE     AVAILABILITY  STATUS  MANAGER STATUS  ENGINE  LABELS",
        "manager1  manager  active        ready   leader          26.1.5  -",
        "worker1   worker   drain         ready   -               26.1.5  a=1,tier=app",
    ]
