"""Known answers and invariants: free flow, capacity, spillback, signals, conservation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulations.traffic import kernel
from simulations.traffic.model import TrafficModel, run
from simulations.traffic.params import Closure, Junctions, TrafficParams, VehicleClass
from tests.support.gridnet import grid_network

from .helpers import ARMS, cars_only, cells_for, chain, cross, random_trips, trips

NO_JUNCTIONS = Junctions(straight_s=0, right_s=0, left_s=0, uturn_s=0)


def test_free_flow_travel_time_is_length_over_speed() -> None:
    net = chain([1000.0, 1000.0, 1000.0], speed_kmh=36.0)  # 10 m/s
    res = run(cars_only(horizon_s=900.0), 1, network=net, trips=trips([0], [3], [12.3]))
    t = res.tables["trips"].iloc[0]
    assert t["completed"]
    assert t["travel_time_s"] == pytest.approx(300.0, abs=1e-9)
    assert t["distance_m"] == pytest.approx(3000.0)
    assert t["delay_s"] == pytest.approx(0.0, abs=1e-9)


def test_a_vehicle_slower_than_the_limit_keeps_its_own_speed() -> None:
    net = chain([900.0], speed_kmh=50.0)
    params = TrafficParams(
        horizon_s=600.0, vehicles={"motorbike": VehicleClass(share=1.0, pcu=0.3, speed_kmh=36.0)}
    )
    res = run(params, 1, network=net, trips=trips([0], [1], [0.0], mode="motorbike"))
    assert res.tables["trips"]["travel_time_s"].iloc[0] == pytest.approx(90.0)


def _bottleneck(cap_b: float, horizon: float = 5400.0) -> tuple[TrafficModel, np.ndarray]:
    """Run 4000 veh/h for 30 min into a 4-link road whose link 2 has capacity `cap_b`.

    Returns the model and the number of vehicles on each link after every 10 s step.
    """
    net = chain([500.0, 500.0, 500.0, 500.0], speed_kmh=50.0, capacity=[3600.0, 3600.0, cap_b, 3600.0])
    demand = trips([0] * 2000, [4] * 2000, np.linspace(0.0, 1800.0, 2000, endpoint=False))
    model = TrafficModel(cars_only(horizon_s=horizon, step_s=10.0), net, demand, seed=3)
    counts = []
    while model.running:
        model.step()
        counts.append(model.l_count.copy())
    return model, np.array(counts)


def test_a_bottleneck_discharges_at_its_capacity() -> None:
    model, _ = _bottleneck(900.0)
    # bins 2..15 (10–80 min): the queue upstream of link 2 never empties (4000 veh/h arrive, 900 leave)
    flow = model.st_out[2:16, 2].mean() * 3600.0 / model.params.bin_s
    assert flow == pytest.approx(900.0, rel=0.05)


def test_a_full_link_spills_back_upstream_at_the_congested_density() -> None:
    model, counts = _bottleneck(900.0)
    storage = model.l_storage  # jam density 150 PCU/km × 0.5 km = 75
    assert storage[1] == pytest.approx(75.0)
    # kinematic waves: a queued link holds k_jam·L − q·L/w (the congested branch at the discharge flow q)
    q = 900.0 / 3600.0
    for li in (0, 1):
        expected = storage[li] - q * (model.hist_len[li] - 1) * model.dt
        assert counts[120:400, li].mean() == pytest.approx(expected, rel=0.03)
    # the queue grows from the bottleneck backwards: link 1 is congested before link 0
    congested = counts >= 0.95 * (storage - q * (model.hist_len - 1) * model.dt)
    first = [int(np.argmax(congested[:, li])) for li in (0, 1)]
    assert congested[:, 0].any()
    assert congested[:, 1].any()
    assert first[1] < first[0]
    assert model.st_queue[:, 0].max() > 0
    # without the bottleneck nothing queues on link 0
    _, free = _bottleneck(3600.0, horizon=2400.0)
    assert free[:, 0].max() < 0.6 * storage[0]


def test_a_signal_delays_light_traffic_by_the_uniform_delay() -> None:
    # one signalised node between two links, light uniform arrivals: Webster's uniform delay
    # d = C (1 − λ)² / (2 (1 − λ x)), λ = g / C, x = q / (λ s)
    net = chain([400.0, 400.0], speed_kmh=36.0, signal_at=[1])
    n = 400
    demand = trips([0] * n, [2] * n, np.linspace(0.0, 7200.0, n, endpoint=False))
    params = cars_only(horizon_s=7500.0, junctions=NO_JUNCTIONS)
    res = run(params, 5, network=net, trips=demand)
    t = res.tables["trips"]
    assert t["completed"].all()
    cycle = params.junctions.signal_cycle_s
    green = (cycle - params.junctions.lost_time_s) / 2
    lam = green / cycle
    x = (n / 7200.0) / (lam * 1800.0 / 3600.0)
    webster = cycle * (1 - lam) ** 2 / (2 * (1 - lam * x))
    assert t["delay_s"].mean() == pytest.approx(webster, rel=0.05)
    assert t["delay_s"].max() <= cycle - green + 4.0


def test_junctions_cost_time_on_a_grid() -> None:
    net = grid_network(8, 8)
    demand = random_trips(net.n_nodes, 1500, 1800.0, seed=2)
    with_j = run(cars_only(horizon_s=3600.0), 1, network=net, trips=demand).kpis
    without = run(cars_only(horizon_s=3600.0, junctions=NO_JUNCTIONS), 1, network=net, trips=demand).kpis
    assert with_j["completed_share"] == without["completed_share"] == 1.0
    # ~6 junctions a trip at 1–4 s each
    assert 3.0 < with_j["mean_trip_time_s"] - without["mean_trip_time_s"] < 30.0
    assert without["mean_delay_s"] == pytest.approx(0.0, abs=3.0)


def _through_cross(movements: list[tuple[str, str]], n: int = 1800) -> list[float]:
    """Saturate the given arm-to-arm movements of `cross` (1 veh/s each for 30 min); return veh/h.

    The flows are those leaving each approach link over 5–30 min, while every approach is queued.
    """
    o: list[int] = []
    d: list[int] = []
    dep: list[float] = []
    for a, b in movements:
        o += [ARMS[a][0]] * n
        d += [ARMS[b][0]] * n
        dep += list(np.linspace(0.0, 1800.0, n, endpoint=False))
    model = TrafficModel(cars_only(horizon_s=2400.0), cross(), trips(o, d, dep), seed=1)
    while model.running:
        model.step()
    approach = [2 * list(ARMS).index(a) for a, _ in movements]
    return [float(model.st_out[1:6, li].mean() * 3600.0 / model.params.bin_s) for li in approach]


def test_parallel_streams_cross_a_junction_at_link_capacity() -> None:
    # opposing straights, and two right turns, do not conflict: each stream keeps its link's 1800
    # veh/h (a junction capacity pooled over all streams halved them: the grid then gridlocked
    # where UXsim and SUMO do not)
    for movements in ([("W", "E"), ("E", "W")], [("W", "S"), ("S", "E")], [("W", "E"), ("S", "N")]):
        for flow in _through_cross(movements):
            assert flow == pytest.approx(1800.0, rel=0.05), movements


def test_crossing_left_turns_time_share_the_junction() -> None:
    # each left turn holds the crossing for left_s = 4 s; the two crossing axes take turns, so
    # together they pass 3600 / 4 = 900 veh/h, shared evenly (the older request goes first)
    west_north, south_west = _through_cross([("W", "N"), ("S", "W")])
    left_s = cars_only().junctions.left_s
    assert west_north + south_west == pytest.approx(3600.0 / left_s, rel=0.03)
    assert west_north == pytest.approx(south_west, rel=0.05)


def test_teleport_is_off_by_default_and_counted_when_on() -> None:
    # link 2 passes 1 veh/min: without teleports the queue behind it stays (gridlock is reported);
    # with SUMO's switch a head blocked for 120 s skips it at free speed and lands on link 3
    net = chain([500.0, 500.0, 500.0, 500.0], speed_kmh=36.0, capacity=[3600.0, 3600.0, 60.0, 3600.0])
    demand = trips([0] * 300, [4] * 300, np.linspace(0.0, 300.0, 300, endpoint=False))
    off = run(cars_only(horizon_s=1800.0), 1, network=net, trips=demand)
    on = run(cars_only(horizon_s=1800.0, teleport_s=120.0), 1, network=net, trips=demand)
    assert off.kpis["teleports"] == 0
    assert off.kpis["completed"] <= 1800.0 / 60.0 + 1
    assert on.kpis["teleports"] > 200
    assert on.kpis["completed"] == 300
    assert on.tables["trips"]["distance_m"].to_numpy() == pytest.approx(np.full(300, 2000.0))
    # a teleported trip is no faster than free flow and waited at least the time to teleport
    assert on.tables["trips"]["travel_time_s"].max() >= 120.0 + 200.0


def test_vehicles_are_conserved_at_every_step() -> None:
    net = grid_network(6, 6, spacing_m=200.0)
    demand = random_trips(net.n_nodes, 4000, 1200.0, seed=4)  # congested: queues and spillback
    model = TrafficModel(cars_only(horizon_s=2400.0, step_s=10.0), net, demand, seed=9)
    pcu = model.fleet.pcu
    while model.running:
        model.step()
        c = model.conservation()
        assert c["entered"] == c["arrived"] + c["on_network"]
        assert c["on_network"] == c["on_links"] == model.counters[kernel.C_ON_NET]
        assert c["waiting"] == model.counters[kernel.C_WAITING]
        on_link = model.fleet.state == kernel.ON_LINK
        assert (model.n_up - model.n_down).sum() == pytest.approx(pcu[on_link].sum())
        assert (model.n_up - model.n_down <= model.l_storage + 1.0 + 1e-9).all()  # never over storage
    assert model.counters[kernel.C_ARRIVED] > 0


def test_the_same_seed_gives_the_same_run() -> None:
    net = grid_network(6, 6)
    cells = cells_for(net)
    params = TrafficParams(horizon_s=3600.0, demand={"trips_per_person_day": 6.0, "through_veh_h": 0.0})
    a = run(params, 11, network=net, cells=cells)
    b = run(params, 11, network=net, cells=cells)
    c = run(params, 12, network=net, cells=cells)
    pd.testing.assert_frame_equal(a.tables["trips"], b.tables["trips"])
    pd.testing.assert_frame_equal(a.tables["links_5min"], b.tables["links_5min"])
    assert a.kpis["trips"] > 500
    assert not a.tables["trips"]["depart_s"].equals(c.tables["trips"]["depart_s"])
    assert a.seed == 11
    assert a.params["horizon_s"] == 3600.0


def test_a_closed_link_carries_nothing_and_trips_go_round() -> None:
    net = grid_network(3, 3)
    closed = int(np.flatnonzero((net.links["u"] == 3) & (net.links["v"] == 4))[0])
    params = cars_only(
        start="06:00", horizon_s=1800.0, closures=[Closure(links=(closed,), start="06:00", end="07:00")]
    )
    demand = trips([3] * 50, [5] * 50, np.linspace(0, 600, 50))
    res = run(params, 1, network=net, trips=demand)
    assert res.tables["links_5min"].query("link_id == @closed")["inflow_veh"].sum() == 0
    assert res.kpis["completed_share"] == 1.0
    assert res.layers["links"].loc[closed, "closed_any"]


def test_a_closed_link_is_closed_in_every_bin_of_its_window_and_has_no_speed() -> None:
    net = grid_network(3, 3)
    closed = int(np.flatnonzero((net.links["u"] == 3) & (net.links["v"] == 4))[0])
    # closed 06:10–06:20 of a 06:00–06:30 run: bins 2 and 3 (5-min bins), open before and after
    params = cars_only(
        start="06:00", horizon_s=1800.0, closures=[Closure(links=(closed,), start="06:10", end="06:20")]
    )
    demand = trips([3] * 60, [5] * 60, np.linspace(0, 1500, 60))
    res = run(params, 1, network=net, trips=demand)
    rows = res.tables["links_5min"].query("link_id == @closed").set_index("bin")
    assert rows["closed"].tolist() == [False, False, True, True, False, False]
    assert (rows.loc[[2, 3], "state"] == "closed").all()
    assert rows.loc[[2, 3], "speed_kmh"].isna().all()  # no speed, never the free-flow 36 km/h
    allbins = res.tables["links_5min"]
    no_flow = allbins[allbins["outflow_veh"] == 0]
    assert no_flow["speed_kmh"].isna().all()
    assert set(no_flow["state"]) <= {"closed", "no_flow"}
    layer = res.layers["links"].loc[closed]
    assert (layer["closed_from_s"], layer["closed_until_s"], layer["closed_bins"]) == (600.0, 1200.0, 2)


def test_trips_without_a_path_are_counted_not_fatal() -> None:
    net = chain([300.0, 300.0])  # one-way: nothing leads back west
    res = run(cars_only(horizon_s=600.0), 1, network=net, trips=trips([0, 2], [2, 0], [0.0, 0.0]))
    assert res.kpis["unroutable"] == 1
    assert res.kpis["completed"] == 1
    assert res.tables["trips"]["status"].tolist() == ["arrived", "unroutable"]


def test_outputs_are_tidy_and_labelled_simulated() -> None:
    net = grid_network(5, 5)
    res = run(
        cars_only(horizon_s=1800.0), 3, network=net, trips=random_trips(net.n_nodes, 400, 900.0, seed=1)
    )
    links = res.tables["links_5min"]
    assert len(links) == 6 * net.n_links
    assert {"flow_veh_h", "speed_kmh", "density_veh_km", "queue_veh"} <= set(links.columns)
    # what entered a link over the run either left it or is still on it
    assert links["inflow_veh"].sum() >= links["outflow_veh"].sum()
    cells = res.tables["cells_5min"]
    assert (cells["congestion_index"] >= 1.0 - 1e-9).all()
    for layer in res.layers.values():
        assert layer.attrs["provenance"]["source"] == "simulated"
    assert res.kind == "traffic"
    assert res.meta["source"] == "simulated"
    assert res.kpis["completed"] == res.tables["trips"]["completed"].sum()
