"""POST/GET /counts over HTTP (issue 14): camera traffic counts stored durably, idempotent, validated
like events (one bad item refuses the batch, naming the field), exported through gis_data.io, and the
registry's watched links and directions shown on the cameras layer."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, key_headers
from twin.city import City

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


def watching(city: City) -> list[tuple[str, list[str]]]:
    """(camera, directions) of the connected cameras that count traffic, from the registry."""
    cams = city.cameras[city.cameras["connected"]]
    return [(str(c), list(d)) for c, d in zip(cams["camera_id"], cams["count_directions"], strict=True) if d]


def message(camera: str, directions: list[str], i: int = 0, **kw: Any) -> dict[str, Any]:
    """One 5-min interval of `camera`, `i` intervals after START."""
    start = START + timedelta(minutes=5 * i)
    body = {
        "camera_id": camera,
        "interval_start": start.isoformat().replace("+00:00", "Z"),
        "interval_min": 5,
        "directions": {
            d: {"motorbike": 100 + i, "car": 12, "bus": 1, "truck": 3, "mean_speed_kmh": 24.0}
            for d in directions
        },
        "synthetic": True,
    }
    return body | kw


def _get(client: TestClient, fmt: str = "geojson", **params: Any) -> Any:
    q = {"since": (START - timedelta(hours=1)).isoformat(), "until": (START + timedelta(hours=2)).isoformat(),
         "format": fmt, **params}  # fmt: skip
    return client.get("/counts", params=q)


def test_cameras_layer_says_which_links_and_directions_each_camera_counts(client: TestClient) -> None:
    feats = client.get("/layers/cameras").json()["features"]
    props = [f["properties"] for f in feats]
    counting = [p for p in props if p["count_links"]]
    assert len(counting) >= 0.9 * len(props)
    for p in counting:
        assert len(p["count_links"]) == len(p["count_directions"]) <= 4
        assert set(p["count_directions"]) <= {"NB", "EB", "SB", "WB"}
    # a camera on a two-way street counts both carriageways
    assert any({"NB", "SB"} <= set(p["count_directions"]) or {"EB", "WB"} <= set(p["count_directions"])
               for p in counting)  # fmt: skip


def test_gateway_posts_counts_idempotently_and_operators_read_and_export_them(
    client: TestClient, city: City
) -> None:
    cams = watching(city)[:3]
    batch = [message(c, d, i) for i in range(3) for c, d in cams]
    rows = sum(len(d) for _, d in cams) * 3
    gateway = key_headers(client.app, "camera-gateway")
    r = client.post("/counts", json={"counts": batch}, headers=gateway)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 9, "rows": {"created": rows}}
    # a retry changes nothing; a recount of one interval is a correction
    assert client.post("/counts", json={"counts": batch}, headers=gateway).json()["rows"] == {
        "duplicate": rows
    }
    fixed = message(*cams[0], 0)
    first_dir = cams[0][1][0]
    fixed["directions"][first_dir]["car"] = 99
    r = client.post("/counts", json={"counts": [fixed]}, headers=gateway)
    assert r.json()["rows"] == {"updated": 1, "duplicate": len(cams[0][1]) - 1}
    # the gateway reads nothing
    assert _get(client).status_code == 200  # admin (the client's default key)
    assert client.get("/counts", params={"since": START.isoformat(), "until": START.isoformat()},
                      headers=gateway).status_code == 403  # fmt: skip
    doc = _get(client).json()
    assert doc["provenance"]["synthetic"] is True
    feats = doc["features"]
    assert len(feats) == rows
    hit = [f["properties"] for f in feats if f["properties"]["camera_id"] == cams[0][0]
           and f["properties"]["direction"] == first_dir and f["properties"]["interval_start"].startswith(
               START.strftime("%Y-%m-%dT%H:%M"))]  # fmt: skip
    assert hit
    assert hit[0]["car"] == 99
    assert hit[0]["total"] == 100 + 99 + 1 + 3
    links = dict(zip(city.cameras["camera_id"], city.cameras["count_links"], strict=True))
    assert {f["properties"]["link_id"] for f in feats} <= {x for c, _ in cams for x in links[c]}
    # the same table as CSV and GeoParquet (gis_data.io)
    csv = pd.read_csv(io.BytesIO(_get(client, "csv").content), encoding="utf-8-sig")
    assert len(csv) == rows
    assert {"camera_id", "direction", "motorbike", "geometry_wkt"} <= set(csv.columns)
    table = pq.read_table(io.BytesIO(_get(client, "parquet").content))
    assert table.num_rows == rows
    assert b"geo" in (table.schema.metadata or {})
    only = _get(client, camera=cams[1][0]).json()["features"]
    assert {f["properties"]["camera_id"] for f in only} == {cams[1][0]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m["directions"][next(iter(m["directions"]))].update(motorbike=-1), "counts.1.directions"),
        (lambda m: m["directions"][next(iter(m["directions"]))].update(tractor=4), "counts.1.directions"),
        (
            lambda m: m.update(
                interval_start=(datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%MZ")
            ),
            "counts.1.interval_start",
        ),
        (lambda m: m.update(interval_min=20), "counts.1.interval_min"),
        (lambda m: m.update(interval_start="2025-06-12T00:00:30Z"), "counts.1.interval_start"),
        (lambda m: m.update(camera_id="LS-CAM-999"), "counts.1.camera_id"),
        (lambda m: m["directions"].update(XB={"car": 1}), "counts.1.directions.XB"),
    ],
)
def test_one_bad_item_refuses_the_batch_naming_the_field(
    client: TestClient, city: City, change: Any, field: str
) -> None:
    (c0, d0), (c1, d1) = watching(city)[:2]
    bad = message(c1, d1, 1)
    change(bad)
    r = client.post("/counts", json={"counts": [message(c0, d0), bad]})
    assert_error_shape(r, 422, field)
    assert _get(client).json()["features"] == []


def test_a_direction_the_camera_does_not_watch_is_refused(client: TestClient, city: City) -> None:
    cam, dirs = next((c, d) for c, d in watching(city) if len(d) < 4)
    other = next(d for d in ("NB", "EB", "SB", "WB") if d not in dirs)
    r = client.post("/counts", json={"counts": [message(cam, [*dirs, other])]})
    body = assert_error_shape(r, 422, f"counts.0.directions.{other}")
    assert cam in body["detail"][0]["reason"]
    assert _get(client).json()["features"] == []


def test_bad_queries_are_4xx(client: TestClient) -> None:
    assert_error_shape(client.get("/counts", params={"since": START.isoformat()}), 422, "until")
    r = _get(client, fmt="shapefile")
    assert_error_shape(r, 422, "format")
    r = client.get(
        "/counts", params={"since": START.isoformat(), "until": (START - timedelta(hours=1)).isoformat()}
    )
    assert_error_shape(r, 422, "until")


def test_replayer_sends_model_counts_that_read_back_in_model_time(client: TestClient, city: City) -> None:
    import asyncio  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    from api.replayer import send_traffic_counts  # noqa: PLC0415
    from api.services.traffic_counts import messages_of, model_table  # noqa: PLC0415
    from api.store.traffic_counts import TrafficCountQuery  # noqa: PLC0415

    cams = city.cameras[city.cameras["connected"]]
    cam = next(r for r in cams.itertuples() if len(r.count_links) >= 2)
    day = START.replace(hour=0, minute=0)  # a UTC midnight: local 07:00
    local0 = 7 * 3600
    table = pd.DataFrame({
        "camera_id": cam.camera_id, "direction": list(cam.count_directions[:2]) * 3,
        "link_id": list(cam.count_links[:2]) * 3, "t_s": [local0 + 300 * (i // 2) for i in range(6)],
        "interval_s": 300, "motorbike": range(10, 16), "car": 2, "bus": 0, "truck": 1,
    })  # fmt: skip
    items = messages_of(table, day)
    assert len(items) == 3
    assert items[0]["interval_start"] == day.isoformat().replace("+00:00", "Z")
    gateway = key_headers(client.app, "camera-gateway")

    async def go() -> int:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=gateway) as c:
            return await send_traffic_counts(c, items, batch=2)

    assert asyncio.run(go()) == 6
    store = client.app.state.live.store
    back = model_table(store.traffic_counts(TrafficCountQuery(day, day + timedelta(hours=1))), day)
    assert back.sort_values(["t_s", "direction"])[["t_s", "motorbike"]].to_numpy().tolist() == (
        table.sort_values(["t_s", "direction"])[["t_s", "motorbike"]].to_numpy().tolist()
    )


def test_a_camera_bound_key_counts_only_for_its_cameras(client: TestClient, city: City) -> None:
    (mine, mine_dirs), (other, other_dirs) = watching(city)[:2]
    gw = key_headers(client.app, "camera-gateway", "site", cameras=[mine])
    ok = client.post("/counts", json={"counts": [message(mine, mine_dirs)]}, headers=gw)
    assert ok.status_code == 200, ok.text
    batch = {"counts": [message(mine, mine_dirs, 1), message(other, other_dirs, 1)]}
    assert_error_shape(client.post("/counts", json=batch, headers=gw), 403, "counts.1.camera_id")
