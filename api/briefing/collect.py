"""Gather the briefing's facts: live events, camera health, hotspots, citizen reports, scenarios.

Everything is read through the event store's interface (`api.store.base.Store`), the city model
and the stored scenario results; nothing here draws or formats. Times are stored and compared in
UTC; the pages show them in Lạng Sơn time (UTC+7). The period is a reporting period of the regime
(`api.briefing.periods`); the previous period is collected alongside it for the comparison.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import pandas as pd

from api.briefing.periods import Period
from api.services.incidents import StreetLocator, UnitDirectory
from api.store.base import CameraSnapshot, EventRecord, ReportRecord, Store
from simulations.results import StoredResult, cell_difference
from twin import h3grid, hotspots
from twin.city import City

#: Resolution of the event map and the hotspot test (res 9 ≈ 0.1 km²).
RES = 9
#: A connected camera counts as online if it was seen this recently before the period's end.
ONLINE_WITHIN = timedelta(minutes=15)
#: A hotspot is reported only with at least this many events in its cell (fewer is chance, not a place
#: to send a patrol to; the public view's floor is 3).
MIN_HOTSPOT_EVENTS = 5
#: Scenario results are presented only with at least this many seeds shared by the run and its baseline.
MIN_SEEDS = 5
#: Rates per day are given only over at least this much observed time.
MIN_OBSERVED = timedelta(hours=1)


@dataclass
class ScenarioFacts:
    """A finished scenario run beside its finished baseline (A: the baseline, B: the scenario)."""

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
class Observed:
    """The time a period actually holds data for: first and last record (events, snapshots, reports)."""

    first: datetime | None
    last: datetime | None

    @property
    def span(self) -> timedelta:
        """Return how long data was observed (0 without data)."""
        return self.last - self.first if self.first and self.last else timedelta(0)

    def per_day(self, count: float) -> float:
        """Return `count` per day of observed time (NaN below `MIN_OBSERVED`)."""
        span = self.span
        return count / (span / timedelta(days=1)) if span >= MIN_OBSERVED else math.nan


@dataclass
class PreviousFacts:
    """The previous period's figures that the comparison needs."""

    period: Period
    observed: Observed
    events: int
    by_ward: pd.Series  # ward code → events
    by_category: pd.Series
    reports: int
    reports_on_time: int
    reports_closed: int
    hotspots: int
    availability: float | None


@dataclass
class Facts:
    """What the briefing reports on, for one period."""

    period: Period
    observed: Observed
    wards: pd.DataFrame  # index code; name, population
    events: pd.DataFrame  # one row per event: category, ward_code, cell, day, synthetic
    by_category: pd.Series
    by_ward: pd.DataFrame  # index ward code; name, population, total, per_10k and one column per category
    cell_counts: pd.Series  # H3 cell → events
    hot: pd.DataFrame  # hot cells with ≥ MIN_HOTSPOT_EVENTS: count, gi_z, p_fdr, ward, ward_code, place
    hot_left_out: int  # significant cells left out for having too few events
    cameras: gpd.GeoDataFrame
    cameras_total: int
    cameras_connected: int
    cameras_online: int | None
    availability: float | None
    camera_history: pd.DataFrame  # at, online, connected, total
    reports: pd.DataFrame  # one row per report: service_code, status, unit, target and whether met
    alerts: dict[str, int]
    directory: UnitDirectory
    previous: PreviousFacts | None = None
    scenario: ScenarioFacts | None = None
    scenario_refused: str | None = None  # why the named runs are not presented (English, for the log)
    scenario_refused_code: str | None = None  # key of the reason (text.REFUSALS)
    sources: list[dict[str, Any]] = field(default_factory=list)
    forecast: dict[str, Any] | None = None  # the next-hour forecast's summary (`api.services.forecast`)

    @property
    def start(self) -> datetime:
        """Return the period's start (UTC)."""
        return self.period.start

    @property
    def end(self) -> datetime:
        """Return the period's end (UTC, exclusive)."""
        return self.period.end

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


_REPORT_COLUMNS = [
    "request_id", "service_code", "status", "ward_code", "requested_at", "hours_to_close", "synthetic",
    "unit_id", "target_hours", "on_time", "overdue",
]  # fmt: skip


def _report_rows(
    store: Store, reports: list[ReportRecord], directory: UnitDirectory, end: datetime
) -> pd.DataFrame:
    """One row per report: its unit (the incident's, else the routing rules'), status and target.

    The workflow status is the incident's when the report has one (new … closed), else the Open311
    status (open → new, closed → closed). A closed report met its target if it closed within its
    category's target time; an open one is overdue once that time has passed by the period's end.
    """
    rows = []
    for r in reports:
        incident = store.incident_of_source(f"report:{r.request_id}")
        status = incident.status if incident is not None else ("closed" if r.status == "closed" else "new")
        done = status in ("resolved", "closed") or r.status == "closed"
        hours = (r.updated_at - r.requested_at).total_seconds() / 3600.0 if done else math.nan
        unit = (incident.unit_id if incident is not None else None) or directory.route(
            r.service_code, r.ward_code
        )
        target = directory.target(r.service_code)
        target_h = target.total_seconds() / 3600.0 if target is not None else math.nan
        rows.append(
            {
                "request_id": r.request_id,
                "service_code": r.service_code,
                "status": status,
                "ward_code": r.ward_code,
                "requested_at": r.requested_at,
                "hours_to_close": hours,
                "synthetic": bool(r.synthetic),
                "unit_id": unit or "",
                "target_hours": target_h,
                "on_time": bool(done and hours <= target_h),
                "overdue": bool(not done and target is not None and r.requested_at + target < end),
            }
        )
    return pd.DataFrame(rows, columns=_REPORT_COLUMNS)


