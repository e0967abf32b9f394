"""Who did what comes from the credentials, never from the body — on every write route, over HTTP.

An attacker holding any write key tries to put someone else's name on a change: a member such as
``by``, ``acknowledged_by``, ``sent_by`` or ``key_id`` in the body of each write route (JSON, and the
GeoReport form). Each is refused with a 4xx naming the member, and nothing of the request is stored;
where the service records an actor, it is the caller's key.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth.keys import parse_key
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, assert_georeport_error, key_headers
from tests.support.events import event

#: Members an attacker would try, to speak for someone else.
ACTORS = ["by", "acknowledged_by", "sent_by", "key_id", "actor", "user", "created_by", "submitted_by"]


def _routes(connected: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every JSON write route with a body that is valid but for the actor member."""
    cam = connected[0]
    count = {
        "camera_id": cam, "interval_start": "2026-01-05T07:00:00Z", "interval_s": 300,
        "direction": "N", "counts": {"motorbike": 12},
    }  # fmt: skip
    report = {"service_code": "illegal_dumping", "lat": 21.853, "long": 106.761, "description": "Rác thải"}
    return [
        ("/events", event(900, cam)),
        ("/events/batch", {"events": [event(901, cam)]}),
        (f"/cameras/{cam}/heartbeat", {}),
        ("/counts", {"counts": [count]}),
        ("/alerts/AL-x/ack", {"note": "ok"}),
        ("/alerts/AL-x/resolve", {}),
        ("/incidents/INC-x/status", {"status": "acknowledged"}),
        ("/incidents/INC-x/assign", {"unit_id": "cong-an-ky-lua"}),
        ("/incidents/INC-x/notes", {"note": "Đã đến nơi"}),
        ("/open311/v2/requests.json", report),
        ("/open311/v2/requests/LS-x/updates.json", {"status": "closed"}),
        ("/auth/keys", {"role": "operator", "label": "ca đêm"}),
        ("/admin/purge", {"dry_run": True}),
        ("/scenarios", {"name": "thử", "kind": "traffic"}),
    ]


@pytest.mark.parametrize("actor", ACTORS)
def test_no_write_route_takes_an_actor_from_the_body(
    client: TestClient, connected: list[str], actor: str
) -> None:
    keys_before = len(client.get("/auth/keys").json())
    for path, body in _routes(connected):
        r = client.post(path, json={**body, actor: "ong-tong-cuc-truong"})
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        text = r.text
        assert actor in text, (path, text)  # the refusal names the member
        if path == "/open311/v2/requests.json":  # GeoReport proper: the spec's error list
            assert_georeport_error(r, 400, actor)
        else:
            assert_error_shape(r, r.status_code, actor)
    # Nothing of it was stored.
    assert client.get("/events").json()["features"] == []
    assert client.get("/open311/v2/requests.json").json() == []
    assert len(client.get("/auth/keys").json()) == keys_before
    # The GeoReport form post too.
    form = {"service_code": "illegal_dumping", "lat": "21.853", "long": "106.761",
            "description": "Rác thải đổ trộm", actor: "ong-tong-cuc-truong"}  # fmt: skip
    assert_georeport_error(client.post("/open311/v2/requests.json", data=form), 400, actor)
    assert client.get("/open311/v2/requests.json").json() == []


def test_recorded_actors_are_the_callers_keys(client: TestClient, connected: list[str]) -> None:
    """Where the service records who acted, it is the key that called, whatever else is said."""
    gw = key_headers(client.app, "camera-gateway", "gateway Kỳ Lừa", cameras=[connected[0]])
    gw_id = parse_key(gw["X-API-Key"])
    assert gw_id is not None
    assert client.post("/events", json=event(1, connected[0]), headers=gw).status_code == 200
    (feat,) = client.get("/events").json()["features"]
    assert feat["properties"]["sent_by"] == gw_id.key_id


def test_who_updated_a_report_is_the_operators_key_in_the_audit_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"service_code": "illegal_dumping", "lat": 21.853, "long": 106.761, "description": "Rác thải"}
    rid = client.post("/open311/v2/requests.json", json=body).json()[0]["service_request_id"]
    op = key_headers(client.app, "operator", "ca đêm")
    op_id = parse_key(op["X-API-Key"])
    assert op_id is not None
    with caplog.at_level("INFO", logger="twin.audit"):
        r = client.post(f"/open311/v2/requests/{rid}/updates.json", json={"status": "closed"}, headers=op)
    assert r.status_code == 200, r.text
    assert f"report {rid} set closed by key {op_id.key_id} (operator)" in caplog.messages
