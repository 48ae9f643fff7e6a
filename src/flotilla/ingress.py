"""Filters of the ingress role: the routes the app stacks declare, checked and ordered for HAProxy.

A route is declared on the service it leads to, in the ``deploy.labels`` of its compose file, in
the kit's namespace (one route per ``<route>`` name; several per service are allowed)::

    io.flotilla.ingress.<route>.hosts: "shop.example.org,www.shop.example.org"   # required
    io.flotilla.ingress.<route>.port: "8000"                                      # required
    io.flotilla.ingress.<route>.paths: "/"          # path prefixes, comma separated (default /)
    io.flotilla.ingress.<route>.tls: "true"         # served on 443, http redirects (default true)
    io.flotilla.ingress.<route>.hsts: "false"       # Strict-Transport-Security (default false)
    io.flotilla.ingress.<route>.check: "/healthz"   # HTTP health check path (default: TCP connect)

Every function is pure (dicts in, dicts out) so tests/unit/test_ingress.py covers each case.
"""

from __future__ import annotations

import re
from typing import Any

PREFIX = "io.flotilla.ingress."
FIELDS = ("hosts", "port", "paths", "tls", "hsts", "check")
_ROUTE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
# A DNS name as certificates and Host headers carry it: labels of letters, digits and hyphens.
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
# No quotes, spaces or backslashes: HAProxy's configuration language would read them.
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&()*+,;=:@%/-]*$")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _labels(service: dict[str, Any]) -> dict[str, str]:
    """A service's deploy labels, from the mapping or the list form of Compose."""
    labels = (service.get("deploy") or {}).get("labels") or {}
    if isinstance(labels, list):
        pairs = (str(item).split("=", 1) for item in labels)
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    if isinstance(labels, dict):
        return {str(key): "" if value is None else str(value) for key, value in labels.items()}
    return {}


def _flag(value: str | None, default: bool) -> bool | None:
    if value is None or value.strip() == "":
        return default
    text = value.strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _on_network(compose: dict[str, Any], service: dict[str, Any], network: str) -> bool:
    """Whether a service is attached to the external network called ``network``."""
    declared = compose.get("networks") or {}
    attached = service.get("networks") or []
    keys = list(attached) if isinstance(attached, (list, dict)) else []
    for key in keys:
        spec = declared.get(key) or {}
        if isinstance(spec, dict) and spec.get("external") and spec.get("name", key) == network:
            return True
    return False


def _service_routes(
    stack: str, name: str, service: dict[str, Any], compose: dict[str, Any], network: str
) -> tuple[list[dict[str, Any]], list[str]]:
    labels = {k[len(PREFIX):]: v for k, v in _labels(service).items() if k.startswith(PREFIX)}
    names: dict[str, dict[str, str]] = {}
    problems = []
    where = f"stack {stack}: services.{name}"
    for key, value in sorted(labels.items()):
        route, _, field = key.rpartition(".")
        if not route or field not in FIELDS:
            choices = "|".join(FIELDS)
            problems.append(f"{where}: label {PREFIX}{key} is not a route field; use {PREFIX}<route>.<{choices}>")
            continue
        names.setdefault(route, {})[field] = value
    routes = []
    for route, fields in sorted(names.items()):
        label = f"{where}: route {route}"
        if not _ROUTE_NAME.match(route):
            problems.append(f"{label}: the name must be lower-case letters, digits and hyphens (at most 32)")
            continue
        hosts = [h.strip().lower() for h in fields.get("hosts", "").split(",") if h.strip()]
        paths = [p.strip() for p in fields.get("paths", "/").split(",") if p.strip()] or ["/"]
        port = fields.get("port", "").strip()
        tls, hsts = _flag(fields.get("tls"), True), _flag(fields.get("hsts"), False)
        check = fields.get("check", "").strip()
        found = []
        if not hosts:
            found.append(f"{PREFIX}{route}.hosts is missing; name the host names it answers, comma separated")
        found += [f"host {h!r} is not a DNS name (letters, digits, hyphens, dots)" for h in hosts
                  if not _HOST.match(h)]
        found += [f"path {p!r} must start with / and hold no spaces or quotes" for p in paths
                  if not _PATH.match(p)]
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            found.append(f"{PREFIX}{route}.port is {port!r}; set the service's port, 1-65535")
        if tls is None or hsts is None:
            found.append("tls and hsts take true or false")
        elif hsts and not tls:
            found.append("hsts needs tls")
        if check and not _PATH.match(check):
            found.append(f"check {check!r} must be a path starting with /")
        if not _on_network(compose, service, network):
            found.append(
                "the service is not on the ingress network; add "
                f"`networks: {{edge: {{external: true, name: {network}}}}}` to the compose file"
                " and `edge` to the service's networks"
            )
        if found:
            problems += [f"{label}: {problem}" for problem in found]
            continue
        routes.append({
            "stack": stack, "service": name, "route": route,
            "backend": f"{stack}_{name}_{route}", "target": f"tasks.{stack}_{name}",
            "hosts": hosts, "paths": paths, "port": int(port),
            "tls": bool(tls), "hsts": bool(hsts), "check": check,
        })
    return routes, problems


def ingress_routes(composes: dict[str, Any], network: str) -> dict[str, Any]:
    """Every route of every stack (``{stack: parsed compose}``), and the problems found: a field
    that is wrong, a host and path that two routes claim, a service off the ingress network."""
    routes: list[dict[str, Any]] = []
    problems: list[str] = []
    for stack, compose in sorted(composes.items()):
        if not isinstance(compose, dict):
            continue
        for name, service in sorted((compose.get("services") or {}).items()):
            if isinstance(service, dict):
                found, wrong = _service_routes(stack, name, service, compose, network)
                routes += found
                problems += wrong
    claimed: dict[tuple[str, str], str] = {}
    for route in routes:
        for host in route["hosts"]:
            for path in route["paths"]:
                owner = f"stack {route['stack']}: services.{route['service']}: route {route['route']}"
                other = claimed.setdefault((host, path), owner)
                if other != owner:
                    problems.append(
                        f"{owner}: {host}{path} is claimed by {other} too; give one of them another host or path"
                    )
    for host in sorted({h for r in routes for h in r["hosts"]}):
        modes = {r["tls"] for r in routes if host in r["hosts"]}
        if len(modes) > 1:
            problems.append(
                f"host {host}: some routes have tls and some not; one host is served on https or on http, not both"
            )
    return {"routes": routes, "problems": problems}


def ingress_rules(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HAProxy's use_backend rules in the order they must be tried: per host, the longest path
    prefix first (so /api wins over /), then by name for a stable configuration."""
    rules = [
        {"backend": r["backend"], "host": host, "path": path, "tls": r["tls"]}
        for r in routes for host in r["hosts"] for path in r["paths"]
    ]
    return sorted(rules, key=lambda rule: (-len(rule["path"]), rule["host"], rule["path"], rule["backend"]))


def ingress_tls_hosts(routes: list[dict[str, Any]]) -> list[str]:
    """The host names the cluster's certificate must name (every route served on https)."""
    return sorted({host for route in routes if route["tls"] for host in route["hosts"]})


FILTERS = {
    "ingress_routes": ingress_routes,
    "ingress_rules": ingress_rules,
    "ingress_tls_hosts": ingress_tls_hosts,
}
