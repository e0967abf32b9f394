"""The app the browser tests serve: the real `create_app`, with scenario jobs that finish in a second.

Scenario jobs keep the real job service, storage and HTTP routes; only the work a job runs is a
model-shaped stand-in (the traffic model's layer and table schema: ``traffic.links`` with mean speeds
and ``traffic.links_5min`` with a speed per link per 5 minutes), so a browser test can overlay and
compare runs without minutes of simulation. The models themselves are tested in tests/simulations.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import FastAPI

from api.app import create_app
from api.schemas import categories
from api.services.jobs import JobManager
from api.settings import JobSettings, Settings
from simulations.results import Progress, RunResult
from simulations.scenario import CloseChange, ScenarioSpec
from twin import provenance

#: 24 links across the old centre of Lạng Sơn (west → east), 12 bins of 5 minutes from 07:00.
N_LINKS = 24
N_BINS = 12
FREE_KMH = 40.0


def link_speed(link: int, b: int, multiplier: float) -> float:
    """Return the stand-in speed (km/h) of `link` in bin `b`: slower with demand, slowest mid-run."""
    load = 0.45 * multiplier * math.sin(math.pi * (b + 0.5) / N_BINS) * (0.5 + (link % 4) / 6)
    return FREE_KMH * max(0.1, 1.0 - load)


#: Links of the stand-in drawn as a bridge (the planner closes it in the browser test).
BRIDGE = (8, 9)
BRIDGE_NAME = "Cầu Đông Kinh"


def closed_bins(spec: ScenarioSpec) -> dict[int, set[int]]:
    """Return link → the 5-min bins (from 07:00) a ``close`` change of `spec` closes it in."""
    out: dict[int, set[int]] = {}
    for ch in spec.changes:
        if not isinstance(ch, CloseChange):
            continue
        t0 = _minutes(ch.start, 0) - 7 * 60
        t1 = _minutes(ch.end, 24 * 60) - 7 * 60
        bins = {b for b in range(N_BINS) if 5 * b < t1 and 5 * (b + 1) > t0}
        for link in ch.links:
            out.setdefault(int(link), set()).update(bins)
    return out


def _minutes(hhmm: str | None, default: int) -> int:
    if not hhmm:
        return default
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def model_shaped_work(
    spec: ScenarioSpec, progress: Progress, data_dir: Path | None, res: int
) -> dict[str, list[RunResult]]:
    """Return traffic-shaped results for each seed (demand multiplier from the spec)."""
    params = spec.resolve()
    mult = float(params["traffic"].demand.multiplier)  # type: ignore[attr-defined]
    lines = [
        shapely.LineString([(106.745 + 0.004 * (i % 6), 21.838 + 0.004 * (i // 6)),
                            (106.748 + 0.004 * (i % 6), 21.8385 + 0.004 * (i // 6))])
        for i in range(N_LINKS)
    ]  # fmt: skip
    shut = closed_bins(spec)
    out = []
    for k, seed in enumerate(spec.seeds):
        progress((k + 1) / len(spec.seeds), f"seed {seed}")
        speeds = np.array([[link_speed(i, b, mult) for i in range(N_LINKS)] for b in range(N_BINS)])
        closed = np.zeros(speeds.shape, dtype=bool)
        for link, window in shut.items():
            closed[sorted(window), link] = True
        speeds[closed] = np.nan  # a closed link has no speed
        mean = np.nanmean(np.where(closed.all(axis=0), FREE_KMH, speeds), axis=0)
        open_share = 1.0 - closed.mean(axis=0)
        links = gpd.GeoDataFrame(
            {"name": [BRIDGE_NAME if i in BRIDGE else "QL1A" for i in range(N_LINKS)],
             "road_class": ["primary"] * N_LINKS,
             "volume_veh": [100.0 * (i + 1) * mult * open_share[i] for i in range(N_LINKS)],
             "mean_speed_kmh": mean, "speed_ratio": mean / FREE_KMH, "free_speed_kmh": FREE_KMH,
             "closed_any": closed.any(axis=0)},
            geometry=lines, crs="EPSG:4326", index=pd.RangeIndex(N_LINKS, name="link_id"),
        )  # fmt: skip
        provenance.attach(
            links, provenance.Provenance(name="traffic_links", source="simulated", licence="MIT")
        )
        bins = np.repeat(np.arange(N_BINS), N_LINKS)
        table = pd.DataFrame({
            "bin": bins, "t_start_s": bins * 300, "link_id": np.tile(np.arange(N_LINKS), N_BINS),
            "speed_kmh": speeds.ravel(), "closed": closed.ravel(),
            "state": np.where(closed, "closed", "flowing").ravel(),
            "t_local": [f"07:{5 * b:02d}" for b in bins],
        })  # fmt: skip
        # Seed-dependent KPIs (the paired difference over seeds has an interval), a closure adds delay.
        delay = 60.0 + seed + 30.0 * float(closed.sum()) / N_BINS
        kpis = {"mean_speed_kmh": float(np.nanmean(speeds)), "mean_delay_s": delay,
                "vehicle_km": float(links["volume_veh"].sum()) * 0.3 + seed}  # fmt: skip
        out.append(
            RunResult("traffic", {"multiplier": mult}, seed, kpis,
                      tables={"links_5min": table}, layers={"links": links})
        )  # fmt: skip
    return {"traffic": out}


def create_test_app() -> FastAPI:
    """Return the real app whose scenario jobs run `model_shaped_work`."""
    settings = Settings()
    app = create_app(settings)
    app.state.scenario_jobs = JobManager(
        settings.state_dir, data_dir=settings.data.dir, work=model_shaped_work,
        settings=JobSettings(max_concurrent=2, max_queued=10), poll_s=0.05,
    )  # fmt: skip
    return app


def create_app_with_categories() -> FastAPI:
    """Return the test app over the category table at ``$TWIN_TEST_CATEGORIES`` (a test's table)."""
    categories.use_table(categories.read_table(Path(os.environ["TWIN_TEST_CATEGORIES"])))
    return create_test_app()
