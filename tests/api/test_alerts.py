"""Alert rules (congestion cluster, camera silent) and the operator lifecycle, on the stream too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from api.auth.keys import parse_key
from api.services.alerts import AlertEngine, AlertRules
from tests.api.store_contract import make_event
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, live_client
from tests.support.auth import key_headers
from tests.support.events import event
from twin.city import City


def test_congestion_rule_known_answer() -> None:
    eng = AlertEngine(AlertRules(congestion_count=3, congestion_window=timedelta(minutes=10)), res=9)
    t0 = datetime(2025, 6, 12, tzinfo=UTC)
    now = t0 + timedelta(hours=1)
    # two events 11 minutes apart, then a third: only 2 within any 10-minute window → no alert
    evs = [make_event(i, start=t0 + timedelta(minutes=m)) for i, m in enumerate([0, 11, 12])]
    assert eng.on_created(evs, now) == []
    # a fourth within the window of the last two → alert, once
    (alert,) = eng.on_created([make_event(3, start=t0 + timedelta(minutes=15))], now)
    assert alert.rule == "congestion_cluster"
    assert alert.details["events"] == 3
    assert alert.key == format(evs[0].cells[9], "x")
    assert eng.on_created([make_event(4, start=t0 + timedelta(minutes=16))], now) == []
    # other categories never count
    assert eng.on_created([make_event(i, category="accident") for i in range(10, 20)], now) == []


def test_congestion_alert_ack_resolve(client: TestClient, connected: list[str]) -> None:
    evs = [event(i, connected[0]) for i in range(3)]
    client.post("/events/batch", json={"events": evs})
    fc = client.get("/alerts").json()
    (feat,) = fc["features"]
    a = feat["properties"]
    assert (a["rule"], a["status"], a["severity"]) == ("congestion_cluster", "open", "high")
    assert feat["geometry"]["type"] == "Point"
    aid = a["alert_id"]
    # Who acknowledged comes from the credentials; a body naming someone else is refused.
    assert_error_shape(client.post(f"/alerts/{aid}/ack", json={"by": "someone-else"}), 422, "by")
    op = key_headers(client.app, "operator", "IOC wall screen")
    r = client.post(f"/alerts/{aid}/ack", json={"note": "Đã cử CSGT"}, headers=op)
    assert r.status_code == 200, r.text
    op_id = parse_key(op["X-API-Key"])
    assert op_id is not None
    assert r.json()["status"] == "acknowledged"
    assert r.json()["acknowledged_by"] == f"IOC wall screen [{op_id.key_id}]"
    assert client.post(f"/alerts/{aid}/ack").json()["status"] == "acknowledged"  # idempotent
    assert client.get("/alerts", params={"status": "open"}).json()["features"] == []
    assert client.post(f"/alerts/{aid}/resolve").json()["status"] == "resolved"
    assert_error_shape(client.post(f"/alerts/{aid}/ack"), 409, "status")
    assert_error_shape(client.post("/alerts/AL-nope/ack"), 404)
    assert_error_shape(client.post(f"/alerts/{aid}/resolve", json={"by": 5}), 422, "by")
    # once resolved, the same cell can raise a new alert
    client.post("/events/batch", json={"events": [event(10 + i, connected[0]) for i in range(3)]})
    assert len(client.get("/alerts", params={"status": "open"}).json()["features"]) == 1


def test_camera_silent_alert_raises_and_resolves(
    city: City, tmp_path: Path, data_dir: Path, connected: list[str]
) -> None:
    with live_client(city, tmp_path, data_dir, tick_s=3600, camera_silent_min=5) as c:
        live = c.app.state.live  # type: ignore[attr-defined]
        past = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
        c.post(f"/cameras/{connected[0]}/heartbeat", json={"at": past})
        c.portal.call(live.tick)  # type: ignore[union-attr]
        alerts = [f["properties"] for f in c.get("/alerts").json()["features"]]
        silent = [a for a in alerts if a["rule"] == "camera_silent" and a["camera_id"] == connected[0]]
        assert len(silent) == 1
        # connected cameras never heard from raise nothing until they have been seen once
        assert {a["camera_id"] for a in alerts if a["rule"] == "camera_silent"} == {connected[0]}
        c.post(f"/cameras/{connected[0]}/heartbeat")
        c.portal.call(live.tick)  # type: ignore[union-attr]
        got = c.get("/alerts", params={"status": "resolved"}).json()["features"]
        assert [f["properties"]["alert_id"] for f in got] == [silent[0]["alert_id"]]
