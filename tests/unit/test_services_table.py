"""The services table of `flotilla lab status`."""

from flotilla.lab.swarm_table import format_services, published_ports


def test_services_rows_with_update_state_and_published_ports():
    listed = [
        {"ID": "bbbbbbbbbbbb", "Name": "demo_web", "Mode": "replicated", "Replicas": "3/4",
         "Image": "flotilla/demo-web:2@sha256:abc"},
        {"ID": "aaaaaaaaaaaa", "Name": "demo_proxy", "Mode": "global", "Replicas": "5/5", "Image": "proxy:1"},
    ]
    inspected = [
        {"ID": "bbbbbbbbbbbbxyz", "UpdateStatus": {"State": "updating"}, "Spec": {}},
        {"ID": "aaaaaaaaaaaaxyz", "Spec": {"EndpointSpec": {"Ports": [
            {"TargetPort": 8080, "PublishedPort": 8080, "PublishMode": "host"},
            {"TargetPort": 9000},
        ]}}},
    ]  # fmt: skip
    assert format_services(listed, inspected) == [
        "SERVICE     MODE        REPLICAS  IMAGE                UPDATE    PORTS",
        "demo_proxy  global      5/5       proxy:1              -         8080/host",
        "demo_web    replicated  3/4       flotilla/demo-web:2  updating  -",
    ]
    assert published_ports(inspected[1]) == [(8080, "host")]
