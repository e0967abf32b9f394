"""Turn a finished traffic model into tidy tables, map layers and KPIs (a `RunResult`).

Tables: ``links_5min`` (per link per bin: ``state`` closed / flowing / no_flow, flow, speed — none
where nothing flowed or the link was closed —, density, queue, travel time), ``cells_5min``
(per H3 cell per bin: a congestion index, the travel-time index weighted by vehicle-km), ``trips``
(per trip: times, delay, distance, status), ``timeseries`` (the DataCollector's model variables) and
``zones`` (per origin node). Layers: ``links`` (whole-run aggregates, ``closed_any`` and the first
closure window ``closed_from_s``/``closed_until_s``) and ``cells``. Every table
and layer carries `twin.provenance` with source "simulated".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from simulations.results import RunResult
from twin import h3grid, provenance
from twin.crs import WGS84
from twin.provenance import Provenance

from . import kernel as kn
from .params import MODES, TrafficParams

if TYPE_CHECKING:
    from .model import TrafficModel

STATUS = {kn.PENDING: "not_departed", kn.WAITING: "waiting", kn.ON_LINK: "en_route", kn.ARRIVED: "arrived",
          kn.UNROUTABLE: "unroutable"}  # fmt: skip
MODEL_NAME = "link transmission model (Yperman 2007), vehicle-discrete, with junction delays"


def _clock(params: TrafficParams, seconds: npt.ArrayLike) -> list[str]:
    t = (params.start_s + np.asarray(seconds, dtype=np.float64).astype(np.int64)) % 86_400
    minute = t // 60  # format each distinct minute once (there are at most 1,440)
    uniq, inv = np.unique(minute, return_inverse=True)
    labels = np.array([f"{m // 60:02d}:{m % 60:02d}" for m in uniq.tolist()], dtype=object)
    return list(labels[inv.reshape(-1)])


def _prov(name: str, params: TrafficParams, seed: int, description: str) -> Provenance:
    return Provenance(
        name=name, source="simulated", licence="CC-BY-4.0", description=description,
        params={"scenario": params.name, "seed": seed, "model": MODEL_NAME},
    )  # fmt: skip


def build_result(
    model: TrafficModel,
    params: TrafficParams,
    seed: int,
    *,
    cells: gpd.GeoDataFrame | None,
    meta: dict[str, Any],
) -> RunResult:
    """Assemble the `RunResult` of a finished model."""
    f = model.fleet
    net = model.network
    horizon = params.horizon_s
    free = f.ff
    arrived = f.state == kn.ARRIVED
    tt = np.where(arrived, f.arrive - f.depart, np.nan)
    trips = pd.DataFrame({
        "trip_id": np.arange(len(f)),
        "mode": np.asarray(MODES, dtype=object)[f.mode] if len(f) else np.zeros(0, object),
        "kind": model.trips.get("kind", pd.Series("given", index=model.trips.index)).to_numpy(),
        "origin_node": f.origin, "dest_node": f.dest,
        "origin_cell": model.trips.get("origin_cell", pd.Series("", index=model.trips.index)).to_numpy(),
        "dest_cell": model.trips.get("dest_cell", pd.Series("", index=model.trips.index)).to_numpy(),
        "depart_s": f.depart, "entered_s": f.entered, "arrive_s": f.arrive, "travel_time_s": tt,
        "free_flow_time_s": free, "shortest_time_s": model.shortest_time, "delay_s": tt - free,
        "distance_m": f.dist,
        "completed": arrived, "status": [STATUS[int(s)] for s in f.state],
    })  # fmt: skip
    trips["depart_local"] = _clock(params, f.depart)
    provenance.attach(trips, _prov("traffic_trips", params, seed, "simulated trips"))
    # links per bin
    nb, m = model.st_in.shape
    bin_s = params.bin_s
    widths = np.minimum(bin_s, horizon - np.arange(nb) * bin_s)[:, None]
    exits = model.st_out
    mean_tt = np.divide(model.st_tt, exits, out=np.full_like(exits, np.nan), where=exits > 0)
    length = model.l_len[None, :]
    occ = model.st_occ / widths  # mean vehicles on the link
    closed = closed_per_bin(model.closures, nb, m, bin_s, horizon)
    # A speed only where vehicles left the link in the bin: no flow (or a closed link) has none,
    # never the free-flow speed (a closed bridge is not a free-flowing one).
    speed = np.where((exits > 0) & ~closed, length / np.where(exits > 0, mean_tt, 1.0) * 3.6, np.nan)
    bins = np.repeat(np.arange(nb), m)
    links_5min = pd.DataFrame({
        "bin": bins, "t_start_s": bins * bin_s, "link_id": np.tile(np.arange(m), nb),
        "state": np.where(closed, "closed", np.where(exits > 0, "flowing", "no_flow")).ravel(),
        "closed": closed.ravel(),
        "inflow_veh": model.st_in.ravel(), "outflow_veh": exits.ravel(),
        "flow_veh_h": (exits / widths * 3600.0).ravel(), "speed_kmh": speed.ravel(),
        "density_veh_km": (occ / length * 1000.0 / net.links["lanes"].to_numpy()[None, :]).ravel(),
        "vehicles": occ.ravel(), "queue_veh": (model.st_queue / widths).ravel(),
        "travel_time_s": mean_tt.ravel(),
    })  # fmt: skip
    links_5min["t_local"] = np.array(_clock(params, np.arange(nb) * bin_s))[bins]
    provenance.attach(links_5min, _prov("traffic_links_5min", params, seed, "per link per 5 min"))
    blocked = blocking(model)
    # links layer
    vkm = (exits * length / 1000.0).sum(axis=0)
    vh = model.st_tt.sum(axis=0) / 3600.0
    mean_speed = np.divide(vkm, vh, out=np.full(m, np.nan), where=vh > 0)
    min_speed = np.nanmin(np.where(np.isnan(speed), np.inf, speed), axis=0) if nb else np.full(m, np.inf)
    min_speed = np.where(np.isfinite(min_speed), min_speed, np.nan)
    links_layer = gpd.GeoDataFrame(
        {
            "name": net.links["name"].to_numpy(), "road_class": net.links["road_class"].to_numpy(),
            "volume_veh": exits.sum(axis=0), "peak_flow_veh_h": (exits / widths * 3600).max(axis=0),
            "mean_speed_kmh": mean_speed, "min_speed_kmh": min_speed,
            "free_speed_kmh": _mix_free_speed(model) * 3.6,
            "speed_ratio": np.minimum(mean_speed / (_mix_free_speed(model) * 3.6), 1.0),
            "max_queue_veh": (model.st_queue / widths).max(axis=0),
            "closed_any": closed.any(axis=0) if nb else np.zeros(m, dtype=bool),
            "closed_bins": closed.sum(axis=0) if nb else np.zeros(m, dtype=np.int64),
            "closed_from_s": _first_closed_s(model.closures, m, 0),
            "closed_until_s": _first_closed_s(model.closures, m, 1),
            "blocked_at_end": blocked.why, "locked_at_end": blocked.locked,
            "in_spillback_cycle": blocked.on_cycle,
        },
        geometry=net.links.geometry.to_numpy(), crs=WGS84, index=pd.RangeIndex(m, name="link_id"),
    )  # fmt: skip
    provenance.attach(links_layer, _prov("traffic_links", params, seed, "whole-run link aggregates"))
    cells_5min, cells_layer = _cells(model, params, seed, exits=exits, mean_tt=mean_tt, cells=cells)
    ts = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    ts["t_local"] = _clock(params, ts["time_s"].to_numpy(dtype=np.float64))
    zones = pd.DataFrame(
        [{"node": z.node, "trips": len(z.vehicles), "departed": z.departed, "arrived": z.arrived,
          "mean_trip_time_s": z.mean_trip_time_s} for z in model.zones]
    )  # fmt: skip
    kpis = trip_kpis(model, horizon)
    kpis["max_queue_veh"] = float(links_layer["max_queue_veh"].max()) if m else 0.0
    kpis["route_refreshes"] = float(model.guidance.refreshes)
    kpis["teleports"] = float(model.counters[kn.C_TELEPORTS])
    kpis.update(blocked.kpis)
    wall = float(meta.get("wall_s", 0.0))
    kpis["wall_s"] = wall
    veh_s = kpis["total_time_in_system_h"] * 3600.0
    kpis["vehicle_seconds_per_wall_s"] = veh_s / wall if wall > 0 else float("nan")
    meta = {
        **meta,
        "model": MODEL_NAME,
        "synthetic": True,
        "source": "simulated",
        "kpi_definitions": KPI_DEFINITIONS,
        "gridlock": blocked.summary,
    }
    return RunResult(
        kind="traffic", params=params.to_dict(), seed=int(seed), kpis=kpis,
        tables={"links_5min": links_5min, "cells_5min": cells_5min, "trips": trips, "timeseries": ts,
                "zones": zones},
        layers={"links": links_layer, "cells": cells_layer}, meta=meta,
    )  # fmt: skip


def closed_per_bin(
    closures: list[tuple[float, float, npt.NDArray[np.int64]]], nb: int, m: int, bin_s: float, horizon: float
) -> npt.NDArray[np.bool_]:
    """Return (bins × links) whether each link was closed at any time during each bin.

    `closures` are (start, end, link ids) in seconds from the simulation start, as the model holds them.
    """
    closed = np.zeros((nb, m), dtype=bool)
    t0 = np.arange(nb) * bin_s
    t1 = np.minimum(t0 + bin_s, horizon)
    for start, end, ids in closures:
        hit = (t0 < end) & (t1 > start)
        closed[np.ix_(hit, np.asarray(ids, dtype=np.int64))] = True
    return closed


def _first_closed_s(
    closures: list[tuple[float, float, npt.NDArray[np.int64]]], m: int, which: int
) -> npt.NDArray[np.float64]:
    """Return, per link, the start (`which` 0) or end (1) of its first closure; NaN if never closed."""
    out = np.full(m, np.nan)
    for window in sorted(closures, key=lambda c: c[0], reverse=True):
        out[np.asarray(window[2], dtype=np.int64)] = window[which]
    return out


#: What each KPI covers. "completed trips" figures say nothing about the trips still under way; in
#: gridlock read them with ``completed_share`` and the all-trip figures (time in system, delay,
#: vehicle-hours), which only grow with demand.
KPI_DEFINITIONS: dict[str, str] = {
    "trips": "all trips of the run",
    "completed": "trips that arrived by the horizon",
    "completed_share": "completed / trips",
    "not_arrived_share": "1 - completed_share: trips not arrived by the horizon (any reason)",
    "unroutable": "trips with no path from origin to destination",
    "en_route_at_end": "vehicles on a link of the network at the horizon",
    "not_departed": "vehicles that never entered the network by the horizon "
    "(waiting_to_enter_at_end + scheduled after the horizon)",
    "waiting_to_enter_at_end": "vehicles whose departure time had passed but found no room on their first "
    "link by the horizon (SUMO: waiting for insertion)",
    "total_time_in_system_h": "all trips, from the scheduled departure to arrival or the horizon, "
    "incl. waiting to enter and unfinished trips (as SUMO's statistics with unfinished trips)",
    "mean_time_in_system_s": "total_time_in_system_h / trips departing before the horizon, in s",
    "vehicle_hours": "time spent on the network by every vehicle (arrived or not), up to the horizon",
    "departure_delay_h": "time spent waiting to enter the network (SUMO: departDelay), all trips",
    "total_delay_h": "all trips: time in system minus the free-flow time of the distance covered, "
    "incl. waiting to enter and unfinished trips",
    "vehicle_km": "distance driven by every vehicle on the network up to the horizon, incl. the part of "
    "the link it is on",
    "mean_speed_kmh": "vehicle_km / vehicle_hours: space-mean speed over everything on the network",
    "mean_trip_time_s": "completed trips only: mean travel time (departure to arrival)",
    "median_trip_time_s": "completed trips only",
    "p95_trip_time_s": "completed trips only",
    "mean_delay_s": "completed trips only: mean of travel time minus own free-flow time",
    "mean_distance_km": "completed trips only",
    "max_queue_veh": "longest 5-min mean queue on any link",
    "route_refreshes": "times the route tables were recomputed",
    "teleports": "SUMO-like jumps over jams (teleport_s; off by default)",
    "gridlock": "1 if at the horizon a spillback cycle holds: links full by their own counts whose heads "
    "each wait for the next (they never move again); else 0. meta.gridlock says why in words",
    "gridlock_since_s": "start of the last stretch of mesa steps with a spillback cycle, up to the "
    "horizon (NaN without gridlock)",
    "spillback_cycles": "closed chains of full links waiting on each other at the horizon",
    "links_in_spillback_cycles": "links on those cycles",
    "vehicles_locked_at_end": "vehicles on links that are on a spillback cycle or queue into one, "
    "at the horizon",
    "heads_blocked_by_full_link_at_end": "links whose ready head waits for a full out-link at the horizon "
    "(spillback, in a cycle or not)",
    "heads_held_by_junction_conflict_at_end": "links whose ready head waits because the crossing axis holds "
    "the unsignalised junction, at the horizon",
    "heads_at_red_signal_at_end": "links whose ready head waits at a red signal, at the horizon",
    "heads_with_no_open_way_at_end": "links whose ready head has no open out-link to its destination "
    "(closures), at the horizon",
    "wall_s": "wall time of the run (set-up, simulation, outputs)",
    "vehicle_seconds_per_wall_s": "total time in system (s) simulated per wall second",
}


def trip_kpis(model: TrafficModel, horizon: float) -> dict[str, float]:
    """Return the trip and network KPIs of `KPI_DEFINITIONS` (see there for what each covers).

    Every trip counts: vehicles still on a link or waiting to enter at the horizon add their time
    so far to time in system, delay and vehicle-hours, so these never fall as demand grows.
    """
    f = model.fleet
    n = len(f)
    st = f.state
    arrived = st == kn.ARRIVED
    on_link = st == kn.ON_LINK
    waiting = st == kn.WAITING
    released = arrived | on_link | waiting  # departure time passed, and routable
    done = int(arrived.sum())
    end = np.where(arrived, np.minimum(f.arrive, horizon), horizon)
    in_system = np.where(released, np.clip(end - f.depart, 0.0, None), 0.0)
    entered = arrived | on_link
    t0 = np.where(entered, f.entered, end)
    on_net = np.where(entered, np.clip(end - t0, 0.0, None), 0.0)
    # free-flow time and distance of what each vehicle covered: whole links left, plus the share of
    # the link it is on (at its free-flow run: past its ready time it waits at the link's end)
    hot = f.hot
    cur = kn.vehicle_links(model.l_head, hot)
    has = cur >= 0
    ready = hot[:, kn.V_READY]
    run = np.where(has, model.l_len[cur] / np.minimum(model.l_vf[cur], f.vmax), 0.0)
    left_ff = np.where(has, np.clip(ready - horizon, 0.0, run), 0.0)  # free-flow time not yet driven
    part = np.where(has & (run > 0), 1.0 - left_ff / np.where(run > 0, run, 1.0), 0.0)
    km = (f.dist + np.where(has, part * model.l_len[np.maximum(cur, 0)], 0.0)) / 1000.0
    ff_done = np.where(arrived, f.ff, f.ff - left_ff)
    delay = np.where(released, np.clip(in_system - np.where(entered, ff_done, 0.0), 0.0, None), 0.0)
    vh = float(on_net.sum()) / 3600.0
    vkm = float(km[entered].sum())
    tt = (f.arrive - f.depart)[arrived]
    n_rel = int(released.sum())
    nan = float("nan")
    return {
        "trips": float(n), "completed": float(done), "completed_share": done / n if n else nan,
        "not_arrived_share": 1.0 - done / n if n else nan,
        "unroutable": float((st == kn.UNROUTABLE).sum()),
        "en_route_at_end": float(on_link.sum()),
        "not_departed": float((waiting | (st == kn.PENDING)).sum()),
        "waiting_to_enter_at_end": float(waiting.sum()),
        "total_time_in_system_h": float(in_system.sum()) / 3600.0,
        "mean_time_in_system_s": float(in_system.sum()) / n_rel if n_rel else nan,
        "vehicle_hours": vh,
        "departure_delay_h": float((in_system - on_net)[released].sum()) / 3600.0,
        "total_delay_h": float(delay.sum()) / 3600.0,
        "vehicle_km": vkm,
        "mean_speed_kmh": vkm / vh if vh > 0 else nan,
        "mean_trip_time_s": float(tt.mean()) if done else nan,
        "median_trip_time_s": float(np.median(tt)) if done else nan,
        "p95_trip_time_s": float(np.percentile(tt, 95)) if done else nan,
        "mean_delay_s": float((tt - f.ff[arrived]).mean()) if done else nan,
        "mean_distance_km": float(f.dist[arrived].mean() / 1000) if done else nan,
    }  # fmt: skip


#: Words for `kernel.blocked_heads`' reasons, as the links layer's ``blocked_at_end`` shows them.
BLOCKED = {kn.B_FREE: "", kn.B_FULL: "full_out_link", kn.B_CROSSING: "junction_conflict",
           kn.B_SIGNAL: "red_signal", kn.B_NO_WAY: "no_open_way"}  # fmt: skip


class Blocking(NamedTuple):
    """Why traffic stands at the horizon: per link (reason, locked, on a cycle), KPIs and one sentence."""

    why: npt.NDArray[np.object_]
    locked: npt.NDArray[np.bool_]
    on_cycle: npt.NDArray[np.bool_]
    kpis: dict[str, float]
    summary: str


def blocking(model: TrafficModel) -> Blocking:
    """Return why the link heads that could leave at the horizon cannot, and whether it is gridlock.

    A head waits for a full out-link (spillback), for the crossing of an unsignalised junction
    held by the other axis (junction conflict), at a red signal, or has no open way (closures). A
    spillback cycle is a closed chain of links, each full by its own counts and its head waiting
    for the next: nothing on it or queued into it moves again (without teleports), which is what
    gridlock means; low completion without a cycle is queueing that would still clear.
    """
    why, waits_for, locked, on_cycle = model.blocked()
    n_locked = float(model.l_count[locked].sum())
    counts = {r: float((why == r).sum()) for r in BLOCKED}
    cycles, seen = 0, np.zeros(len(why), dtype=bool)
    for start in np.flatnonzero(on_cycle).tolist():
        if not seen[start]:  # walk the cycle once
            cycles += 1
            x = start
            while not seen[x]:
                seen[x] = True
                x = int(waits_for[x])
    ts = model.datacollector.get_model_vars_dataframe()
    free = np.flatnonzero(ts["locked_vehicles"].to_numpy() == 0)  # the lock's last uninterrupted stretch
    since = float(ts["time_s"].iloc[free[-1] + 1]) if cycles and len(free) < len(ts) else float("nan")
    since = float(ts["time_s"].iloc[0]) if cycles and not len(free) else since
    kpis = {
        "gridlock": 1.0 if cycles else 0.0,
        "gridlock_since_s": since,
        "spillback_cycles": float(cycles),
        "links_in_spillback_cycles": float(on_cycle.sum()),
        "vehicles_locked_at_end": n_locked,
        "heads_blocked_by_full_link_at_end": counts[kn.B_FULL],
        "heads_held_by_junction_conflict_at_end": counts[kn.B_CROSSING],
        "heads_at_red_signal_at_end": counts[kn.B_SIGNAL],
        "heads_with_no_open_way_at_end": counts[kn.B_NO_WAY],
    }
    waits = (
        f"{counts[kn.B_FULL]:,.0f} link heads wait for a full out-link (spillback), "
        f"{counts[kn.B_CROSSING]:,.0f} for a junction crossing held by the other axis (junction conflict), "
        f"{counts[kn.B_SIGNAL]:,.0f} at a red signal, {counts[kn.B_NO_WAY]:,.0f} have no open way (closures)"
    )
    if cycles:
        summary = (
            f"gridlock since t = {since:,.0f} s: {cycles} spillback cycle(s) of {int(on_cycle.sum())} full "
            f"links whose heads wait for each other lock {n_locked:,.0f} vehicles at the horizon (on the "
            "cycles and queued into them); " + waits
        )
    else:
        summary = "no gridlock at the horizon (no spillback cycle); " + waits
    return Blocking(np.array([BLOCKED[int(r)] for r in why], dtype=object), locked, on_cycle, kpis, summary)


def _mix_free_speed(model: TrafficModel) -> npt.NDArray[np.float64]:
    """Return each link's free-flow space-mean speed (m/s) for the run's vehicle mix.

    A motorbike at 40 km/h on a 60 km/h road is not congested; comparing with the limit would say so.
    """
    f = model.fleet
    counts = np.bincount(f.mode, minlength=len(MODES)).astype(np.float64)
    if counts.sum() == 0:
        return model.l_vf
    share = counts / counts.sum()
    vmax = np.array(
        [model.params.vehicles[m].speed_kmh / 3.6 if m in model.params.vehicles else 1.0 for m in MODES]
    )
    pace = sum(share[i] / np.minimum(model.l_vf, vmax[i]) for i in range(len(MODES)) if share[i] > 0)
    return np.asarray(1.0 / pace, dtype=np.float64)


def _cells(
    model: TrafficModel,
    params: TrafficParams,
    seed: int,
    *,
    exits: npt.NDArray[np.float64],
    mean_tt: npt.NDArray[np.float64],
    cells: gpd.GeoDataFrame | None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Aggregate links to H3 cells: the travel-time index weighted by vehicle-km, per bin."""
    net = model.network
    res = params.res
    mid = shapely.line_interpolate_point(net.links.geometry.to_numpy(), 0.5, normalized=True)
    link_cell = np.asarray(h3grid.to_str(h3grid.latlng_to_cells(shapely.get_y(mid), shapely.get_x(mid), res)))
    uniq, inv = np.unique(link_cell, return_inverse=True)
    nb = exits.shape[0]
    free = model.l_len / _mix_free_speed(model)
    tti = np.maximum(np.where(exits > 0, mean_tt / free[None, :], 1.0), 1.0)
    w = exits * model.l_len[None, :] / 1000.0  # vehicle-km
    k = len(uniq)
    wsum = np.zeros((nb, k))
    tsum = np.zeros((nb, k))
    for b in range(nb):
        wsum[b] = np.bincount(inv, weights=w[b], minlength=k)
        tsum[b] = np.bincount(inv, weights=w[b] * tti[b], minlength=k)
    index = np.divide(tsum, wsum, out=np.ones_like(tsum), where=wsum > 0)
    bins = np.repeat(np.arange(nb), k)
    cells_5min = pd.DataFrame({
        "bin": bins, "t_start_s": bins * params.bin_s, "cell": np.tile(uniq, nb),
        "congestion_index": index.ravel(), "vehicle_km": wsum.ravel(),
    })  # fmt: skip
    cells_5min["t_local"] = np.array(_clock(params, np.arange(nb) * params.bin_s))[bins]
    provenance.attach(
        cells_5min,
        _prov("traffic_cells_5min", params, seed, "congestion index = vkm-weighted travel-time index"),
    )
    total_w = wsum.sum(axis=0)
    layer = gpd.GeoDataFrame(
        {
            "mean_congestion_index": np.divide(
                (index * wsum).sum(axis=0), total_w, out=np.ones(k), where=total_w > 0
            ),
            "peak_congestion_index": index.max(axis=0), "vehicle_km": total_w,
            "in_city_cells": np.isin(uniq, [] if cells is None else cells.index.astype(str)),
        },
        geometry=h3grid.cells_to_polygons(list(uniq)), crs=WGS84, index=pd.Index(uniq, name="cell"),
    )  # fmt: skip
    provenance.attach(layer, _prov("traffic_cells", params, seed, "whole-run congestion per H3 cell"))
    return cells_5min, layer
