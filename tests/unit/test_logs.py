"""Central log lines for people (flotilla.logs)."""

from flotilla.logs import logs_line


def test_a_task_line_names_time_node_task_and_message():
    entry = {"__REALTIME_TIMESTAMP": "1796300000123456", "_HOSTNAME": "worker1",
             "COM_DOCKER_SWARM_TASK_NAME": "demo_web.2.abc", "CONTAINER_NAME": "demo_web.2.abc",
             "MESSAGE": "demo web 1 listening on :8000\n"}
    assert logs_line(entry) == "2026-12-03T12:13:20.123Z worker1 demo_web.2.abc: demo web 1 listening on :8000"


def test_an_engine_line_names_its_unit_and_bytes_are_decoded():
    entry = {"__REALTIME_TIMESTAMP": "0", "_HOSTNAME": "manager1", "_SYSTEMD_UNIT": "docker.service",
             "MESSAGE": [104, 105, 255]}
    assert logs_line(entry) == "1970-01-01T00:00:00.000Z manager1 docker.service: hi\ufffd"
    assert logs_line({}) == "1970-01-01T00:00:00.000Z ? ?: "
    assert logs_line({"__REALTIME_TIMESTAMP": "x"}).startswith("? ? ?:")
