"""Scenario files: the examples load and apply; bad input fails with an error naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.traffic.demand import synthesize
from simulations.traffic.model import run
from simulations.traffic.params import TrafficParams, clock_s
from simulations.traffic.scenario import apply
from tests.support.gridnet import grid_network
from twin.errors import InputError

from .helpers import cells_for

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("traffic_*.toml")), ids=lambda p: p.name)
def test_example_scenarios_load_and_round_trip(path: Path, tmp_path: Path) -> None:
    params = TrafficParams.from_file(path)
    again = tmp_path / "again.json"
    again.write_text(json.dumps(params.to_dict()))
    assert TrafficParams.from_file(again) == params


def _net_and_cells():  # type: ignore[no-untyped-def]
    net = grid_network(6, 6)
    links = net.links.copy()
    links.loc[[0, 1, 2], "name"] = "QL1A"
    return type(net).from_frames(net.nodes, links, net.provenance), None


def _load_and_apply(data: dict[str, object]) -> None:
    params = TrafficParams.from_dict(data)
    net, _ = _net_and_cells()
    cells = cells_for(net)
    apply(params, net, cells=cells, wards=None)
    synthesize(params, net, cells, np.random.default_rng(0))


def _bad(data: dict[str, object], field: str) -> InputError:
    with pytest.raises(InputError) as e:
        _load_and_apply(data)
    assert e.value.field.startswith(field), e.value.field
    return e.value


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"closures": [{"links": [99999], "start": "06:00", "end": "07:00"}]}, "closures[0].links"),
        ({"closures": [{"ward": "99999", "start": "06:00", "end": "07:00"}]}, "closures[0].ward"),
        (
            {"closures": [{"cells": ["8928308280fffff"], "start": "06:00", "end": "07:00"}]},
            "closures[0].cells",
        ),
        ({"closures": [{"names": ["Phố không có"], "start": "06:00", "end": "07:00"}]}, "closures[0].names"),
        ({"closures": [{"links": [1], "start": "08:00", "end": "07:00"}]}, "closures.0"),
        ({"closures": [{"links": [1], "start": "22:00", "end": "23:00"}]}, "scenario"),
        ({"closures": [{"links": [1], "start": "25:00", "end": "26:00"}]}, "closures.0"),
        ({"link_changes": [{"links": [1], "capacity_pcu_h": -100}]}, "link_changes.0.capacity_pcu_h"),
        ({"link_changes": [{"near": [0.0, 0.0], "speed_kmh": 20}]}, "link_changes[0].near"),
        ({"vehicles": {"car": {"share": 0.5, "pcu": 1, "speed_kmh": 50}}}, "vehicles"),
        ({"vehicles": {"tuk-tuk": {"share": 1, "pcu": 1, "speed_kmh": 50}}}, "vehicles"),
        ({"demand": {"truck_multiplier": {"QL9Z": 2.0}}}, "demand.truck_multiplier.QL9Z"),
        ({"horizon_s": -5}, "horizon_s"),
        ({"start": "6h"}, "start"),
        ({"one_way": [{"links": [0], "heading_deg": 90}]}, "one_way[0].heading_deg"),
        ({"new_links": [{"from_lonlat": [106.7, 21.8], "to_lonlat": [106.7, 21.8]}]}, "new_links[0]"),
        (
            {
                "events": [
                    {"name": "x", "lonlat": [106.7, 21.8], "start": "07:00", "end": "06:30", "trips": 5}
                ]
            },
            "events.0",
        ),
    ],
)
def test_bad_scenarios_name_the_field(data: dict[str, object], field: str) -> None:
    err = _bad(data, field)
    assert err.hint


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        TrafficParams.from_file(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("horizon_s = [")
    with pytest.raises(InputError, match=r"(?i)not valid toml"):
        TrafficParams.from_file(bad)


def test_scenario_edits_change_the_network() -> None:
    net, _ = _net_and_cells()
    params = TrafficParams.from_dict(
        {
            "link_changes": [{"names": ["QL1A"], "lanes": 3}],
            "one_way": [{"links": [30, 30 + net.n_links // 2], "heading_deg": 0}],  # a north–south street
            "new_links": [{"from_lonlat": [106.70, 21.80], "to_lonlat": [106.715, 21.812], "bridge": True}],
        }
    )
    applied = apply(params, net)
    assert applied.edits == {"changed": 3, "removed": 1, "added": 2}
    links = applied.network.links
    assert (links.loc[links["name"] == "QL1A", "lanes"] == 3).all()
    assert links["bridge"].sum() == 2
    assert applied.network.n_links == net.n_links + 1


def test_corridor_truck_multiplier_adds_trucks() -> None:
    net, _ = _net_and_cells()
    links = net.links.copy()
    links.loc[links.index[-3:], "name"] = "QL4A"
    net = type(net).from_frames(net.nodes, links, net.provenance)
    cells = cells_for(net)
    base = TrafficParams.from_dict({"demand": {"through_veh_h": 2000}})
    more = TrafficParams.from_dict({"demand": {"through_veh_h": 2000, "truck_multiplier": {"QL1A": 2.0}}})
    a = synthesize(base, net, cells, np.random.default_rng(1))
    b = synthesize(more, net, cells, np.random.default_rng(1))
    trucks = lambda t: int(((t["kind"] == "through") & (t["mode"] == "truck")).sum())  # noqa: E731
    assert trucks(b) > 1.3 * trucks(a)
    assert (a["kind"] == "through").any()


def test_demand_follows_population_and_profile() -> None:
    net = grid_network(8, 8)
    cells = cells_for(net, seed=3)
    params = TrafficParams.from_dict({"demand": {"through_veh_h": 0}})
    trips = synthesize(params, net, cells, np.random.default_rng(2))
    assert len(trips) > 100
    assert trips["depart_s"].is_monotonic_increasing
    assert trips["depart_s"].between(0, params.departure_window_s).all()
    assert (trips["origin"] != trips["dest"]).all()
    # the 07:00–08:00 hour is the peak of the weekday profile
    hour = (trips["depart_s"] // 3600).astype(int)
    assert hour.value_counts().idxmax() == 1
    # motorbikes dominate the mix
    assert 0.8 < (trips["mode"] == "motorbike").mean() < 0.9


@settings(max_examples=30, deadline=None)
@given(h=st.integers(0, 23), m=st.integers(0, 59))
def test_clock_round_trip(h: int, m: int) -> None:
    assert clock_s(f"{h:02d}:{m:02d}", "t") == h * 3600 + m * 60


def test_cells_without_population_are_refused() -> None:
    net = grid_network(4, 4)
    cells = cells_for(net).drop(columns="population")
    with pytest.raises(InputError, match="population"):
        run(TrafficParams(), 1, network=net, cells=cells)
