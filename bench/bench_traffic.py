"""Traffic: ours vs UXsim (C++ engine, default platoons of 5) and SUMO meso (incl. duarouter).

Reference workloads of ``docs/BENCHMARKS.md``: a 40×40 grid of 300 m, 50 km/h, 1-lane links, uniform
random OD trips departing over 1 h, 2 h simulated; light = 100k trips, congested = 300k trips. Each
tool runs in its own spawned process (`bench.harness.isolated`) so peak memory is its own. Also: agent
steps per second on the Lạng Sơn network (100k agents walking routes) against an idiomatic mesa 3
model, and a Lạng Sơn morning peak.

Run: ``flock /tmp/twin-heavy.lock .venv/bin/python -m bench.run_all traffic`` (UXsim's congested run
takes ~11 GB; ``TRAFFIC_BENCH_QUICK=1`` runs a 20×20 grid with 20k/60k trips instead).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.harness import Row, isolated, write_results

SPACING = 300.0
SPEED_KMH = 50.0
WINDOW_S = 3600.0
HORIZON_S = 7200.0


def grid_trips(rows: int, n: int, seed: int, window_s: float = WINDOW_S) -> pd.DataFrame:
    """Return `n` uniform random OD trips between distinct grid nodes, departing uniformly over the window."""
    rng = np.random.default_rng(seed)
    o = rng.integers(0, rows * rows, 2 * n)
    d = rng.integers(0, rows * rows, 2 * n)
    keep = o != d
    o, d = o[keep][:n], d[keep][:n]
    return pd.DataFrame(
        {"origin": o, "dest": d, "depart_s": np.sort(rng.random(len(o)) * window_s), "mode": "car"}
    )


# -- ours -------------------------------------------------------------------------------------------
def run_ours(
    rows: int, n: int, seed: int, horizon_s: float = HORIZON_S, window_s: float = WINDOW_S
) -> dict[str, Any]:
    """Run our model on the grid workload; return wall time (incl. routing) and KPIs."""
    from simulations.traffic.model import run  # noqa: PLC0415  (imported in the spawned process)
    from simulations.traffic.params import TrafficParams, VehicleClass  # noqa: PLC0415
    from twin.gridnet import grid_network  # noqa: PLC0415

    net = grid_network(rows, rows, spacing_m=SPACING, speed_kmh=SPEED_KMH)
    trips = grid_trips(rows, n, seed, window_s)
    params = TrafficParams(
        horizon_s=horizon_s, vehicles={"car": VehicleClass(share=1.0, pcu=1.0, speed_kmh=SPEED_KMH)}
    )
    t0 = time.perf_counter()
    res = run(params, seed, network=net, trips=trips)
    wall = time.perf_counter() - t0
    k = res.kpis
    return {
        "wall_s": wall,
        "mean_trip_time_s": k["mean_trip_time_s"],
        "completed_share": k["completed_share"],
        "mean_delay_s": k["mean_delay_s"],
        "vehicle_seconds": k["vehicle_seconds"],
    }


def warm_up() -> None:
    """Compile (and cache) our numba kernels so no benchmark run pays for compilation."""
    run_ours(4, 50, 0, horizon_s=600.0, window_s=120.0)


# -- UXsim ------------------------------------------------------------------------------------------
def run_uxsim(
    rows: int, n: int, seed: int, horizon_s: float = HORIZON_S, window_s: float = WINDOW_S, cpp: bool = True
) -> dict[str, Any]:
    """Run UXsim (default platoons of 5: every 5th trip is one platoon of 5 vehicles) on the same trips."""
    import uxsim  # noqa: PLC0415

    trips = grid_trips(rows, n, seed, window_s)
    t0 = time.perf_counter()
    W = uxsim.World(  # noqa: N806  (UXsim's own name for the world)
        name="", deltan=5, tmax=horizon_s, print_mode=0, save_mode=0, show_mode=0, random_seed=seed, cpp=cpp
    )
    nodes = [W.addNode(f"n{i}", (i % rows) * SPACING, (i // rows) * SPACING) for i in range(rows * rows)]
    v = SPEED_KMH / 3.6
    for i in range(rows * rows):
        r, c = divmod(i, rows)
        for j in ([i + 1] if c + 1 < rows else []) + ([i + rows] if r + 1 < rows else []):
            for a, b in ((i, j), (j, i)):
                W.addLink(f"l{a}_{b}", nodes[a], nodes[b], length=SPACING, free_flow_speed=v,
                          jam_density=0.15,
                          capacity_out=0.5)  # fmt: skip
    platoons = trips.iloc[::5]
    for o, d, t in zip(platoons["origin"], platoons["dest"], platoons["depart_s"], strict=True):
        W.addVehicle(nodes[o], nodes[d], float(t))
    t_built = time.perf_counter()
    W.exec_simulation()
    wall = time.perf_counter() - t0
    W.analyzer.basic_analysis()
    a = W.analyzer
    return {
        "wall_s": wall,
        "build_s": t_built - t0,
        "mean_trip_time_s": float(a.average_travel_time),
        "completed_share": float(a.trip_completed) / max(float(a.trip_all), 1.0),
        "mean_delay_s": float(a.average_delay),
    }


# -- SUMO meso --------------------------------------------------------------------------------------
def _sumo_bin(name: str) -> str:
    here = Path(__file__).resolve().parents[1] / ".venv" / "bin" / name
    return str(here) if here.exists() else name


def run_sumo(
    rows: int, n: int, seed: int, horizon_s: float = HORIZON_S, window_s: float = WINDOW_S
) -> dict[str, Any]:
    """Run SUMO meso on the same grid and trips (netgenerate, duarouter --junction-taz, sumo --mesosim)."""
    trips = grid_trips(rows, n, seed, window_s)
    with tempfile.TemporaryDirectory(prefix="sumo-") as tmp:
        d = Path(tmp)
        net = d / "grid.net.xml"
        t0 = time.perf_counter()
        subprocess.run(
            [_sumo_bin("netgenerate"), "--grid", f"--grid.number={rows}", f"--grid.length={SPACING:g}",
             f"--default.speed={SPEED_KMH / 3.6:.4f}", "--default.lanenumber=1", "--no-turnarounds=false",
             "-o", str(net)],
            check=True, capture_output=True,
        )  # fmt: skip
        ids = {}
        for el in ET.parse(net).getroot().iter("junction"):
            if el.get("type") == "internal":
                continue
            c = round(float(el.get("x", 0)) / SPACING)
            r = round(float(el.get("y", 0)) / SPACING)
            ids[r * rows + c] = el.get("id")
        lines = ['<routes>\n  <vType id="car" vClass="passenger"/>\n']
        for k, (o, dd, t) in enumerate(zip(trips["origin"], trips["dest"], trips["depart_s"], strict=True)):
            lines.append(
                f'  <trip id="{k}" type="car" depart="{t:.2f}" '
                f'fromJunction="{ids[o]}" toJunction="{ids[dd]}"/>\n'
            )
        lines.append("</routes>\n")
        (d / "trips.xml").write_text("".join(lines))
        t1 = time.perf_counter()
        subprocess.run(
            [_sumo_bin("duarouter"), "-n", str(net), "--route-files", str(d / "trips.xml"), "--junction-taz",
             "-o", str(d / "routes.xml"), "--ignore-errors", "--no-warnings", "--no-step-log",
             "--seed", str(seed)],
            check=True, capture_output=True,
        )  # fmt: skip
        t2 = time.perf_counter()
        sim = subprocess.run(
            [_sumo_bin("sumo"), "--mesosim", "-n", str(net), "-r", str(d / "routes.xml"),
             "--end", f"{horizon_s:g}",
             "--tripinfo-output", str(d / "tripinfo.xml"), "--no-warnings", "--no-step-log",
             "--seed", str(seed), "--duration-log.statistics", "true"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        t3 = time.perf_counter()
        durations = [
            float(el.get("duration", "nan")) for el in ET.parse(d / "tripinfo.xml").getroot().iter("tripinfo")
        ]
        tele = [ln for ln in sim.stdout.splitlines() if ln.strip().startswith("Teleports:")]
        teleports = int(tele[0].split()[1]) if tele else 0
    arrived = len(durations)
    return {
        "wall_s": t3 - t0,
        "duarouter_s": t2 - t1,
        "sim_s": t3 - t2,
        "mean_trip_time_s": float(np.mean(durations)) if durations else float("nan"),
        "completed_share": arrived / len(trips),
        "teleports": teleports,
    }


# -- agent steps: ours vs an idiomatic mesa model ---------------------------------------------------
def mesa_walk(n_agents: int, steps: int, seed: int) -> dict[str, Any]:
    """Walk `n_agents` mesa agents along random links of the Lạng Sơn network, one link per step."""
    import mesa  # noqa: PLC0415
    import networkx as nx  # noqa: PLC0415
    from mesa.discrete_space import CellAgent, Network  # noqa: PLC0415

    from gis_data.city import build_city  # noqa: PLC0415

    net = build_city().network
    g = nx.DiGraph()
    g.add_edges_from(zip(net.links["u"].tolist(), net.links["v"].tolist(), strict=True))

    class Walker(CellAgent):  # type: ignore[misc]
        def step(self) -> None:
            self.cell = self.cell.neighborhood.select_random_cell()

    class Walk(mesa.Model):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(rng=seed)
            self.grid = Network(g.to_undirected(), random=self.random)
            cells = list(self.grid.all_cells.cells)
            for _ in range(n_agents):
                Walker(self).cell = self.random.choice(cells)

        def step(self) -> None:
            self.agents.shuffle_do("step")

    model = Walk()
    t0 = time.perf_counter()
    for _ in range(steps):
        model.step()
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "agent_steps_per_s": n_agents * steps / wall}


def ours_langson(n_agents: int, seed: int) -> dict[str, Any]:
    """Run our model with `n_agents` trips on the Lạng Sơn network; return link moves per second.

    One agent-step is one vehicle entering one link (what a step of the mesa walk does), with the
    full model around it: queues, junctions, routing; wall time includes routing and set-up.
    """
    from gis_data.city import build_city  # noqa: PLC0415
    from simulations.traffic.model import run  # noqa: PLC0415
    from simulations.traffic.params import TrafficParams  # noqa: PLC0415

    net = build_city().network
    rng = np.random.default_rng(seed)
    o = rng.integers(0, net.n_nodes, n_agents)
    d = (o + rng.integers(1, net.n_nodes, n_agents)) % net.n_nodes
    modes = np.where(rng.random(n_agents) < 0.85, "motorbike", "car")
    trips = pd.DataFrame(
        {"origin": o, "dest": d, "depart_s": np.sort(rng.random(n_agents) * 3600.0), "mode": modes}
    )
    params = TrafficParams(horizon_s=7200.0)
    t0 = time.perf_counter()
    res = run(params, seed, network=net, trips=trips)
    wall = time.perf_counter() - t0
    moves = float(res.tables["links_5min"]["inflow_veh"].sum())  # one agent-step = one link entered
    return {
        "wall_s": wall,
        "agent_steps_per_s": moves / wall,
        "vehicle_ticks_per_s": res.kpis["vehicle_seconds"] / params.dt_s / wall,
        "completed_share": res.kpis["completed_share"],
    }


def langson_peak(seed: int = 2025) -> dict[str, Any]:
    """Run the baseline morning peak on the synthetic Lạng Sơn city; return wall time and KPIs."""
    from gis_data.city import build_city  # noqa: PLC0415
    from simulations.traffic.model import run  # noqa: PLC0415
    from simulations.traffic.params import TrafficParams  # noqa: PLC0415

    city = build_city()
    t0 = time.perf_counter()
    res = run(TrafficParams(), seed, network=city.network, cells=city.cells(9), wards=city.wards)
    return {"wall_s": time.perf_counter() - t0, **{k: float(v) for k, v in res.kpis.items()}}


# -- main -------------------------------------------------------------------------------------------
def _rows(label: str, rows: int, n: int, seed: int) -> list[Row]:
    ours, _, m_ours = isolated(run_ours, rows, n, seed)
    ux, _, m_ux = isolated(run_uxsim, rows, n, seed)
    su, _, m_su = isolated(run_sumo, rows, n, seed)
    print(f"{label}: ours {ours}\n  uxsim {ux}\n  sumo {su}", flush=True)
    common = {"workload": f"{rows}x{rows} grid, {n:,} trips over 1 h, 2 h simulated"}
    ux_name, su_name = "UXsim C++ (platoons of 5)", "SUMO meso + duarouter"
    name = f"traffic {label}"
    return [
        Row(f"{name}: wall (incl. routing)", ours["wall_s"], ux_name, ux["wall_s"], "s", "lower",
            m_ours, m_ux,
            {**common, "ours_run": ours, "uxsim_run": ux}),
        Row(f"{name}: wall (incl. routing)", ours["wall_s"], su_name, su["wall_s"], "s", "lower",
            m_ours, m_su,
            {**common, "sumo_run": su}),
        Row(f"{name}: peak memory", m_ours, ux_name, m_ux, "MB", "lower", m_ours, m_ux, common),
        Row(f"{name}: peak memory", m_ours, su_name, m_su, "MB", "lower", m_ours, m_su, common),
        Row(f"{name}: mean trip time", ours["mean_trip_time_s"], ux_name, ux["mean_trip_time_s"], "s",
            "closer to 1", None, None, common),
        Row(f"{name}: mean trip time", ours["mean_trip_time_s"], su_name, su["mean_trip_time_s"], "s",
            "closer to 1", None, None, common),
        Row(f"{name}: completed share", ours["completed_share"], ux_name, ux["completed_share"], "share",
            "closer to 1", None, None, common),
        Row(f"{name}: completed share", ours["completed_share"], su_name, su["completed_share"], "share",
            "closer to 1", None, None, common),
    ]  # fmt: skip


def main() -> None:
    """Run every traffic comparison and write ``bench/results/traffic.json``."""
    quick = os.environ.get("TRAFFIC_BENCH_QUICK") == "1"
    rows, light, heavy = (20, 20_000, 60_000) if quick else (40, 100_000, 300_000)
    isolated(warm_up)
    results = _rows("light", rows, light, 1)
    write_results("traffic", results)
    results += _rows("congested", rows, heavy, 1)
    write_results("traffic", results)
    n_agents = 20_000 if quick else 100_000
    mw, _, m_mesa = isolated(mesa_walk, n_agents, 20, 1)
    ol, _, m_ol = isolated(ours_langson, n_agents, 1)
    results.append(
        Row("traffic agent-steps/s, Lạng Sơn network", ol["agent_steps_per_s"], "mesa 3 CellAgent walk",
            mw["agent_steps_per_s"], "agent-steps/s", "higher", m_ol, m_mesa,
            {"agents": n_agents, "ours_run": ol, "mesa_run": mw})
    )  # fmt: skip
    peak, _, m_peak = isolated(langson_peak)
    results.append(
        Row("traffic Lạng Sơn morning peak: wall", peak["wall_s"], "real time (3 h simulated)", 10_800.0, "s",
            "lower", m_peak, None, {"kpis": peak})
    )  # fmt: skip
    print(write_results("traffic", results))


if __name__ == "__main__":
    main()
