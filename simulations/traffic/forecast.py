"""The next-hour nowcast: the traffic model run through the last hours into the next one, corrected by
the cameras' counts, with two baselines and its own error on counts it was not given.

**Method.** The model runs the demand the forecast rests on (the newest calibration's scenario base, or
the prior) from `BACK_S` before the forecast time ``as_of`` to `AHEAD_S` after it, so the vehicles on
the network at ``as_of`` are the model's own state after two hours on that demand (closures come with
the parameters). Per counted link the forecast is the model's flow in the 15 minutes ending at each
horizon times the link's bias ratio over the last `RATIO_S` (observed + k) / (model + k) (k =
`SHRINK_VEH`, which shrinks sparse ratios towards 1); links without a camera take the ratio of all
counted links. That model forecast is then blended with persistence per horizon, ``w · persistence +
(1 − w) · model``, w on a 0.1 grid chosen on the backtest below (the counts before ``as_of`` only),
except on a link the parameters' closures close in the horizon's 15 minutes: there "as now" does not
hold, and the forecast is the model's.
Speeds and H3 congestion are the model's at the horizon.

**Baselines**, per counted link: *persistence* ("as now": the observed rate of the last 15 minutes at
every horizon) and *historical* ("as this time last week": the counts of the same link 7 days earlier
in the same 15 minutes, where the store has them).

**Error on held-out counts** (`backtest`): the same run and rule forecast from ``as_of − 1 h`` with
only the counts before it; its +15/+30/+60 min figures are compared with the counts that came after,
for the nowcast and both baselines: MAE and RMSE in % of the mean observed rate (veh/h per link and
15 minutes) and GEH < 5 share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from twin.network import RoadNetwork

from .calibrate import link_counts
from .model import run
from .params import MODES, TrafficParams

#: Forecast horizons (minutes after the forecast time); each figure is the 15 minutes ending at it.
HORIZONS_MIN = (15, 30, 60)
SLOT_S = 900
#: The model starts this long before the forecast time (the backtest needs one hour of it).
BACK_S = 7200
AHEAD_S = 3600
#: The bias ratio is taken over this long before the forecast time.
RATIO_S = 1800
SHRINK_VEH = 10.0
WEEK_S = 7 * 86400
METHODS = ("nowcast", "persistence", "historical")


@dataclass
class Nowcast:
    """A forecast: per counted link and horizon (all methods), per link and per cell (the model's)."""

    as_of_s: int  # local seconds after the counts' midnight (the forecast time)
    counted: pd.DataFrame  # link_id, horizon_min, observed_now_veh_h, nowcast/persistence/historical_veh_h
    links: pd.DataFrame  # link_id, horizon_min, flow_veh_h, speed_kmh, closed (links driven or closed)
    cells: pd.DataFrame  # cell, horizon_min, congestion_index
    backtest: dict[str, Any]
    ratio_all: float


def run_params(base: TrafficParams, as_of_s: int) -> TrafficParams:
    """Return `base` set to run from `BACK_S` before `as_of_s` (local s) to `AHEAD_S` after it."""
    t0 = max(int(as_of_s - BACK_S), 0)
    data = base.to_dict()
    data["start"] = f"{t0 // 3600:02d}:{t0 % 3600 // 60:02d}"
    data["horizon_s"] = float(as_of_s - t0 + AHEAD_S)
    data["demand_window_s"] = data["horizon_s"]
    return TrafficParams.from_dict(data, where="forecast run")


def _rate(obs: pd.DataFrame, t0: float, t1: float) -> pd.Series:
    """Return observed vehicles per hour per link over [t0, t1) (intervals summed, scaled by coverage)."""
    sel = obs[(obs["t_s"] >= t0) & (obs["t_s"] < t1)]
    if sel.empty:
        return pd.Series(dtype=np.float64)
    g = sel.groupby("link_id").agg(veh=("total", "sum"), secs=("interval_s", "sum"))
    return (g["veh"] / g["secs"] * 3600.0).where(g["secs"] >= 0.5 * (t1 - t0))


def _sim_rate(sim: pd.DataFrame, t0: float, t1: float) -> pd.Series:
    sel = sim[(sim["t_s"] >= t0) & (sim["t_s"] < t1)]
    return sel.groupby("link_id")["veh"].sum() * 3600.0 / (t1 - t0)


def observations(counts: pd.DataFrame) -> pd.DataFrame:
    """Return counts per link and interval (the classes summed): link_id, t_s, interval_s, total."""
    if counts.empty:
        return pd.DataFrame({"link_id": [], "t_s": [], "interval_s": [], "total": []})
    c = counts.assign(total=counts[list(MODES)].sum(axis=1))
    return c.groupby(["link_id", "t_s"], as_index=False).agg(interval_s=("interval_s", "max"),
                                                              total=("total", "sum"))  # fmt: skip


def _forecast_at(
    origin: float, obs: pd.DataFrame, sim: pd.DataFrame, links: list[int]
) -> tuple[pd.DataFrame, float]:
    """Return per counted link and horizon the nowcast, persistence and historical rates from `origin`."""
    o_ratio, s_ratio = _rate(obs, origin - RATIO_S, origin), _sim_rate(sim, origin - RATIO_S, origin)
    o_r = o_ratio.reindex(links)
    s_r = s_ratio.reindex(links).fillna(0.0)
    ok = o_r.notna()
    ratio_all = float((o_r[ok].sum() + SHRINK_VEH) / (s_r[ok].sum() + SHRINK_VEH)) if ok.any() else 1.0
    ratio = ((o_r + SHRINK_VEH) / (s_r + SHRINK_VEH)).where(ok, ratio_all)
    now = _rate(obs, origin - SLOT_S, origin).reindex(links)
    rows = []
    for h in HORIZONS_MIN:
        t1 = origin + 60 * h
        t0 = t1 - SLOT_S
        model = _sim_rate(sim, t0, t1).reindex(links).fillna(0.0)
        hist = _rate(obs, t0 - WEEK_S, t1 - WEEK_S).reindex(links)
        actual = _rate(obs, t0, t1).reindex(links)
        rows.append(pd.DataFrame({
            "link_id": links, "horizon_min": h, "observed_now_veh_h": now.to_numpy(),
            "model_veh_h": model.to_numpy(), "model_ratio_veh_h": (model * ratio).to_numpy(),
            "nowcast_veh_h": (model * ratio).to_numpy(),
            "persistence_veh_h": now.to_numpy(), "historical_veh_h": hist.to_numpy(),
            "actual_veh_h": actual.to_numpy(),
        }))  # fmt: skip
    return pd.concat(rows, ignore_index=True), ratio_all


#: Persistence weights tried per horizon (the blend's grid).
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))


