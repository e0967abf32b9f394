"""Generate vehicle trips: a gravity model on H3 cells, a time-of-day profile, corridor through traffic.

Local trips leave each cell in proportion to its population and choose a destination cell with
probability proportional to ``attractiveness · exp(-distance / mean_trip_km)`` (a doubly
unconstrained gravity model; trips shorter than ``min_trip_m`` are walked and dropped). Departure
times follow the hourly profile over the departure window. Through traffic runs between the ends
("gateways") of the national corridors (QL1A, QL4A, QL4B, QL1B) with a truck share; a per-corridor
truck multiplier scales the border-trade trucks. Events add trips to and from a place.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from twin import h3grid
from twin.crs import local_metres
from twin.errors import InputError
from twin.network import RoadNetwork

from .params import MODES, PROFILES, TrafficParams

TRIP_COLUMNS = ("origin", "dest", "depart_s", "mode", "kind", "origin_cell", "dest_cell")
#: Cells farther than this from every node cannot reach the network.
MAX_SNAP_M = 1500.0
_THROUGH_MIX = {"car": 0.6, "motorbike": 0.3, "bus": 0.1}


def check_cells(cells: gpd.GeoDataFrame) -> None:
    """Raise `InputError` unless `cells` has the population and attractiveness columns."""
    missing = [c for c in ("population", "attractiveness") if c not in cells.columns]
    if missing:
        raise InputError("cells", f"lack columns {missing}", hint="pass City.cells(res)")
    for c in ("population", "attractiveness"):
        col = pd.to_numeric(cells[c], errors="coerce")
        if col.isna().any() or (col < 0).any():
            raise InputError(f"cells.{c}", "must be non-negative numbers", hint="fix the cell table")


def cell_centres(cells: gpd.GeoDataFrame) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return (lon, lat) of each cell's centre (index = H3 hex string)."""
    ll = np.array([h3grid.cell_to_latlng(str(c)) for c in cells.index], dtype=np.float64).reshape(-1, 2)
    return ll[:, 1], ll[:, 0]


def hourly_profile(params: TrafficParams) -> npt.NDArray[np.float64]:
    """Return the % of the day's trips by local hour: the profile times the demand's ``hourly`` factors."""
    prof = np.asarray(PROFILES[params.demand.profile], dtype=np.float64).copy()
    for hour, factor in params.demand.hourly.items():
        prof[int(hour)] *= factor
    return prof


def zone_factors(cells: gpd.GeoDataFrame, factors: dict[str, float], field: str) -> npt.NDArray[np.float64]:
    """Return per cell the product of the `factors` of the H3 cells containing it (1 where none does).

    Keys are H3 cells of any resolution up to the cells' own; an invalid or finer key is an
    `InputError` naming ``field.<key>``.
    """
    out = np.ones(len(cells))
    if not factors or not len(cells):
        return out
    ids = [str(c) for c in cells.index]
    res = h3grid.resolution(ids[0])
    parents: dict[int, npt.NDArray[np.object_]] = {}
    for key, factor in factors.items():
        if not h3grid.is_valid(key) or h3grid.resolution(key) > res:
            raise InputError(f"{field}.{key}", f"is not an H3 cell of resolution {res} or coarser",
                             hint="use the H3 id of a zone containing the demand's cells")  # fmt: skip
        r = h3grid.resolution(key)
        if r not in parents:
            parents[r] = np.array([h3grid.cell_to_parent(c, r) for c in ids], dtype=object)
        out[parents[r] == key] *= factor
    return out


def _departures(
    params: TrafficParams, n: int, rng: np.random.Generator, t0: float, t1: float
) -> npt.NDArray[np.float64]:
    """Sample `n` departure times (s after start) in [t0, t1) from the hourly profile."""
    if n == 0:
        return np.zeros(0)
    prof = hourly_profile(params)
    edges = np.arange(np.floor(t0 / 3600) * 3600, t1 + 3600, 3600.0)
    lo = np.maximum(edges[:-1], t0)
    hi = np.minimum(edges[1:], t1)
    keep = hi > lo
    lo, hi = lo[keep], hi[keep]
    hours = ((params.start_s + lo) // 3600).astype(int) % 24
    w = prof[hours] * (hi - lo)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1 / len(w))
    k = rng.choice(len(w), size=n, p=w)
    return np.sort(lo[k] + rng.random(n) * (hi[k] - lo[k]))


