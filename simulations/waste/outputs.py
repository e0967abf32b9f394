"""Turn a finished waste model into a `RunResult`: KPIs, tidy tables, map layers, policy comparisons.

Layers (provenance ``simulated``): ``routes`` (one LineString per truck per day along the real links,
with a timestamp per vertex for playback), ``points`` (collection points with fill and KPIs),
``cells`` (H3 cells with KPIs). Tables: ``daily``, ``trucks_daily``, ``visits``, ``plans``,
``scheduled`` (day, point planned), ``fill_daily`` (each bin agent's fill at the end of each
day, from the mesa DataCollector), ``legs`` (every drive between two stops; location 0 is
the depot, 1 the disposal site, 2 + point id a point), ``wards``, ``cells``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from simulations.results import RunResult, mean_ci, paired_difference
from simulations.waste.agents import BinAgent
from twin import h3grid
from twin.crs import LOCAL_ZONE, WGS84
from twin.provenance import Provenance, attach

if TYPE_CHECKING:
    from simulations.waste.model import WasteModel

#: KPIs compared between policies, with the direction that is better.
COMPARED: dict[str, str] = {
    "km_driven": "lower",
    "truck_hours": "lower",
    "fuel_l": "lower",
    "co2_t": "lower",
    "tonnes_collected": "higher",
    "tonnes_overflow": "lower",
    "overflow_bin_hours": "lower",
    "overflow_share": "lower",
    "visits": "lower",
    "mean_fill_at_collection": "higher",
    "load_utilisation": "higher",
    "time_utilisation": "higher",
    "km_per_tonne": "lower",
    "overtime_hours": "lower",
}


def _prov(name: str, description: str, model: WasteModel) -> Provenance:
    return Provenance(
        name=name,
        source="simulated",
        licence="CC-BY-4.0",
        description=description,
        inputs=(model.network.provenance.name,),
        params={"seed": model.seed_value, "policy": model.params.policy.kind},
    )


def assemble(model: WasteModel, wall_s: float) -> RunResult:
    """Return the `RunResult` of a finished model."""
    p = model.params
    point_of = {a.unique_id: a.point for a in model.agents_by_type[BinAgent]}
    daily = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    daily["day"] = np.arange(len(daily))
    daily["date"] = [model.date_of(int(d)).isoformat() for d in daily["day"]]
    trucks = pd.DataFrame(
        model.truck_days,
        columns=[
            "day", "date", "truck", "km", "hours", "overtime_h", "trips", "extra_trips", "visits",
            "collected_kg", "peak_load_kg", "peak_load_l", "mean_load_share", "fuel_l", "co2_kg",
        ],
    )  # fmt: skip
    per_day = trucks.groupby("day")[["km", "hours", "fuel_l", "co2_kg", "visits"]].sum()
    daily = daily.join(per_day, on="day").fillna(dict.fromkeys(per_day.columns, 0.0))
    daily["balance_error_kg"] = (
        daily["initial_kg"]
        + daily["generated_kg"]
        - (daily["collected_kg"] + daily["in_bins_kg"] + daily["overflow_kg"])
    )
    visits = pd.DataFrame(
        [v.__dict__ for v in model.visits],
        columns=["day", "truck", "point", "time_s", "lifted_kg", "fill_before", "part"],
    )
    plans = pd.DataFrame(model.plans)
    fill = model.datacollector.get_agenttype_vars_dataframe(BinAgent).reset_index()
    fill = pd.DataFrame(
        {
            "day": fill["Step"].to_numpy() // 24 - 1,
            "point": fill["AgentID"].map(lambda a: point_of[a]).to_numpy(),
            "fill": fill["fill"].to_numpy(),
            "content_kg": fill["content_kg"].to_numpy(),
        }
    )
    points = _points_layer(model, visits)
    wards = _group_kpis(points, "ward_code")
    if model.wards is not None and "name" in model.wards.columns:
        names = model.wards["name"].astype(str)
        names.index = names.index.astype(str)
        wards.insert(0, "name", names.reindex(wards.index.astype(str)).fillna("").to_numpy())
    cells = _group_kpis(points, "cell")
    kpis = _kpis(model, trucks, visits)
    kpis["wall_s"] = wall_s
    layers: dict[str, gpd.GeoDataFrame] = {
        "routes": routes_layer(model),
        "points": points,
        "cells": _cells_layer(model, cells),
    }
    return RunResult(
        kind="waste",
        params=p.to_dict(),
        seed=model.seed_value,
        kpis=kpis,
        tables={
            "daily": daily,
            "trucks_daily": trucks,
            "visits": visits,
            "plans": plans,
            "fill_daily": fill,
            "scheduled": pd.DataFrame(model.scheduled, columns=["day", "point"]),
            "legs": pd.DataFrame(
                [(g.day, g.truck, g.frm, g.to, g.depart_s, g.arrive_s, g.distance_m) for g in model.legs],
                columns=["day", "truck", "frm", "to", "depart_s", "arrive_s", "distance_m"],
            ),
            "wards": wards,
            "cells": cells,
        },
        layers=layers,
        meta={
            "network": model.network.provenance.to_dict(),
            "sites": _sites(model),
            "points": len(model.points),
            "containers": int(model.containers.sum()),
            "synthetic": True,
            "source": "simulated",
            "factors": {
                "fuel_l_per_km": p.fleet.fuel_l_per_km,
                "idle_l_per_h": p.fleet.idle_l_per_h,
                "co2_kg_per_l": p.fleet.co2_kg_per_l,
            },
        },
    )


def _sites(model: WasteModel) -> dict[str, object]:
    out = model.sites.to_dict()
    nodes = model.network.nodes
    for key in ("depot", "disposal"):
        node = int(out[f"{key}_node"])  # type: ignore[call-overload]
        out[f"{key}_lonlat"] = [float(nodes["x"].iloc[node]), float(nodes["y"].iloc[node])]
    return out


def _kpis(model: WasteModel, trucks: pd.DataFrame, visits: pd.DataFrame) -> dict[str, float]:
    p = model.params
    first = visits[visits["part"] == 0] if len(visits) else visits
    km = float(trucks["km"].sum())
    hours = float(trucks["hours"].sum())
    collected_t = model.collected_kg / 1000.0
    generated_t = model.generated_kg / 1000.0
    loads = trucks.loc[trucks["trips"] > 0, "mean_load_share"]
    return {
        "days": float(p.days),
        "points": float(len(model.points)),
        "containers": float(model.containers.sum()),
        "trucks": float(p.fleet.trucks),
        "km_driven": km,
        "truck_hours": hours,
        "overtime_hours": float(trucks["overtime_h"].sum()),
        "fuel_l": float(trucks["fuel_l"].sum()),
        "co2_t": float(trucks["co2_kg"].sum()) / 1000.0,
        "tonnes_generated": generated_t,
        "tonnes_collected": collected_t,
        "tonnes_delivered": model.delivered_kg / 1000.0,
        "tonnes_overflow": model.overflow_kg / 1000.0,
        "overflow_share": model.overflow_kg / model.generated_kg if model.generated_kg else 0.0,
        "overflow_bin_hours": model.overflow_bin_hours,
        "visits": float(len(first)),
        "trips_to_disposal": float(trucks["trips"].sum()),
        "extra_trips": float(trucks["extra_trips"].sum()),
        "mean_fill_at_collection": float(first["fill_before"].mean()) if len(first) else 0.0,
        "load_utilisation": float(loads.mean()) if len(loads) else 0.0,
        "time_utilisation": hours / (p.fleet.trucks * p.fleet.shift_hours * p.days),
        "km_per_tonne": km / collected_t if collected_t else 0.0,
        "unreachable_visits": float(model.unreachable_visits),
        "tonnes_initial": model.initial_kg / 1000.0,
        "mass_balance_error_kg": abs(
            model.initial_kg
            + model.generated_kg
            - model.collected_kg
            - float(model.content_kg.sum())
            - model.overflow_kg
        ),
    }


def _points_layer(model: WasteModel, visits: pd.DataFrame) -> gpd.GeoDataFrame:
    pts = model.points.copy()
    pts["fill"] = model.content_kg / model.capacity_kg
    pts["content_kg"] = model.content_kg
    pts["generated_kg"] = model.point_generated_kg
    pts["collected_kg"] = model.point_collected_kg
    pts["overflow_kg"] = model.point_overflow_kg
    pts["overflow_hours"] = model.point_full_hours
    pts["visits"] = model.point_visits
    first = visits[visits["part"] == 0] if len(visits) else visits
    mean_fill = first.groupby("point")["fill_before"].mean() if len(first) else pd.Series(dtype=float)
    pts["mean_fill_at_collection"] = mean_fill.reindex(pts.index).fillna(0.0).to_numpy()
    return attach(pts, _prov("waste_points", "collection points with simulated fill and KPIs", model))


def _group_kpis(points: pd.DataFrame, key: str) -> pd.DataFrame:
    cols = {
        "points": ("node", "size"),
        "containers": ("containers", "sum"),
        "population": ("population", "sum"),
        "generated_kg": ("generated_kg", "sum"),
        "collected_kg": ("collected_kg", "sum"),
        "overflow_kg": ("overflow_kg", "sum"),
        "overflow_bin_hours": ("overflow_hours", "sum"),
        "visits": ("visits", "sum"),
        "fill_now": ("fill", "mean"),
    }
    out = points.groupby(key).agg(**cols)  # type: ignore[call-overload]
    out["overflow_share"] = np.where(out["generated_kg"] > 0, out["overflow_kg"] / out["generated_kg"], 0.0)
    return out


def _cells_layer(model: WasteModel, cells: pd.DataFrame) -> gpd.GeoDataFrame:
    ids = [c for c in cells.index if h3grid.is_valid(str(c))]
    gdf = gpd.GeoDataFrame(
        cells.loc[ids], geometry=h3grid.cells_to_polygons([str(c) for c in ids]), crs=WGS84
    )
    return attach(gdf, _prov("waste_cells", "per-cell waste KPIs (simulated)", model))


def sim_time_to_utc(model: WasteModel, t_s: float) -> datetime:
    """Return the UTC instant of `t_s` seconds after the run's start (local midnight of day 0)."""
    start = datetime.combine(model.params.start_date, time(0, 0), tzinfo=LOCAL_ZONE)
    return (start + timedelta(seconds=float(t_s))).astimezone(UTC)


