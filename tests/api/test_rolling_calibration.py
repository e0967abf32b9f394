"""Rolling re-calibration while serving (issue 14): with ``recalibrate_window_h`` set, the forecast
worker queues a calibration of the newest counts' window by itself (no manual job), and the forecast
then rests on it; once it is done no second job is queued for the same counts. Counts: the hidden
truth's (synthetic), sent through POST /counts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.replayer import send_traffic_counts
from api.settings import DataSettings, LiveSettings, Settings
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city)
from tests.api.test_events_support import ThreadServer, key_headers
from tests.support.counts import truth_items
from twin.city import City

DAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
UNTIL = DAY + timedelta(hours=2)


@pytest.fixture(scope="module")
def served(city: City, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[ThreadServer]:
    """A twin on loopback whose worker runs every 2 s and re-calibrates on the last 2 h of counts."""
    settings = Settings(state_dir=tmp_path_factory.mktemp("rolling"), data=DataSettings(dir=data_dir),
                        replay=False, forecast_every_s=2, recalibrate_window_h=2)  # fmt: skip
    app = create_app(settings)
    app.state.city = city
    app.state.live_settings = LiveSettings(tick_s=3600)
    srv = ThreadServer(app).start()
    srv.gateway = key_headers(app, "camera-gateway")  # type: ignore[attr-defined]
    srv.operator = key_headers(app, "operator")  # type: ignore[attr-defined]
    srv.items = truth_items(city, DAY, days=((0, 2),))  # type: ignore[attr-defined]
    yield srv
    srv.stop()


def _calibrations(url: str, op: dict[str, str]) -> list[dict[str, Any]]:
    jobs = httpx.get(f"{url}/scenarios", headers=op, timeout=60).json()["scenarios"]
    return [j for j in jobs if j["kind"] == "calibration"]


def test_the_worker_recalibrates_on_the_rolling_window_and_the_forecast_rests_on_it(served: Any) -> None:
    url, op = served.url, served.operator
    time.sleep(5)  # a few rounds without counts: nothing to calibrate
    assert _calibrations(url, op) == []

    async def send() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=120, headers=served.gateway) as client:
            return await send_traffic_counts(client, served.items)

    assert asyncio.run(send()) > 0
    deadline = time.monotonic() + 300
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/forecast", params={"parts": "summary"}, headers=op, timeout=600)
        doc = r.json() if r.status_code == 200 else {}
        if doc.get("rests_on", {}).get("calibration"):
            break
        time.sleep(2)
    job_id = doc["rests_on"]["calibration"]
    job = httpx.get(f"{url}/calibrations/{job_id}", headers=op, timeout=60).json()
    assert job["status"] == "done"
    assert job["request"]["name"] == "rolling calibration (2 h)"  # queued by the worker
    assert doc["rests_on"]["since"] == DAY.isoformat()
    assert doc["rests_on"]["until"] == UNTIL.isoformat()
    assert doc["rests_on"]["held_out"]["n"] > 0
    time.sleep(6)  # more rounds, the same counts: no second job
    assert [j["id"] for j in _calibrations(url, op)] == [job_id]
