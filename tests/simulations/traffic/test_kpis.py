"""KPIs that stay true in gridlock: every trip counts up to the horizon, so more demand never looks faster.

A demand ladder on an 8×8 grid (nested trip sets: each level holds every trip of the level below)
runs from free flow into gridlock. Figures over completed trips only (mean trip time) fall once the
network locks, because only the short trips finish; the all-trip figures (time in system, delay,
vehicle-hours on the network, share not arrived) must never fall.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from simulations.traffic.model import run
from simulations.traffic.outputs import KPI_DEFINITIONS
from tests.support.gridnet import grid_network

from .helpers import cars_only, random_trips

LEVELS = (1_500, 4_000, 8_000, 12_000, 16_000, 24_000, 40_000)
MONOTONE = ("total_time_in_system_h", "total_delay_h", "vehicle_hours", "not_arrived_share")


@pytest.fixture(scope="module")
def ladder() -> list[tuple[dict[str, float], pd.DataFrame]]:
    net = grid_network(8, 8, spacing_m=300.0, speed_kmh=50.0)
    pool = random_trips(64, LEVELS[-1], 1800.0, seed=5)
    order = np.random.default_rng(11).permutation(len(pool))
    out = []
    for n in LEVELS:
        trips = pool.iloc[np.sort(order[:n])].reset_index(drop=True)
        res = run(cars_only(horizon_s=3600.0), 3, network=net, trips=trips)
        out.append((res.kpis, res.tables["links_5min"]))
    return out


def test_all_trip_kpis_never_fall_as_demand_rises(
    ladder: list[tuple[dict[str, float], pd.DataFrame]],
) -> None:
    kpis = [k for k, _ in ladder]
    assert kpis[0]["completed_share"] == 1.0
    assert kpis[-1]["not_arrived_share"] > 0.3  # the top of the ladder is gridlock, and says so
    assert [k["gridlock"] for k in kpis[:3]] == [0, 0, 0]
    assert kpis[-1]["gridlock"] == 1
    assert kpis[-1]["vehicles_locked_at_end"] > 0
    for name in MONOTONE:
        values = [k[name] for k in kpis]
        assert all(b >= a for a, b in itertools.pairwise(values)), (name, values)
    speeds = [k["mean_speed_kmh"] for k in kpis]
    assert all(b <= a * 1.01 for a, b in itertools.pairwise(speeds)), speeds
    # the completed-only figure is what misled: it falls in gridlock while the truth gets worse
    trip = [k["mean_trip_time_s"] for k in kpis]
    assert trip[-1] < max(trip[:-1])


def test_every_trip_is_accounted_for_once(ladder: list[tuple[dict[str, float], pd.DataFrame]]) -> None:
    for k, links in ladder:
        parts = k["completed"] + k["en_route_at_end"] + k["not_departed"] + k["unroutable"]
        assert parts == k["trips"]
        assert k["waiting_to_enter_at_end"] <= k["not_departed"]
        assert k["total_time_in_system_h"] == pytest.approx(k["vehicle_hours"] + k["departure_delay_h"])
        # vehicle-hours from the trips agree with the links' occupancy (sampled once per 1 s step)
        occupancy_h = float((links["vehicles"] * 300.0).sum()) / 3600.0
        assert k["vehicle_hours"] == pytest.approx(occupancy_h, rel=0.01)
        assert k["mean_speed_kmh"] == pytest.approx(k["vehicle_km"] / k["vehicle_hours"])
        assert k["total_delay_h"] <= k["total_time_in_system_h"]
    light = ladder[0][0]
    # in free flow time in system is the completed trips' travel time, and delay the completed delay
    assert light["mean_time_in_system_s"] == pytest.approx(light["mean_trip_time_s"])
    assert light["total_delay_h"] == pytest.approx(light["mean_delay_s"] * light["trips"] / 3600.0, rel=1e-6)


def test_every_kpi_says_what_it_covers(ladder: list[tuple[dict[str, float], pd.DataFrame]]) -> None:
    kpis = ladder[0][0]
    assert set(kpis) == set(KPI_DEFINITIONS)
    for name in ("mean_trip_time_s", "median_trip_time_s", "p95_trip_time_s", "mean_delay_s"):
        assert KPI_DEFINITIONS[name].startswith("completed trips only")
