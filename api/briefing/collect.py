"""Gather the briefing's facts: live events, camera health, hotspots, citizen reports, scenarios.

Everything is read through the event store's interface (`api.store.base.Store`), the city model
and the stored scenario results; nothing here draws or formats. Times are UTC.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd

from api.store.base import CameraSnapshot, EventRecord, ReportRecord, Store
from simulations.results import StoredResult, cell_difference
from twin import h3grid, hotspots
from twin.city import City
from twin.errors import InputError

#: Resolution of the event map and the hotspot test (res 9 ≈ 0.1 km²).
RES = 9
#: A connected camera counts as online if it was seen this recently before the period's end.
ONLINE_WITHIN = timedelta(minutes=15)

_PERIOD = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)


def parse_period(text: str) -> timedelta:
    """Return the length of a period written like ``24h``, ``7d`` or ``2w``."""
    m = _PERIOD.match(text)
    if not m or int(m.group(1)) == 0:
        raise InputError("period", f"{text!r} is not a period like 24h, 7d or 2w")
    n, unit = int(m.group(1)), m.group(2).lower()
    delta = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    if delta > timedelta(days=366):
        raise InputError("period", "a briefing covers at most one year")
    return delta


@dataclass
class ScenarioFacts:
    """Two finished scenario runs side by side."""

    id_a: str
    id_b: str
    name_a: str
    name_b: str
    kpis: pd.DataFrame
    diff: gpd.GeoDataFrame | None
    diff_column: str | None
    closed: gpd.GeoDataFrame | None
    seeds: int
    synthetic: bool = True


@dataclass
class Facts:
    """What the briefing reports on, for one period."""

    start: datetime
    end: datetime
    wards: pd.DataFrame  # index code; name, population
    events: pd.DataFrame  # one row per event: category, ward_code, cell, day, synthetic
    by_category: pd.Series
    by_ward: pd.DataFrame  # index ward code; name, population, total, per_10k and one column per category
    cell_counts: pd.Series  # H3 cell → events
    hot: pd.DataFrame  # hot cells: count, gi_z, ward name
    cameras: gpd.GeoDataFrame
    cameras_total: int
    cameras_connected: int
    cameras_online: int | None
    availability: float | None
    camera_history: pd.DataFrame  # at, online, connected, total
    reports: pd.DataFrame  # one row per report: service_code, status, hours_to_close, ward_code
    alerts: dict[str, int]
    scenario: ScenarioFacts | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def synthetic_share(self) -> float:
        """Share of the period's events labelled synthetic."""
        return float(self.events["synthetic"].mean()) if len(self.events) else 0.0


def _event_rows(events: list[EventRecord], end: datetime) -> pd.DataFrame:
    rows = []
    for e in events:
        if e.start_time >= end:
            continue
        cell = e.cells.get(RES)
        cell_hex = h3grid.hex_of(cell) or ""
        rows.append(
            {
                "event_id": e.event_id,
                "category": e.category,
                "ward_code": e.ward_code,
                "cell": cell_hex,
                "camera_id": e.camera_id,
                "time": e.start_time,
                "synthetic": bool(e.synthetic),
                "lon": e.lon,
                "lat": e.lat,
            }
        )
    cols = ["event_id", "category", "ward_code", "cell", "camera_id", "time", "synthetic", "lon", "lat"]
    return pd.DataFrame(rows, columns=cols)


def _report_rows(reports: list[ReportRecord]) -> pd.DataFrame:
    rows = []
    for r in reports:
        closed = r.status == "closed"
        hours = (r.updated_at - r.requested_at).total_seconds() / 3600.0 if closed else math.nan
        rows.append(
            {
                "request_id": r.request_id,
                "service_code": r.service_code,
                "status": r.status,
                "ward_code": r.ward_code,
                "requested_at": r.requested_at,
                "hours_to_close": hours,
                "synthetic": bool(r.synthetic),
            }
        )
    cols = [
        "request_id",
        "service_code",
        "status",
        "ward_code",
        "requested_at",
        "hours_to_close",
        "synthetic",
    ]
    return pd.DataFrame(rows, columns=cols)


