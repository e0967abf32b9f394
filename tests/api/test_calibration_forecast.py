"""The twin's loop over HTTP (issue 14) on a real uvicorn: the hidden truth's counts (synthetic) go in
through POST /counts, an operator starts a calibration job (the scenario job queue) and watches its
progress, downloads the calibrated scenario base and the fit; GET /forecast serves the next hour on
it, with both baselines and the backtest error; the stream carries the job's progress (``job``) and a
``forecast`` message."""

from __future__ import annotations

import asyncio
import json
import math
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import shapely

from api.app import create_app
from api.replayer import send_traffic_counts
from api.settings import DataSettings, LiveSettings, Settings
from simulations.traffic.params import TrafficParams
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city)
from tests.api.test_events_support import ThreadServer, key_headers
from tests.support.counts import truth_items
from twin.city import City

#: Counts of yesterday 07:00–09:00 local (00:00–02:00 UTC) and of the same hours a week before.
DAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
AS_OF = DAY + timedelta(hours=2)


@pytest.fixture(scope="module")
def served(city: City, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[ThreadServer]:
    """A twin on loopback holding the hidden truth's counts of DAY (2 h) and of a week before (3 h)."""
    settings = Settings(state_dir=tmp_path_factory.mktemp("loop"), data=DataSettings(dir=data_dir),
                        replay=False, forecast_every_s=0)  # fmt: skip
    app = create_app(settings)
    app.state.city = city
    app.state.live_settings = LiveSettings(tick_s=3600)
    srv = ThreadServer(app).start()
    items = truth_items(city, DAY)
    srv.gateway = key_headers(app, "camera-gateway")  # type: ignore[attr-defined]
    srv.operator = key_headers(app, "operator")  # type: ignore[attr-defined]
    srv.reporter = key_headers(app, "reporter")  # type: ignore[attr-defined]
    srv.items = items  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _send(srv: Any) -> int:
    async def go() -> int:
        async with httpx.AsyncClient(base_url=srv.url, timeout=120, headers=srv.gateway) as client:
            return await send_traffic_counts(client, srv.items)

    return asyncio.run(go())


def _reader(url: str, headers: dict[str, str], types: str, out: queue.Queue[tuple[str, dict[str, Any]]],
            last: str) -> None:  # fmt: skip
    """Put the stream's messages of `types` on `out` until one whose status or kind is `last`."""
    with httpx.stream("GET", f"{url}/stream", params={"types": types}, timeout=600, headers=headers) as r:
        kind = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = json.loads(line.split(":", 1)[1].strip())
                out.put((kind, data))
                if last in (kind, data.get("status")):
                    return


def test_counts_calibrate_over_http_and_the_forecast_is_served_and_streamed(served: Any) -> None:
    url, op = served.url, served.operator
    # no counts yet: nothing to forecast from (404 naming the counts)
    r = httpx.get(f"{url}/forecast", headers=op, timeout=60)
    assert r.status_code == 404
    assert r.json()["detail"][0]["field"] == "counts"
    assert _send(served) > 0
    body = {"since": DAY.isoformat(), "until": AS_OF.isoformat(), "holdout": 0.3, "outer": 1}
    # who may start it, and what it refuses (naming the field)
    assert httpx.post(f"{url}/calibrations", json=body, headers=served.reporter).status_code == 403
    assert httpx.post(f"{url}/calibrations", json=body, headers=served.gateway).status_code == 403
    bad = httpx.post(f"{url}/calibrations", json=body | {"since": (DAY + timedelta(minutes=30)).isoformat()},
                     headers=op)  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "since"
    progress: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    watcher = threading.Thread(target=_reader, args=(url, op, "job", progress, "done"), daemon=True)
    watcher.start()
    time.sleep(1.0)
    r = httpx.post(f"{url}/calibrations", json=body, headers=op)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "calibration"
    assert job["status"] in ("queued", "running")
    seen: list[tuple[str, float, str]] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}{job['url']}", headers=op).json()
        seen.append((job["status"], job["progress"], job["message"]))
        if job["status"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.3)
    assert job["status"] == "done", job
    # progress was visible while it ran, with what it was doing
    running = [s for s in seen if s[0] == "running" and 0 < s[1] < 100]
    assert running, seen
    assert any(s[2] for s in running)
    # ... and on the stream: job messages with its progress, up to done
    watcher.join(timeout=60)
    streamed = [d for _, d in list(progress.queue) if d["id"] == job["id"]]
    assert streamed[-1]["status"] == "done"
    assert streamed[-1]["url"] == job["url"]
    assert any(d["status"] == "running" and 0 < d["progress"] < 100 and d["message"] for d in streamed)
    fit = job["fit"]
    assert fit["held_out"]["n"] > 0
    assert fit["fitted"]["n"] > 0
    assert 0.0 <= fit["held_out"]["geh_lt5_share"] <= 1.0
    assert fit["cameras_held_out"]
    assert job["kpis"]["held_out.geh_lt5_share"] == fit["held_out"]["geh_lt5_share"]
    # the same job on the scenario job endpoint (one queue)
    assert httpx.get(f"{url}/scenarios/{job['id']}", headers=op).json()["kind"] == "calibration"
    base = httpx.get(f"{url}{job['files']['calibrated.json']}", headers=op)
    assert base.status_code == 200
    params = TrafficParams.from_dict(base.json(), where="calibrated")  # a scenario base planners run
    assert params.demand.production
    assert "calibrated" in params.name
    png = httpx.get(f"{url}{job['files']['scatter.png']}", headers=op)
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # the forecast rests on that calibration, and is streamed
    got: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    reader = threading.Thread(target=_reader, args=(url, op, "forecast", got, "forecast"), daemon=True)
    reader.start()
    time.sleep(1.0)
    r = httpx.get(f"{url}/forecast", headers=op, timeout=600)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["as_of"] == AS_OF.isoformat().replace("+00:00", "Z")
    assert doc["rests_on"]["calibration"] == job["id"]
    assert doc["rests_on"]["held_out"] == fit["held_out"]
    assert doc["horizons_min"] == [15, 30, 60]
    assert doc["synthetic"] is True
    for h in ("15", "30", "60"):
        tot = doc["counted_totals_veh_h"][h]
        assert tot["links"] > 0
        assert tot["nowcast"] > 0
        assert tot["persistence"] > 0
        assert tot["historical"] > 0  # last week's counts are in the store
        err = doc["backtest"]["errors"][h]
        assert err["n"] > 0
        for m in ("nowcast", "persistence", "historical"):
            assert err[m]["mae_pct"] >= 0
            assert 0 <= err[m]["geh_lt5_share"] <= 1
    feats = doc["links"]["features"]
    counted = [f["properties"] for f in feats if f["properties"]["counted"]]
    assert counted
    assert all("persistence_60_veh_h" in p and "flow_60_veh_h" in p for p in counted)
    assert len(feats) > 10 * len(counted)  # every link the model drove, not only the counted ones
    assert feats[0]["geometry"]["type"] == "LineString"
    assert doc["cells"]
    assert {"cell", "cell_boundary", "congestion_15"} <= set(doc["cells"][0])
    kind, msg = got.get(timeout=60)
    assert kind == "forecast"
    assert msg["as_of"] == doc["as_of"]
    assert msg["url"] == "/forecast"
    assert "links" not in msg
    # the same counts again: the same forecast (not made again)
    again = httpx.get(f"{url}/forecast", params={"parts": "summary"}, headers=op, timeout=60).json()
    assert again["made_at"] == doc["made_at"]
    assert "links" not in again
    assert httpx.get(f"{url}/forecast", headers=served.gateway).status_code == 403


