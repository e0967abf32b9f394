"""Camera health: heartbeats, online/offline after T, the "50/238 online" summary and its history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, live_client
from twin.city import City


def test_registry_status_and_summary(client: TestClient, connected: list[str]) -> None:
    fc = client.get("/cameras").json()
    assert len(fc["features"]) == 238
    assert fc["provenance"]["synthetic"] is True
    statuses = {f["properties"]["status"] for f in fc["features"]}
    assert statuses == {"offline", "not_connected"}  # nothing heard yet
    s = client.get("/cameras/summary").json()
    assert (s["online"], s["connected"], s["total"]) == (0, 50, 238)
    assert s["label"] == "0/238 online"
    for cid in connected[:7]:
        r = client.post(f"/cameras/{cid}/heartbeat")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "online"
    s = client.get("/cameras/summary").json()
    assert s["label"] == "7/238 online"
    assert s["offline"] == 43
    online = client.get("/cameras", params={"status": "online"}).json()["features"]
    assert sorted(f["id"] for f in online) == sorted(connected[:7])
    assert all(f["properties"]["last_seen"].endswith("Z") for f in online)


def test_old_heartbeat_is_offline_and_unknown_is_404(client: TestClient, connected: list[str]) -> None:
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = client.post(f"/cameras/{connected[0]}/heartbeat", json={"at": past})
    assert r.json()["status"] == "offline"
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = client.post(f"/cameras/{connected[0]}/heartbeat", json={"at": future})
    assert r.json()["status"] == "online"  # a clock ahead is clamped to now
    assert_error_shape(client.post("/cameras/LS-CAM-999/heartbeat"), 404)
    assert_error_shape(client.post(f"/cameras/{connected[0]}/heartbeat", json={"at": "yesterday"}), 422, "at")
    assert_error_shape(client.post(f"/cameras/{connected[0]}/heartbeat", json={"x": 1}), 422)


def test_unconnected_camera_heartbeat_connects_it(client: TestClient, city: City) -> None:
    cid = str(city.cameras.loc[~city.cameras["connected"], "camera_id"].iloc[0])
    client.post(f"/cameras/{cid}/heartbeat")
    s = client.get("/cameras/summary").json()
    assert (s["online"], s["connected"]) == (1, 51)


def test_history_and_status_stream_after_ticks(
    city: City, tmp_path: Path, data_dir: Path, connected: list[str]
) -> None:
    with live_client(city, tmp_path, data_dir, tick_s=3600, history_every_s=0.001, offline_after_s=60) as c:
        for cid in connected[:3]:
            c.post(f"/cameras/{cid}/heartbeat")
        live = c.app.state.live  # type: ignore[attr-defined]
        c.portal.call(live.tick)  # type: ignore[union-attr]
        later = datetime.now(UTC) + timedelta(minutes=2)
        c.portal.call(lambda: live.tick(later))  # type: ignore[union-attr]
        hist = c.get("/cameras/summary").json()["history"]
        assert [h["online"] for h in hist][-2:] == [3, 0]
        assert hist[-1]["total"] == 238
