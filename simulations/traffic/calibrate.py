"""Calibrate the traffic demand to camera traffic counts, and the hidden ground truth that tests it.

**Method**: linear (generalised) least-squares OD estimation on link-usage proportions from an
assignment, the family of Cascetta (1984, *Transp. Res. B* 18(4–5) 289–299) and Bell (1991, *Transp.
Res. B* 25(1) 13–22), with the demand factored as the generator builds it. A trip from zone o to zone
d departing in local hour h carries the weight ``p_o · q_h · a_d`` (production of its origin zone,
hourly factor, attraction of its destination zone; through traffic is one more origin zone). Each
prior trip is routed on the link travel times of the last model run (shortest paths, scipy
Dijkstra), which gives, per counted link and hour, which trips pass it (the assignment matrix). The
counted vehicles are then linear in each block of factors, so the fit alternates bounded, weighted
least squares (`scipy.optimize.lsq_linear`; weights 1/√max(count, 10), Poisson-like) over the three
blocks, with a ridge towards the prior (1). The bi-level loop (Yang et al. 1992) re-runs the model
with the fitted demand and re-routes, ``outer`` times. The class split is the prior's shares times
the ratio of counted to predicted vehicles of each class on the fitted cameras.

Zones are the H3 cells of resolution `ZONE_RES` containing the demand's cells; the result is a
scenario base (`TrafficParams` with ``demand.production``, ``demand.attraction``, ``demand.hourly``,
``through_veh_h`` and vehicle shares) that `twin simulate traffic --scenario` runs, whose demand the
generator rebuilds exactly as fitted (production factors absorb the attraction's renormalisation).

**Fit** is reported on cameras not used (``holdout``) and on the fitted ones: GEH per camera-hour
(all directions of a camera summed; the UK DMRB/TAG criterion asks GEH < 5 for ≥ 85 %), RMSE % and
R² of hourly counts, observed vs simulated. Missing intervals are tolerated (an hour with fewer
intervals than it should have is scaled up and reported; an hour missing more than half is dropped)
and cameras that sent nothing are listed as silent.

**The hidden ground truth** (`truth_params`): the replayer's counts come from a run of this same
model with a demand the calibration is not given (other zone production and attraction at a finer
resolution, another time profile, mean trip length, class split and seed), labelled synthetic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from simulations.results import RunResult
from twin import h3grid
from twin.errors import InputError
from twin.network import RoadNetwork

from .demand import synthesize, zone_factors
from .model import run
from .params import MODES, TrafficParams

F8 = npt.NDArray[np.float64]
#: H3 resolution of the calibration zones (res 7: ~5 km², some 40 zones over the city's cells).
ZONE_RES = 7
#: Resolution of the hidden truth's own production/attraction pattern (finer than the zones).
TRUTH_RES = 8
THROUGH = "through"
#: An hour keeps its count when at least this share of its intervals arrived (scaled up), else is dropped.
MIN_COVERAGE = 0.5
Progress = Callable[[float, str], None]
#: Weight of the prior (factors 1) against the counts' weighted squared residuals, per factor.
RIDGE = 200.0


# -- the hidden ground truth ---------------------------------------------------------------------------
def truth_params(prior: TrafficParams, cells: gpd.GeoDataFrame, seed: int = 7) -> TrafficParams:
    """Return the hidden truth's parameters: `prior` with a demand the calibration does not know.

    Production and attraction vary by H3 res-8 cell (lognormal, σ 0.4), the hourly profile by
    ±25 %, the mean trip is 2.5 km, motorbikes 80 % / cars 15 %, through traffic 700 veh/h. Synthetic.
    """
    rng = np.random.default_rng(seed)
    zones = sorted({h3grid.cell_to_parent(str(c), TRUTH_RES) for c in cells.index})
    prod = {z: round(float(x), 3) for z, x in zip(zones, rng.lognormal(0.0, 0.4, len(zones)), strict=True)}
    attr = {z: round(float(x), 3) for z, x in zip(zones, rng.lognormal(0.0, 0.4, len(zones)), strict=True)}
    hourly = {f"{h:02d}": round(float(x), 3) for h, x in enumerate(rng.uniform(0.75, 1.25, 24))}
    vehicles = {k: v.model_dump() for k, v in prior.vehicles.items()}
    vehicles["motorbike"]["share"], vehicles["car"]["share"] = 0.80, 0.15
    vehicles["bus"]["share"], vehicles["truck"]["share"] = 0.01, 0.04
    data = prior.to_dict()
    data["name"] = "hidden-truth (synthetic)"
    data["description"] = f"Synthetic ground truth of the replayer's traffic counts (seed {seed})"
    data["seed"] = int(seed) + 1000
    data["vehicles"] = vehicles
    data["demand"] = {**data["demand"], "production": prod, "attraction": attr, "hourly": hourly,
                      "mean_trip_km": 2.5, "through_veh_h": 700.0}  # fmt: skip
    return TrafficParams.from_dict(data, where="truth")


def window_params(
    base: TrafficParams, start_local_s: int, hours: int, *, warmup_s: float = 1800.0
) -> TrafficParams:
    """Return `base` set to simulate `hours` of counts from local `start_local_s` after a warm-up."""
    t0 = max(int(start_local_s - warmup_s), 0)
    horizon = float(start_local_s - t0 + 3600 * hours)
    data = base.to_dict()
    data["start"] = f"{t0 // 3600:02d}:{t0 % 3600 // 60:02d}"
    data["horizon_s"] = horizon
    data["demand_window_s"] = horizon
    return TrafficParams.from_dict(data, where="calibration window")


def link_counts(result: RunResult, params: TrafficParams) -> pd.DataFrame:
    """Return vehicles entering each link per output bin: ``t_s`` (s after local midnight), link, veh."""
    lk = result.tables["links_5min"]
    return pd.DataFrame({
        "t_s": params.start_s + lk["t_start_s"].to_numpy(),
        "link_id": lk["link_id"].to_numpy(),
        "veh": lk["inflow_veh"].to_numpy(dtype=np.float64),
    })  # fmt: skip


# -- assignment: which trips pass which counted links, when ----------------------------------------------
@dataclass
class Assignment:
    """Per trip, the counted links it passes and when: a sparse trips × (link, bin) incidence."""

    trip: npt.NDArray[np.int64]
    link: npt.NDArray[np.int64]
    t_s: F8  # seconds after local midnight at which the trip enters the link


def link_costs(network: RoadNetwork, result: RunResult | None) -> F8:
    """Return each link's travel time (s): the run's mean, or free flow without a run."""
    a = network.arrays()
    free = np.asarray(a.free_time_s, dtype=np.float64)
    if result is None:
        return free
    lk = result.tables["links_5min"]
    tt = lk.groupby("link_id")["travel_time_s"].mean().reindex(range(network.n_links))
    return np.where(np.isfinite(tt.to_numpy()), np.maximum(tt.to_numpy(), free), free)


def assign(
    network: RoadNetwork, trips: pd.DataFrame, counted: Sequence[int], cost: F8, start_s: int
) -> Assignment:
    """Route every trip on `cost` (shortest paths) and record when it enters each of the `counted` links."""
    from scipy import sparse  # noqa: PLC0415
    from scipy.sparse import csgraph  # noqa: PLC0415

    a = network.arrays()
    u, v = np.asarray(a.u, dtype=np.int64), np.asarray(a.v, dtype=np.int64)
    n = network.n_nodes
    order = np.lexsort((cost, v, u))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u[order][1:] != u[order][:-1]) | (v[order][1:] != v[order][:-1])
    best = order[first]
    mat = sparse.csr_matrix((cost[best], (u[best], v[best])), shape=(n, n))
    link_of = {(int(u[i]), int(v[i])): int(i) for i in best}
    watched = {int(x) for x in counted}
    o = trips["origin"].to_numpy(dtype=np.int64)
    d = trips["dest"].to_numpy(dtype=np.int64)
    dep = trips["depart_s"].to_numpy(dtype=np.float64) + start_s
    origins, o_row = np.unique(o, return_inverse=True)
    dist, pred = csgraph.dijkstra(mat, indices=origins, return_predecessors=True)
    memo: dict[tuple[int, int], list[tuple[int, float]]] = {}
    t_trip: list[int] = []
    t_link: list[int] = []
    t_time: list[float] = []
    for i in range(len(o)):
        r, dest = int(o_row[i]), int(d[i])
        key = (r, dest)
        hits = memo.get(key)
        if hits is None:
            hits = []
            node = dest
            p_row = pred[r]
            while True:
                prev = int(p_row[node])
                if prev < 0:
                    break
                lid = link_of[(prev, node)]
                if lid in watched:
                    hits.append((lid, float(dist[r, prev])))
                node = prev
            memo[key] = hits
        for lid, off in hits:
            t_trip.append(i)
            t_link.append(lid)
            t_time.append(dep[i] + off)
    return Assignment(np.asarray(t_trip, np.int64), np.asarray(t_link, np.int64), np.asarray(t_time))


# -- observations ---------------------------------------------------------------------------------------
def hourly_observations(counts: pd.DataFrame, hours: Sequence[int]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Return counts per camera, direction, link and local hour, with what was missing.

    `counts` has ``camera_id, direction, link_id, t_s`` (interval start, s after local midnight),
    ``interval_s`` and the class columns. An hour with at least `MIN_COVERAGE` of its minutes counted
    is scaled up to the full hour; hours with less are dropped and reported.
    """
    cols = ["camera_id", "direction", "link_id", "hour"]
    if counts.empty:
        return pd.DataFrame(columns=[*cols, *MODES, "total", "coverage"]), {
            "dropped_hours": 0,
            "scaled_hours": 0,
        }
    c = counts.copy()
    c["hour"] = (c["t_s"] // 3600).astype(int)
    c = c[c["hour"].isin(list(hours))]
    g = c.groupby(cols, as_index=False).agg(
        **{m: (m, "sum") for m in MODES}, minutes=("interval_s", lambda s: float(s.sum()) / 60.0)
    )
    g["coverage"] = np.minimum(g["minutes"] / 60.0, 1.0)
    dropped = int((g["coverage"] < MIN_COVERAGE).sum())
    g = g[g["coverage"] >= MIN_COVERAGE].copy()
    scaled = int((g["coverage"] < 1.0).sum())
    for m in MODES:
        g[m] = g[m] / g["coverage"]
    g["total"] = g[list(MODES)].sum(axis=1)
    return g.drop(columns=["minutes"]).reset_index(drop=True), {
        "dropped_hours": dropped,
        "scaled_hours": scaled,
    }


# -- fit ------------------------------------------------------------------------------------------------
@dataclass
class Fit:
    """The calibrated factors, the scenario base that carries them, and how it was found."""

    params: TrafficParams
    production: dict[str, float]
    attraction: dict[str, float]
    hourly: dict[str, float]
    through: float
    class_factor: dict[str, float]
    iterations: list[dict[str, float]] = field(default_factory=list)


def _zones(
    trips: pd.DataFrame, zone_res: int = ZONE_RES
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[str]]:
    """Return origin and destination zone indices of each trip and the zone names (through last)."""

    def zone(cell: str) -> str:
        return h3grid.cell_to_parent(cell, zone_res) if cell else THROUGH

    oc = [zone(str(x)) for x in trips["origin_cell"].fillna("")]
    dc = [zone(str(x)) for x in trips["dest_cell"].fillna("")]
    names = [*sorted({*oc, *dc} - {THROUGH}), THROUGH]
    idx = {z: i for i, z in enumerate(names)}
    return np.array([idx[z] for z in oc]), np.array([idx[z] for z in dc]), names


def _solve(design: F8, y: F8, w: F8, ridge: float, bounds: tuple[float, float]) -> F8:
    from scipy.optimize import lsq_linear  # noqa: PLC0415

    k = design.shape[1]
    used = np.abs(design).sum(axis=0) > 0
    a = np.vstack([design * w[:, None], np.sqrt(ridge) * np.eye(k)])
    b = np.concatenate([y * w, np.sqrt(ridge) * np.ones(k)])
    x = lsq_linear(a, b, bounds=bounds, method="bvls").x
    return np.where(used, x, 1.0)


def fit_factors(
    trips: pd.DataFrame,
    asg: Assignment,
    obs: pd.DataFrame,
    *,
    zone_res: int = ZONE_RES,
    start_s: int = 0,
    row_scale: F8 | None = None,
    ridge: float = RIDGE,
    rounds: int = 12,
    bounds: tuple[float, float] = (0.1, 10.0),
) -> tuple[F8, F8, dict[int, float], list[str], F8]:
    """Fit production p (per origin zone), attraction a (per destination zone) and hourly q to `obs`.

    Returns p, a, q (local hour of departure → factor), the zone names and the trips' fitted weights.
    `start_s` is the run's local start (s after midnight), to which trips' ``depart_s`` are relative.
    `row_scale` (per observation) is the last run's simulated count over the assignment's prediction
    at the current factors: it carries what the static assignment misses (queues, dynamic routes,
    vehicles still upstream) into the linear model, so the fit moves the demand from where the
    model is rather than from where the assignment says it is.
    """
    oz, dz, names = _zones(trips, zone_res)
    nz = len(names)
    hour = ((trips["depart_s"].to_numpy() + start_s) // 3600).astype(int)  # local clock hour
    keys = _row_keys(obs)
    y = obs["total"].to_numpy(dtype=np.float64)
    w = 1.0 / np.sqrt(np.maximum(y, 10.0))
    row = np.array([keys.get((int(lk), int(t // 3600)), -1) for lk, t in zip(asg.link, asg.t_s, strict=True)],
                   dtype=np.int64)  # fmt: skip
    keep = row >= 0
    tr, rw = asg.trip[keep], row[keep]
    dep_hour = hour  # departure hour index of each trip (relative to the run start)
    hours = sorted(set(dep_hour.tolist()))
    h_idx = {h: i for i, h in enumerate(hours)}
    hq = np.array([h_idx[h] for h in dep_hour])
    p, a, q = np.ones(nz), np.ones(nz), np.ones(len(hours))
    a_mask = np.ones(nz, dtype=bool)
    a_mask[-1] = False  # through destinations (gateways) keep attraction 1
    k = len(y)

    def design(weight: F8, col: npt.NDArray[np.int64], ncol: int) -> F8:
        out = np.zeros((k, ncol))
        np.add.at(out, (rw, col[tr]), weight[tr])
        return out if row_scale is None else out * row_scale[:, None]

    for _ in range(rounds):
        p = _solve(design(q[hq] * a[dz], oz, nz), y, w, ridge, bounds)
        q = _solve(design(p[oz] * a[dz], hq, len(hours)), y, w, ridge, bounds)
        a_new = _solve(design(p[oz] * q[hq], dz, nz), y, w, ridge, bounds)
        a = np.where(a_mask, a_new, 1.0)
    weights = p[oz] * q[hq] * a[dz]
    return p, a, {h: float(x) for h, x in zip(hours, q, strict=True)}, names, weights


def _row_keys(obs: pd.DataFrame) -> dict[tuple[int, int], int]:
    """Return (link, hour) → row of `obs`."""
    links = obs["link_id"].to_numpy(dtype=np.int64).tolist()
    hours = obs["hour"].to_numpy(dtype=np.int64).tolist()
    return {(lk, h): i for i, (lk, h) in enumerate(zip(links, hours, strict=True))}


def _sim_at(obs: pd.DataFrame, sim: pd.DataFrame) -> F8:
    """Return the simulated vehicles of each (link, hour) row of `obs`."""
    k = sim.assign(hour=(sim["t_s"] // 3600).astype(int)).groupby(["link_id", "hour"])["veh"].sum()
    return np.array(
        [float(k.get((int(lk), int(h)), 0.0)) for lk, h in zip(obs["link_id"], obs["hour"], strict=True)]
    )


def predicted(asg: Assignment, weights: F8, trips: pd.DataFrame, obs: pd.DataFrame) -> pd.DataFrame:
    """Return predicted vehicles per class for the rows of `obs` (link, hour) from weighted trips."""
    keys = _row_keys(obs)
    row = np.array([keys.get((int(lk), int(t // 3600)), -1) for lk, t in zip(asg.link, asg.t_s, strict=True)],
                   dtype=np.int64)  # fmt: skip
    keep = row >= 0
    mode = trips["mode"].astype(str).to_numpy()
    out = pd.DataFrame(0.0, index=range(len(obs)), columns=list(MODES))
    for m in MODES:
        sel = keep & (mode[asg.trip] == m)
        out[m] = np.bincount(row[sel], weights=weights[asg.trip[sel]], minlength=len(obs))
    return out


def to_params(  # noqa: PLR0917  (the fit's parts)
    prior: TrafficParams, cells: gpd.GeoDataFrame, trips: pd.DataFrame, p: F8, a: F8, q: dict[int, float], *,
    names: list[str], class_factor: dict[str, float], meta: dict[str, Any], zone_res: int = ZONE_RES,
) -> TrafficParams:  # fmt: skip
    """Return the scenario base that makes the generator rebuild the fitted demand."""
    zi = {z: i for i, z in enumerate(names)}
    cz = np.array([zi.get(h3grid.cell_to_parent(str(c), zone_res), -1) for c in cells.index])
    # production absorbs the renormalisation of destination choice: the fitted share of each origin
    # zone's trips going to attraction-scaled zones (trips' mean attraction factor per origin zone)
    oz, dz, _ = _zones(trips, zone_res)
    mean_a = np.ones(len(names))
    for z in range(len(names)):
        sel = oz == z
        if sel.any():
            mean_a[z] = float(a[dz[sel]].mean())
    production = {
        z: round(float(p[i] * mean_a[i]), 4) for z, i in zi.items() if z != THROUGH and (cz == i).any()
    }
    attraction = {z: round(float(a[i]), 4) for z, i in zi.items() if z != THROUGH and (cz == i).any()}
    hourly = {f"{h % 24:02d}": round(float(x), 4) for h, x in q.items()}
    # combine with the prior's own factors (a calibrated base can be calibrated again)
    for key, old in prior.demand.hourly.items():
        hourly[key] = round(hourly.get(key, 1.0) * old, 4)
    t = zi[THROUGH]
    # through traffic: its total scales with p_through and, hour by hour, with the hourly factors
    local_h = (trips["depart_s"].to_numpy() + prior.start_s) // 3600
    thr = trips["kind"].to_numpy() == "through"
    n_thr = np.array([(thr & (local_h == h)).sum() for h in q], dtype=np.float64)
    scale = float((n_thr * np.array(list(q.values()))).sum() / max(n_thr.sum(), 1.0))
    shares = {m: prior.vehicles[m].share * class_factor.get(m, 1.0) for m in prior.vehicles}
    total = sum(shares.values())
    vehicles = {
        m: {**prior.vehicles[m].model_dump(), "share": round(s / total, 4)} for m, s in shares.items()
    }
    drift = 1.0 - sum(v["share"] for v in vehicles.values())
    vehicles["motorbike"]["share"] = round(vehicles["motorbike"]["share"] + drift, 6)
    data = prior.to_dict()
    data["name"] = f"calibrated from {prior.name}"
    data["description"] = (
        f"Demand calibrated to camera traffic counts ({meta.get('method', 'GLS OD estimation')}); "
        f"cameras {meta.get('fitted_cameras', '?')} fitted, period {meta.get('period', '?')}"
    )
    data["vehicles"] = vehicles
    data["demand"] = {
        **data["demand"],
        "production": _merge(prior.demand.production, production),
        "attraction": _merge(prior.demand.attraction, attraction),
        "hourly": hourly,
        "through_veh_h": round(prior.demand.through_veh_h * float(p[t]) * scale, 2),
    }
    return TrafficParams.from_dict(data, where="calibrated demand")


def _merge(old: dict[str, float], new: dict[str, float]) -> dict[str, float]:
    """Return `new` zone factors on top of a prior's (coarser or other keys multiply through)."""
    out = dict(old)
    for k, v in new.items():
        out[k] = round(out.get(k, 1.0) * v, 4) if k in out else v
    return out


# -- goodness of fit ------------------------------------------------------------------------------------
def geh(model: F8, observed: F8) -> F8:
    """Return the GEH statistic of hourly flows: √(2 (M − C)² / (M + C)) (0 where both are 0)."""
    s = model + observed
    return np.sqrt(np.divide(2.0 * (model - observed) ** 2, s, out=np.zeros_like(s), where=s > 0))


def fit_stats(model: F8, observed: F8) -> dict[str, float]:
    """Return n, share with GEH < 5, mean GEH, RMSE % of the mean count and R² (observed vs model)."""
    if len(observed) == 0:
        return {"n": 0, "geh_lt5_share": float("nan"), "geh_mean": float("nan"), "rmse_pct": float("nan"),
                "r2": float("nan")}  # fmt: skip
    g = geh(model, observed)
    rmse = float(np.sqrt(np.mean((model - observed) ** 2)))
    ss = float(((observed - observed.mean()) ** 2).sum())
    return {
        "n": len(observed),
        "geh_lt5_share": round(float((g < 5).mean()), 4),
        "geh_mean": round(float(g.mean()), 3),
        "rmse_pct": round(100.0 * rmse / max(float(observed.mean()), 1e-9), 2),
        "r2": round(1.0 - float(((observed - model) ** 2).sum()) / ss, 4) if ss > 0 else float("nan"),
    }


def camera_hours(obs: pd.DataFrame, sim: pd.DataFrame) -> pd.DataFrame:
    """Return observed vs simulated vehicles per camera-hour (directions summed)."""
    simk = sim.assign(hour=(sim["t_s"] // 3600).astype(int)).groupby(["link_id", "hour"])["veh"].sum()
    o = obs.copy()
    o["sim"] = [
        float(simk.get((int(lk), int(h)), 0.0)) for lk, h in zip(o["link_id"], o["hour"], strict=True)
    ]
    return o.groupby(["camera_id", "hour"], as_index=False).agg(
        observed=("total", "sum"), simulated=("sim", "sum")
    )


def split_cameras(cameras: Sequence[str], holdout: float, seed: int) -> tuple[list[str], list[str]]:
    """Return (fitted, held-out) cameras: a seeded random `holdout` share is held out."""
    cams = sorted(set(cameras))
    rng = np.random.default_rng(seed)
    n_out = round(holdout * len(cams))
    out = set(rng.choice(cams, size=n_out, replace=False).tolist()) if n_out else set()
    return [c for c in cams if c not in out], sorted(out)


# -- the whole loop --------------------------------------------------------------------------------------
@dataclass
class Calibration:
    """A calibration's result: the fit, its report and the observed-vs-simulated camera-hours."""

    fit: Fit
    report: dict[str, Any]
    camera_hours: pd.DataFrame


def calibrate(
    counts: pd.DataFrame,
    *,
    prior: TrafficParams,
    network: RoadNetwork,
    cells: gpd.GeoDataFrame,
    start_local_s: int,
    hours: int,
    holdout: float = 0.3,
    seed: int = 2025,
    outer: int = 2,
    ridge: float = RIDGE,
    zone_res: int = ZONE_RES,
    cameras: Sequence[str] = (),
    progress: Progress | None = None,
) -> Calibration:
    """Fit the demand of `prior` to `counts` over `hours` local hours from `start_local_s`.

    `counts` has ``camera_id, direction, link_id, t_s, interval_s`` and the class columns.
    `cameras` are the cameras expected to count (the silent ones among them are reported).
    """
    t_wall = time.perf_counter()
    if not 0.0 <= holdout < 1.0:
        raise InputError("holdout", f"must be in [0, 1), got {holdout}")
    say = progress or (lambda _f, _m: None)
    hrs = [start_local_s // 3600 + h for h in range(hours)]
    obs, missing = hourly_observations(counts, hrs)
    if obs.empty:
        raise InputError(
            "counts", "no traffic counts in the period", hint="check --since/--until and GET /counts"
        )
    silent = sorted(set(cameras) - set(obs["camera_id"]))
    fitted, held = split_cameras(obs["camera_id"].unique().tolist(), holdout, seed)
    o_fit = obs[obs["camera_id"].isin(fitted)].reset_index(drop=True)
    base = window_params(prior, start_local_s, hours)
    counted = sorted(set(obs["link_id"].astype(int)))
    rng = np.random.default_rng(seed)
    trips = synthesize(base, network, cells, rng)
    say(0.05, f"prior run: {len(trips):,} trips")
    prior_run = run(base, seed, network=network, cells=cells, trips=trips)
    prior_sim = link_counts(prior_run, base)
    last = prior_run
    iterations: list[dict[str, float]] = []
    p = a = np.ones(1)
    q: dict[int, float] = {}
    names: list[str] = []
    weights = np.ones(len(trips))
    cf = dict.fromkeys(MODES, 1.0)
    for it in range(outer):
        asg = assign(network, trips, counted, link_costs(network, last), base.start_s)
        lin = predicted(asg, weights, trips, o_fit).sum(axis=1).to_numpy()
        now = _sim_at(o_fit, link_counts(last, base))
        scale = np.clip(np.divide(now, lin, out=np.ones_like(lin), where=lin > 0), 0.2, 5.0)
        p, a, q, names, weights = fit_factors(
            trips, asg, o_fit, start_s=base.start_s, row_scale=scale, ridge=ridge, zone_res=zone_res
        )
        pred = predicted(asg, weights, trips, o_fit).mul(scale, axis=0)
        cf = {m: float(o_fit[m].sum() / pred[m].sum()) if pred[m].sum() > 0 and o_fit[m].sum() > 0 else 1.0
              for m in MODES}  # fmt: skip
        # the class factors redistribute, they do not add vehicles: normalise on the predicted mix
        tot = sum(pred[m].sum() * cf[m] for m in MODES) / max(float(pred[list(MODES)].to_numpy().sum()), 1e-9)
        cf = {m: x / tot for m, x in cf.items()}
        resid = pred.sum(axis=1).to_numpy() - o_fit["total"].to_numpy()
        iterations.append(
            {
                "iteration": it + 1,
                "assigned_hits": len(asg.link),
                "linear_fit_rmse": float(np.sqrt(np.mean(resid**2))),
            }
        )
        say(0.2 + 0.6 * (it + 1) / outer, f"iteration {it + 1}/{outer}")
        if it + 1 < outer:
            trial = to_params(base, cells, trips, p, a, q, names=names, class_factor=cf, meta={},
                              zone_res=zone_res)  # fmt: skip
            last = run(trial, seed, network=network, cells=cells)
    meta = {
        "method": "bi-level GLS OD estimation on assignment link-usage proportions "
        "(Cascetta 1984; Bell 1991)",
        "fitted_cameras": len(fitted),
        "period": f"{hrs[0]:02d}:00–{(hrs[-1] + 1) % 24:02d}:00 local",
    }
    cal_params = to_params(base, cells, trips, p, a, q, names=names, class_factor=cf, meta=meta,
                           zone_res=zone_res)  # fmt: skip
    result = run(cal_params, seed, network=network, cells=cells)
    sim = link_counts(result, cal_params)
    ch = camera_hours(obs, sim)
    ch_prior = camera_hours(obs, prior_sim)
    ch["set"] = np.where(ch["camera_id"].isin(held), "held_out", "fitted")
    ch["prior"] = ch_prior["simulated"].to_numpy()

    def stats(sel: pd.Series, col: str) -> dict[str, float]:
        return fit_stats(
            ch.loc[sel, col].to_numpy(dtype=float), ch.loc[sel, "observed"].to_numpy(dtype=float)
        )

    report: dict[str, Any] = {
        **meta,
        "zone_resolution": zone_res,
        "zones": len(names) - 1,
        "hours": hrs,
        "holdout": holdout,
        "seed": seed,
        "ridge": ridge,
        "outer_iterations": outer,
        "cameras_fitted": fitted,
        "cameras_held_out": held,
        "cameras_silent": silent,
        "missing": missing,
        "held_out": stats(ch["set"] == "held_out", "simulated"),
        "fitted": stats(ch["set"] == "fitted", "simulated"),
        "prior_held_out": stats(ch["set"] == "held_out", "prior"),
        "prior_fitted": stats(ch["set"] == "fitted", "prior"),
        "class_factor": {m: round(x, 4) for m, x in cf.items()},
        "iterations": iterations,
        "trips_prior": len(trips),
        "trips_calibrated": len(result.tables["trips"]),
        "wall_s": round(time.perf_counter() - t_wall, 2),
        "synthetic": bool(counts.get("synthetic", pd.Series([True])).all()),
    }
    fit = Fit(
        cal_params,
        production=dict(zip(names, p.tolist(), strict=True)),
        attraction=dict(zip(names, a.tolist(), strict=True)),
        hourly={str(k): v for k, v in q.items()},
        through=float(p[-1]),
        class_factor=cf,
        iterations=iterations,
    )
    say(1.0, "done")
    return Calibration(fit, report, ch)


def counts_from_run(
    result: RunResult, params: TrafficParams, watch: pd.DataFrame, trips: pd.DataFrame, network: RoadNetwork,
    *, interval_s: int = 300,
) -> pd.DataFrame:  # fmt: skip
    """Return what the cameras would count in a run: per camera, direction, interval, vehicles per class.

    Totals are the run's vehicles entering each watched link per interval (the model's own flows);
    their class split is that of the trips routed over the link on the run's travel times (the run
    keeps no per-class link flows), drawn multinomially per interval.
    Rows: ``camera_id, direction, link_id, t_s, interval_s`` + classes.
    """
    sim = link_counts(result, params)
    bin_s = int(params.bin_s)
    if interval_s % bin_s:
        raise InputError("interval_s", f"must be a multiple of the run's bin ({bin_s} s)")
    links = sorted(set(watch["link_id"].astype(int)))
    sim = sim[sim["link_id"].isin(links)].copy()
    sim["t_s"] = (sim["t_s"] // interval_s * interval_s).astype(int)
    tot = sim.groupby(["link_id", "t_s"])["veh"].sum()
    asg = assign(network, trips, links, link_costs(network, result), params.start_s)
    mode = trips["mode"].astype(str).to_numpy()[asg.trip]
    mix = pd.crosstab(asg.link, mode).reindex(columns=list(MODES), fill_value=0)
    share = mix.div(mix.sum(axis=1).replace(0, 1), axis=0)
    every = trips["mode"].astype(str).value_counts().reindex(list(MODES), fill_value=0)
    overall = every / max(int(every.sum()), 1)
    rng = np.random.default_rng(params.seed)  # unbiased integer class split (no rounding away small classes)
    rows = []
    for r in watch.itertuples():
        lid = int(str(r.link_id))
        if lid not in tot.index.get_level_values(0):
            continue
        s = share.loc[lid] if lid in share.index else overall  # a link no routed trip uses: the whole mix
        for t, veh in tot.loc[lid].items():
            pv = np.asarray(s.to_numpy(), dtype=np.float64)
            split = rng.multinomial(round(float(veh)), pv / max(float(pv.sum()), 1e-12))
            rows.append({
                "camera_id": r.camera_id, "direction": r.direction, "link_id": lid, "t_s": int(t),
                "interval_s": interval_s, **dict(zip(MODES, split.tolist(), strict=True)),
            })  # fmt: skip
    return pd.DataFrame(rows)


def zone_production(
    cells: gpd.GeoDataFrame, params: TrafficParams, zone_res: int = ZONE_RES
) -> dict[str, float]:
    """Return, per calibration zone, the population-weighted production factor of `params` (a check)."""
    f = zone_factors(cells, params.demand.production, "demand.production")
    pop = cells["population"].to_numpy(dtype=np.float64)
    z = np.array([h3grid.cell_to_parent(str(c), zone_res) for c in cells.index])
    out = {}
    for key in sorted(set(z)):
        sel = z == key
        w = pop[sel].sum()
        out[str(key)] = float((f[sel] * pop[sel]).sum() / w) if w > 0 else 1.0
    return out


#: Day-to-day variation of the hidden truth's demand (σ of a lognormal multiplier per day).
DAY_SIGMA = 0.08


def truth_counts(
    prior: TrafficParams, network: RoadNetwork, cells: gpd.GeoDataFrame, watch: pd.DataFrame,
    *, start_local_s: int, hours: int, seed: int = 7, interval_s: int = 300, day: int = 0,
) -> tuple[pd.DataFrame, TrafficParams]:  # fmt: skip
    """Run the hidden truth over the period and return what the `watch` cameras count, and its params.

    `watch` is `twin.cameras.watched_links` of the counting cameras. `day` ≠ 0 is another day of the
    same truth (e.g. -7: the same weekday a week before): the same demand pattern times a day
    multiplier (lognormal, σ `DAY_SIGMA`), other trips and another model seed. Synthetic.
    """
    truth = window_params(truth_params(prior, cells, seed), start_local_s, hours)
    if day:
        rng = np.random.default_rng([seed, day % 1_000_003])
        data = truth.to_dict()
        data["seed"] = truth.seed + 7919 * day % 100_003
        factor = float(rng.lognormal(0.0, DAY_SIGMA))
        data["demand"]["multiplier"] = round(truth.demand.multiplier * factor, 4)
        truth = TrafficParams.from_dict(data, where="truth day")
    trips = synthesize(truth, network, cells, np.random.default_rng(truth.seed))
    result = run(truth, truth.seed, network=network, cells=cells, trips=trips)
    table = counts_from_run(result, truth, watch, trips, network, interval_s=interval_s)
    hrs = range(start_local_s, start_local_s + 3600 * hours)
    table = table[(table["t_s"] >= hrs.start) & (table["t_s"] < hrs.stop)].reset_index(drop=True)
    table["synthetic"] = True
    return table, truth
