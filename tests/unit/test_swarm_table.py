"""The node table of `flotilla lab status`."""

from flotilla.lab.swarm_table import format_nodes, port_nodes


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


def test_a_host_mode_port_of_a_replicated_service_is_expected_only_where_its_task_runs():
    def svc(name, mode, ports):
        return {"Spec": {"Name": name, "Mode": mode,
                         "EndpointSpec": {"Ports": [{"PublishedPort": p, "PublishMode": m} for p, m in ports]}}}

    services = [svc("demo_proxy", {"Global": {}}, [(8080, "host")]),
                svc("monitoring_prometheus", {"Replicated": {"Replicas": 1}}, [(9090, "host")]),
                svc("web", {"Replicated": {"Replicas": 2}}, [(8000, "ingress")]),
                svc("gone", {"Replicated": {"Replicas": 1}}, [(9999, "host")])]
    nodes = ["manager1", "manager2", "worker1"]
    assert port_nodes(services, {"monitoring_prometheus": ["manager1"], "gone": []}, nodes) == {
        8000: nodes, 8080: nodes, 9090: ["manager1"], 9999: []}


def test_a_web_ui_is_described_by_its_page_title():
    from flotilla.lab.https import describe

    page = b'<!DOCTYPE html><html><head><title>Prometheus Time Series Collection and Processing Server</title>'
    assert describe([page]) == "answers: page 'Prometheus Time Series Collection and Processing Server'"
    assert describe([b'{"version": "1", "hostname": "worker1"}']) == "version 1 from worker1 (1 requests)"
    assert describe([b"plain"]) == "answers, not JSON: b'plain'"