def routes_layer(model: WasteModel) -> gpd.GeoDataFrame:
    """Return one LineString per truck per day along the driven links, with vertex timestamps.

    Properties: ``truck``, ``day``, ``date``, ``km``, ``start`` / ``end`` (ISO UTC), and
    ``timestamps`` (UNIX seconds, one per vertex: the deck.gl TripsLayer format).
    """
    x = model.network.nodes["x"].to_numpy()
    y = model.network.nodes["y"].to_numpy()
    by_truck_day: dict[tuple[int, int], list[Any]] = {}
    for leg in model.legs:
        by_truck_day.setdefault((leg.day, leg.truck), []).append(leg)
    rows: list[dict[str, Any]] = []
    geoms: list[shapely.LineString] = []
    for (day, truck), legs in sorted(by_truck_day.items()):
        coords: list[tuple[float, float]] = []
        stamps: list[float] = []
        km = 0.0
        for leg in legs:
            travel = model.travel_cache[leg.travel_key]
            nodes = travel.path_nodes(leg.frm, leg.to)
            if len(nodes) < 2:
                continue
            links = travel.path_links(leg.frm, leg.to)
            lt = travel.link_time_s[np.asarray(links, dtype=np.int64)]
            cum = np.concatenate(([0.0], np.cumsum(lt)))
            frac = cum / cum[-1] if cum[-1] > 0 else np.linspace(0, 1, cum.size)
            ts = leg.depart_s + frac * (leg.arrive_s - leg.depart_s)
            start = 1 if coords and coords[-1] == (x[nodes[0]], y[nodes[0]]) else 0
            if start and stamps[-1] < ts[0]:
                # a stop (service or unloading): hold the position until departure
                coords.append(coords[-1])
                stamps.append(float(ts[0]))
            coords.extend((float(x[n]), float(y[n])) for n in nodes[start:])
            stamps.extend(float(t) for t in ts[start:])
            km += leg.distance_m / 1000.0
        if len(coords) < 2:
            continue
        epoch = sim_time_to_utc(model, 0.0).timestamp()
        geoms.append(shapely.LineString(coords))
        rows.append(
            {
                "truck": truck,
                "day": day,
                "date": model.date_of(day).isoformat(),
                "km": km,
                "start": sim_time_to_utc(model, stamps[0]).isoformat(),
                "end": sim_time_to_utc(model, stamps[-1]).isoformat(),
                "timestamps": [round(epoch + t, 1) for t in stamps],
            }
        )
    gdf = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["truck", "day", "date", "km", "start", "end", "timestamps"]),
        geometry=geoms,
        crs=WGS84,
    )
    return attach(gdf, _prov("waste_routes", "simulated truck routes along the road links", model))


