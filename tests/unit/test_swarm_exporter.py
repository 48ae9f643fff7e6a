"""The swarm-state exporter's judging (stacks/monitoring/images/monitoring/swarm_exporter.py),
loaded from the image's build context, without prometheus_client or an engine."""

import importlib.util
import ssl
from pathlib import Path

import pytest

from flotilla.lab.alerts import Notice, matching, notices

SOURCE = Path(__file__).resolve().parents[2] / "stacks/monitoring/images/monitoring/swarm_exporter.py"
spec = importlib.util.spec_from_file_location("swarm_exporter", SOURCE)
assert spec and spec.loader
exporter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(exporter)


def node(id_, host, role="worker", state="ready", availability="active", manager=None):
    n = {"ID": id_, "Description": {"Hostname": host, "Engine": {"EngineVersion": "26.1.5"}},
         "Spec": {"Role": role, "Availability": availability}, "Status": {"State": state}}
    if manager:
        n["ManagerStatus"] = manager
    return n


NODES = [
    node("m1", "manager1", "manager", manager={"Leader": True, "Reachability": "reachable"}),
    node("m2", "manager2", "manager", manager={"Reachability": "reachable"}),
    node("m3", "manager3", "manager", state="down", manager={"Reachability": "unreachable"}),
    node("w1", "worker1"),
    node("w2", "worker2", state="down", availability="drain"),
]
WEB = {"ID": "s1", "Spec": {"Name": "demo_web", "Labels": {"com.docker.stack.namespace": "demo"},
                            "Mode": {"Replicated": {"Replicas": 4}}},
       "UpdateStatus": {"State": "rollback_completed"}}
AGENT = {"ID": "s2", "Spec": {"Name": "monitoring_node-exporter", "Mode": {"Global": {}}}}


def task(service, node_id, state="running", desired="running"):
    return {"ServiceID": service, "NodeID": node_id, "DesiredState": desired, "Status": {"State": state}}


TASKS = [task("s1", "m1"), task("s1", "m2"), task("s1", "w1", "starting"), task("s1", "m2", "shutdown", "shutdown"),
         *(task("s2", n) for n in ("m1", "m2", "m3", "w1"))]


def by_name(samples):
    out = {}
    for name, _help, labels, value in samples:
        out.setdefault(name, {})[tuple(sorted(labels.items()))] = value
    return out


def test_the_leader_exports_the_cluster():
    got = by_name(exporter.samples("m1", NODES, [WEB, AGENT], TASKS, "manager1", 1.8e9, 1.7e9))
    assert got["flotilla_swarm_exporter_leader"] == {(("node", "manager1"),): 1.0}
    up = {dict(k)["node"]: v for k, v in got["flotilla_swarm_node_up"].items()}
    assert up == {"manager1": 1, "manager2": 1, "manager3": 0, "worker1": 1, "worker2": 0}
    assert {dict(k)["node"]: v for k, v in got["flotilla_swarm_node_active"].items()}["worker2"] == 0
    assert got["flotilla_swarm_managers"] == {(): 3.0}
    # 2 reachable of 3: the quorum (2) holds with no margin
    assert got["flotilla_swarm_quorum_margin"] == {(): 0.0}
    assert {dict(k)["node"]: v for k, v in got["flotilla_swarm_manager_reachable"].items()} == {
        "manager1": 1, "manager2": 1, "manager3": 0}
    wanted = {dict(k)["service"]: v for k, v in got["flotilla_swarm_service_wanted"].items()}
    running = {dict(k)["service"]: v for k, v in got["flotilla_swarm_service_running"].items()}
    # replicated: its replicas, the starting and shut-down tasks not running; global: one per task
    # the swarm wants running (here one is still wanted on the down manager3), the task on the
    # down node not running
    assert wanted == {"demo_web": 4, "monitoring_node-exporter": 4}
    assert running == {"demo_web": 2, "monitoring_node-exporter": 3}
    assert got["flotilla_swarm_service_update_state"] == {
        (("service", "demo_web"), ("stack", "demo"), ("state", "rollback_completed")): 1.0,
        (("service", "monitoring_node-exporter"), ("stack", ""), ("state", "none")): 1.0}
    assert got["flotilla_node_certificate_expiry_timestamp_seconds"] == {(("node", "manager1"),): 1.8e9}
    assert got["flotilla_backup_last_success_timestamp_seconds"] == {(("node", "manager1"),): 1.7e9}


def test_every_other_node_exports_only_itself():
    # a manager that is not the leader (its own node read), and a worker (no cluster view): their
    # certificate only, and the manager its record of the last backup
    for self_id, nodes, backup in (("m2", [n for n in NODES if n["ID"] == "m2"], 1.7e9), ("w1", None, None)):
        got = by_name(exporter.samples(self_id, nodes, [WEB], TASKS, "x", 1.8e9, backup))
        assert set(got) == {"flotilla_swarm_exporter_leader", "flotilla_node_certificate_expiry_timestamp_seconds",
                            *(["flotilla_backup_last_success_timestamp_seconds"] if backup else [])}
        assert list(got["flotilla_swarm_exporter_leader"].values()) == [0.0]


def test_no_backup_record_no_backup_series_and_an_unreadable_certificate_none(tmp_path):
    got = by_name(exporter.samples("m1", NODES, [], [], "manager1", None, exporter.backup_time(str(tmp_path / "none"))))
    assert "flotilla_backup_last_success_timestamp_seconds" not in got
    (tmp_path / "backup.last").write_text("soon\n")
    assert exporter.backup_time(str(tmp_path / "backup.last")) is None
    (tmp_path / "backup.last").write_text("1700000000\n")
    assert exporter.backup_time(str(tmp_path / "backup.last")) == 1.7e9
    assert "flotilla_node_certificate_expiry_timestamp_seconds" not in got
    assert exporter.certificate_expiry(str(tmp_path / "missing.crt")) is None
    (tmp_path / "bad.crt").write_text("not a certificate")
    assert exporter.certificate_expiry(str(tmp_path / "bad.crt")) is None


def test_a_certificates_end_is_read(tmp_path):
    pem = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    if not pem.is_file():
        pytest.skip("no CA bundle on this machine")
    first = pem.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    (tmp_path / "c.pem").write_text(first)
    assert exporter.certificate_expiry(str(tmp_path / "c.pem")) > 1e9


def test_webhook_notices_are_matched_by_name_status_labels_and_time():
    body = {"status": "firing", "alerts": [
        {"status": "firing", "labels": {"alertname": "NodeDown", "node": "worker2"}, "annotations": {"summary": "s"}},
        {"status": "resolved", "labels": {"alertname": "NodeDown", "node": "worker1"}}]}
    seen = notices(body, 10.0)
    assert seen[0] == Notice(10.0, "firing", {"alertname": "NodeDown", "node": "worker2"}, {"summary": "s"})
    assert matching(seen, "NodeDown", node="worker2") == seen[:1]
    assert matching(seen, "NodeDown", "resolved") == seen[1:]
    assert matching(seen, "NodeDown", since=11.0) == []
    assert matching(seen, "ServiceBelowWanted") == []
