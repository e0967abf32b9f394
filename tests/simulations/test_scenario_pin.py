"""Pin the traffic and waste baseline KPIs of a short seeded scenario run (the refactor keeps behaviour).

The same spec and seeds must give the same KPIs bit for bit (up to float summation order): a change
here is a change of the models' results and must be deliberate (update the figures in the same commit
and say why). Machine-dependent timings (``wall_s``, ``*_per_wall_s``) are not pinned.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from gis_data.city import build_city
from simulations.results import is_performance
from simulations.runner import run_scenario
from simulations.scenario import ScenarioSpec

#: A short baseline of both simulations: 30 min of the morning peak at a quarter of the demand, one
#: day of waste collection with 8 trucks (the routing stops after a fixed number of iterations).
SPEC: dict[str, Any] = {
    "schema_version": 1,
    "name": "pin: short baseline",
    "kind": "both",
    "seeds": [1, 2],
    "horizon": "30min",
    "traffic": {"start": "07:00", "demand": {"trips_per_person_day": 0.4}},
    "waste": {"days": 1, "solver_time_s": 0.34, "fleet": {"trucks": 8}},
}

#: Neither traffic run locks up: no spillback cycle, no head blocked at the horizon but at red signals.
NO_GRIDLOCK = {
    "gridlock": 0.0,
    "gridlock_since_s": math.nan,
    "spillback_cycles": 0.0,
    "links_in_spillback_cycles": 0.0,
    "vehicles_locked_at_end": 0.0,
    "heads_blocked_by_full_link_at_end": 0.0,
    "heads_held_by_junction_conflict_at_end": 0.0,
    "heads_with_no_open_way_at_end": 0.0,
}
PINNED = {
    ("traffic", 1): {
        "completed": 1613.0,
        "completed_share": 0.9624105011933174,
        "departure_delay_h": 0.006880055236132326,
        "en_route_at_end": 63.0,
        "max_queue_veh": 6.8,
        "mean_delay_s": 79.6582956311836,
        "mean_distance_km": 4.139402765034098,
        "mean_speed_kmh": 31.26304580385834,
        "mean_time_in_system_s": 503.95072489927315,
        "mean_trip_time_s": 480.48443942181336,
        "median_trip_time_s": 427.0328780390847,
        "not_arrived_share": 0.03758949880668261,
        "not_departed": 0.0,
        "p95_trip_time_s": 1027.3256380879532,
        "route_refreshes": 5.0,
        "teleports": 0.0,
        **NO_GRIDLOCK,
        "heads_at_red_signal_at_end": 4.0,
        "total_delay_h": 38.48526316065503,
        "total_time_in_system_h": 234.61705970310607,
        "trips": 1676.0,
        "unroutable": 0.0,
        "vehicle_hours": 234.61017964786993,
        "vehicle_km": 7334.628792382791,
        "waiting_to_enter_at_end": 0.0,
    },
    ("traffic", 2): {
        "completed": 1582.0,
        "completed_share": 0.9658119658119658,
        "departure_delay_h": 0.009558479679619399,
        "en_route_at_end": 56.0,
        "max_queue_veh": 7.0,
        "mean_delay_s": 83.55290647848513,
        "mean_distance_km": 4.286296352718078,
        "mean_speed_kmh": 31.3918120680563,
        "mean_time_in_system_s": 515.0036787370309,
        "mean_trip_time_s": 494.6552026208004,
        "median_trip_time_s": 437.1519789484606,
        "not_arrived_share": 0.03418803418803418,
        "not_departed": 0.0,
        "p95_trip_time_s": 1036.7183999951785,
        "route_refreshes": 5.0,
        "teleports": 0.0,
        **NO_GRIDLOCK,
        "heads_at_red_signal_at_end": 2.0,
        "total_delay_h": 38.827358579483494,
        "total_time_in_system_h": 234.32667382534905,
        "trips": 1638.0,
        "unroutable": 0.0,
        "vehicle_hours": 234.31711534566944,
        "vehicle_km": 7355.6388492603255,
        "waiting_to_enter_at_end": 0.0,
    },
    ("waste", 1): {
        "co2_t": 0.9209562720000001,
        "containers": 1392.0,
        "days": 1.0,
        "extra_trips": 0.0,
        "fuel_l": 343.6404,
        "km_driven": 602.8119999999999,
        "km_per_tonne": 24.409347703876513,
        "load_utilisation": 0.16349900015287777,
        "mass_balance_error_kg": 2.9103830456733704e-11,
        "mean_fill_at_collection": 0.11074641799312344,
        "overflow_bin_hours": 0.0,
        "overflow_share": 0.0,
        "overtime_hours": 0.28666666666666707,
        "points": 464.0,
        "time_utilisation": 0.7556336805555556,
        "tonnes_collected": 24.69594875344685,
        "tonnes_delivered": 24.69594875344685,
        "tonnes_generated": 124.1529125126353,
        "tonnes_initial": 0.0,
        "tonnes_overflow": 0.0,
        "trips_to_disposal": 23.0,
        "truck_hours": 48.36055555555556,
        "trucks": 8.0,
        "unreachable_visits": 0.0,
        "visits": 464.0,
    },
    ("waste", 2): {
        "co2_t": 0.911152698,
        "containers": 1392.0,
        "days": 1.0,
        "extra_trips": 0.0,
        "fuel_l": 339.98235,
        "km_driven": 594.683,
        "km_per_tonne": 23.806790430542023,
        "load_utilisation": 0.16639825921804258,
        "mass_balance_error_kg": 3.240074875066057e-11,
        "mean_fill_at_collection": 0.10694563033845661,
        "overflow_bin_hours": 4.0,
        "overflow_share": 0.0011554051907912005,
        "overtime_hours": 0.20166666666666622,
        "points": 464.0,
        "time_utilisation": 0.7508810763888889,
        "tonnes_collected": 24.97955370065651,
        "tonnes_delivered": 24.979553700656503,
        "tonnes_generated": 124.95737028437749,
        "tonnes_initial": 0.0,
        "tonnes_overflow": 0.14437639425418786,
        "trips_to_disposal": 23.0,
        "truck_hours": 48.05638888888889,
        "trucks": 8.0,
        "unreachable_visits": 0.0,
        "visits": 464.0,
    },
}


def test_baseline_kpis_are_pinned(data_dir: Path) -> None:
    spec = ScenarioSpec.from_dict(SPEC)
    out = run_scenario(spec, build_city(data_dir))
    got = {
        (kind, r.seed): {k: v for k, v in r.kpis.items() if not is_performance(k)}
        for kind, rs in out.items()
        for r in rs
    }
    assert set(got) == set(PINNED)
    for key, kpis in PINNED.items():
        assert set(got[key]) == set(kpis), key
        for name, value in kpis.items():
            assert got[key][name] == pytest.approx(value, rel=1e-9, abs=1e-9, nan_ok=True), (key, name)
