"""Traffic: ours vs UXsim (C++ engine) and SUMO meso (incl. duarouter), peers with their defaults first.

Grid workloads (300 m, 50 km/h, 1-lane two-way links; uniform random OD trips between distinct nodes
departing over 1 h; 2 h simulated), two grid sizes × three demand levels (`WORKLOADS`), each tool in
its own spawned process (`bench.harness.isolated`) so peak memory is its own. Per cell: wall incl.
routing, peak memory, completed share, mean trip time (completed trips) and total time in system
(every trip up to the horizon, unfinished and never-inserted ones included).

Peer settings, disclosed:

* **UXsim C++, defaults** (the headline): `World(deltan=5)` (platoons of 5, UXsim's default),
  `addLink` with its default jam density 0.2 veh/m and no `capacity_out` (capacity then follows from
  the triangular diagram with 1 s reaction time: 2,650 veh/h at 50 km/h).
* **UXsim C++, harmonised** (second row): the same plus `jam_density=0.15, capacity_out=0.5`, the
  jam density (150 veh/km) and lane capacity (1,800 veh/h) ours uses.
* **SUMO meso + duarouter, defaults**: `netgenerate --grid` defaults (turnarounds built: SUMO's
  default), `duarouter --junction-taz`, `sumo --mesosim` defaults (time-to-teleport 300 s,
  no junction control). Its memory is the largest SUMO child process (duarouter or sumo).
* **Ours**: `TrafficParams` defaults (junction crossing conflicts, turn times, dynamic routing,
  no teleport), one car class at 50 km/h.

Also: agent steps per second on the Lạng Sơn network (100k agents walking routes) against an
idiomatic mesa 3 model, and a Lạng Sơn morning peak.

Run: ``flock /tmp/twin-heavy.lock .venv/bin/python -m bench.run_all traffic``
(``TRAFFIC_BENCH_QUICK=1``: only the 15×15 grid and the Lạng Sơn rows; ``TRAFFIC_BENCH_LEVELS=light``
(comma-separated levels): only those grid cells and the cold start, written to
``bench/results/traffic_<levels>.json`` so the full table stays; ``TRAFFIC_BENCH_SPEED=N``: the
speed goal only, ours vs UXsim defaults at light load on both grids, N fresh processes each,
alternating, medians → ``bench/results/traffic_speed.json``).

Each grid cell also reports the whole process of each tool (imports, building the network and
trips, the run): ours pays there for numba's start-up and loading its cached kernels, UXsim for
importing its C++ extension and pandas/matplotlib.
"""

from __future__ import annotations

import os
import resource
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
MESA_WALK = "mesa 3 CellAgent walk, 1 s steps"

#: grid rows → trips per demand level (over 1 h, 2 h simulated). 15×15 and 30×30 are the shapes of
#: issue 13's held-out trials (60k on 15×15: everything completes; 180k on 30×30: past gridlock).
WORKLOADS: dict[int, dict[str, int]] = {
    15: {"light": 20_000, "medium": 60_000, "congested": 120_000},
    30: {"light": 60_000, "medium": 120_000, "congested": 180_000},
}
UXSIM_DEFAULTS = "UXsim C++ (defaults: platoons of 5, jam 0.2 veh/m, no capacity_out)"
UXSIM_HARMONISED = "UXsim C++ (harmonised: jam_density=0.15, capacity_out=0.5)"
SUMO_NAME = "SUMO meso + duarouter (defaults)"


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
    rows: int,
    n: int,
    seed: int,
    horizon_s: float = HORIZON_S,
    window_s: float = WINDOW_S,
    teleport_s: float | None = None,
) -> dict[str, Any]:
    """Run our model on the grid workload; return wall time (incl. routing) and KPIs.

    `teleport_s` switches on the SUMO-like teleport (off by default, as in the model).
    """
    from simulations.traffic.model import run  # noqa: PLC0415  (imported in the spawned process)
    from simulations.traffic.params import TrafficParams, VehicleClass  # noqa: PLC0415
    from tests.support.gridnet import grid_network  # noqa: PLC0415

    net = grid_network(rows, rows, spacing_m=SPACING, speed_kmh=SPEED_KMH)
    trips = grid_trips(rows, n, seed, window_s)
    params = TrafficParams(
        horizon_s=horizon_s,
        vehicles={"car": VehicleClass(share=1.0, pcu=1.0, speed_kmh=SPEED_KMH)},
        teleport_s=teleport_s,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    res = run(params, seed, network=net, trips=trips)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    k = res.kpis
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "mean_trip_time_s": k["mean_trip_time_s"],
        "completed_share": k["completed_share"],
        "mean_delay_s": k["mean_delay_s"],
        "total_time_in_system_h": k["total_time_in_system_h"],
        "vehicle_hours": k["vehicle_hours"],
        "not_departed": k["not_departed"],
        "teleports": k["teleports"],
    }


