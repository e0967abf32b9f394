"""POST/GET /events end to end over HTTP: durability answers, idempotency, lifecycle, filters, errors."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import DataSettings, Settings
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, assert_georeport_error
from tests.support.auth import key_headers
from tests.support.events import event, now_iso
from twin.city import City


def test_post_one_event_uses_the_camera_position(
    client: TestClient, city: City, connected: list[str]
) -> None:
    cam = connected[0]
    row = city.cameras.set_index("camera_id").loc[cam]
    r = client.post("/events", json=event(1, cam))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "created"
    assert body["revision"] == 1
    assert body["cell"] == h3.latlng_to_cell(row.geometry.y, row.geometry.x, 9)
    assert body["ward_code"] == row["ward_code"]
    feat = client.get(f"/events/{body['event_id']}").json()
    assert feat["type"] == "Feature"
    assert feat["geometry"]["coordinates"] == [row.geometry.x, row.geometry.y]
    assert feat["properties"]["camera_id"] == cam
    assert feat["properties"]["start_time"].endswith("Z")


def test_events_carry_the_cell_and_its_ring(client: TestClient, connected: list[str]) -> None:
    # Clients (the viewer) draw the cell the service computed: the page lists each cell's ring once.
    ids = [client.post("/events", json=event(900 + i, connected[i % 2])).json()["cell"] for i in range(4)]
    page = client.get("/events", params={"limit": 500}).json()
    rings = page["cell_boundaries"]
    assert set(ids) <= set(rings)
    assert set(rings) == {f["properties"]["cell"] for f in page["features"]} - {None}
    for cell, ring in rings.items():
        want = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
        assert ring[0] == ring[-1]
        assert sorted(map(tuple, ring[:-1])) == sorted((round(x, 7), round(y, 7)) for x, y in want)
    assert all("cell_boundary" not in f["properties"] for f in page["features"])
    one = client.get(f"/events/{page['features'][0]['id']}").json()["properties"]
    assert one["cell_boundary"] == rings[one["cell"]]


def test_retry_and_lifecycle(client: TestClient, connected: list[str]) -> None:
    cam = connected[1]
    ev = event(2, cam)
    assert client.post("/events", json=ev).json()["status"] == "created"
    assert client.post("/events", json=ev).json()["status"] == "duplicate"
    upd = {**ev, "lifecycle": "update", "severity": "high", "confidence": 0.95}
    assert client.post("/events", json=upd).json() | {"cell": None} == {
        "event_id": ev["event_id"],
        "status": "updated",
        "cell": None,
        "ward_code": client.get(f"/events/{ev['event_id']}").json()["properties"]["ward_code"],
        "revision": 2,
        "reason": None,
    }
    end = {**ev, "lifecycle": "end"}
    assert client.post("/events", json=end).json()["status"] == "updated"
    props = client.get(f"/events/{ev['event_id']}").json()["properties"]
    assert props["lifecycle"] == "end"
    assert props["end_time"] is not None  # filled at ingest when the camera did not send it
    assert client.post("/events", json=ev).json()["status"] == "stale"
    assert client.get("/events", params={"camera": cam}).json()["count"] == 1


def test_reusing_an_id_for_another_camera_is_409(client: TestClient, connected: list[str]) -> None:
    ev = event(3, connected[0])
    client.post("/events", json=ev)
    r = client.post("/events", json={**ev, "camera_id": connected[1]})
    assert_error_shape(r, 409, "event_id")


def test_batch_counts_and_order(client: TestClient, connected: list[str]) -> None:
    evs = [event(i, connected[i % 5]) for i in range(40)]
    client.post("/events", json=evs[0])
    r = client.post("/events/batch", json={"events": evs})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["counts"] == {"created": 39, "duplicate": 1}
    assert [x["event_id"] for x in body["results"]] == [e["event_id"] for e in evs]
    assert body["accepted"] == 40


def test_bad_events_name_field_and_reason(client: TestClient, connected: list[str]) -> None:
    cam = connected[0]
    cases = [
        ({**event(1, cam), "camera_id": "LS-CAM-999"}, "camera_id"),
        ({**event(1, cam), "category": "parking"}, "category"),
        ({**event(1, cam), "position": {"lon": 105.85, "lat": 21.03}}, "position"),  # Hà Nội
        ({**event(1, cam), "position": {"lon": 200, "lat": 21.8}}, "position.lon"),
        ({**event(1, cam), "start_time": "2025-06-12T07:00:00"}, "start_time"),  # no zone
        ({**event(1, cam), "start_time": now_iso(60)}, "start_time"),  # future
        ({**event(1, cam), "confidence": 1.5}, "confidence"),
        ({**event(1, cam), "plate": "12A-345.67"}, "plate"),  # unknown field
        ({**event(1, cam), "attributes": {"license_plate": "12A"}}, "attributes"),
        ({**event(1, cam), "attributes": {"meta": {"Snapshot": "x"}}}, "attributes"),
        ({**event(1, cam), "attributes": {"b": "iVBORw0KGgo" + "A" * 300}}, "attributes"),
        ({**event(1, cam), "attributes": {"a": {"b": {"c": {"d": {"e": 1}}}}}}, "attributes"),
        ({**event(1, cam), "event_id": "bad id with spaces"}, "event_id"),
        ({**event(1, cam), "end_time": now_iso(-30)}, "end_time"),  # end before start
    ]
    for body, field in cases:
        assert_error_shape(client.post("/events", json=body), 422, field)
    batch = [event(i, cam) for i in range(5)]
    batch[2]["camera_id"] = "LS-CAM-999"
    assert_error_shape(client.post("/events/batch", json={"events": batch}), 422, "events.2.camera_id")
    assert client.get("/events").json()["count"] == 0  # nothing of a refused batch was written


def test_non_finite_numbers_never_500(client: TestClient, connected: list[str]) -> None:
    template = (
        '{"event_id": "nf-1", "camera_id": "%s", "category": "congestion", "confidence": %s, '
        '"start_time": "%s", "position": {"lon": %s, "lat": 21.85}}'
    )
    for conf, lon in [
        ("NaN", "106.75"),
        ("0.5", "NaN"),
        ("0.5", "Infinity"),
        ("0.5", "-Infinity"),
        ("1e400", "106.75"),
    ]:
        raw = template % (connected[0], conf, now_iso(-1), lon)
        r = client.post("/events", content=raw, headers={"content-type": "application/json"})
        assert_error_shape(r, 422)
    raw = (
        f'{{"event_id": "nf-2", "camera_id": "{connected[0]}", "category": "congestion", '
        f'"confidence": 0.5, "start_time": "{now_iso(-1)}", "attributes": {{"x": NaN}}}}'
    )
    assert_error_shape(client.post("/events", content=raw, headers={"content-type": "application/json"}), 422)


def test_malformed_oversized_and_too_many(client: TestClient, connected: list[str]) -> None:
    r = client.post("/events", content=b'{"event_id": ', headers={"content-type": "application/json"})
    assert_error_shape(r, 400, "body")
    big = b'{"events": [' + b" " * (3 * 1024 * 1024) + b"]}"
    assert_error_shape(
        client.post("/events/batch", content=big, headers={"content-type": "application/json"}), 413
    )

    def chunks() -> Iterator[bytes]:  # a chunked body without Content-Length that grows past the cap
        yield b'{"events": ['
        for _ in range(40):
            yield b" " * 65536

    r = client.post("/events/batch", content=chunks(), headers={"content-type": "application/json"})
    assert_error_shape(r, 413)
    evs = [event(i, connected[0]) for i in range(501)]
    assert_error_shape(client.post("/events/batch", json={"events": evs}), 422, "events")
    assert_error_shape(client.post("/events/batch", json={"events": []}), 422, "events")


def test_query_filters_and_paging(client: TestClient, city: City, connected: list[str]) -> None:
    cams = city.cameras.set_index("camera_id")
    t0 = datetime.now(UTC) - timedelta(hours=3)
    evs = []
    for i in range(30):
        cam = connected[i % 3]
        evs.append(
            event(
                i,
                cam,
                category=["congestion", "crowding", "accident"][i % 3],
                start_time=(t0 + timedelta(minutes=5 * i)).isoformat(),
            )
        )
    assert client.post("/events/batch", json={"events": evs}).status_code == 200
    assert client.get("/events", params={"category": "crowding"}).json()["count"] == 10
    assert client.get("/events", params={"category": "crowding,accident"}).json()["count"] == 20
    assert client.get("/events", params={"camera": connected[0]}).json()["count"] == 10
    ward = cams.loc[connected[0], "ward_code"]
    n_ward = sum(1 for e in evs if cams.loc[e["camera_id"], "ward_code"] == ward)
    assert client.get("/events", params={"ward": ward}).json()["count"] == n_ward
    since = (t0 + timedelta(minutes=100)).isoformat()
    assert client.get("/events", params={"since": since}).json()["count"] == 10
    g = cams.loc[connected[0]].geometry
    bbox = f"{g.x - 1e-4},{g.y - 1e-4},{g.x + 1e-4},{g.y + 1e-4}"
    got = client.get("/events", params={"bbox": bbox}).json()
    assert {f["properties"]["camera_id"] for f in got["features"]} >= {connected[0]}
    # keyset paging
    ids, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = client.get("/events", params=params).json()
        ids += [f["id"] for f in page["features"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
        assert page["links"][0]["rel"] == "next"
    assert len(ids) == len(set(ids)) == 30
    assert ids[0] == evs[-1]["event_id"]  # newest first
    assert_error_shape(client.get("/events", params={"category": "parking"}), 422, "category")
    assert_error_shape(client.get("/events", params={"bbox": "1,2,3"}), 422, "bbox")
    assert_error_shape(client.get("/events", params={"cursor": "zzz"}), 422, "cursor")
    assert_error_shape(client.get("/events", params={"since": "2025-01-01T00:00:00"}), 422, "since")
    assert_error_shape(client.get("/events/nope"), 404)


def test_times_out_of_range_are_422_not_500(client: TestClient, connected: list[str]) -> None:
    # found by schemathesis: a year-1 time with a positive offset overflowed when converted to UTC
    ancient = "0001-01-01T00:00:00+03:00"
    assert_error_shape(
        client.post("/events", json=event(1, connected[0], start_time=ancient)), 422, "start_time"
    )
    assert_error_shape(client.get("/events", params={"since": ancient}), 422, "since")
    assert_error_shape(client.get("/events", params={"until": "9999-12-31T23:59:59-05:00"}), 422, "until")
    r = client.post(f"/cameras/{connected[0]}/heartbeat", json={"at": ancient})
    assert_error_shape(r, 422, "at")
    assert_georeport_error(
        client.get("/open311/v2/requests.json", params={"start_date": ancient}), 400, "start_date"
    )


def test_without_data_the_app_serves_and_live_routes_say_why(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path / "s", data=DataSettings(dir=tmp_path / "empty-cache"), replay=False
    )
    with TestClient(create_app(settings)) as c:
        assert c.get("/health").status_code == 200
        c.headers.update(key_headers(c.app))  # keys still work: the store opened, the city did not
        r = c.get("/events")
        body = assert_error_shape(r, 503)
        assert "twin data fetch" in (body["detail"][0]["reason"] + str(body["hint"]))
        assert r.headers["retry-after"]


def test_store_faults_are_503_507_with_retry_after_and_recover(
    client: TestClient, tmp_path: Path, connected: list[str]
) -> None:
    cam = connected[0]
    other = sqlite3.connect(tmp_path / "events.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database
    try:
        r = client.post("/events", json=event(1, cam))
        assert_error_shape(r, 503, "store")
        assert r.headers["retry-after"] == "1"
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert client.post("/events", json=event(1, cam)).json()["status"] == "created"
    writer = client.app.state.live.store.writer.conn  # type: ignore[attr-defined]
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
    try:
        big = [event(10 + i, cam, attributes={"note": "Ùn tắc kéo dài " * 25}) for i in range(300)]
        r = client.post("/events/batch", json={"events": big})
        assert_error_shape(r, 507, "store")
        assert int(r.headers["retry-after"]) > 0
    finally:
        writer.execute("PRAGMA max_page_count = 1073741823")
    assert client.post("/events/batch", json={"events": big}).json()["counts"] == {"created": 300}
    assert client.get("/events", params={"limit": 1000}).json()["count"] == 301


def _count(client: TestClient) -> int:
    return len(client.get("/events", params={"limit": 1000}).json()["features"])


def test_one_bad_item_refuses_the_whole_batch_naming_it(client: TestClient, connected: list[str]) -> None:
    cam = connected[0]
    batch = [event(i, cam, event_id=f"bad-{i}") for i in range(8)]
    batch[3]["position"] = {"lon": 106.76, "lat": 95.0}  # out of range: the schema refuses it
    r = client.post("/events/batch", json={"events": batch})
    body = assert_error_shape(r, 422, "events.3.position.lat")
    assert [d["field"] for d in body["detail"]] == ["events.3.position.lat"]
    # What needs the clock or walks the attributes is checked batch-wide, located per event too.
    batch[3]["position"] = None
    batch[4]["start_time"] = now_iso(60)
    batch[6]["attributes"] = {"meta": {"thumbnail": "x"}}
    body = assert_error_shape(client.post("/events/batch", json={"events": batch}), 422)
    assert [d["field"] for d in body["detail"]] == ["events.4.start_time", "events.6.attributes"]
    assert "future" in body["detail"][0]["reason"]
    assert "thumbnail" in body["detail"][1]["reason"]
    assert _count(client) == 0  # nothing of a refused batch is stored
    batch[4]["start_time"] = now_iso(-2)
    batch[6]["attributes"] = {"vehicles": 3}
    r = client.post("/events/batch", json={"events": batch})
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"created": 8}


def test_replaying_a_batch_adds_no_row(client: TestClient, connected: list[str]) -> None:
    batch = [event(i, connected[i % 7], event_id=f"rp-{i}") for i in range(300)]
    first = client.post("/events/batch", json={"events": batch})
    assert first.json()["counts"] == {"created": 300}
    n = _count(client)
    assert n == 300
    again = client.post("/events/batch", json={"events": batch})
    assert again.status_code == 200, again.text
    assert again.json()["counts"] == {"duplicate": 300}
    assert again.json()["accepted"] == 300
    assert [x["revision"] for x in again.json()["results"]] == [1] * 300
    assert _count(client) == n


def test_content_type_must_be_json(client: TestClient, connected: list[str]) -> None:
    ev = event(1, connected[0])
    r = client.post("/events", content=json.dumps(ev), headers={"content-type": "text/plain"})
    assert_error_shape(r, 422, "body")
    r = client.post(
        "/events", content=json.dumps(ev), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert r.status_code == 200, r.text