def _camera_facts(
    store: Store, city: City, start: datetime, end: datetime
) -> tuple[int | None, float | None, pd.DataFrame]:
    history = [s for s in store.camera_history(start, limit=100_000) if s.at < end]
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


def _observed(events: pd.DataFrame, hist: pd.DataFrame, reports: pd.DataFrame) -> Observed:
    times = [*events["time"], *hist["at"], *reports["requested_at"]]
    return Observed(min(times), max(times)) if times else Observed(None, None)


def _window(
    store: Store, city: City, directory: UnitDirectory, start: datetime, end: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int | None, float | None]:
    """Return events, reports, camera history, cameras online and availability of ``[start, end)``."""
    events = _event_rows(store.events_since(start), end)
    online, availability, hist = _camera_facts(store, city, start, end)
    records = [r for r in store.list_reports(since=start, until=end, limit=100_000) if r.requested_at < end]
    reports = _report_rows(store, records, directory, end)
    return events, reports, hist, online, availability


def collect(
    store: Store,
    city: City,
    *,
    period: Period,
    scenario: tuple[StoredResult, StoredResult, str, str] | None = None,
    directory: UnitDirectory | None = None,
) -> Facts:
    """Gather the facts of `period` (``[start, end)``, UTC) and of the period before it.

    Parameters
    ----------
    store
        The live event store (read only).
    city
        The city model (wards, cameras, cells, road names).
    period
        The reporting period (`api.briefing.periods.parse_period`).
    scenario
        Optionally the finished baseline and scenario results and their job ids (A, B, id A, id B);
        presented only if A is B's baseline and they share `MIN_SEEDS` seeds (else `scenario_refused`).
    directory
        The city units and their targets (default ``api/services/units.toml``).
    """
    start, end = period.start, period.end
    directory = directory or UnitDirectory.load()
    core = city.core_wards
    wards = pd.DataFrame(
        {"name": core["name"].astype(str), "population": pd.to_numeric(core["population"], errors="coerce")},
        index=core.index.astype(str),
    )
    events, reports, hist, online, availability = _window(store, city, directory, start, end)
    observed = _observed(events, hist, reports)
    by_category = events["category"].value_counts().sort_values(ascending=False)
    table = pd.crosstab(events["ward_code"], events["category"]) if len(events) else pd.DataFrame()
    by_ward = wards.copy()
    by_ward = by_ward.join(table, how="left").fillna(0) if len(table) else by_ward
    cats = [c for c in by_ward.columns if c not in ("name", "population")]
    by_ward["total"] = by_ward[cats].sum(axis=1) if cats else 0
    by_ward["per_10k"] = by_ward["total"] / by_ward["population"] * 10_000
    by_ward["per_day"] = [observed.per_day(v) for v in by_ward["total"]]
    by_ward = by_ward.sort_values("total", ascending=False)
    cell_counts = events[events["cell"] != ""].groupby("cell").size().astype(float)
    hot, left_out = _hotspots(cell_counts, city, wards)
    alerts: dict[str, int] = {}
    for alert in store.list_alerts(limit=10_000):
        if start <= alert.created_at < end:
            alerts[alert.status] = alerts.get(alert.status, 0) + 1
    facts = Facts(
        period=period,
        observed=observed,
        wards=wards,
        events=events,
        by_category=by_category,
        by_ward=by_ward,
        cell_counts=cell_counts,
        hot=hot,
        hot_left_out=left_out,
        cameras=city.cameras,
        cameras_total=len(city.cameras),
        cameras_connected=int(city.cameras["connected"].astype(bool).sum()),
        cameras_online=online,
        availability=availability,
        camera_history=hist,
        reports=reports,
        alerts=alerts,
        directory=directory,
    )
    facts.previous = _previous(store, city, wards, directory, period.previous())
    if scenario is not None:
        a, b, id_a, id_b = scenario
        refusal = scenario_refusal(a, b, id_a, id_b)
        if refusal is None:
            facts.scenario = scenario_facts(a, b, id_a, id_b)
        else:
            facts.scenario_refused_code, facts.scenario_refused = refusal
    facts.sources = sources(city, facts)
    return facts


