"""Every page and every API operation, tried by an outsider and by no one.

For each URL pattern of the project (admin and /metrics aside: tests/operators cover them), the URL is filled
with the ids of Alpha's objects (tests/security/world.py): charlie (a member of Gamma only) gets 404 (405 for a
wrong method), pages that name no object answer him without any of Alpha's data, and an anonymous visitor is sent
to sign in. The same for every operation of /api/v1/openapi.json with bearer tokens (401 without one).
A URL or parameter the world cannot fill fails the test: extend World.ids() so the new endpoint is covered.
"""

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from tests.factories import make_vault
from tests.security.world import MARKER, build_world

EXCLUDED_PREFIXES = ("admin/", "metrics", "api/", "static/")
PUBLIC = {"login", "logout", "healthz", "favicon"}
PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def _routes(patterns=None, prefix=""):
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        route = str(p.pattern)
        if isinstance(p, URLResolver):
            if (prefix + route).startswith(EXCLUDED_PREFIXES):
                continue
            yield from _routes(p.url_patterns, prefix + route)
        elif isinstance(p, URLPattern):
            full = prefix + route
            if full.startswith(EXCLUDED_PREFIXES):
                continue
            if not isinstance(p.pattern, RoutePattern) and "(?P<" in route:
                pytest.fail(f"the tenancy matrix cannot fill the regular expression route {full!r}; use path()")
            yield full, p.name


def _fill(route: str, ids: dict) -> str:
    segments = route.split("/")
    out = []
    for i, segment in enumerate(segments):
        match = PARAM.fullmatch(segment)
        if not match:
            out.append(segment)
            continue
        before = segments[i - 1] if i else ""
        value = ids.get(before, ids.get(match["name"]))
        if value is None:
            pytest.fail(f"the tenancy world cannot fill <{match['name']}> in /{route}: add the object to "
                        "tests/security/world.py (World.ids) so the new endpoint is covered")
        out.append(str(value))
    return "/" + "/".join(out)


@pytest.fixture
def world(alpha, alice):
    return build_world(alpha, alice)


def _post_data(world) -> dict:
    """A form post that names Alpha's objects wherever a view reads an id from the body."""
    return {"subscription": world.subscription.pk, "vault": world.vault.pk, "vm": [world.vm.pk],
            "item": [world.protected.pk], "policy": world.policy.pk, "step": "3", "mode": "existing",
            "name": "charlie-probe", "region": "West US", "redundancy": "geo"}


def _query(world) -> dict:
    """Pages that take their objects from the query string (the Restore wizard's item and point)."""
    return {"item": world.protected.pk, "point": world.point.pk, "policy": world.policy.pk, "vm": world.vm.pk}


@pytest.mark.django_db
def test_every_page_hides_alphas_objects_from_another_subscription(client, world, charlie, alice, gamma):
    ids = world.ids()
    before = world.snapshot()
    # charlie's own vault, with Alpha's ids in the query string or the form: his vault must not reach them.
    own_vault_ids = ids | {"vaults": make_vault(gamma, name="charlie-vault").pk}
    routes = list(_routes())
    assert len(routes) > 25  # the walk found the project's URLs
    problems = []
    for route, name in routes:
        if name in PUBLIC:
            continue
        url = _fill(route, ids)
        names_object = PARAM.search(route) is not None
        # The world must name real objects: their owner can see them (else a 404 below would prove nothing).
        client.force_login(alice)
        owner = client.get(url, _query(world))
        if names_object and owner.status_code == 404:
            problems.append(f"alice GET {url} -> 404: the world's id does not fit this URL")
        client.force_login(charlie)
        for method in ("get", "post"):
            kwargs = {"data": _post_data(world) if method == "post" else _query(world)}
            response = getattr(client, method)(url, **kwargs)
            status = response.status_code
            body = response.content.decode(errors="replace") if not getattr(response, "streaming", False) else ""
            if names_object:
                if status not in (404, 405):
                    problems.append(f"charlie {method.upper()} {url} -> {status}, expected 404")
            else:
                if status >= 500 or status == 404 and method == "get":
                    problems.append(f"charlie {method.upper()} {url} -> {status}")
                if MARKER in body:
                    problems.append(f"charlie {method.upper()} {url} shows Alpha's data")
            if "<int:pk>" in route and route.startswith("vaults/"):
                own = _fill(route, own_vault_ids)
                response = getattr(client, method)(own, **kwargs)
                body = response.content.decode(errors="replace") if not getattr(response, "streaming", False) else ""
                if response.status_code >= 500 or MARKER in body:
                    problems.append(f"charlie {method.upper()} {own} with Alpha's ids -> {response.status_code}")
    assert problems == []
    assert world.snapshot() == before, "another subscription's requests changed Alpha's objects"