def _camera_facts(
    store: Store, city: City, start: datetime, end: datetime
) -> tuple[int | None, float | None, pd.DataFrame]:
    history = [s for s in store.camera_history(start, limit=100_000) if s.at <= end]
    hist = pd.DataFrame(
        [{"at": s.at, "online": s.online, "connected": s.connected, "total": s.total} for s in history],
        columns=["at", "online", "connected", "total"],
    )
    connected = set(city.cameras.loc[city.cameras["connected"].astype(bool), "camera_id"].astype(str))
    seen = store.camera_last_seen()
    online_now: int | None = None
    if history:
        last: CameraSnapshot = history[-1]
        online_now = int(last.online)
    elif seen:
        online_now = sum(1 for cam, t in seen.items() if cam in connected and end - ONLINE_WITHIN <= t <= end)
    availability = None
    if len(hist) and (hist["connected"] > 0).any():
        ok = hist[hist["connected"] > 0]
        availability = float((ok["online"] / ok["connected"]).mean())
    return online_now, availability, hist


def collect(
    store: Store,
    city: City,
    *,
    end: datetime,
    period: timedelta,
    scenario: tuple[StoredResult, StoredResult, str, str] | None = None,
) -> Facts:
    """Gather the facts of the period ``[end - period, end)`` (UTC).

    Parameters
    ----------
    store
        The live event store (read only).
    city
        The city model (wards, cameras, cells).
    end
        End of the period (aware UTC).
    period
        Its length.
    scenario
        Optionally two finished scenario results and their job ids (A, B, id A, id B).
    """
    start = end - period
    core = city.core_wards
    wards = pd.DataFrame(
        {"name": core["name"].astype(str), "population": pd.to_numeric(core["population"], errors="coerce")},
        index=core.index.astype(str),
    )
    events = _event_rows(store.events_since(start), end)
    by_category = events["category"].value_counts().sort_values(ascending=False)
    table = pd.crosstab(events["ward_code"], events["category"]) if len(events) else pd.DataFrame()
    by_ward = wards.copy()
    by_ward = by_ward.join(table, how="left").fillna(0) if len(table) else by_ward
    cats = [c for c in by_ward.columns if c not in ("name", "population")]
    by_ward["total"] = by_ward[cats].sum(axis=1) if cats else 0
    by_ward["per_10k"] = by_ward["total"] / by_ward["population"] * 10_000
    by_ward = by_ward.sort_values("total", ascending=False)
    cell_counts = events[events["cell"] != ""].groupby("cell").size().astype(float)
    hot = _hotspots(cell_counts, city, wards)
    online, availability, hist = _camera_facts(store, city, start, end)
    reports = _report_rows(store.list_reports(since=start, until=end, limit=100_000))
    alerts: dict[str, int] = {}
    for a in store.list_alerts(limit=10_000):
        if start <= a.created_at < end:
            alerts[a.status] = alerts.get(a.status, 0) + 1
    facts = Facts(
        start=start,
        end=end,
        wards=wards,
        events=events,
        by_category=by_category,
        by_ward=by_ward,
        cell_counts=cell_counts,
        hot=hot,
        cameras=city.cameras,
        cameras_total=len(city.cameras),
        cameras_connected=int(city.cameras["connected"].astype(bool).sum()),
        cameras_online=online,
        availability=availability,
        camera_history=hist,
        reports=reports,
        alerts=alerts,
    )
    if scenario is not None:
        facts.scenario = scenario_facts(*scenario)
    facts.sources = sources(city, facts)
    return facts


