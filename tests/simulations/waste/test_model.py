"""The mesa model end to end: invariants, determinism, policies, closures and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from simulations.results import RunResult
from simulations.waste.agents import DEPOT
from simulations.waste.model import CityInput, compare_policies, run
from simulations.waste.params import WasteParams
from simulations.waste.routing import RoutingInfeasible
from twin import provenance
from twin.errors import InputError
from twin.network import RoadNetwork

from .conftest import small_params


@pytest.fixture(scope="module")
def fixed(net: RoadNetwork, cells: pd.DataFrame) -> RunResult:
    return run(small_params(), 7, network=net, cells=cells)


@pytest.fixture(scope="module")
def sensor(net: RoadNetwork, cells: pd.DataFrame) -> RunResult:
    return run(
        small_params(policy={"kind": "sensor", "threshold": 0.9, "confidence": 0.6}),
        7,
        network=net,
        cells=cells,
    )


@pytest.fixture(scope="module")
def hybrid(net: RoadNetwork, cells: pd.DataFrame) -> RunResult:
    # starts with the points holding 0.6 days of waste, as a service already running
    p = small_params(
        policy={"kind": "hybrid", "interval_days": 2, "threshold": 0.8}, bins={"initial_days": 0.6}
    )
    return run(p, 7, network=net, cells=cells)


RUNS = ["fixed", "sensor", "hybrid"]


@pytest.mark.parametrize("name", RUNS)
def test_mass_balance_every_day(name: str, request: pytest.FixtureRequest) -> None:
    r: RunResult = request.getfixturevalue(name)
    daily = r.tables["daily"]
    assert len(daily) == 4
    lhs = daily["initial_kg"] + daily["generated_kg"]
    rhs = daily["collected_kg"] + daily["in_bins_kg"] + daily["overflow_kg"]
    assert np.allclose(lhs, rhs, rtol=0, atol=1e-6 * lhs.max())
    assert (daily["generated_kg"].diff().dropna() > 0).all()
    assert r.kpis["tonnes_delivered"] == pytest.approx(r.kpis["tonnes_collected"])  # trucks emptied
    assert r.kpis["tonnes_collected"] > 0.5 * r.kpis["tonnes_generated"]


@pytest.mark.parametrize("name", RUNS)
def test_no_truck_over_capacity(name: str, request: pytest.FixtureRequest) -> None:
    r: RunResult = request.getfixturevalue(name)
    p = WasteParams.from_dict(r.params)
    trucks = r.tables["trucks_daily"]
    assert len(trucks) > 0
    assert (trucks["peak_load_kg"] <= p.fleet.capacity_kg + 1e-6).all()
    assert (trucks["peak_load_l"] <= p.fleet.capacity_l + 1e-6).all()
    assert (trucks["trips"] >= 1).all()


@pytest.mark.parametrize("name", RUNS)
def test_routes_start_and_end_at_the_depot(
    name: str, request: pytest.FixtureRequest, net: RoadNetwork
) -> None:
    r: RunResult = request.getfixturevalue(name)
    routes = r.layers["routes"]
    depot = r.meta["sites"]["depot_node"]
    assert len(routes) == len(r.tables["trucks_daily"])
    for geom, stamps in zip(routes.geometry, routes["timestamps"], strict=True):
        coords = list(geom.coords)
        assert coords[0] == coords[-1]  # leaves the depot and comes back to it
        assert len(stamps) == len(coords)
        assert np.all(np.diff(stamps) >= 0)
    assert routes.crs is not None
    assert provenance.of(routes)["source"] == "simulated"
    home = shapely.Point(net.nodes["x"].iloc[depot], net.nodes["y"].iloc[depot])
    for geom in routes.geometry:
        assert shapely.Point(geom.coords[0]).distance(home) < 1e-12
    legs = r.tables["legs"]
    for _, g in legs.groupby(["day", "truck"]):
        assert g["frm"].iloc[0] == DEPOT
        assert g["to"].iloc[-1] == DEPOT


@pytest.mark.parametrize("name", RUNS)
def test_each_scheduled_point_visited_exactly_once(name: str, request: pytest.FixtureRequest) -> None:
    r: RunResult = request.getfixturevalue(name)
    sched = r.tables["scheduled"]
    visits = r.tables["visits"]
    first = visits[visits["part"] == 0]
    assert not first.duplicated(["day", "point"]).any()
    got = set(map(tuple, first[["day", "point"]].to_numpy().tolist()))
    want = set(map(tuple, sched[["day", "point"]].to_numpy().tolist()))
    assert got == want
    # a return after an unplanned unloading finishes the same visit, never a new one
    parts = visits[visits["part"] > 0]
    assert set(map(tuple, parts[["day", "point"]].to_numpy().tolist())) <= want


def test_fixed_visits_every_point_daily(fixed: RunResult) -> None:
    sched = fixed.tables["scheduled"]
    n = int(fixed.kpis["points"])
    assert (sched.groupby("day").size() == n).all()


def test_sensor_collects_fuller_bins_less_often(fixed: RunResult, sensor: RunResult) -> None:
    assert sensor.kpis["visits"] < fixed.kpis["visits"]
    assert sensor.kpis["mean_fill_at_collection"] > fixed.kpis["mean_fill_at_collection"]
    assert sensor.kpis["km_driven"] < fixed.kpis["km_driven"]
    assert sensor.kpis["tonnes_generated"] == pytest.approx(fixed.kpis["tonnes_generated"])  # same seed


def test_warm_start(fixed: RunResult, hybrid: RunResult) -> None:
    assert fixed.kpis["tonnes_initial"] == 0.0
    assert hybrid.kpis["tonnes_initial"] > 0.0
    assert (hybrid.tables["daily"]["initial_kg"] == hybrid.kpis["tonnes_initial"] * 1000).all()


def test_hybrid_alternates_groups(hybrid: RunResult) -> None:
    sched = hybrid.tables["scheduled"]
    n = int(hybrid.kpis["points"])
    per_day = sched.groupby("day").size()
    assert (per_day < n).all()  # half the city plus sensor-triggered extras
    assert sched["point"].nunique() == n  # everyone is served within the interval


def test_result_contract(fixed: RunResult) -> None:
    assert fixed.kind == "waste"
    assert fixed.seed == 7
    assert WasteParams.from_dict(fixed.params) == small_params()
    for k in ("km_driven", "fuel_l", "co2_t", "tonnes_collected", "overflow_bin_hours", "time_utilisation"):
        assert np.isfinite(fixed.kpis[k])
    f = WasteParams.from_dict(fixed.params).fleet
    t = fixed.tables["trucks_daily"]
    fuel = t["km"] * f.fuel_l_per_km
    assert (t["fuel_l"] >= fuel - 1e-9).all()
    assert fixed.kpis["co2_t"] == pytest.approx(fixed.kpis["fuel_l"] * 2.68 / 1000)
    wards = fixed.tables["wards"]
    assert set(wards.index) == {"05977", "05983"}
    assert wards["generated_kg"].sum() == pytest.approx(fixed.kpis["tonnes_generated"] * 1000)
    cells = fixed.layers["cells"]
    assert cells.geometry.geom_type.eq("Polygon").all()
    assert fixed.layers["points"]["fill"].between(0, 1).all()
    assert fixed.meta["synthetic"] is True
    # bin agents' fill, collected by the mesa DataCollector, adds up to the bins' total each day
    fill = fixed.tables["fill_daily"]
    assert len(fill) == 4 * int(fixed.kpis["points"])
    assert fill["fill"].between(0, 1).all()
    by_day = fill.groupby("day")["content_kg"].sum().to_numpy()
    assert np.allclose(by_day, fixed.tables["daily"]["in_bins_kg"].to_numpy())


def test_deterministic_by_seed(net: RoadNetwork, cells: pd.DataFrame, sensor: RunResult) -> None:
    p = small_params(policy={"kind": "sensor", "threshold": 0.9, "confidence": 0.6})
    again = run(p, 7, network=net, cells=cells)
    pd.testing.assert_frame_equal(again.tables["daily"], sensor.tables["daily"])
    pd.testing.assert_frame_equal(again.tables["visits"], sensor.tables["visits"])
    a = {k: v for k, v in again.kpis.items() if k != "wall_s"}
    b = {k: v for k, v in sensor.kpis.items() if k != "wall_s"}
    assert a == b
    other = run(p, 8, network=net, cells=cells)
    assert other.kpis["tonnes_generated"] != sensor.kpis["tonnes_generated"]


def test_closure_makes_points_unreachable(net: RoadNetwork, cells: pd.DataFrame) -> None:
    # close every link touching a corner node that holds a point: its visits are skipped, not a crash
    base = run(small_params(days=1), 1, network=net, cells=cells)
    pts = base.layers["points"]
    node = int(pts["node"].iloc[-1])
    ids = tuple(int(i) for i in net.links.index[(net.links["u"] == node) | (net.links["v"] == node)])
    if node == base.meta["sites"]["depot_node"]:
        pytest.fail("test set-up: the chosen point is the depot")
    closed = run(small_params(days=1, closures=[{"links": ids}]), 1, network=net, cells=cells)
    n_at_node = int((pts["node"] == node).sum())
    assert closed.kpis["unreachable_visits"] == n_at_node
    assert closed.kpis["visits"] == base.kpis["visits"] - n_at_node


def test_unreachable_disposal_is_an_error(net: RoadNetwork, cells: pd.DataFrame) -> None:
    x, y = float(net.nodes["x"].iloc[143]), float(net.nodes["y"].iloc[143])
    around = tuple(int(i) for i in net.links.index[(net.links["u"] == 143) | (net.links["v"] == 143)])
    p = small_params(
        days=1, fleet={"trucks": 2, "disposal": {"lon": x, "lat": y}}, closures=[{"links": around}]
    )
    with pytest.raises(RoutingInfeasible, match="disposal site cannot be reached") as e:
        run(p, 1, network=net, cells=cells)
    assert e.value.hint


def test_site_off_the_network(net: RoadNetwork, cells: pd.DataFrame) -> None:
    p = small_params(fleet={"trucks": 1, "disposal": {"lon": 107.5, "lat": 21.8}})
    with pytest.raises(InputError, match="from the nearest road") as e:
        run(p, 1, network=net, cells=cells)
    assert e.value.field == "fleet.disposal"


def test_too_small_a_fleet_is_infeasible(net: RoadNetwork, cells: pd.DataFrame) -> None:
    p = small_params(days=1, fleet={"trucks": 1, "shift_hours": 0.5, "capacity_kg": 3000.0})
    with pytest.raises(RoutingInfeasible, match="cannot collect") as e:
        run(p, 1, network=net, cells=cells)
    assert "shift" in e.value.reason


def test_missing_city() -> None:
    with pytest.raises(InputError, match="road network") as e:
        run(small_params(), 1)
    assert e.value.field == "network"


def test_compare_policies(net: RoadNetwork, cells: pd.DataFrame) -> None:
    a = small_params(days=2)
    b = a.with_policy("sensor", threshold=0.7)
    calls: list[float] = []
    table, runs = compare_policies(CityInput(net, cells), a, b, [1, 2], lambda f, _m: calls.append(f))
    assert len(runs) == 4
    assert [r.params["policy"]["kind"] for r in runs] == ["fixed", "sensor"] * 2
    row = table.set_index("kpi").loc["km_driven"]
    kms_a = [r.kpis["km_driven"] for r in runs[0::2]]
    assert row["a_mean"] == pytest.approx(np.mean(kms_a))
    assert row["a_low"] <= row["a_mean"] <= row["a_high"]
    assert calls
    assert max(calls) <= 1.0
    assert calls == sorted(calls)


def test_congested_speeds_slow_the_trucks(net: RoadNetwork, cells: pd.DataFrame, fixed: RunResult) -> None:
    slow = np.full(net.n_links, 10.0)  # km/h, e.g. from a congested traffic run
    r = run(small_params(), 7, network=net, cells=cells, link_speed_kmh=slow)
    assert r.kpis["truck_hours"] > fixed.kpis["truck_hours"]
    assert r.kpis["tonnes_generated"] == pytest.approx(fixed.kpis["tonnes_generated"])
    with pytest.raises(InputError, match="values for") as e:
        run(small_params(), 7, network=net, cells=cells, link_speed_kmh=slow[:-1])
    assert e.value.field == "link_speed_kmh"


def test_closure_that_selects_nothing_is_an_error(net: RoadNetwork, cells: pd.DataFrame) -> None:
    far = [[100.0, 10.0], [100.1, 10.0], [100.1, 10.1]]
    with pytest.raises(InputError, match="selects no road link") as e:
        run(small_params(closures=[{"name": "xa", "area": far}]), 1, network=net, cells=cells)
    assert e.value.field == "closures.0"