@pytest.mark.django_db
def test_every_page_sends_an_anonymous_visitor_to_sign_in(client, world):
    ids = world.ids()
    problems = []
    for route, name in _routes():
        if name in PUBLIC:
            continue
        url = _fill(route, ids)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            location = response.get("Location", "")
            if response.status_code != 302 or not location.startswith("/accounts/login/?next="):
                problems.append(f"anonymous {method.upper()} {url} -> {response.status_code} {location}")
    assert problems == []


def _operations(client):
    schema = client.get("/api/v1/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation, schema


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _body(schema: dict, operation: dict, ids: dict) -> dict | None:
    if "requestBody" not in operation:
        return None
    node = _resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"])
    body = {}
    for name, prop in node.get("properties", {}).items():
        kind = prop.get("type") or next((t.get("type") for t in prop.get("anyOf", []) if t.get("type") != "null"), "")
        if name in ids:
            body[name] = [ids[name]] if kind == "array" else ids[name]
        elif "default" in prop:
            body[name] = prop["default"]
        elif name in node.get("required", []):
            body[name] = {"string": "charlie-probe", "integer": 1, "array": [], "boolean": False}.get(kind)
    return body


def _api_url(path: str, operation: dict, ids: dict) -> tuple[str, bool, dict]:
    names_object = False
    for param in operation.get("parameters", []):
        if param["in"] == "path":
            if param["name"] not in ids:
                pytest.fail(f"the tenancy world cannot fill {{{param['name']}}} in {path}: extend World.ids()")
            names_object = names_object or param["name"] != "month"
            path = path.replace("{" + param["name"] + "}", str(ids[param["name"]]))
    query = {p["name"]: ids[p["name"]] for p in operation.get("parameters", [])
             if p["in"] == "query" and p["name"] in ids and p["name"] != "month"}
    return path, names_object, query


@pytest.mark.django_db
def test_every_api_operation_hides_alphas_objects_from_another_subscription(client, world, charlie, alice,
                                                                             api_headers):
    ids = world.ids()
    before = world.snapshot()
    charlie_auth = {"HTTP_AUTHORIZATION": api_headers(charlie)["Authorization"]}
    alice_auth = {"HTTP_AUTHORIZATION": api_headers(alice)["Authorization"]}
    problems, count = [], 0
    for path, method, operation, schema in _operations(client):
        url, names_object, query = _api_url(path, operation, ids)
        body = _body(schema, operation, ids)
        count += 1
        if method == "get" and names_object and client.get(url, **alice_auth).status_code == 404:
            problems.append(f"alice GET {url} -> 404: the world's id does not fit this operation")
        call = getattr(client, method)
        if method == "get":
            response = call(url, query, **charlie_auth)
        else:
            response = call(url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""),
                            data=json.dumps(body) if body is not None else None, content_type="application/json",
                            **charlie_auth)
        text = response.content.decode(errors="replace")
        if names_object and response.status_code != 404:
            problems.append(f"charlie {method.upper()} {url} -> {response.status_code}, expected 404: {text[:200]}")
        elif not names_object and (response.status_code >= 500 or (method == "get" and response.status_code != 200
                                                                    and not query)):
            problems.append(f"charlie {method.upper()} {url} -> {response.status_code}: {text[:200]}")
        elif not names_object and method != "get" and response.status_code < 400:
            problems.append(f"charlie {method.upper()} {url} naming Alpha's objects -> {response.status_code}")
        if MARKER in text:
            problems.append(f"charlie {method.upper()} {url} shows Alpha's data")
        anonymous = call(url, content_type="application/json") if method != "get" else call(url)
        if anonymous.status_code != 401:
            problems.append(f"no token {method.upper()} {url} -> {anonymous.status_code}, expected 401")
    assert count > 20
    assert problems == []
    assert world.snapshot() == before, "another subscription's API calls changed Alpha's objects"