def blend_weights(backtest: pd.DataFrame) -> dict[str, float]:
    """Return per horizon the weight w of persistence in ``w · persistence + (1 − w) · model`` that
    gave the smallest absolute error in `backtest` (a forecast from an earlier origin with the counts
    that came after it; 0 where it has none): persistence is hard to beat minutes ahead, the model
    an hour ahead, and the counts say where between."""
    out: dict[str, float] = {}
    for h in HORIZONS_MIN:
        g = backtest[backtest["horizon_min"] == h].dropna(subset=["actual_veh_h", "persistence_veh_h"])
        if g.empty:
            out[str(h)] = 0.0
            continue
        y, p, m = (g[c].to_numpy(dtype=np.float64) for c in ("actual_veh_h", "persistence_veh_h",
                                                              "model_ratio_veh_h"))  # fmt: skip
        mae = [float(np.abs(w * p + (1.0 - w) * m - y).mean()) for w in WEIGHTS]
        out[str(h)] = WEIGHTS[int(np.argmin(mae))]
    return out


def blend(table: pd.DataFrame, weights: dict[str, float]) -> None:
    """Set ``nowcast_veh_h`` of `table` to the blend of persistence and the model at `weights`."""
    w = table["horizon_min"].astype(str).map(weights).fillna(0.0).to_numpy(dtype=np.float64)
    pers = table["persistence_veh_h"].to_numpy(dtype=np.float64)
    model = table["model_ratio_veh_h"].to_numpy(dtype=np.float64)
    table["nowcast_veh_h"] = np.where(np.isfinite(pers), w * pers + (1.0 - w) * model, model)


def errors(table: pd.DataFrame) -> dict[str, Any]:
    """Return per horizon and method: n, MAE %, RMSE % of the mean actual rate and GEH < 5 share.

    Only rows where the actual count and every baseline are known count (the same rows for all).
    """
    from .calibrate import geh  # noqa: PLC0415

    out: dict[str, Any] = {}
    for h, grp in table.groupby("horizon_min"):
        cols = [f"{m}_veh_h" for m in METHODS]
        have = [c for c in cols if grp[c].notna().any()]
        g = grp.dropna(subset=["actual_veh_h", *have])
        y = g["actual_veh_h"].to_numpy(dtype=np.float64)
        per: dict[str, Any] = {"n": len(g)}
        for m in METHODS:
            col = f"{m}_veh_h"
            if col not in have or not len(g):
                per[m] = None
                continue
            f = g[col].to_numpy(dtype=np.float64)
            mean = max(float(y.mean()), 1e-9)
            per[m] = {
                "mae_pct": round(100.0 * float(np.abs(f - y).mean()) / mean, 2),
                "rmse_pct": round(100.0 * float(np.sqrt(((f - y) ** 2).mean())) / mean, 2),
                # GEH of hourly flows on the 15-min rates (veh/h), as the calibration reports
                "geh_lt5_share": round(float((geh(f, y) < 5).mean()), 4),
            }
        out[str(int(str(h)))] = per
    return out