def test_an_open_incident_that_blocks_a_road_closes_it_in_the_forecast(served: Any) -> None:
    """A citizen reports flooding on a busy road (Open311): the forecast made after it closes the links
    there (flow ~0 from as_of on), traffic takes the neighbouring roads, and the forecast says which
    closures it used; without the incident it used none."""
    url, op = served.url, served.operator
    _send(served)  # idempotent: the counts of the first test, or these alone
    before = httpx.get(f"{url}/forecast", headers=op, timeout=600).json()
    assert before["closures"]["incidents"] == []
    assert not [c for c in before["closures"]["used"] if c["source"] == "incident"]
    feats = {f["properties"]["link_id"]: f for f in before["links"]["features"]}
    # the busiest link the model drives an hour ahead
    lid, f = max(feats.items(), key=lambda kv: kv[1]["properties"].get("flow_60_veh_h") or 0.0)
    flow_before = f["properties"]["flow_60_veh_h"]
    assert flow_before > 100
    mid = shapely.LineString(f["geometry"]["coordinates"]).interpolate(0.5, normalized=True)
    form = {"service_code": "flooding", "lat": f"{mid.y:.6f}", "long": f"{mid.x:.6f}",
            "description": "Ngập sâu, xe không qua được (synthetic test report)"}  # fmt: skip
    r = httpx.post(f"{url}/open311/v2/requests.json", data=form, headers=served.reporter)
    assert r.status_code == 201, r.text
    r = httpx.get(f"{url}/forecast", headers=op, timeout=600)
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["as_of"] == before["as_of"]
    assert after["made_at"] != before["made_at"]  # made again: the closures changed
    assert len(after["closures"]["incidents"]) == 1
    used = [c for c in after["closures"]["used"] if c["source"] == "incident"]
    assert len(used) == 1
    assert used[0]["category"] == "flooding"
    assert used[0]["incident"] == after["closures"]["incidents"][0]
    closed = set(used[0]["links"])
    assert lid in closed
    inc = httpx.get(f"{url}{used[0]['url']}", headers=op)
    assert inc.status_code == 200
    assert inc.json()["category"] == "flooding"
    now = {f["properties"]["link_id"]: f["properties"] for f in after["links"]["features"]}
    for c in closed:  # closed an hour ahead: nothing enters
        assert now[c]["closed_60"] is True
        assert (now[c].get("flow_60_veh_h") or 0.0) < 1.0
    # where it went: the links that gained most lie near the closure and took a share of its flow
    gain = {k: (p.get("flow_60_veh_h") or 0.0) - (feats[k]["properties"].get("flow_60_veh_h") or 0.0
                                                   if k in feats else 0.0)
            for k, p in now.items() if k not in closed}  # fmt: skip
    top = sorted(gain, key=gain.__getitem__, reverse=True)[:5]
    assert gain[top[0]] > 0.25 * flow_before, (flow_before, [gain[k] for k in top])
    geoms = {f["properties"]["link_id"]: f["geometry"]["coordinates"] for f in after["links"]["features"]}
    for k in top[:3]:
        p = shapely.LineString(geoms[k]).interpolate(0.5, normalized=True)
        dist_m = math.hypot((p.x - mid.x) * 111_320 * math.cos(math.radians(mid.y)), (p.y - mid.y) * 110_570)
        assert dist_m < 2000, (k, dist_m)
