"""Live H3 counts (/cells), hotspots (/hotspots), rebuild after restart, /stats and NGSI-LD output."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
from fastapi.testclient import TestClient

from api.services.bus import Bus, Message, StreamFilter
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, live_client
from tests.support.events import event
from twin.city import City


def _cams(city: City, ids: list[str]) -> dict[str, tuple[float, float]]:
    g = city.cameras.set_index("camera_id").geometry
    return {c: (g[c].x, g[c].y) for c in ids}


def test_cells_known_answers(client: TestClient, city: City, connected: list[str]) -> None:
    a, b = connected[0], connected[1]
    pos = _cams(city, [a, b])
    now = datetime.now(UTC)
    evs = (
        [event(i, a, start_time=(now - timedelta(minutes=2)).isoformat()) for i in range(5)]
        + [
            event(10 + i, b, category="crowding", start_time=(now - timedelta(minutes=3)).isoformat())
            for i in range(3)
        ]
        + [
            event(20 + i, b, category="crowding", start_time=(now - timedelta(hours=3)).isoformat())
            for i in range(2)
        ]
    )
    assert client.post("/events/batch", json={"events": evs}).status_code == 200
    cell_a = h3.latlng_to_cell(pos[a][1], pos[a][0], 9)
    cell_b = h3.latlng_to_cell(pos[b][1], pos[b][0], 9)
    fc = client.get("/cells", params={"window": "1h"}).json()
    got = {f["id"]: f["properties"] for f in fc["features"]}
    assert fc["total"] == 8
    assert got[cell_a]["by_category"] == {"congestion": 5}
    assert got[cell_b]["by_category"] == {"crowding": 3}
    assert fc["features"][0]["id"] == cell_a  # busiest first
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert len(ring) == 7
    assert fc["provenance"]["synthetic"] is False
    # a longer window includes the older events; a category filter keeps only its own
    assert client.get("/cells", params={"window": "6h"}).json()["total"] == 10
    assert client.get("/cells", params={"window": "1h", "category": "crowding"}).json()["total"] == 3
    # coarser resolution: counts add up in the parents
    fc7 = client.get("/cells", params={"window": "24h", "res": 7}).json()
    parents: dict[str, int] = {}
    for c, n in ((cell_a, 5), (cell_b, 5)):
        p = h3.cell_to_parent(c, 7)
        parents[p] = parents.get(p, 0) + n
    assert {f["id"]: f["properties"]["count"] for f in fc7["features"]} == parents
    # a replay or a lifecycle update does not count twice
    client.post("/events/batch", json={"events": evs[:5]})
    client.post("/events", json={**evs[0], "lifecycle": "update", "severity": "high"})
    assert client.get("/cells", params={"window": "1h"}).json()["total"] == 8
    assert_error_shape(client.get("/cells", params={"window": "2d"}), 422, "window")
    assert_error_shape(client.get("/cells", params={"window": "25h"}), 422, "window")
    assert_error_shape(client.get("/cells", params={"res": 12}), 422, "res")
    assert_error_shape(client.get("/cells", params={"res": 10}), 422, "res")  # finer than the service


def test_hotspot_forms_where_events_cluster(client: TestClient, city: City, connected: list[str]) -> None:
    cam = connected[0]
    lon, lat = _cams(city, [cam])[cam]
    evs = [event(i, cam, category="accident") for i in range(40)]
    # background: one event at each of a handful of other connected cameras
    evs += [event(100 + i, c, category="accident") for i, c in enumerate(connected[5:15])]
    assert client.post("/events/batch", json={"events": evs}).status_code == 200
    fc = client.get("/hotspots", params={"window": "1h"}).json()
    hot = {f["id"] for f in fc["features"] if f["properties"]["hotspot"] == "hot"}
    assert h3.latlng_to_cell(lat, lon, 9) in hot
    assert fc["study_cells"] >= 1000  # the city's cells at res 9 (about 175 km²)
    assert fc["hot"] == len(hot)
    everything = client.get("/hotspots", params={"window": "1h", "all": "true"}).json()
    assert len(everything["features"]) == fc["study_cells"]
    assert_error_shape(client.get("/hotspots", params={"res": 11}), 422, "res")


def test_counts_survive_a_restart(city: City, tmp_path: Path, data_dir: Path, connected: list[str]) -> None:
    evs = [event(i, connected[i % 4]) for i in range(12)]
    with live_client(city, tmp_path, data_dir) as c1:
        c1.post("/events/batch", json={"events": evs})
        before = c1.get("/cells", params={"window": "1h"}).json()["features"]
    with live_client(city, tmp_path, data_dir) as c2:
        after = c2.get("/cells", params={"window": "1h"}).json()["features"]
        assert after == before
        assert c2.get("/events").json()["count"] == 12


def test_stats_and_ngsi(client: TestClient, connected: list[str]) -> None:
    ev = event(1, connected[0])
    client.post("/events", json=ev)
    client.post("/events", json=ev)
    st = client.get("/stats").json()
    assert st["ingest"]["outcomes"] == {"created": 1, "duplicate": 1}
    assert st["store"]["writes"] >= 2
    assert st["stream"]["subscribers"] == 0
    ld = {"Accept": "application/ld+json"}
    r = client.get("/ngsi-ld/v1/entities", params={"type": "Alert"}, headers=ld)
    assert r.headers["content-type"].startswith("application/ld+json")
    (ent,) = r.json()
    assert ent["id"] == f"urn:ngsi-ld:Alert:{ev['event_id']}"
    assert ent["type"] == "Alert"
    assert ent["category"]["value"] == "traffic"
    assert ent["subCategory"]["value"] == "trafficJam"
    assert ent["location"]["type"] == "GeoProperty"
    assert ent["alertSource"]["object"] == f"urn:ngsi-ld:Device:{connected[0]}"
    alt = client.get("/events", headers={"Accept": "application/ld+json"})
    assert alt.headers["content-type"].startswith("application/ld+json")
    assert [e["id"] for e in alt.json()] == [ent["id"]]
    devs = client.get("/ngsi-ld/v1/entities", params={"type": "Device", "limit": 1000}).json()
    assert len(devs) == 238
    assert {d["type"] for d in devs} == {"Device"}
    one = client.get(f"/ngsi-ld/v1/entities/urn:ngsi-ld:Device:{connected[0]}").json()
    assert one["deviceState"]["value"] == "online"  # it just sent an event
    assert client.get(f"/ngsi-ld/v1/entities/{ent['id']}").json()["id"] == ent["id"]
    # NGSI-LD errors (ProblemDetails) and the rest of the query API: tests/api/test_ngsi.py.


def test_bus_bursts_are_bounded_in_messages_and_drops_counted() -> None:
    async def go() -> None:
        bus = Bus(queue_size=10)
        everything = bus.subscribe(StreamFilter())
        only_fire = bus.subscribe(StreamFilter(categories=frozenset({"fire_smoke"})))
        burst = [Message("event", f'{{"i":{i}}}', "congestion" if i % 2 else "fire_smoke") for i in range(8)]
        assert bus.publish_many(burst) == 8 + 4
        # The second burst fits only partly for the subscriber that reads nothing: 2 of 8 taken.
        bus.publish_many(burst)
        assert (everything.pending, everything.dropped) == (10, 6)
        assert (only_fire.pending, only_fire.dropped) == (8, 0)
        chunk = await everything.next_chunk()
        frames = chunk.split(b"\n\n")[:-1]
        assert len(frames) == 10
        assert frames[0] == f'id: {bus.run}-1\nevent: event\ndata: {{"i":0}}'.encode()
        # the first two of the second burst
        assert frames[9] == f'id: {bus.run}-10\nevent: event\ndata: {{"i":1}}'.encode()
        assert everything.pending == 0
        fire = await only_fire.next_chunk()
        assert fire.count(b"event: event\n") == 8
        assert b'"i":1}' not in fire
        assert bus.stats()["dropped"] == 6
        assert bus.stats()["published"] == 16

    asyncio.run(go())
