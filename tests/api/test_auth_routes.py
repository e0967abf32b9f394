"""Every route × every role, built from the app's own OpenAPI: 401 without credentials (unless the
route is public), 403 for a role without the route's scopes, neither for a role that holds them.

The policy under test is the one in code (`api.auth.policy.ROUTE_SCOPES`); the test also fails when a
route declares no scopes at all, or declares other scopes than the table lists, or when the README's
table is not the one the code renders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import api_routes, route_scopes
from api.auth.policy import KEY_ROLES, ROLES, ROUTE_SCOPES, is_public, route_table_markdown
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, connected)
from tests.api.test_events_support import live_client
from tests.support.auth import key_headers
from twin.city import City

ROOT = Path(__file__).resolve().parents[2]

#: Plausible values of path parameters (unknown ids are fine: a 404 is neither 401 nor 403).
PATH_VALUES = {
    "event_id": "LS-CAM-001-20250612T072501-0001",
    "alert_id": "cong-8941a2a4c2fffff-1",
    "request_id": "LS-20250612-3fa2b1c0",
    "entity_id": "urn:ngsi-ld:Alert:LS-CAM-001-x",
    "job_id": "job0",
    "a": "job0",
    "b": "job1",
    "key_id": "000000000000",
    "name": "index.js",
    "fmt": "json",
    "service_code": "flooding",
}
#: Query parameters that keep a permitted call short (the stream would otherwise stay open).
QUERY = {"/stream": {"types": "not-a-type"}}


@pytest.fixture(scope="module")
def served(
    city: City, tmp_path_factory: pytest.TempPathFactory, data_dir: Path
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """One service and a key of every role."""
    with live_client(city, tmp_path_factory.mktemp("roles"), data_dir, tick_s=3600) as c:
        c.headers.pop("X-API-Key")  # start anonymous; each request names its key
        yield c, {role: key_headers(c.app, role) for role in KEY_ROLES}


def operations(client: TestClient, connected: list[str]) -> list[tuple[str, str, str]]:
    """Return (method, templated path, concrete path) of every operation the app serves."""
    values = {**PATH_VALUES, "camera_id": connected[0]}
    spec = client.app.openapi()  # type: ignore[attr-defined]
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m != "parameters"}
    # Routes outside the schema (the viewer's "/" and assets) are routes too.
    for ctx in api_routes(client.app):  # type: ignore[arg-type]
        for m in ctx.methods or ():
            if m != "HEAD":
                ops.add((m, ctx.path_format))

    def fill(path: str) -> str:
        out = path
        for name in re.findall(r"{([^}]+)}", path):
            value = "wards_2025" if name == "name" and path.startswith("/layers") else values.get(name, "x")
            if name == "name" and path.startswith("/scenarios"):
                value = "traffic.links"
            out = out.replace("{" + name + "}", value)
        return out

    return sorted((m, p, fill(p)) for m, p in ops)


def call(client: TestClient, method: str, template: str, path: str, headers: dict[str, str]) -> Any:
    params = QUERY.get(template)
    if method == "GET":
        return client.get(path, params=params, headers=headers, follow_redirects=False)
    return client.request(
        method, path, params=params, headers=headers, json={} if "purge" not in path else None
    )


def test_every_route_declares_scopes_as_the_policy_table_says(served: Any) -> None:
    client, _ = served
    declared: dict[str, tuple[str, ...] | None] = {}
    undeclared = []
    for ctx in api_routes(client.app):
        scopes = route_scopes(ctx)
        for m in sorted(ctx.methods or ()):
            if m == "HEAD":
                continue
            key = f"{m} {ctx.path_format}"
            if scopes is False:
                undeclared.append(key)
            else:
                declared[key] = scopes
    assert undeclared == [], f"routes without a scope declaration (requires/open_access): {undeclared}"
    assert declared == dict(ROUTE_SCOPES)
    for scopes in ROUTE_SCOPES.values():
        for s in scopes or ():
            assert any(s in held for held in ROLES.values()), s


def test_readme_lists_the_policy_table() -> None:
    assert route_table_markdown() in (ROOT / "README.md").read_text()


def _field_named(body: Any) -> str:
    """Return the field an error names: the service's shape, or GeoReport's ``[{code, description}]``."""
    if isinstance(body, list):  # Open311 resources answer with the spec's error list
        assert all(set(e) == {"code", "description"} for e in body), body
        return str(body[0]["description"]).split(":", 1)[0]
    assert set(body) == {"error", "detail", "hint"}, body
    return str(body["detail"][0]["field"])


def test_role_by_route_matrix(served: Any, connected: list[str]) -> None:
    client, keys = served
    ops = operations(client, connected)
    assert len(ops) >= len(ROUTE_SCOPES)
    problems = []
    for method, template, path in ops:
        scopes = ROUTE_SCOPES[f"{method} {template}"]
        anon = call(client, method, template, path, {})
        if scopes is None or is_public(scopes):
            if anon.status_code in (401, 403):
                problems.append(f"anonymous {method} {path}: {anon.status_code}, expected access")
        else:
            if anon.status_code != 401:
                problems.append(f"anonymous {method} {path}: {anon.status_code}, expected 401")
            elif not anon.headers.get("www-authenticate", "").startswith("Bearer"):
                problems.append(f"anonymous {method} {path}: 401 without WWW-Authenticate")
            elif _field_named(anon.json()) != "credentials":
                problems.append(f"anonymous {method} {path}: 401 body is not the error shape")
        for role, headers in keys.items():
            r = call(client, method, template, path, headers)
            allowed = scopes is None or set(scopes) <= ROLES[role]
            if allowed and r.status_code in (401, 403):
                problems.append(f"{role} {method} {path}: {r.status_code} {r.text[:120]}")
            if not allowed and r.status_code != 403:
                problems.append(f"{role} {method} {path}: {r.status_code}, expected 403")
            if not allowed and _field_named(r.json()) != "scope":
                problems.append(f"{role} {method} {path}: 403 does not name the scope")
    assert problems == []


def test_unknown_or_malformed_credentials_are_401_even_on_public_routes(served: Any) -> None:
    client, keys = served
    bad = keys["operator"]["X-API-Key"][:-3] + "xyz"
    for headers in (
        {"X-API-Key": bad},
        {"Authorization": f"Bearer {bad}"},
        {"X-API-Key": "lst_000000000000_" + "a" * 43},
        {"X-API-Key": "hunter2"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        for path in ("/events", "/cells"):
            r = client.get(path, headers=headers)
            assert r.status_code == 401, (headers, path, r.text)
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