def profile_share(params: TrafficParams) -> float:
    """Return the share of the day's trips departing in the departure window."""
    prof = hourly_profile(params) / 100.0
    s = float(params.start_s)
    total = 0.0
    t = s
    end = s + params.departure_window_s
    while t < end:
        h = int(t // 3600)
        nxt = min((h + 1) * 3600.0, end)
        total += prof[h % 24] * (nxt - t) / 3600.0
        t = nxt
    return total


def _modes(params: TrafficParams, n: int, rng: np.random.Generator) -> npt.NDArray[np.object_]:
    names = [m for m in MODES if m in params.vehicles]
    p = np.array([params.vehicles[m].share for m in names])
    return np.asarray(names, dtype=object)[rng.choice(len(names), size=n, p=p / p.sum())]


def gateways(network: RoadNetwork, corridors: tuple[str, ...]) -> dict[str, list[int]]:
    """Return, per corridor found by name, its two end nodes (farthest apart along the corridor)."""
    xy = local_metres(network.nodes["x"].to_numpy(), network.nodes["y"].to_numpy())
    names = network.links["name"].astype(str).str.replace(r"[\s.]", "", regex=True).str.casefold()
    out: dict[str, list[int]] = {}
    centre = xy.mean(axis=0)
    for code in corridors:
        key = code.replace(" ", "").replace(".", "").casefold()
        sel = names.str.contains(key, regex=False).to_numpy()
        if not sel.any():
            continue
        nodes = np.unique(
            np.concatenate([network.links["u"].to_numpy()[sel], network.links["v"].to_numpy()[sel]])
        )
        a = nodes[np.argmax(np.hypot(*(xy[nodes] - centre).T))]
        b = nodes[np.argmax(np.hypot(*(xy[nodes] - xy[a]).T))]
        out[code] = [int(a), int(b)] if a != b else [int(a)]
    return out


def synthesize(
    params: TrafficParams,
    network: RoadNetwork,
    cells: gpd.GeoDataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Return the trips of a run: local gravity trips, through traffic and event trips.

    Columns: origin, dest (node ids), depart_s (s after start, sorted), mode, kind
    ("local" | "through" | "event"), origin_cell, dest_cell (H3 hex, "" for gateways).
    """
    check_cells(cells)
    d = params.demand
    window = params.departure_window_s
    parts: list[pd.DataFrame] = []
    lon, lat = cell_centres(cells)
    node = network.nearest_node(lon, lat) if len(cells) else np.zeros(0, dtype=np.int64)
    nxy = local_metres(network.nodes["x"].to_numpy(), network.nodes["y"].to_numpy())
    cxy = local_metres(lon, lat)
    snap = np.hypot(*(nxy[node] - cxy).T) if len(cells) else np.zeros(0)
    reach = snap <= MAX_SNAP_M
    pop = np.where(reach, cells["population"].to_numpy(dtype=np.float64), 0.0)
    attr = np.where(reach, cells["attractiveness"].to_numpy(dtype=np.float64), 0.0)
    pop = pop * zone_factors(cells, d.production, "demand.production")
    attr = attr * zone_factors(cells, d.attraction, "demand.attraction")
    n_local = int(rng.poisson(pop.sum() * d.trips_per_person_day * profile_share(params) * d.multiplier))
    oi = np.flatnonzero(pop > 0)
    di = np.flatnonzero(attr > 0)
    if n_local and len(oi) and len(di):
        dist = np.hypot(*(cxy[oi, None, :] - cxy[None, di, :]).transpose(2, 0, 1))
        w = attr[di][None, :] * np.exp(-dist / (d.mean_trip_km * 1000.0))
        w[(dist < d.min_trip_m) | (node[oi][:, None] == node[di][None, :])] = 0.0
        has = w.sum(axis=1) > 0
        oi, w = oi[has], w[has]
        if len(oi):
            cdf = np.cumsum(w, axis=1)
            cdf /= cdf[:, -1:]
            po = pop[oi] / pop[oi].sum()
            o_idx = rng.choice(len(oi), size=n_local, p=po)
            flat = (cdf + np.arange(len(oi))[:, None]).ravel()
            pick = np.searchsorted(flat, o_idx + rng.random(n_local), side="right") - o_idx * len(di)
            pick = np.minimum(pick, len(di) - 1)
            oc, dc = oi[o_idx], di[pick]
            parts.append(
                pd.DataFrame(
                    {
                        "origin": node[oc],
                        "dest": node[dc],
                        "depart_s": _departures(params, n_local, rng, 0.0, window),
                        "mode": _modes(params, n_local, rng),
                        "kind": "local",
                        "origin_cell": cells.index.to_numpy()[oc],
                        "dest_cell": cells.index.to_numpy()[dc],
                    }
                )
            )
    gates = gateways(network, d.corridors)
    ends = [(c, g) for c, gs in gates.items() for g in gs]
    if d.through_veh_h > 0 and len(ends) >= 2:
        n_thr = int(rng.poisson(d.through_veh_h * d.multiplier * window / 3600.0))
        a = rng.integers(0, len(ends), n_thr)
        b = (a + rng.integers(1, len(ends), n_thr)) % len(ends)
        truck = rng.random(n_thr) < d.through_truck_share
        names = list(_THROUGH_MIX)
        p = np.array(list(_THROUGH_MIX.values()))
        mode = np.where(truck, "truck", np.asarray(names, dtype=object)[rng.choice(len(names), n_thr, p=p)])
        reps = np.ones(n_thr, dtype=np.int64)
        for corridor, mult in d.truck_multiplier.items():
            if corridor not in gates:
                raise InputError(
                    f"demand.truck_multiplier.{corridor}", "no road of that name in the network",
                    hint=f"corridors found: {', '.join(sorted(gates)) or 'none'}",
                )  # fmt: skip
            on = truck & (
                np.array([ends[i][0] == corridor for i in a]) | np.array([ends[i][0] == corridor for i in b])
            )
            base = np.floor(mult).astype(np.int64)
            extra = rng.random(n_thr) < (mult - base)
            reps = np.where(on, reps * (base + extra), reps)
        a, b, mode = np.repeat(a, reps), np.repeat(b, reps), np.repeat(mode, reps)
        origin = np.array([ends[i][1] for i in a], dtype=np.int64)
        dest = np.array([ends[i][1] for i in b], dtype=np.int64)
        ok = origin != dest
        k = int(ok.sum())
        parts.append(
            pd.DataFrame(
                {
                    "origin": origin[ok],
                    "dest": dest[ok],
                    "depart_s": _departures(params, k, rng, 0.0, window),
                    "mode": mode[ok],
                    "kind": "through",
                    "origin_cell": "",
                    "dest_cell": "",
                }
            )
        )
    for i in range(len(params.events)):
        parts.append(_event_trips(params, i, network=network, cells=cells, pop=pop, node=node, rng=rng))
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype=object if c in ("mode", "kind") else float) for c in TRIP_COLUMNS}
        )
    trips = pd.concat(parts, ignore_index=True)
    trips = trips[trips["origin"] != trips["dest"]].sort_values("depart_s", kind="stable", ignore_index=True)
    trips["origin"] = trips["origin"].astype(np.int64)
    trips["dest"] = trips["dest"].astype(np.int64)
    return trips


def _event_trips(
    params: TrafficParams,
    i: int,
    *,
    network: RoadNetwork,
    cells: gpd.GeoDataFrame,
    pop: npt.NDArray[np.float64],
    node: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> pd.DataFrame:
    ev = params.events[i]
    if not (-180 <= ev.lonlat[0] <= 180 and -90 <= ev.lonlat[1] <= 90):
        raise InputError(
            f"events[{i}].lonlat",
            f"({ev.lonlat[0]}, {ev.lonlat[1]}) is not a lon/lat position",
            hint="give [lon, lat] in degrees",
        )
    place = int(network.nearest_node([ev.lonlat[0]], [ev.lonlat[1]])[0])
    t0 = params.rel_s(ev.start, f"events[{i}].start")
    t1 = params.rel_s(ev.end, f"events[{i}].end")
    n_to = ev.trips // 2
    n_from = ev.trips - n_to
    if pop.sum() <= 0:
        raise InputError(
            f"events[{i}]", "no populated cell to send visitors from", hint="pass cells with population"
        )
    p = pop / pop.sum()
    home_to = rng.choice(len(pop), n_to, p=p)
    home_from = rng.choice(len(pop), n_from, p=p)
    arrive_lo = max(t0 - 1800.0, 0.0)
    dep_to = np.sort(arrive_lo + rng.random(n_to) * max(t1 - 1800.0 - arrive_lo, 60.0))
    dep_from = np.sort(t0 + 1800.0 + rng.random(n_from) * max(t1 - t0 - 1800.0, 60.0))
    dep_from = np.minimum(dep_from, params.horizon_s - 1.0)
    cell_ids = cells.index.to_numpy()
    return pd.DataFrame({
        "origin": np.concatenate([node[home_to], np.full(n_from, place)]),
        "dest": np.concatenate([np.full(n_to, place), node[home_from]]),
        "depart_s": np.concatenate([dep_to, dep_from]),
        "mode": _modes(params, ev.trips, rng),
        "kind": "event",
        "origin_cell": np.concatenate([cell_ids[home_to], np.full(n_from, "", dtype=object)]),
        "dest_cell": np.concatenate([np.full(n_to, "", dtype=object), cell_ids[home_from]]),
    })  # fmt: skip