def _mean_ci(values: np.ndarray[Any, Any]) -> tuple[float, float, float]:
    """Return (mean, low, high) of the 95 % interval of the mean (the mean itself with one seed)."""
    _, m, _, lo, hi = mean_ci(values.tolist())
    return (m, lo, hi) if len(values) > 1 else (m, m, m)


def comparison_table(a: list[RunResult], b: list[RunResult]) -> pd.DataFrame:
    """Return KPI means with 95 % CIs for two policies and their paired difference over seeds.

    `a` and `b` hold runs with the same seeds in the same order. Columns: ``kpi``, ``better``,
    ``a_mean``, ``a_low``, ``a_high``, the same for ``b`` and ``diff`` (b − a), ``change_pct``
    (b vs a), ``significant`` (the difference's CI excludes 0), and ``n_seeds``.
    """
    if [r.seed for r in a] != [r.seed for r in b]:
        raise ValueError("the two policies must be run on the same seeds")
    rows = []
    for kpi, better in COMPARED.items():
        va = np.array([r.kpis[kpi] for r in a])
        vb = np.array([r.kpis[kpi] for r in b])
        am, al, ah = _mean_ci(va)
        bm, bl, bh = _mean_ci(vb)
        diff = paired_difference(va, vb)
        dm, dl, dh = diff.mean, diff.ci_low, diff.ci_high
        if diff.n < 2:
            dl = dh = dm
        rows.append(
            {
                "kpi": kpi,
                "better": better,
                "a_mean": am,
                "a_low": al,
                "a_high": ah,
                "b_mean": bm,
                "b_low": bl,
                "b_high": bh,
                "diff_mean": dm,
                "diff_low": dl,
                "diff_high": dh,
                "change_pct": 100.0 * dm / am if am else float("nan"),
                "significant": bool(len(va) > 1 and (dl > 0 or dh < 0)),
                "p_value": diff.p_value,
                "n_seeds": len(va),
            }
        )
    return pd.DataFrame(rows)


def comparison_markdown(table: pd.DataFrame, name_a: str, name_b: str) -> str:
    """Return the comparison table as markdown (means with 95 % CI, change of b vs a)."""
    lines = [
        f"| KPI | {name_a} | {name_b} | {name_b} − {name_a} (95 % CI) | change | better |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        star = " *" if r.significant else ""
        lines.append(
            f"| {r.kpi} | {r.a_mean:,.4g} [{r.a_low:,.4g}, {r.a_high:,.4g}] "
            f"| {r.b_mean:,.4g} [{r.b_low:,.4g}, {r.b_high:,.4g}] "
            f"| {r.diff_mean:+,.4g} [{r.diff_low:+,.4g}, {r.diff_high:+,.4g}]{star} "
            f"| {r.change_pct:+.1f} % | {r.better} |"
        )
    n = int(table["n_seeds"].iloc[0]) if len(table) else 0
    lines.append(f"\n{n} seeds; * the 95 % CI of the paired difference excludes 0.")
    return "\n".join(lines)
