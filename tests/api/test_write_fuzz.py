"""Hypothesis over every write route but the events' own (`test_events_fuzz.py`): a valid body with one
member replaced by a weird raw JSON value, dropped, or joined by an unknown one; raw garbage; weird form
values for GeoReport. The answer is never a 500: a 2xx, or a 4xx in the route's error shape naming the
field and the reason (the service's ``{error, detail: [{field, reason, type}], hint}``, GeoReport's
``[{code, description}]`` whose description starts with the field).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.services.jobs import JobManager
from api.settings import JobSettings
from tests.api.test_events_fuzz import weird_values
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import _no_constant, live_client
from tests.api.test_scenarios import toy_work
from tests.support.events import event
from twin.city import City

#: Also what breaks encoders and parsers: a lone surrogate, NUL, deep nesting, a long string.
nasty_values = weird_values | st.sampled_from(
    ['"\\ud800"', '"a\\u0000b"', "[" * 5000 + "]" * 5000, json.dumps("x" * 100_000), '{"": {"": {}}}']
)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(scope="module")
def app_client(city: City, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[TestClient]:
    """One service for the module; scenario jobs run a toy model (a fuzzed spec may be valid)."""
    state = tmp_path_factory.mktemp("write-fuzz")
    with live_client(city, state, data_dir, tick_s=3600) as c:
        manager = JobManager(
            state, data_dir=data_dir, work=toy_work,
            settings=JobSettings(max_concurrent=1, max_queued=2), poll_s=0.02,
        )  # fmt: skip
        c.app.state.scenario_jobs = manager
        yield c
        manager.close()


@pytest.fixture(scope="module")
def targets(app_client: TestClient, connected: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every JSON write route, with a valid body and real ids (a report, its incident, an event)."""
    c = app_client
    cam = connected[0]
    report = {"service_code": "illegal_dumping", "lat": 21.853, "long": 106.761, "description": "Rác thải"}
    rid = c.post("/open311/v2/requests.json", json=report).json()[0]["service_request_id"]
    assert c.post("/events", json=event(1, cam)).status_code == 200
    incidents = c.get("/incidents").json()
    items = incidents.get("incidents", incidents.get("features", [])) if isinstance(incidents, dict) else []
    first = items[0] if items else {}
    inc = str(first.get("incident_id") or first.get("properties", {}).get("incident_id") or "INC-none")
    print("fuzz targets: incident", inc, "report", rid)
    count = {
        "camera_id": cam, "interval_start": "2026-01-05T07:00:00Z", "interval_s": 300,
        "direction": "N", "counts": {"motorbike": 12},
    }  # fmt: skip
    spec = {"schema_version": 1, "name": "thử", "kind": "traffic", "seeds": 1, "horizon": "1h"}
    return [
        (f"/cameras/{cam}/heartbeat", {"at": "2026-01-05T07:00:00Z"}),
        ("/counts", {"counts": [count]}),
        ("/alerts/AL-none/ack", {"note": "ok"}),
        (f"/incidents/{inc}/status", {"status": "acknowledged", "note": "đã nhận"}),
        (f"/incidents/{inc}/assign", {"unit_id": "cong-an-ky-lua", "note": "giao"}),
        (f"/incidents/{inc}/notes", {"note": "Đã đến nơi"}),
        ("/open311/v2/requests.json", report),
        (f"/open311/v2/requests/{rid}/updates.json", {"status": "closed", "status_notes": "xong"}),
        ("/auth/keys", {"role": "reporter", "label": "ứng dụng", "expires_days": 1}),
        ("/admin/purge", {"dry_run": True}),
        ("/scenarios", spec),
    ]


def _raw(body: dict[str, Any], replace: dict[str, str], drop: str | None) -> str:
    members = {k: json.dumps(v) for k, v in body.items() if k != drop}
    members.update(replace)
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in members.items()) + "}"


