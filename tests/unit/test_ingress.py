"""The ingress role's reading of routes (flotilla.ingress, src/flotilla/ingress.py), case by case."""

import pytest

from flotilla import ingress

EDGE = {"edge": {"external": True, "name": "flotilla_edge"}}


def stack(labels, networks=("edge",), declared=None):
    return {
        "services": {"web": {"image": "x", "networks": list(networks), "deploy": {"labels": labels}}},
        "networks": EDGE if declared is None else declared,
    }


def route_labels(name="site", **fields):
    fields = {"hosts": "shop.example.org", "port": "8000", **fields}
    return {f"io.flotilla.ingress.{name}.{key}": value for key, value in fields.items()}


class TestRoutes:
    def test_a_route_with_defaults(self):
        found = ingress.ingress_routes({"shop": stack(route_labels())}, "flotilla_edge")
        assert found["problems"] == []
        assert found["routes"] == [{
            "stack": "shop", "service": "web", "route": "site", "backend": "shop_web_site",
            "target": "tasks.shop_web", "hosts": ["shop.example.org"], "paths": ["/"], "port": 8000,
            "tls": True, "hsts": False, "check": "",
        }]

    def test_every_field_and_the_list_form_of_labels(self):
        labels = route_labels(
            hosts="A.example.org, b.example.org", paths="/api,/v2", tls="yes", hsts="true", check="/healthz"
        )
        listed = [f"{key}={value}" for key, value in labels.items()] + ["other=1"]
        found = ingress.ingress_routes({"shop": stack(listed)}, "flotilla_edge")
        assert found["problems"] == []
        (route,) = found["routes"]
        assert route["hosts"] == ["a.example.org", "b.example.org"]
        assert route["paths"] == ["/api", "/v2"]
        assert (route["tls"], route["hsts"], route["check"]) == (True, True, "/healthz")

    def test_services_without_routes_and_other_labels_are_ignored(self):
        compose = stack({"io.flotilla.demo": "web"}, networks=())
        found = ingress.ingress_routes({"demo": compose, "odd": "not a mapping"}, "flotilla_edge")
        assert found == {"routes": [], "problems": []}

    def test_a_network_attached_in_the_mapping_form_counts(self):
        compose = stack(route_labels())
        compose["services"]["web"]["networks"] = {"edge": {"aliases": ["w"]}}
        assert ingress.ingress_routes({"shop": compose}, "flotilla_edge")["problems"] == []

    @pytest.mark.parametrize(
        ("labels", "says"),
        [
            ({"io.flotilla.ingress.site.host": "x.org", "io.flotilla.ingress.site.port": "80"},
             "label io.flotilla.ingress.site.host is not a route field"),
            (route_labels(hosts=""), "io.flotilla.ingress.site.hosts is missing"),
            (route_labels(hosts="shop_example"), "host 'shop_example' is not a DNS name"),
            (route_labels(port="http"), "io.flotilla.ingress.site.port is 'http'"),
            (route_labels(port="70000"), "io.flotilla.ingress.site.port is '70000'"),
            (route_labels(paths="api"), "path 'api' must start with /"),
            (route_labels(paths="/it's"), "path \"/it's\" must start with /"),
            (route_labels(tls="maybe"), "tls and hsts take true or false"),
            (route_labels(tls="false", hsts="true"), "hsts needs tls"),
            (route_labels(check="healthz"), "check 'healthz' must be a path"),
            (route_labels(name="Site"), "route Site: the name must be lower-case"),
        ],
    )
    def test_a_wrong_field_is_named(self, labels, says):
        found = ingress.ingress_routes({"shop": stack(labels)}, "flotilla_edge")
        assert found["routes"] == []
        assert found["problems"] and all(p.startswith("stack shop: services.web") for p in found["problems"])
        assert says in found["problems"][0]

    @pytest.mark.parametrize(
        ("networks", "declared"),
        [
            ((), EDGE),                                                    # not attached
            (("edge",), {"edge": {"driver": "overlay"}}),                  # the stack's own network
            (("edge",), {"edge": {"external": True, "name": "other"}}),    # another external one
        ],
    )
    def test_a_routed_service_off_the_ingress_network_is_refused(self, networks, declared):
        found = ingress.ingress_routes({"shop": stack(route_labels(), networks, declared)}, "flotilla_edge")
        assert found["routes"] == []
        assert "is not on the ingress network; add `networks: {edge: {external: true, name: flotilla_edge}}`" in (
            found["problems"][0]
        )

    def test_an_external_network_without_a_name_is_matched_by_its_key(self):
        compose = stack(route_labels(), declared={"flotilla_edge": {"external": True}}, networks=("flotilla_edge",))
        assert ingress.ingress_routes({"shop": compose}, "flotilla_edge")["problems"] == []

    def test_a_host_and_path_claimed_twice_is_refused(self):
        found = ingress.ingress_routes(
            {"shop": stack(route_labels()), "blog": stack(route_labels(name="www", paths="/,/blog"))}, "flotilla_edge"
        )
        assert found["problems"] == [
            "stack shop: services.web: route site: shop.example.org/ is claimed by"
            " stack blog: services.web: route www too; give one of them another host or path"
        ]

    def test_one_host_on_https_and_on_http_is_refused(self):
        found = ingress.ingress_routes(
            {"shop": stack(route_labels()), "blog": stack(route_labels(name="www", paths="/blog", tls="false"))},
            "flotilla_edge",
        )
        assert found["problems"] == [
            "host shop.example.org: some routes have tls and some not; one host is served on https or on http, not both"
        ]


class TestRules:
    def test_longest_path_first_then_host(self):
        routes = [
            {"backend": "a_root", "hosts": ["b.org", "a.org"], "paths": ["/"], "tls": True},
            {"backend": "a_api", "hosts": ["a.org"], "paths": ["/api"], "tls": True},
            {"backend": "c_x", "hosts": ["c.org"], "paths": ["/api/v2"], "tls": False},
        ]
        assert [(r["backend"], r["host"], r["path"]) for r in ingress.ingress_rules(routes)] == [
            ("c_x", "c.org", "/api/v2"), ("a_api", "a.org", "/api"), ("a_root", "a.org", "/"), ("a_root", "b.org", "/"),
        ]

    def test_tls_hosts_are_those_of_routes_on_https(self):
        routes = [
            {"hosts": ["b.org", "a.org"], "tls": True},
            {"hosts": ["a.org"], "tls": True},
            {"hosts": ["plain.org"], "tls": False},
        ]
        assert ingress.ingress_tls_hosts(routes) == ["a.org", "b.org"]