def _previous(
    store: Store, city: City, wards: pd.DataFrame, directory: UnitDirectory, period: Period
) -> PreviousFacts:
    events, reports, hist, _, availability = _window(store, city, directory, period.start, period.end)
    counts = events[events["cell"] != ""].groupby("cell").size().astype(float)
    hot, _ = _hotspots(counts, city, wards)
    done = reports["status"].isin(["resolved", "closed"])
    return PreviousFacts(
        period=period,
        observed=_observed(events, hist, reports),
        events=len(events),
        by_ward=events["ward_code"].value_counts(),
        by_category=events["category"].value_counts(),
        reports=len(reports),
        reports_on_time=int(reports["on_time"].sum()),
        reports_closed=int(done.sum()),
        hotspots=len(hot),
        availability=availability,
    )


def _hotspots(cell_counts: pd.Series, city: City, wards: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return the hot cells with at least `MIN_HOTSPOT_EVENTS` events, named by ward and nearest street
    or site, and how many significant cells were left out for having fewer."""
    cols = ["count", "gi_z", "p_fdr", "ward", "ward_code", "place"]
    if cell_counts.empty or cell_counts.sum() == 0:
        return pd.DataFrame(columns=cols), 0
    universe = set(city.cells(RES).index.astype(str)) | set(cell_counts.index)
    result = hotspots.getis_ord(cell_counts, k=1, universe=sorted(universe))
    hot = result[result["hotspot"] == "hot"].sort_values("gi_z", ascending=False).copy()
    enough = hot["count"] >= MIN_HOTSPOT_EVENTS
    left_out = int((~enough).sum())
    hot = hot[enough]
    if hot.empty:
        return pd.DataFrame(columns=cols), left_out
    lat_lon = [h3grid.cell_to_latlng(c) for c in hot.index]
    codes = city.ward_of([p[1] for p in lat_lon], [p[0] for p in lat_lon])
    hot["ward_code"] = [str(c) for c in codes]
    hot["ward"] = [str(wards["name"].get(c, "")) for c in codes]
    streets = _streets(city)
    hot["place"] = [streets.nearest(lon, lat) for lat, lon in lat_lon]
    return hot[cols], left_out


def _streets(city: City) -> StreetLocator:
    """The incidents' locator of the nearest named street or camera site, over this city model."""
    cams = {
        str(r.camera_id): SimpleNamespace(name=str(r.name), lon=float(r.geometry.x), lat=float(r.geometry.y))
        for r in city.cameras.itertuples(index=False)
    }
    return StreetLocator(city, cams)


def _spec(result: StoredResult) -> dict[str, Any]:
    path = result.path / "spec.json"
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def scenario_refusal(a: StoredResult, b: StoredResult, id_a: str, id_b: str) -> tuple[str, str] | None:
    """Return why runs A (reference) and B (scenario) may not be presented, or None if they may.

    B must be compared with a baseline: a different, finished run of the same kind without changes,
    sharing at least `MIN_SEEDS` seeds with B (the paired comparison needs the same seeds). Both
    jobs being finished is checked where they are opened (`api.services.scenarios.stored_result`).
    """
    if id_a == id_b:
        return "same_run", f"--scenario and --vs name the same run {id_a}"
    if _spec(a).get("changes"):
        return (
            "not_baseline",
            f"run {id_a} changes the city ({len(_spec(a)['changes'])} changes): not a baseline",
        )
    if a.doc.get("kind") != b.doc.get("kind"):
        return "kinds", f"run {id_a} is {a.doc.get('kind')}, run {id_b} is {b.doc.get('kind')}"
    common = set(a.doc.get("seeds", [])) & set(b.doc.get("seeds", []))
    if len(common) < MIN_SEEDS:
        return "seeds", f"the runs share {len(common)} seeds; at least {MIN_SEEDS} are needed"
    return None


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
    seeds = len(set(a.doc.get("seeds", [])) & set(b.doc.get("seeds", [])))
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
    """Return what each part of the briefing rests on: real, synthetic or simulated.

    ``name`` is a dataset key (`api.briefing.text.DATASETS` names it); ``source`` is a public source's
    name or a count the page words (``count`` and ``share``).
    """
    net = city.network.provenance
    wards_src = str(city.wards.attrs.get("provenance", {}).get("url", "")) or "vietnamese-provinces-database"
    reports_synthetic = bool(len(facts.reports) and facts.reports["synthetic"].any())
    out: list[dict[str, Any]] = [
        {"name": "wards_2025", "kind": "real", "source": wards_src},
        {"name": "roads", "kind": "synthetic" if net.synthetic else "real",
         "source": net.description or net.name},
        {"name": "cameras", "kind": "synthetic", "source": "", "count": len(city.cameras),
         "connected": facts.cameras_connected},
        {"name": "events", "kind": "synthetic" if facts.synthetic_share > 0 else "real", "source": "",
         "count": len(facts.events), "share": facts.synthetic_share},
        {"name": "reports", "kind": "synthetic" if reports_synthetic else "real", "source": "",
         "count": len(facts.reports)},
    ]  # fmt: skip
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