def _check(path: str, r: Any) -> None:
    assert r.status_code < 500, (path, r.status_code, r.text)
    if r.status_code < 400:
        return
    body = json.loads(r.text, parse_constant=_no_constant)  # strict JSON: no NaN echoed
    if path == "/open311/v2/requests.json" and r.status_code not in (413, 429):
        assert isinstance(body, list), (path, body)
        assert body, (path, body)
        for e in body:
            assert set(e) == {"code", "description"}, (path, body)
            assert e["code"] == r.status_code, (path, body)
            field, _, reason = e["description"].partition(": ")  # "attribute[severity]: must be …"
            assert field, (path, body)
            assert reason, (path, body)
        return
    assert set(body) == {"error", "detail", "hint"}, (path, body)
    assert body["detail"], (path, body)
    for d in body["detail"]:
        assert set(d) == {"field", "reason", "type"}, (path, body)
        assert d["field"], (path, body)
        assert d["reason"], (path, body)


@given(data=st.data())
@FUZZ
def test_one_weird_member_is_4xx_naming_it(
    app_client: TestClient, targets: list[tuple[str, dict[str, Any]]], data: st.DataObject
) -> None:
    path, body = data.draw(st.sampled_from(targets), label="route")
    members = sorted(body)
    how = data.draw(st.sampled_from(["replace", "drop", "extra"]), label="how")
    member = data.draw(st.sampled_from(members) if how != "extra" else st.text(min_size=1, max_size=12))
    value = data.draw(nasty_values, label="value")
    raw = _raw(body, {} if how == "drop" else {member: value}, member if how == "drop" else None)
    r = app_client.post(path, content=raw.encode(), headers={"content-type": "application/json"})
    _check(path, r)
    if r.status_code == 422 and how != "drop" and path != "/open311/v2/requests.json":
        # The refusal names the member sent (or the body, when the raw value is no JSON at all).
        fields = [d["field"] for d in r.json()["detail"]]
        named = [f for f in fields if f in ("body", member) or f.startswith((f"{member}.", f"{member}["))]
        assert named, (path, member, value, fields)


@given(
    data=st.sampled_from(
        ["/counts", "/auth/keys", "/admin/purge", "/scenarios", "/open311/v2/requests.json"]
    ).flatmap(lambda p: st.tuples(st.just(p), st.binary(max_size=200)))
)
@FUZZ
def test_garbage_bodies_are_4xx(app_client: TestClient, data: tuple[str, bytes]) -> None:
    path, raw = data
    for ctype in ("application/json", "application/toml", "application/x-www-form-urlencoded"):
        _check(path, app_client.post(path, content=raw, headers={"content-type": ctype}))


@given(
    field=st.sampled_from(["service_code", "lat", "long", "description", "address_string", "email",
                           "phone", "media_url", "jurisdiction_id", "attribute[severity]", "consent"]),
    value=st.text(max_size=40),
)  # fmt: skip
@FUZZ
def test_weird_form_values_are_georeport_4xx(app_client: TestClient, field: str, value: str) -> None:
    form = {"service_code": "illegal_dumping", "lat": "21.853", "long": "106.761", "description": "Rác thải"}
    form[field] = value
    _check("/open311/v2/requests.json", app_client.post("/open311/v2/requests.json", data=form))


def test_deep_nesting_is_4xx_on_every_write_route(
    app_client: TestClient, targets: list[tuple[str, dict[str, Any]]]
) -> None:
    """Nesting that makes a recursive parser or walker overflow its stack is refused, never a 500."""
    deep = "[" * 5000 + "]" * 5000
    for path, body in targets:
        for raw, ctype in [
            (_raw(body, {sorted(body)[0]: deep}, None), "application/json"),
            (deep, "application/json"),
            (f"a = {deep}", "application/toml"),
        ]:
            r = app_client.post(path, content=raw.encode(), headers={"content-type": ctype})
            assert 400 <= r.status_code < 500, (path, ctype, r.status_code, r.text)
            _check(path, r)
            if path != "/open311/v2/requests.json" and r.status_code in (400, 422):
                assert [d["field"] for d in r.json()["detail"]] == ["body"], (path, ctype, r.text)