def _hotspots(cell_counts: pd.Series, city: City, wards: pd.DataFrame) -> pd.DataFrame:
    cols = ["count", "gi_z", "p_fdr", "ward"]
    if cell_counts.empty or cell_counts.sum() == 0:
        return pd.DataFrame(columns=cols)
    universe = set(city.cells(RES).index.astype(str)) | set(cell_counts.index)
    result = hotspots.getis_ord(cell_counts, k=1, universe=sorted(universe))
    hot = result[result["hotspot"] == "hot"].sort_values("gi_z", ascending=False).copy()
    if hot.empty:
        return pd.DataFrame(columns=cols)
    lat_lon = [h3grid.cell_to_latlng(c) for c in hot.index]
    codes = city.ward_of([p[1] for p in lat_lon], [p[0] for p in lat_lon])
    hot["ward"] = [str(wards["name"].get(c, "")) for c in codes]
    return hot[cols]


#: The difference-layer column drawn on the scenario map, most telling first.
_DIFF_COLUMNS = ("mean_congestion_index", "vehicle_km", "volume_veh", "tonnes_overflow", "overflow_bin_hours")


def scenario_facts(a: StoredResult, b: StoredResult, id_a: str, id_b: str) -> ScenarioFacts:
    """Compare two stored runs: KPI table and the H3 difference layer of the most telling layer."""
    kpis = a.compare(b)
    common = sorted(set(a.layer_names) & set(b.layer_names))
    diff = column = None
    for name in ("traffic.cells", "waste.cells", *common):
        if name not in common:
            continue
        d = cell_difference(a.layer(name), b.layer(name), 8, name)
        for col in _DIFF_COLUMNS:
            if f"{col}_delta" in d.columns:
                diff, column = d, f"{col}_delta"
                break
        if diff is not None:
            break
    closed = None
    if "traffic.links" in b.layer_names:
        links = b.layer("traffic.links")
        if "closed_any" in links.columns and links["closed_any"].astype(bool).any():
            closed = links[links["closed_any"].astype(bool)]
    seeds = int(min(len(a.doc.get("seeds", [])), len(b.doc.get("seeds", []))))
    return ScenarioFacts(
        id_a=id_a,
        id_b=id_b,
        name_a=str(a.doc.get("name", id_a)),
        name_b=str(b.doc.get("name", id_b)),
        kpis=kpis,
        diff=diff,
        diff_column=column,
        closed=closed,
        seeds=seeds,
    )


def sources(city: City, facts: Facts) -> list[dict[str, Any]]:
    """Return what each part of the briefing rests on: real, synthetic or simulated."""
    net = city.network.provenance
    wards_src = str(city.wards.attrs.get("provenance", {}).get("url", "")) or "vietnamese-provinces-database"
    reports_synthetic = bool(len(facts.reports) and facts.reports["synthetic"].any())
    out = [
        {"name": "wards_2025", "kind": "real", "source": wards_src},
        {
            "name": "roads",
            "kind": "synthetic" if net.synthetic else "real",
            "source": net.description or net.name,
        },
        {"name": "cameras", "kind": "synthetic", "source": "generated registry (238 sites, 50 connected)"},
        {
            "name": "events",
            "kind": "synthetic" if facts.synthetic_share > 0 else "real",
            "source": f"{len(facts.events)} events ({facts.synthetic_share:.0%} labelled synthetic)",
        },
        {
            "name": "reports",
            "kind": "synthetic" if reports_synthetic else "real",
            "source": f"{len(facts.reports)} Open311 requests",
        },
    ]
    if facts.scenario is not None:
        out.append(
            {
                "name": "scenarios",
                "kind": "simulated",
                "source": f"{facts.scenario.name_a} / {facts.scenario.name_b}",
            }
        )
    return out


def headline(kpis: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Return the rows of a KPI comparison whose names are in `names`, in that order."""
    finite = kpis[pd.to_numeric(kpis["a"], errors="coerce").notna()]
    rows = finite.set_index("kpi")
    keep = [n for n in names if n in rows.index]
    return rows.loc[keep].reset_index()
