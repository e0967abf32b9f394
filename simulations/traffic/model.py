"""The mesa traffic model of Lạng Sơn: mixed traffic on the road network, one vehicle per trip.

`TrafficModel` is a mesa 3 `Model` (seeded rng, `DataCollector`) whose vehicles move through the
vectorised link transmission model of `simulations.traffic.kernel` (Yperman et al. 2007; Newell 1993)
with junction crossing times and fixed-time signals. Trips come from `simulations.traffic.demand`
(or are given), route tables from `simulations.traffic.routing` (one bulk Dijkstra per destination,
refreshed when travel times change). `run(params, seed, progress)` returns a
`simulations.results.RunResult` with per-link and per-cell 5-minute tables, per-trip records, KPIs
and map layers, labelled as simulated.
"""

from __future__ import annotations

import math
import time
from typing import Any

import geopandas as gpd
import mesa
import numpy as np
import numpy.typing as npt
import pandas as pd

from simulations.results import Progress, RunResult
from twin.crs import local_metres
from twin.errors import InputError
from twin.network import RoadNetwork

from . import kernel as kn
from .agents import Fleet, OriginZone, RouteGuidance
from .demand import synthesize
from .outputs import build_result
from .params import MODES, TrafficParams
from .routing import Router
from .scenario import apply

F8 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int64]


