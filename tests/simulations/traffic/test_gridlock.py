"""Gridlock says why: spillback cycles, junction conflicts and closures told apart at the horizon.

`simulations.traffic.kernel.blocked_heads` applies the kernel's own departure test to every link
head that could leave: it waits for a full out-link (spillback), for an unsignalised crossing held
by the other axis (junction conflict), at a red signal, or has no open way (a closure). A closed
chain of links, each full by its own counts and its head waiting for the next, is a spillback
cycle: nothing on it moves again. The KPIs (``gridlock``, ``gridlock_since_s``,
``vehicles_locked_at_end``, ``heads_*_at_end``), the links layer (``blocked_at_end``,
``in_spillback_cycle``) and ``meta["gridlock"]`` report it, so low completion is never silent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simulations.results import RunResult
from simulations.traffic.model import TrafficModel, run
from simulations.traffic.outputs import build_result
from simulations.traffic.params import Junctions

from .helpers import ARMS, cars_only, chain, cross, ring, trips


def _ring(n: int) -> RunResult:
    """`n` trips round a one-way 4 × 300 m loop, each from a corner to the corner three links on."""
    o = np.arange(n) % 4
    return run(
        cars_only(horizon_s=3600.0), 1, network=ring(), trips=trips(o, (o + 3) % 4, np.arange(n) * 1800.0 / n)
    )


def test_a_full_ring_is_one_spillback_cycle_that_locks_its_storage() -> None:
    res = _ring(2_000)
    k = res.kpis
    # every link full (150 PCU/km × 300 m = 45 cars) and each head waiting for the next link
    assert (k["gridlock"], k["spillback_cycles"], k["links_in_spillback_cycles"]) == (1.0, 1.0, 4.0)
    assert k["vehicles_locked_at_end"] == 4 * 45 == k["en_route_at_end"]
    assert k["heads_blocked_by_full_link_at_end"] == 4
    links = res.layers["links"]
    assert links["blocked_at_end"].tolist() == ["full_out_link"] * 4
    assert links["in_spillback_cycle"].all()
    # from the lock on nothing arrives: the low completed share is gridlock, and the result says so
    ts = res.tables["timeseries"]
    since = k["gridlock_since_s"]
    assert 0 < since < 3600
    after = ts.loc[ts["time_s"] >= since, "arrived"].to_numpy()
    assert (after == after[0]).all()
    assert ts.loc[ts["time_s"] < since, "locked_vehicles"].iloc[-1] == 0
    assert res.meta["gridlock"].startswith(
        f"gridlock since t = {since:,.0f} s: 1 spillback cycle(s) of 4 full links"
    )


def test_a_light_ring_is_not_gridlock() -> None:
    res = _ring(40)
    k = res.kpis
    assert k["completed_share"] == 1.0
    assert (k["gridlock"], k["vehicles_locked_at_end"], k["heads_blocked_by_full_link_at_end"]) == (0, 0, 0)
    assert math.isnan(k["gridlock_since_s"])
    assert res.meta["gridlock"].startswith("no gridlock at the horizon")


def test_a_queue_behind_a_closure_is_not_gridlock() -> None:
    """Cars queue on link 0 once link 1 closes: low completion, no cycle, the reason is the closure."""
    net = chain([500.0, 500.0], speed_kmh=36.0)
    params = cars_only(horizon_s=1800.0)
    model = TrafficModel(params, net, trips([0] * 30, [2] * 30, np.arange(30) * 10.0), seed=1,
                         closures=[(60.0, 1800.0, np.array([1]))])  # fmt: skip
    model.run()
    res = build_result(model, params, 1, cells=None, meta={})
    k = res.kpis
    assert k["completed_share"] < 0.5
    assert (k["gridlock"], k["heads_with_no_open_way_at_end"], k["heads_blocked_by_full_link_at_end"]) == (
        0,
        1,
        0,
    )
    assert res.layers["links"]["blocked_at_end"].tolist() == ["no_open_way", ""]
    assert "1 have no open way (closures)" in res.meta["gridlock"]


@pytest.mark.parametrize("conflicts", [True, False])
def test_heads_held_by_a_junction_conflict_are_named(conflicts: bool) -> None:
    """West→east and south→north, 3,600 veh/h each, cross at an unsignalised junction.

    The arms carry 3,600 PCU/h, so queues form at the junction, not at the origins: with the
    crossing conflict one axis is always held (one head), without it both streams flow.
    """
    params = cars_only(horizon_s=600.0, junctions=Junctions(crossing_conflicts=conflicts))
    w, e, s, n = (ARMS[a][0] for a in "WESN")
    k = 400
    t = pd.concat([trips([w] * k, [e] * k, np.arange(k) * 1.0), trips([s] * k, [n] * k, np.arange(k) * 1.0)])
    res = run(params, 2, network=cross(300.0, capacity=3600.0), trips=t.sort_values("depart_s"))
    held = res.kpis["heads_held_by_junction_conflict_at_end"]
    assert held == (1 if conflicts else 0)
    assert res.kpis["gridlock"] == 0
    assert res.kpis["completed_share"] == (pytest.approx(0.695) if conflicts else 1.0)
    blocked = res.layers["links"]["blocked_at_end"]
    assert (blocked == "junction_conflict").sum() == held
