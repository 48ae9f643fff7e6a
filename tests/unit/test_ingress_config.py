"""The ingress proxy's configuration (stacks/ingress/configs/haproxy.cfg.j2) rendered from routes
as role ingress hands them over: what each frontend does with which host, and where HSTS goes."""

from pathlib import Path

import jinja2

from flotilla import ingress

TEMPLATE = Path(__file__).resolve().parents[2] / "stacks" / "ingress" / "configs" / "haproxy.cfg.j2"
EDGE = {"edge": {"external": True, "name": "flotilla_edge"}}


def render(source="acme", https=True, **labels):
    compose = {"services": {"web": {"networks": ["edge"], "deploy": {"labels": {
        "io.flotilla.ingress.site.hosts": "shop.example.org", "io.flotilla.ingress.site.port": "8000", **labels}}},
        "api": {"networks": ["edge"], "deploy": {"labels": {
            "io.flotilla.ingress.v1.hosts": "shop.example.org", "io.flotilla.ingress.v1.paths": "/api",
            "io.flotilla.ingress.v1.port": "9000"}}}}, "networks": EDGE}
    found = ingress.ingress_routes({"shop": compose}, "flotilla_edge")
    assert found["problems"] == []
    routes = found["routes"]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=False)
    env.filters["bool"] = lambda value: value if isinstance(value, bool) else str(value).lower() in ("true", "yes", "1")
    text = env.from_string(TEMPLATE.read_text()).render(
        ansible_managed="managed", ingress_https=https, ingress_tls_source=source, ingress_routes=routes,
        ingress_rules=ingress.ingress_rules(routes), ingress_tls_hosts=ingress.ingress_tls_hosts(routes),
        ingress_hsts_max_age=600, ingress_server_slots=4,
    )
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def section(lines, header):
    start = lines.index(header)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].split()[0] in ("frontend", "backend")), len(lines))
    return lines[start + 1:end]


def test_http_redirects_tls_hosts_but_passes_the_acme_challenge_on():
    http = section(render(), "frontend http")
    assert "use_backend acme if acme_challenge" in http
    assert "http-request redirect scheme https code 301 if https_host !acme_challenge" in http
    assert not any(line.startswith("use_backend shop_") for line in http)   # tls routes: https only


def test_https_routes_longest_path_first_and_hsts_only_where_asked():
    lines = render(**{"io.flotilla.ingress.site.hsts": "true"})
    https = section(lines, "frontend https")
    assert https[0] == "bind :443 ssl crt /run/secrets/tls.pem alpn h2,http/1.1"
    rules = [line for line in https if line.startswith("use_backend")]
    assert [r.split()[1] for r in rules] == ["shop_api_v1", "shop_web_site"]
    assert "server-template s 4 tasks.shop_web:8000" in section(lines, "backend shop_web_site")
    assert 'http-response set-header Strict-Transport-Security "max-age=600"' in section(lines, "backend shop_web_site")
    assert not any("Strict-Transport-Security" in line for line in section(lines, "backend shop_api_v1"))


def test_without_tls_the_routes_are_served_on_http_and_there_is_no_443():
    lines = render(source="none", https=False)
    assert "frontend https" not in lines and "backend acme" not in lines
    http = section(lines, "frontend http")
    assert not any("redirect" in line for line in http)
    assert [line.split()[1] for line in http if line.startswith("use_backend")] == ["shop_api_v1", "shop_web_site"]


def test_an_internal_certificate_has_no_acme_backend():
    lines = render(source="internal")
    assert "backend acme" not in lines
    assert "http-request redirect scheme https code 301 if https_host" in section(lines, "frontend http")