class TrafficModel(mesa.Model):  # type: ignore[misc]
    """Mixed motorbike/car/bus/truck traffic on a road network.

    Parameters
    ----------
    params
        The run's parameters (demand is ignored when `trips` is given).
    network
        The road network after the scenario's edits (see `simulations.traffic.scenario.apply`).
    trips
        Trips with columns origin, dest (node ids), depart_s (s after start) and mode (one of
        `MODES`); optional kind, origin_cell, dest_cell.
    seed
        Seed of the model's rng (signal offsets, route jitter, admission order).
    closures
        (start_s, end_s, link ids) windows during which links accept no vehicle.
    """

    def __init__(
        self,
        params: TrafficParams,
        network: RoadNetwork,
        trips: pd.DataFrame,
        *,
        seed: int,
        closures: list[tuple[float, float, I8]] | None = None,
    ) -> None:
        super().__init__(rng=seed)
        self.params = params
        self.network = network
        self.seed_value = int(seed)
        self.closures = closures or []
        self.trips = trips.reset_index(drop=True)
        self.t = 0.0
        self.step_index = 0
        self.dt = float(params.dt_s)
        self.steps_per_tick = max(1, round(params.step_s / self.dt))
        self.n_ticks = math.ceil(params.horizon_s / (self.steps_per_tick * self.dt))
        self._init_links()
        self._init_fleet()
        self.router = Router(self.link_u, self.link_v, network.n_nodes)
        self.closure_changed = False
        self.l_closed[:] = self._closed_at(0.0)
        self.cost_used = self.base_time.copy()
        self.l_cost = self.base_time.copy()
        self.last_route_t = 0.0
        self.dist = self.router.to_destinations(self.dest_nodes, self.base_time, closed=self.l_closed)
        #: least uncongested time of each trip (link speeds, straight crossings), before any closure
        uncongested = (
            self.router.to_destinations(self.dest_nodes, self.base_time) if self.l_closed.any() else self.dist
        )
        self.shortest_time = uncongested[self.fleet.row, self.fleet.origin].astype(np.float64)
        self.guidance = RouteGuidance(self)
        self.kernel_state = self._kernel_state()
        order = np.argsort(self.fleet.origin, kind="stable")
        nodes, starts = np.unique(self.fleet.origin[order], return_index=True)
        self.zones = [
            OriginZone(self, int(node), idx)
            for node, idx in zip(nodes, np.split(order, starts[1:]), strict=True)
        ]
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "time_s": lambda mdl: mdl.t,
                "departed": lambda mdl: int(mdl.counters[kn.C_RELEASED]),
                "waiting": lambda mdl: int(mdl.counters[kn.C_WAITING]),
                "on_network": lambda mdl: int(mdl.counters[kn.C_ON_NET]),
                "arrived": lambda mdl: int(mdl.counters[kn.C_ARRIVED]),
                "entered": lambda mdl: int(mdl.counters[kn.C_ENTERED]),
                "mean_speed_kmh": lambda mdl: mdl.recent_speed_kmh(),
                "route_refreshes": lambda mdl: mdl.guidance.refreshes,
                "teleports": lambda mdl: int(mdl.counters[kn.C_TELEPORTS]),
                "locked_vehicles": lambda mdl: int(mdl.l_count[mdl.blocked()[2]].sum()),
            }
        )
        self.datacollector.collect(self)

    # -- set-up ---------------------------------------------------------------------------------
    def _init_links(self) -> None:
        p = self.params
        a = self.network.arrays()
        m = self.network.n_links
        self.link_u, self.link_v = a.u, a.v
        self.l_len = a.length_m.copy()
        self.l_vf = a.speed_ms.copy()
        self.l_cap = a.capacity_pcu_s.copy()
        self.free_time = a.free_time_s.copy()
        kj = p.jam_density_pcu_km / 1000.0
        lanes = a.lanes.astype(np.float64)
        self.l_lanes = lanes
        q_lane = self.l_cap / lanes
        kc = q_lane / self.l_vf
        if np.any(kj <= kc * 1.05):
            bad = int(np.argmax(kc - kj))
            raise InputError(
                "jam_density_pcu_km",
                f"{p.jam_density_pcu_km:g} PCU/km is below the critical density of link {bad} "
                f"({kc[bad] * 1000:.0f} PCU/km)",
                hint="raise jam_density_pcu_km or lower that link's capacity",
            )
        w = q_lane / (kj - kc)
        self.wave_ms = w
        self.l_storage = np.maximum(kj * self.l_len * lanes, 2.5)
        lag = np.maximum(1, np.round(self.l_len / w / self.dt)).astype(np.int64)
        self.hist_len = lag + 1
        self.hist_off = np.zeros(m, dtype=np.int64)
        np.cumsum(self.hist_len[:-1], out=self.hist_off[1:])
        self.hist = np.zeros(int(self.hist_len.sum()))
        self.hist_pos = np.zeros(m, dtype=np.int64)
        # junctions, turns, signals
        nbr = pd.DataFrame({"a": np.minimum(a.u, a.v), "b": np.maximum(a.u, a.v)}).drop_duplicates()
        deg = np.bincount(np.concatenate([nbr["a"], nbr["b"]]), minlength=self.network.n_nodes)
        self.l_junction = deg[a.v] >= 3
        # expected uncongested time of a link: free flow plus a straight crossing of its upstream junction
        self.base_time = self.free_time + np.where(deg[a.u] >= 3, p.junctions.straight_s, 0.0)
        xy = local_metres(self.network.nodes["x"].to_numpy(), self.network.nodes["y"].to_numpy())
        d = xy[a.v] - xy[a.u]
        self.l_bearing = np.arctan2(d[:, 0], d[:, 1])
        sig = self.network.nodes["signal"].to_numpy(dtype=bool)
        ns = np.abs(np.cos(self.l_bearing)) >= np.abs(np.sin(self.l_bearing))
        self.l_phase = np.where(sig[a.v], np.where(ns, 0, 1), -1).astype(np.int64)
        j = p.junctions
        node_offset = self.rng.random(self.network.n_nodes) * j.signal_cycle_s
        self.l_offset = node_offset[a.v]
        self.signal = np.array([j.signal_cycle_s, (j.signal_cycle_s - j.lost_time_s) / 2.0])
        self.turn_delays = np.array([j.straight_s, j.right_s, j.left_s, j.uturn_s])
        # junction capacity: at unsignalised junctions the two approach axes (by bearing, as the
        # signal groups) time-share the crossing; the signal does it at signalised ones
        crossing = self.l_junction & ~sig[a.v] & j.crossing_conflicts
        self.l_axis = np.where(crossing, np.where(ns, 0, 1), -1).astype(np.int64)
        self.x_busy = np.zeros((self.network.n_nodes, 2))
        self.x_since = np.zeros((self.network.n_nodes, 2), dtype=np.int64)
        self.x_seen = np.full((self.network.n_nodes, 2), -10, dtype=np.int64)
        # dynamic link state
        self.l_closed = np.zeros(m, dtype=bool)
        self.l_head = np.full(m, -1, dtype=np.int64)
        self.l_head_ready = np.full(m, np.inf)
        self.l_tail = np.full(m, -1, dtype=np.int64)
        self.l_count = np.zeros(m, dtype=np.int64)
        self.w_head = np.full(m, -1, dtype=np.int64)
        self.w_tail = np.full(m, -1, dtype=np.int64)
        self.n_up = np.zeros(m)
        self.n_down = np.zeros(m)
        self.out_allow = np.zeros(m)
        self.in_allow = np.zeros(m)
        self.cand = np.zeros(2 * m, dtype=np.int64)
        n_bins = math.ceil(p.horizon_s / p.bin_s)
        self.st_in = np.zeros((n_bins, m))
        self.st_out = np.zeros((n_bins, m))
        self.st_tt = np.zeros((n_bins, m))
        self.st_occ = np.zeros((n_bins, m))
        self.st_queue = np.zeros((n_bins, m))
        self.queue_every = max(1, round(60.0 / self.dt))
        self.kernel_rng = np.array([np.uint64(self.rng.integers(1, 2**63))], dtype=np.uint64)
        self.counters = np.zeros(kn.N_COUNTERS, dtype=np.int64)

    def _init_fleet(self) -> None:
        trips = self.trips
        for col in ("origin", "dest", "depart_s", "mode"):
            if col not in trips.columns:
                raise InputError(
                    f"trips.{col}", "missing column", hint="trips need origin, dest, depart_s, mode"
                )
        modes = trips["mode"].astype(str).to_numpy()
        unknown = sorted(set(modes) - set(self.params.vehicles))
        if unknown:
            raise InputError(
                "trips.mode", f"vehicle classes {unknown} have no parameters", hint="add them to `vehicles`"
            )
        n_nodes = self.network.n_nodes
        o = trips["origin"].to_numpy(dtype=np.int64)
        d = trips["dest"].to_numpy(dtype=np.int64)
        if len(o) and (min(o.min(), d.min()) < 0 or max(o.max(), d.max()) >= n_nodes):
            raise InputError(
                "trips.origin",
                f"node ids must be within 0..{n_nodes - 1}",
                hint="use node ids of this network",
            )
        dep = trips["depart_s"].to_numpy(dtype=np.float64)
        if len(dep) and (dep.min() < 0 or not np.isfinite(dep).all()):
            raise InputError(
                "trips.depart_s",
                "departure times must be finite and >= 0",
                hint="give seconds after the start",
            )
        code = {m: i for i, m in enumerate(MODES)}
        mode = np.array([code[m] for m in modes], dtype=np.int8) if len(modes) else np.zeros(0, np.int8)
        self.dest_nodes, row = np.unique(d, return_inverse=True)
        pcu_of = np.array([self.params.vehicles[m].pcu if m in self.params.vehicles else 1.0 for m in MODES])
        v_of = np.array(
            [self.params.vehicles[m].speed_kmh / 3.6 if m in self.params.vehicles else 1.0 for m in MODES]
        )
        creep_of = np.array(
            [self.params.vehicles[m].creep_kmh / 3.6 if m in self.params.vehicles else 0.0 for m in MODES]
        )
        self.fleet = Fleet.create(
            depart=dep,
            pcu=pcu_of[mode],
            vmax=v_of[mode],
            creep=creep_of[mode],
            origin=o,
            dest=d,
            row=row.astype(np.int64),
            mode=mode,
        )

    # -- closures and routing -------------------------------------------------------------------
    def _closed_at(self, t: float) -> npt.NDArray[np.bool_]:
        closed = np.zeros(self.network.n_links, dtype=bool)
        for t0, t1, ids in self.closures:
            if t0 <= t < t1:
                closed[ids] = True
        return closed

    def refresh_routes(self, cost: F8) -> None:
        """Recompute the least-cost tables on `cost` (and the current closures) and steer by them."""
        self.router.to_destinations(self.dest_nodes, cost, closed=self.l_closed, out=self.dist)
        self.l_cost[:] = cost
        self.cost_used = cost
        self.last_route_t = self.t

    def current_costs(self) -> tuple[F8, float]:
        """Return link costs from recent travel times and queues, and their flow-weighted change.

        A link's cost is its uncongested time plus the delay observed since the last routing (mean
        travel time of the vehicles that left it, or the time to discharge its current queue,
        whichever is larger). Delays under ``routing.indifference`` of the uncongested time are
        ignored: drivers do not perceive them, and chasing them turns ties into herds.
        """
        b0 = min(int(self.last_route_t / self.params.bin_s), self.st_out.shape[0] - 1)
        b1 = max(min(int(self.t / self.params.bin_s), self.st_out.shape[0]), b0 + 1)
        exits = self.st_out[b0:b1].sum(axis=0)
        tt = np.divide(self.st_tt[b0:b1].sum(axis=0), exits, out=self.base_time.copy(), where=exits > 0)
        queue = kn.queue_lengths(self.l_head, self.fleet.hot, self.t)
        mean_pcu = float(self.fleet.pcu.mean()) if len(self.fleet) else 1.0
        delay = np.maximum(tt, self.free_time + queue * mean_pcu / self.l_cap) - self.base_time
        delay = np.where(delay > self.params.routing.indifference * self.base_time, delay, 0.0)
        cost = self.base_time + delay
        flow = self.st_in[b0:b1].sum(axis=0) + self.l_count
        den = float((flow * self.cost_used).sum())
        change = float((flow * np.abs(cost - self.cost_used)).sum() / den) if den > 0 else 0.0
        return cost, change

    # -- stepping -------------------------------------------------------------------------------
    def recent_speed_kmh(self) -> float:
        """Return the space-mean speed on the network in the current 5-min bin (Edie's definition).

        Distance of the links left in the bin over the time every vehicle spent on a link in it,
        stuck ones included, so a jam reads as slow even when hardly anyone leaves a link.
        """
        b = min(int(max(self.t - self.dt, 0.0) / self.params.bin_s), self.st_out.shape[0] - 1)
        occ = float(self.st_occ[b].sum())
        return float((self.st_out[b] * self.l_len).sum() / occ * 3.6) if occ > 0 else float("nan")

    def blocked(self) -> tuple[I8, I8, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Return `kernel.blocked_heads` now: why heads wait, for what, locked links, cycle links."""
        lk, ls, fl, ctl, _ = self.kernel_state
        return kn.blocked_heads(self.step_index, self.t, lk, ls, fl, ctl._replace(rng=ctl.rng.copy()))

    def step(self) -> None:
        """Advance one mesa step (``params.step_s``): closures, routing decisions, then the kernel."""
        closed = self._closed_at(self.t)
        self.closure_changed = bool((closed != self.l_closed).any())
        if self.closure_changed:
            self.l_closed[:] = closed
            self.refresh_routes(self.cost_used)
        period = self.params.routing.period_s
        if self.t > 0 and (self.t + 1e-9) % period < self.dt * self.steps_per_tick - 1e-9:
            self.guidance.step()
        n = min(self.steps_per_tick, math.ceil(self.params.horizon_s / self.dt) - self.step_index)
        kn.advance(self.step_index, n, self.dt, *self.kernel_state)
        self.step_index += n
        self.t = self.step_index * self.dt
        self.datacollector.collect(self)
        if self.step_index >= math.ceil(self.params.horizon_s / self.dt):
            self.running = False

    def _kernel_state(self) -> tuple[kn.Links, kn.LinkState, kn.Vehicles, kn.Control, kn.Stats]:
        """Return the kernel's named state groups; they share the model's arrays (updated in place)."""
        f = self.fleet
        links = kn.Links(
            u=self.link_u, v=self.link_v, length=self.l_len, vf=self.l_vf, cap=self.l_cap,
            storage=self.l_storage, phase=self.l_phase, offset=self.l_offset, bearing=self.l_bearing,
            junction=self.l_junction, axis=self.l_axis, adj_ptr=self.router.adj_ptr,
            adj_link=self.router.adj_link, hist_off=self.hist_off, hist_len=self.hist_len,
            lanes=self.l_lanes, overtake=self.l_lanes >= 2,
        )  # fmt: skip
        state = kn.LinkState(
            closed=self.l_closed, cost=self.l_cost, head=self.l_head, head_ready=self.l_head_ready,
            tail=self.l_tail, n_on=self.l_count,
            w_head=self.w_head, w_tail=self.w_tail, n_up=self.n_up, n_down=self.n_down,
            out_allow=self.out_allow, in_allow=self.in_allow, hist=self.hist, hist_pos=self.hist_pos,
            x_busy=self.x_busy, x_since=self.x_since, x_seen=self.x_seen, cand=self.cand,
            n_creep=np.zeros(len(self.l_len), dtype=np.int64),
        )  # fmt: skip
        vehicles = kn.Vehicles(
            hot=f.hot, state=f.state, origin=f.origin, depart=f.depart, arrive=f.arrive,
            dep_order=f.dep_order, dep_ptr=np.zeros(1, dtype=np.int64),
        )  # fmt: skip
        control = kn.Control(
            dist=self.dist, signal=self.signal, turn_delays=self.turn_delays,
            spill_penalty=float(self.params.routing.spill_penalty_s),
            teleport_s=float(self.params.teleport_s or 0.0), rng=self.kernel_rng,
            jam_pcu_m=float(self.params.jam_density_pcu_km) / 1000.0,
        )  # fmt: skip
        stats = kn.Stats(
            counters=self.counters, bin_s=float(self.params.bin_s), inflow=self.st_in, outflow=self.st_out,
            travel_time=self.st_tt, occupancy=self.st_occ, queue=self.st_queue, queue_every=self.queue_every,
        )  # fmt: skip
        return links, state, vehicles, control, stats

    def run(self, progress: Progress | None = None) -> None:
        """Step until the horizon, reporting progress."""
        while self.running:
            self.step()
            if progress is not None:
                progress(self.t / self.params.horizon_s, f"t = {self.t / 60:.0f} min")

    def conservation(self) -> dict[str, int]:
        """Return entered, arrived and on-network counts, recounted from the state arrays."""
        st = self.fleet.state
        return {
            "entered": int(self.counters[kn.C_ENTERED]),
            "arrived": int((st == kn.ARRIVED).sum()),
            "on_network": int((st == kn.ON_LINK).sum()),
            "on_links": int(self.l_count.sum()),
            "waiting": int((st == kn.WAITING).sum()),
        }


def run(
    params: TrafficParams,
    seed: int,
    progress: Progress | None = None,
    *,
    network: RoadNetwork,
    cells: gpd.GeoDataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
    trips: pd.DataFrame | None = None,
) -> RunResult:
    """Run one traffic simulation and return its `RunResult`.

    Parameters
    ----------
    params
        Parameters and scenario changes.
    seed
        Seed of demand sampling and of the model; the same inputs and seed give the same result.
    progress
        Called with (fraction done, message).
    network
        The road network (before the scenario's edits).
    cells
        H3 cells (index hex string) with ``population`` and ``attractiveness``; required unless
        `trips` is given; also used for the per-cell outputs.
    wards
        Ward polygons indexed by code (for ward selectors in the scenario).
    trips
        Explicit trips (origin, dest, depart_s, mode) instead of synthesised demand.
    """
    t_start = time.perf_counter()
    if trips is None and cells is None:
        raise InputError("cells", "are needed to generate demand", hint="pass cells or explicit trips")
    applied = apply(params, network, wards=wards, cells=cells)
    rng = np.random.default_rng(seed)
    if trips is None:
        assert cells is not None
        trips = synthesize(params, applied.network, cells, rng)
    if progress is not None:
        progress(0.0, f"{len(trips):,} trips")
    model = TrafficModel(params, applied.network, trips, seed=seed, closures=applied.closures)
    t_setup = time.perf_counter() - t_start
    model.run(progress)
    meta: dict[str, Any] = {
        "setup_s": round(t_setup, 3),
        "wall_s": round(time.perf_counter() - t_start, 3),
        "edits": applied.edits,
        "network": applied.network.provenance.to_dict(),
    }
    return build_result(model, params, seed, cells=cells, meta=meta)