def nowcast(
    counts: pd.DataFrame,
    *,
    params: TrafficParams,
    network: RoadNetwork,
    cells: gpd.GeoDataFrame,
    as_of_s: int,
    seed: int = 1,
    result: Any = None,
) -> Nowcast:
    """Forecast +15/+30/+60 min from `as_of_s` (local s after the counts' midnight) on `params`' demand.

    `counts` has ``camera_id, direction, link_id, t_s, interval_s`` and the class columns (what
    `api.services.traffic_counts.model_table` gives), the counts up to `as_of_s` and, for the
    historical baseline, those of a week before. `result` is a run of `run_params(params, as_of_s)`
    to reuse (else it is run here).
    """
    rp = run_params(params, as_of_s)
    res = result if result is not None else run(rp, seed, network=network, cells=cells)
    sim = link_counts(res, rp)
    obs = observations(counts)
    seen = obs[obs["t_s"] < as_of_s]
    links = sorted({int(x) for x in seen["link_id"]}) if len(seen) else []
    counted, ratio_all = _forecast_at(float(as_of_s), seen, sim, links)
    counted = counted.drop(columns=["actual_veh_h"])
    # backtest: from as_of − 1 h with only the counts before it, against those after it (held out)
    # (`_forecast_at` reads only the counts before its origin, and a week before, for its forecasts)
    origin = float(as_of_s - 3600)
    bt, _ = _forecast_at(origin, seen, sim, links)
    weights = blend_weights(bt)
    blend(counted, weights)
    blend(bt, weights)
    lk = res.tables["links_5min"]
    t_abs = rp.start_s + lk["t_start_s"].to_numpy()
    is_closed = (lk["state"] == "closed").to_numpy()
    link_ids = lk["link_id"].to_numpy(dtype=np.int64)
    closed_at: dict[int, set[int]] = {
        h: {int(i) for i in link_ids[(t_abs >= as_of_s + 60 * h - SLOT_S) & (t_abs < as_of_s + 60 * h)
                                     & is_closed]}
        for h in HORIZONS_MIN
    }
    pairs = zip(counted["link_id"].to_numpy(dtype=np.int64), counted["horizon_min"].to_numpy(dtype=np.int64),
                strict=True)  # fmt: skip
    shut = np.array([int(i) in closed_at[int(h)] for i, h in pairs], dtype=np.bool_)
    counted["nowcast_veh_h"] = counted["nowcast_veh_h"].where(~shut, counted["model_ratio_veh_h"])
    backtest = {"origin_s": int(origin), "errors": errors(bt), "persistence_weight": weights,
                "note": "forecast from as_of − 1 h with the counts before it, against the counts after "
                        "it; the persistence weights are chosen on it (in-sample)"}  # fmt: skip
    lrows, crows = [], []
    ck = res.tables["cells_5min"]
    tc = rp.start_s + ck["t_start_s"].to_numpy()
    for h in HORIZONS_MIN:
        t1 = as_of_s + 60 * h
        sel = (t_abs >= t1 - SLOT_S) & (t_abs < t1)
        g = lk[sel].groupby("link_id").agg(veh=("inflow_veh", "sum"), speed_kmh=("speed_kmh", "mean"))
        shut_h = g.index.isin(list(closed_at[h]))
        g, shut_h = g[(g["veh"] > 0) | shut_h], shut_h[(g["veh"] > 0) | shut_h]
        lrows.append(pd.DataFrame({"link_id": g.index.to_numpy(), "horizon_min": h,
                                   "flow_veh_h": (g["veh"] * 3600.0 / SLOT_S * ratio_all).to_numpy(),
                                   "speed_kmh": g["speed_kmh"].to_numpy(), "closed": shut_h}))  # fmt: skip
        c = ck[(tc >= t1 - SLOT_S) & (tc < t1)].groupby("cell")["congestion_index"].mean().dropna()
        crows.append(pd.DataFrame({"cell": c.index.to_numpy(), "horizon_min": h,
                                   "congestion_index": c.to_numpy()}))  # fmt: skip
    return Nowcast(
        as_of_s=int(as_of_s), counted=counted, links=pd.concat(lrows, ignore_index=True),
        cells=pd.concat(crows, ignore_index=True), backtest=backtest, ratio_all=ratio_all,
    )  # fmt: skip


def with_actual(nc: Nowcast, counts: pd.DataFrame) -> pd.DataFrame:
    """Return `nc`'s counted-link table with the rate later counted in each horizon's 15 minutes (for
    scoring a forecast against counts it was not given, e.g. the hidden truth's)."""
    obs = observations(counts)
    out = nc.counted.copy()
    actual = np.full(len(out), np.nan)
    for h in HORIZONS_MIN:
        t1 = nc.as_of_s + 60 * h
        sel = (out["horizon_min"] == h).to_numpy()
        actual[sel] = _rate(obs, t1 - SLOT_S, t1).reindex(out.loc[sel, "link_id"]).to_numpy()
    out["actual_veh_h"] = actual
    return out
