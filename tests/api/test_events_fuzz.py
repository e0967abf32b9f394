"""Hypothesis raw-body tests: what an OpenAPI generator cannot send (NaN, Infinity, huge numbers, wrong
types, broken JSON) always gets a 4xx that names a field, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, assert_georeport_error, live_client
from tests.support.events import now_iso
from twin.city import City

FIELDS = [
    "event_id",
    "camera_id",
    "category",
    "severity",
    "confidence",
    "lifecycle",
    "start_time",
    "end_time",
]

weird_numbers = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "-0.0"]
) | st.integers(min_value=-(10**30), max_value=10**30).map(str)
weird_values = st.one_of(
    weird_numbers,
    st.sampled_from(
        ['""', "null", "true", "[]", "{}", '"NaN"', '"2025-13-45T99:00:00Z"', '"x" ', "[1, [2, [3]]]"]
    ),
    st.text(max_size=20).map(json.dumps),
)


@pytest.fixture(scope="module")
def fuzz_client(city: City, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[TestClient]:
    """One service for the whole module (hypothesis runs many examples)."""
    with live_client(city, tmp_path_factory.mktemp("fuzz"), data_dir, tick_s=3600) as c:
        yield c


def _raw_event(camera: str, overrides: dict[str, str]) -> str:
    base = {
        "event_id": '"fz-1"',
        "camera_id": json.dumps(camera),
        "category": '"congestion"',
        "confidence": "0.5",
        "start_time": json.dumps(now_iso(-1)),
    }
    base.update(overrides)
    return "{" + ", ".join(f'"{k}": {v}' for k, v in base.items()) + "}"


def _check(r: Any) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert_error_shape(r, r.status_code)
    else:
        body = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
        assert body["status"] in ("created", "updated", "duplicate", "stale")


@given(field=st.sampled_from(FIELDS), value=weird_values)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_weird_field_values_are_4xx(
    fuzz_client: TestClient, connected: list[str], field: str, value: str
) -> None:
    raw = _raw_event(connected[0], {field: value})
    _check(fuzz_client.post("/events", content=raw, headers={"content-type": "application/json"}))


@given(lon=weird_numbers, lat=weird_numbers)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_weird_positions_are_4xx(fuzz_client: TestClient, connected: list[str], lon: str, lat: str) -> None:
    raw = _raw_event(connected[0], {"position": f'{{"lon": {lon}, "lat": {lat}}}'})
    r = fuzz_client.post("/events", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert_error_shape(r, 422, "position")


@given(data=st.binary(max_size=300))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_garbage_bodies_are_4xx(fuzz_client: TestClient, data: bytes) -> None:
    for path in ("/events", "/events/batch", "/open311/v2/requests.json"):
        r = fuzz_client.post(path, content=data, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, r.text
        if path.startswith("/open311/") and r.status_code not in (413, 429):
            assert_georeport_error(r, r.status_code)  # GeoReport's list; the limits answer before routes
        else:
            assert_error_shape(r, r.status_code)


@given(
    attrs=st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=30,
    )
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_attributes_never_500(fuzz_client: TestClient, connected: list[str], attrs: Any) -> None:
    body = {
        "event_id": "fz-attr",
        "camera_id": connected[0],
        "category": "other",
        "confidence": 0.5,
        "start_time": now_iso(-1),
        "attributes": attrs,
    }
    r = fuzz_client.post("/events", json=body)
    if not isinstance(attrs, dict):
        assert_error_shape(r, 422, "attributes")
    else:
        _check(r)


def test_huge_integers_and_lone_surrogates_in_attributes(
    fuzz_client: TestClient, connected: list[str]
) -> None:
    # found by schemathesis: a 2^80 integer made the JSON encoder fail with a 500
    raw = _raw_event(connected[0], {"attributes": '{"n": 1208925819614629174706176}'})
    assert_error_shape(
        fuzz_client.post("/events", content=raw, headers={"content-type": "application/json"}), 422
    )
    raw = _raw_event(connected[0], {"attributes": '{"\\udab4x": 1}'})
    r = fuzz_client.post("/events", content=raw, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
