"""Collection points: placement from population, sizes, markets, added bins, daily fill."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from simulations.waste.bins import DIURNAL, daily_kg, expected_kg, place_points
from simulations.waste.params import WasteParams
from twin import h3grid, provenance
from twin.errors import DataError, InputError
from twin.network import RoadNetwork


def test_every_person_is_served_once(net: RoadNetwork, cells: pd.DataFrame) -> None:
    p = WasteParams.from_dict({"population_growth": 0.1})
    pts = place_points(cells, net, p)
    assert pts["population"].sum() == pytest.approx(cells["population"].sum() * 1.1)
    served = cells.index[cells["population"] * 1.1 >= p.bins.min_cell_population]
    assert set(served) <= set(pts["cell"])  # every populated cell has its own point
    assert set(pts["node"]) <= set(net.nodes.index)
    assert pts.crs is not None
    assert provenance.of(pts)["source"] == "simulated"
    assert (pts["containers"] <= p.bins.max_containers).all()


def test_sizing_known_answer(net: RoadNetwork) -> None:
    # one cell of 1,000 people near node 0; 0.9 kg × 1,000 = 900 kg/day (weekday mean 1.0 here)
    x, y = float(net.nodes["x"].iloc[0]), float(net.nodes["y"].iloc[0])
    cell = h3grid.to_str(h3grid.latlng_to_cells([y], [x], 9))[0]
    cells = pd.DataFrame({"population": [1000.0], "attractiveness": [0.0]}, index=[cell])
    p = WasteParams.from_dict({"bins": {"weekday_factors": [1.0] * 7, "market_share": 0.0}})
    pts = place_points(cells, net, p)
    # 900 kg / 250 kg/m³ = 3.6 m³ a day; at 70 % design fill → 5,143 L → 8 × 660 L in 2 points (max 6)
    assert pts["containers"].sum() == 8
    assert (pts["size_l"] == 660).all()
    assert len(pts) == 2
    assert pts["base_kg_day"].sum() == pytest.approx(900.0)
    assert pts["capacity_kg"].sum() == pytest.approx(8 * 0.66 * 250)


def test_markets_get_large_bins(net: RoadNetwork, cells: pd.DataFrame) -> None:
    p = WasteParams.from_dict({"bins": {"market_share": 0.2}})
    pts = place_points(cells, net, p)
    assert pts["market"].any()
    assert (pts.loc[pts["market"], "size_l"] == 660).all()
    top = cells.loc[cells["population"] >= p.bins.min_cell_population, "attractiveness"].idxmax()
    assert pts.loc[pts["cell"] == top, "market"].all()


def test_added_bins(net: RoadNetwork, cells: pd.DataFrame) -> None:
    x, y = float(net.nodes["x"].iloc[5]), float(net.nodes["y"].iloc[5])
    ok = WasteParams.from_dict({"bins": {"added": [{"lon": x, "lat": y, "name": "Chợ mới", "market": True}]}})
    pts = place_points(cells, net, ok)
    new = pts[pts["added"]]
    assert len(new) == 1
    assert new["node"].iloc[0] == 5
    assert new["name"].iloc[0] == "Chợ mới"
    far = WasteParams.from_dict({"bins": {"added": [{"lon": x + 0.1, "lat": y}]}})
    with pytest.raises(InputError, match="off the network") as e:
        place_points(cells, net, far)
    assert e.value.field == "bins.added.0"


def test_bad_cells(net: RoadNetwork, cells: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="lack columns"):
        place_points(cells.drop(columns="population"), net, WasteParams())
    with pytest.raises(DataError, match="no population"):
        place_points(cells.assign(population=0.0), net, WasteParams())


def test_fill_has_weekday_and_market_effects(net: RoadNetwork, cells: pd.DataFrame) -> None:
    p = WasteParams.from_dict({"bins": {"market_share": 0.2}, "market_days": [6]})
    pts = place_points(cells, net, p)
    monday, sunday = date(2025, 7, 7), date(2025, 7, 13)
    mon = expected_kg(pts, monday, p)
    sun = expected_kg(pts, sunday, p)
    market = pts["market"].to_numpy()
    f = p.bins.weekday_factors
    assert np.allclose(sun[~market] / mon[~market], f[6] / f[0])
    assert np.allclose(sun[market] / mon[market], f[6] / f[0] * p.bins.market_factor)
    draws = np.stack([daily_kg(pts, monday, p, np.random.default_rng(s)) for s in range(400)])
    assert draws.mean(axis=0) == pytest.approx(mon, rel=0.1)
    cv = draws.std(axis=0) / draws.mean(axis=0)
    assert np.median(cv) == pytest.approx(p.bins.noise_cv, rel=0.15)
    no_noise = p.model_copy(update={"bins": p.bins.model_copy(update={"noise_cv": 0.0})})
    assert np.array_equal(daily_kg(pts, monday, no_noise, np.random.default_rng(0)), mon)
    assert DIURNAL.sum() == pytest.approx(1.0)