def warm_up() -> None:
    """Compile (and cache) our numba kernels so no benchmark run pays for compilation."""
    run_ours(4, 50, 0, horizon_s=600.0, window_s=120.0)


def cold_start() -> dict[str, float]:
    """Return the first-run cost: a tiny run with an empty numba cache (all kernels compiled)."""
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache  # read when numba is first imported, below
        t0 = time.perf_counter()
        run_ours(4, 50, 0, horizon_s=600.0, window_s=120.0)
        cold = time.perf_counter() - t0
        t1 = time.perf_counter()
        run_ours(4, 50, 0, horizon_s=600.0, window_s=120.0)
        return {"cold_s": cold, "warm_s": time.perf_counter() - t1}


# -- UXsim ------------------------------------------------------------------------------------------
def run_uxsim(
    rows: int,
    n: int,
    seed: int,
    horizon_s: float = HORIZON_S,
    window_s: float = WINDOW_S,
    cpp: bool = True,
    harmonised: bool = False,
) -> dict[str, Any]:
    """Run UXsim on the same trips: its defaults, or with our jam density and lane capacity.

    UXsim's default platoon size is 5 (``deltan=5``): every 5th trip is one platoon of 5 vehicles.
    Total time in system counts every platoon that was due to depart before the horizon, to its
    arrival or the horizon, times 5.
    """
    import uxsim  # noqa: PLC0415

    trips = grid_trips(rows, n, seed, window_s)
    t0, c0 = time.perf_counter(), time.process_time()
    W = uxsim.World(  # noqa: N806  (UXsim's own name for the world)
        name="", deltan=5, tmax=horizon_s, print_mode=0, save_mode=0, show_mode=0, random_seed=seed, cpp=cpp
    )
    nodes = [W.addNode(f"n{i}", (i % rows) * SPACING, (i // rows) * SPACING) for i in range(rows * rows)]
    v = SPEED_KMH / 3.6
    extra: dict[str, float] = {"jam_density": 0.15, "capacity_out": 0.5} if harmonised else {}
    for i in range(rows * rows):
        r, c = divmod(i, rows)
        for j in ([i + 1] if c + 1 < rows else []) + ([i + rows] if r + 1 < rows else []):
            for a, b in ((i, j), (j, i)):
                W.addLink(f"l{a}_{b}", nodes[a], nodes[b], length=SPACING, free_flow_speed=v, **extra)
    platoons = trips.iloc[::5]
    for o, d, t in zip(platoons["origin"], platoons["dest"], platoons["depart_s"], strict=True):
        W.addVehicle(nodes[o], nodes[d], float(t))
    t_built = time.perf_counter()
    W.exec_simulation()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    W.analyzer.basic_analysis()
    a = W.analyzer
    tis = 0.0
    for veh in W.VEHICLES.values():
        dep = float(veh.departure_time) * W.DELTAT
        if dep >= horizon_s:
            continue
        end = float(veh.arrival_time) * W.DELTAT if veh.state == "end" else horizon_s
        tis += (min(end, horizon_s) - dep) * W.DELTAN
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "build_s": t_built - t0,
        "mean_trip_time_s": float(a.average_travel_time),
        "completed_share": float(a.trip_completed) / max(float(a.trip_all), 1.0),
        "mean_delay_s": float(a.average_delay),
        "total_time_in_system_h": tis / 3600.0,
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
             f"--default.speed={SPEED_KMH / 3.6:.4f}", "--default.lanenumber=1", "-o", str(net)],
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
             "--tripinfo-output", str(d / "tripinfo.xml"), "--tripinfo-output.write-unfinished", "true",
             "--tripinfo-output.write-undeparted", "true", "--no-warnings", "--no-step-log",
             "--seed", str(seed), "--duration-log.statistics", "true"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        t3 = time.perf_counter()
        durations, tis = [], 0.0
        for el in ET.parse(d / "tripinfo.xml").getroot().iter("tripinfo"):
            # unfinished and undeparted vehicles are written with arrival -1, their time up to the end
            dur = float(el.get("duration", "nan"))
            tis += max(dur, 0.0) + float(el.get("departDelay", "0"))
            if float(el.get("arrival", "-1")) >= 0:
                durations.append(dur)
        tele = [ln for ln in sim.stdout.splitlines() if ln.strip().startswith("Teleports:")]
        teleports = int(tele[0].split()[1]) if tele else 0
    arrived = len(durations)
    return {
        "peak_mem_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
        "total_time_in_system_h": tis / 3600.0,
        "wall_s": t3 - t0,
        "duarouter_s": t2 - t1,
        "sim_s": t3 - t2,
        "mean_trip_time_s": float(np.mean(durations)) if durations else float("nan"),
        "completed_share": arrived / len(trips),
        "teleports": teleports,
    }


# -- agent steps: ours vs an idiomatic mesa model ---------------------------------------------------
def _langson_trips(n_agents: int, seed: int) -> tuple[Any, pd.DataFrame]:
    """Return the Lạng Sơn network and `n_agents` random trips (85 % motorbikes) departing over 1 h."""
    from gis_data.city import build_city  # noqa: PLC0415

    net = build_city().network
    rng = np.random.default_rng(seed)
    o = rng.integers(0, net.n_nodes, n_agents)
    d = (o + rng.integers(1, net.n_nodes, n_agents)) % net.n_nodes
    modes = np.where(rng.random(n_agents) < 0.85, "motorbike", "car")
    trips = pd.DataFrame(
        {"origin": o, "dest": d, "depart_s": np.sort(rng.random(n_agents) * 3600.0), "mode": modes}
    )
    return net, trips


def mesa_walk(n_agents: int, steps: int, seed: int) -> dict[str, Any]:
    """The same walk in idiomatic mesa 3: `n_agents` vehicles on the Lạng Sơn links, 1 s per step.

    Each `CellAgent` sits on a node of the road graph with the seconds left on its current link
    (length / the link's speed); each step it counts down, and at the end of the link moves to a
    random neighbouring node (a random route, no queues). One agent-step = one agent advanced one
    second, as in our kernel; link moves are counted too.
    """
    import mesa  # noqa: PLC0415
    import networkx as nx  # noqa: PLC0415
    from mesa.discrete_space import CellAgent, Network  # noqa: PLC0415

    net, _ = _langson_trips(1, seed)
    g = nx.Graph()
    for u, v, length, speed in zip(
        net.links["u"].tolist(), net.links["v"].tolist(), net.links["length_m"].tolist(),
        net.links["speed_kmh"].tolist(), strict=True,
    ):  # fmt: skip
        g.add_edge(u, v, time_s=length / (speed / 3.6))

    class Vehicle(CellAgent):  # type: ignore[misc]
        def __init__(self, model: mesa.Model, cell: Any) -> None:
            super().__init__(model)
            self.cell = cell
            self.left_s = 0.0
            self.moves = 0

        def step(self) -> None:
            self.left_s -= 1.0
            if self.left_s <= 0.0:
                nxt = self.cell.neighborhood.select_random_cell()
                self.left_s += g.edges[self.cell.coordinate, nxt.coordinate]["time_s"]
                self.cell = nxt
                self.moves += 1

    class Walk(mesa.Model):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(rng=seed)
            self.grid = Network(g, random=self.random)
            cells = list(self.grid.all_cells.cells)
            for _ in range(n_agents):
                Vehicle(self, self.random.choice(cells))

        def step(self) -> None:
            self.agents.shuffle_do("step")

    model = Walk()
    t0 = time.perf_counter()
    for _ in range(steps):
        model.step()
    wall = time.perf_counter() - t0
    moves = sum(a.moves for a in model.agents)
    return {
        "wall_s": wall,
        "agent_steps_per_s": n_agents * steps / wall,
        "link_moves_per_s": moves / wall,
    }


def ours_langson(n_agents: int, seed: int) -> dict[str, Any]:
    """Run our model with `n_agents` trips on the Lạng Sơn network; return agent-steps per second.

    One agent-step is one vehicle advanced by one 1-s tick (waiting to enter or on a link, from
    departure to arrival or the horizon), as one step of one agent in the mesa model; the full
    model runs around it (queues, junctions, signals, routing refreshes). Reported over the kernel
    steps alone (``model.run``) and over the whole run incl. set-up and outputs; link moves (one
    vehicle entering one link) per second too.
    """
    from simulations.traffic.model import TrafficModel  # noqa: PLC0415
    from simulations.traffic.outputs import build_result  # noqa: PLC0415
    from simulations.traffic.params import TrafficParams  # noqa: PLC0415

    net, trips = _langson_trips(n_agents, seed)
    params = TrafficParams(horizon_s=7200.0)
    t0 = time.perf_counter()
    model = TrafficModel(params, net, trips, seed=seed)
    t1 = time.perf_counter()
    model.run()
    t2 = time.perf_counter()
    res = build_result(model, params, seed, cells=None, meta={})
    t3 = time.perf_counter()
    ticks = res.kpis["total_time_in_system_h"] * 3600.0 / params.dt_s
    moves = float(model.st_in.sum())
    return {
        "wall_s": t3 - t0,
        "run_s": t2 - t1,
        "agent_steps_per_s": ticks / (t2 - t1),
        "agent_steps_per_s_whole_run": ticks / (t3 - t0),
        "link_moves_per_s": moves / (t2 - t1),
        "link_moves_per_s_whole_run": moves / (t3 - t0),
        "route_refreshes": res.kpis["route_refreshes"],
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


# -- speed: repeated fresh processes, medians -------------------------------------------------------
def run_twice(tool: str, rows: int, n: int, seed: int) -> dict[str, float]:
    """In this (fresh) process: import `tool`, run the light workload twice; return times and memory.

    The first run pays what a one-off run pays after the imports (for ours numba's one-time
    start-up and the loading of its cached kernels, ~0.25 s CPU); the second is what a service or
    a sweep pays per run. Peak memory is taken after the first run (one run's process).
    """
    t0 = time.perf_counter()
    if tool == "ours":
        import simulations.traffic.model  # noqa: F401, PLC0415  (the import is measured)

        def once() -> dict[str, Any]:
            return run_ours(rows, n, seed)
    else:
        import uxsim  # noqa: F401, PLC0415

        def once() -> dict[str, Any]:
            return run_uxsim(rows, n, seed)

    import_s = time.perf_counter() - t0
    first = once()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    second = once()
    return {
        "import_s": import_s, "first_wall_s": first["wall_s"], "first_cpu_s": first["cpu_s"],
        "second_wall_s": second["wall_s"], "second_cpu_s": second["cpu_s"], "peak_mem_mb": peak,
        "mean_trip_time_s": first["mean_trip_time_s"], "completed_share": first["completed_share"],
    }  # fmt: skip


SPEED_FIGURES = {
    "first_wall_s": "wall of one run after the imports (first in its process)",
    "first_cpu_s": "CPU time of that run (less sensitive to the other jobs on the machine)",
    "second_wall_s": "wall of a second run in the same process (what a service or a sweep pays)",
    "second_cpu_s": "CPU time of the second run",
    "peak_mem_mb": "peak memory of the process after one run (imports included)",
}


def speed(repeats: int, seed: int = 1) -> list[Row]:
    """Run ours and UXsim C++ (defaults) `repeats` times each, alternating, on the light workloads.

    Each repeat is a fresh spawned process per tool; the rows give the median of every figure and
    the ratio of the medians, with every repeat's figures in ``ours_runs`` / ``peer_runs``.
    """
    out: list[Row] = []
    for rows, levels in WORKLOADS.items():
        n = levels["light"]
        ours, peer = [], []
        for _ in range(repeats):
            o, po, _ = isolated(run_twice, "ours", rows, n, seed)
            u, pu, _ = isolated(run_twice, "uxsim", rows, n, seed)
            ours.append({**o, "process_s": po})
            peer.append({**u, "process_s": pu})
            print(f"{rows}x{rows} light: ours {ours[-1]}\n  UXsim {peer[-1]}", flush=True)
        label = f"traffic {rows}x{rows} light ({n // 1000}k trips), median of {repeats} fresh processes"
        extra = {"workload": f"{rows}x{rows} grid, {n:,} trips over 1 h, 2 h simulated", "level": "light",
                 "repeats": repeats, "ours_runs": ours, "peer_runs": peer}  # fmt: skip
        figures = {**SPEED_FIGURES, "process_s": "whole process: imports, set-up, two runs"}
        for key, what in figures.items():
            unit = "MB" if key == "peak_mem_mb" else "s"
            o_med = float(np.median([r[key] for r in ours]))
            u_med = float(np.median([r[key] for r in peer]))
            out.append(Row(f"{label}: {what}", o_med, UXSIM_DEFAULTS, u_med, unit, "lower", extra=extra))
    return out


# -- main -------------------------------------------------------------------------------------------
def grid_cell(rows: int, level: str, n: int, seed: int = 1) -> list[Row]:
    """Run ours and the three peer settings on one grid workload; return the rows of the table."""
    ours, proc_ours, m_ours = isolated(run_ours, rows, n, seed)
    runs: list[tuple[str, dict[str, Any], float, float]] = []
    for name, harmonised in ((UXSIM_DEFAULTS, False), (UXSIM_HARMONISED, True)):
        ux, proc_ux, m_ux = isolated(run_uxsim, rows, n, seed, HORIZON_S, WINDOW_S, True, harmonised)
        runs.append((name, ux, m_ux, proc_ux))
    su, proc_su, _ = isolated(run_sumo, rows, n, seed)
    runs.append((SUMO_NAME, su, float(su["peak_mem_mb"]), proc_su))
    print(f"{rows}x{rows} {level} {n:,}: ours {ours}", flush=True)
    for name, r, _, _ in runs:
        print(f"  {name}: {r}", flush=True)
    common = {"workload": f"{rows}x{rows} grid, {n:,} trips over 1 h, 2 h simulated", "level": level}
    label = f"traffic {rows}x{rows} {level} ({n // 1000}k trips)"
    out: list[Row] = []
    for name, r, mem, proc in runs:
        extra = {**common, "ours_run": ours, "peer_run": r}
        out += [
            Row(f"{label}: wall (incl. routing)", ours["wall_s"], name, r["wall_s"], "s", "lower",
                m_ours, mem, extra),
            Row(f"{label}: whole process (imports, set-up, run)", proc_ours, name, proc, "s", "lower",
                m_ours, mem, common),
            Row(f"{label}: peak memory", m_ours, name, mem, "MB", "lower", m_ours, mem, common),
            Row(f"{label}: completed share", ours["completed_share"], name, r["completed_share"], "share",
                "closer to 1", None, None, common),
            Row(f"{label}: mean trip time (completed trips)", ours["mean_trip_time_s"], name,
                r["mean_trip_time_s"], "s", "closer to 1", None, None, common),
            Row(f"{label}: total time in system (all trips)", ours["total_time_in_system_h"], name,
                r["total_time_in_system_h"], "veh-h", "closer to 1", None, None, common),
        ]  # fmt: skip
    return out


def main() -> None:
    """Run every traffic comparison and write ``bench/results/traffic.json``."""
    repeats = int(os.environ.get("TRAFFIC_BENCH_SPEED", "0"))
    if repeats:
        isolated(warm_up)
        print(write_results("traffic_speed", speed(repeats)))
        return
    quick = os.environ.get("TRAFFIC_BENCH_QUICK") == "1"
    only = [lv for lv in os.environ.get("TRAFFIC_BENCH_LEVELS", "").split(",") if lv]
    name = "traffic_" + "_".join(only) if only else "traffic"
    cold, _, _ = isolated(cold_start)
    isolated(warm_up)
    results: list[Row] = []
    for rows, levels in WORKLOADS.items():
        if quick and rows != 15:
            continue
        for level, n in levels.items():
            if only and level not in only:
                continue
            results += grid_cell(rows, level, n)
            write_results(name, results)
    if only:
        results.append(_cold_row(cold))
        print(write_results(name, results))
        return
    n_agents = 20_000 if quick else 100_000
    mw, _, m_mesa = isolated(mesa_walk, n_agents, 60, 1)
    ol, _, m_ol = isolated(ours_langson, n_agents, 1)
    results.append(
        Row("traffic agent-steps/s, Lạng Sơn network", ol["agent_steps_per_s"], MESA_WALK,
            mw["agent_steps_per_s"], "agent-steps/s", "higher", m_ol, m_mesa,
            {"agents": n_agents, "ours_run": ol, "mesa_run": mw})
    )  # fmt: skip
    results.append(
        Row("traffic link moves/s, Lạng Sơn network", ol["link_moves_per_s"], MESA_WALK,
            mw["link_moves_per_s"], "link moves/s", "higher", m_ol, m_mesa, {"agents": n_agents})
    )  # fmt: skip
    peak, _, m_peak = isolated(langson_peak)
    results.append(
        Row("traffic Lạng Sơn morning peak: wall", peak["wall_s"], "real time (3 h simulated)", 10_800.0, "s",
            "lower", m_peak, None, {"kpis": peak})
    )  # fmt: skip
    results.append(_cold_row(cold))
    print(write_results("traffic", results))


def _cold_row(cold: dict[str, float]) -> Row:
    return Row(
        "traffic first run: JIT compile of the kernels (empty numba cache)", cold["cold_s"],
        "same run with the cache warm", cold["warm_s"], "s", "lower", None, None,
        {"note": "tiny 4x4 run: the cold figure is the compile cost paid once per installation"},
    )  # fmt: skip


if __name__ == "__main__":
    main()
