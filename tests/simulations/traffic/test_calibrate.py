"""Calibration known answers (issue 14): counts the model itself makes from a known demand are fitted
back; doubling one zone's production moves that zone, not the others; missing intervals and a silent
camera are tolerated and reported. On an 8×8 grid (300 m, light load), zones are H3 res-8 cells."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from simulations.traffic import calibrate as cb
from simulations.traffic.params import TrafficParams
from simulations.traffic.plots import calibration_scatter
from tests.support.gridnet import grid_network
from twin import h3grid
from twin.crs import WGS84
from twin.network import RoadNetwork

ZONE_RES = 8
START = 8 * 3600  # counts from 08:00 local
HOURS = 2


@pytest.fixture(scope="module")
def world() -> tuple[RoadNetwork, gpd.GeoDataFrame, pd.DataFrame]:
    """The grid, its H3 res-9 cells (uniform population) and 48 counted links as one-link cameras."""
    net = grid_network(8, 8, spacing_m=300.0)
    x0, y0, x1, y1 = net.nodes.total_bounds
    ids = sorted(h3grid.polygon_to_cells(shapely.box(x0, y0, x1, y1), 9))
    cells = gpd.GeoDataFrame(
        {"population": 180.0, "attractiveness": 1.0},
        geometry=[shapely.Point(h3grid.cell_to_latlng(c)[::-1]) for c in ids],
        index=pd.Index(ids, name="cell"),
        crs=WGS84,
    )
    rng = np.random.default_rng(3)
    links = np.sort(rng.choice(net.n_links, 48, replace=False))
    watch = pd.DataFrame({"camera_id": [f"LS-CAM-{i + 1:03d}" for i in range(48)], "direction": "NB",
                          "link_id": links, "distance_m": 0.0})  # fmt: skip
    return net, cells, watch


def _prior() -> TrafficParams:
    return TrafficParams(demand={"through_veh_h": 0.0, "corridors": ()})


World = tuple[RoadNetwork, gpd.GeoDataFrame, pd.DataFrame]


def _truth_counts(world: World, truth: TrafficParams) -> pd.DataFrame:
    net, cells, watch = world
    from simulations.traffic.demand import synthesize  # noqa: PLC0415
    from simulations.traffic.model import run  # noqa: PLC0415

    params = cb.window_params(truth, START, HOURS)
    trips = synthesize(params, net, cells, np.random.default_rng(11))
    result = run(params, 11, network=net, cells=cells, trips=trips)
    return cb.counts_from_run(result, params, watch, trips, net)


def _calibrate(
    world: tuple[RoadNetwork, gpd.GeoDataFrame, pd.DataFrame], counts: pd.DataFrame, ridge: float = cb.RIDGE
) -> cb.Calibration:
    net, cells, watch = world
    return cb.calibrate(counts, prior=_prior(), network=net, cells=cells, start_local_s=START, hours=HOURS,
                        holdout=0.25, outer=1, zone_res=ZONE_RES, ridge=ridge,
                        cameras=list(watch["camera_id"]))  # fmt: skip


def _zone_of_most_cells(cells: gpd.GeoDataFrame) -> str:
    zones = pd.Series([h3grid.cell_to_parent(str(c), ZONE_RES) for c in cells.index])
    return str(zones.value_counts().index[0])


def test_counts_of_a_known_demand_are_fitted_back(
    world: tuple[RoadNetwork, gpd.GeoDataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    cal = _calibrate(world, _truth_counts(world, _prior()))
    rep = cal.report
    # the prior *is* the truth (other seed): held-out camera-hours within GEH 5, factors near 1
    assert rep["held_out"]["n"] >= 20
    assert rep["held_out"]["geh_lt5_share"] >= 0.85, rep
    assert rep["fitted"]["geh_lt5_share"] >= 0.85, rep
    prod = cb.zone_production(world[1], cal.fit.params, ZONE_RES)
    assert 0.8 <= float(np.median(list(prod.values()))) <= 1.2
    assert all(0.85 <= cal.fit.class_factor[m] <= 1.15 for m in ("motorbike", "car")), cal.fit.class_factor
    png = calibration_scatter(cal.camera_hours, tmp_path / "scatter.png")
    assert png.stat().st_size > 10_000


def test_doubling_one_zone_moves_that_zone_not_the_others(
    world: tuple[RoadNetwork, gpd.GeoDataFrame, pd.DataFrame],
) -> None:
    zone = _zone_of_most_cells(world[1])
    demand = _prior().demand.model_copy(update={"production": {zone: 2.0}})
    truth = _prior().model_copy(update={"demand": demand})
    # this grid's counts are ~10× fewer per camera-hour than the city's: a prior weight to match
    cal = _calibrate(world, _truth_counts(world, truth), ridge=20.0)
    prod = cb.zone_production(world[1], cal.fit.params, ZONE_RES)
    others = [v for z, v in prod.items() if z != zone]
    assert prod[zone] >= 1.5, prod
    assert prod[zone] > 1.3 * float(np.median(others)), prod
    assert 0.75 <= float(np.median(others)) <= 1.25, prod


def test_missing_intervals_and_a_silent_camera_are_reported(
    world: tuple[RoadNetwork, gpd.GeoDataFrame, pd.DataFrame],
) -> None:
    counts = _truth_counts(world, _prior())
    silent = "LS-CAM-001"
    counts = counts[counts["camera_id"] != silent]
    # camera 2 loses 3 of its 12 intervals of the first hour (scaled up), camera 3 loses 8 (dropped)
    for cam, n in (("LS-CAM-002", 3), ("LS-CAM-003", 8)):
        first = (counts["t_s"] >= START) & (counts["t_s"] < START + 3600)
        rows = counts.index[(counts["camera_id"] == cam) & first][:n]
        counts = counts.drop(rows)
    rep = _calibrate(world, counts).report
    assert rep["cameras_silent"] == [silent]
    assert rep["missing"]["scaled_hours"] >= 1
    assert rep["missing"]["dropped_hours"] >= 1
    assert rep["held_out"]["n"] + rep["fitted"]["n"] > 0


def test_no_counts_is_an_input_error(world: tuple[RoadNetwork, gpd.GeoDataFrame, pd.DataFrame]) -> None:
    from twin.errors import InputError  # noqa: PLC0415

    empty = pd.DataFrame(columns=["camera_id", "direction", "link_id", "t_s", "interval_s",
                                  "motorbike", "car", "bus", "truck"])  # fmt: skip
    with pytest.raises(InputError, match="no traffic counts"):
        _calibrate(world, empty)


def test_demand_factors_are_validated_and_applied(world: World) -> None:
    from simulations.traffic.demand import hourly_profile, zone_factors  # noqa: PLC0415
    from twin.errors import InputError  # noqa: PLC0415

    with pytest.raises(InputError) as e:
        TrafficParams.from_dict({"demand": {"hourly": {"25": 1.0}}})
    assert "demand.hourly" in e.value.field
    with pytest.raises(InputError) as e:
        TrafficParams.from_dict({"demand": {"production": {"x": -1.0}}})
    assert "demand.production" in e.value.field
    cells = world[1]
    with pytest.raises(InputError) as e:
        zone_factors(cells, {"not-a-cell": 2.0}, "demand.production")
    assert e.value.field == "demand.production.not-a-cell"
    zone = _zone_of_most_cells(cells)
    f = zone_factors(cells, {zone: 2.0}, "demand.production")
    inside = np.array([h3grid.cell_to_parent(str(c), ZONE_RES) == zone for c in cells.index])
    assert (f[inside] == 2.0).all()
    assert (f[~inside] == 1.0).all()
    p = TrafficParams.from_dict({"demand": {"hourly": {"07": 1.5}}})
    base = hourly_profile(TrafficParams())
    assert hourly_profile(p)[7] == pytest.approx(1.5 * base[7])
    assert hourly_profile(p)[8] == base[8]
