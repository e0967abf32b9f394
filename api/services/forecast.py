"""The next-hour traffic forecast while serving (issue 14): `GET /forecast`, the ``forecast`` stream
message, the viewer's forecast layer and "next hour" panel, the briefing's section.

A forecast is made at ``as_of``: the end of the newest counted interval (so replayed days forecast
from where their counts end). It runs the model (`simulations.traffic.forecast.nowcast`) on the
demand of the newest finished calibration job (`api.services.calibration.latest`; the baseline prior
when there is none), corrects it by the counts, and carries the persistence and last-week baselines
and the backtest error on counts it was not given. It is made again when newer counts arrive: on a
request, and every ``TWIN_FORECAST_EVERY_S`` seconds by the service's worker, which then publishes a
``forecast`` message (its summary; the map layer is ``GET /forecast``). With
``TWIN_RECALIBRATE_WINDOW_H`` > 0 the worker also re-calibrates on a rolling window: each whole hour
the counts reach past the newest calibration, it queues a calibration job of that many hours ending
there, and the forecast rests on it once done.

**Closures.** The run honours the road closures in force: those of the scenario base it runs (its
``closures``) and, for every open incident of a category that blocks the road (``closes_road_m`` in
the category table), the links within that radius of the incident, closed from when it opened (at the
earliest the run's start, at the latest ``as_of``) to the end of the run. The incident becomes a
scenario ``close`` change made into the traffic model's closure by the registry's closure hook (one
closure type); the forecast lists the closures it used, and is made again when they change. A counted
link closed at a horizon forecasts the model's flow there (no persistence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.errors import NotFound
from api.responses import dumps
from api.schemas import categories
from api.services import calibration
from api.services.bus import Message
from api.services.geojson import cell_ring, iso
from api.store.base import now_utc
from api.store.incidents import OPEN_STATUSES, IncidentQuery, IncidentRecord
from api.store.traffic_counts import TrafficCountQuery
from twin.crs import LOCAL_OFFSET
from twin.errors import TwinError
from twin.numbers import finite_or_none

if TYPE_CHECKING:
    from api.services.live import LiveService
    from api.store import Store
    from twin.city import City

log = logging.getLogger(__name__)


class NoCountsError(NotFound):
    """No traffic counts to forecast from (a 404 naming ``counts``)."""

    def __init__(self) -> None:
        TwinError.__init__(self, "no traffic counts yet: the forecast rests on them",
                           hint="cameras send them to POST /counts")  # fmt: skip
        self.kind, self.ident = "counts", ""


class Forecaster:
    """Makes and keeps the latest forecast of one service (one per app, on ``app.state.forecaster``)."""

    def __init__(self, live: LiveService, city_of: Any, state_dir: Path) -> None:
        self.live = live
        self._city_of = city_of  # () → City, built once
        self.state_dir = Path(state_dir)
        self.latest: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self._compute_lock = threading.Lock()

    async def current(self, now: datetime | None = None) -> tuple[dict[str, Any], bool]:
        """Return the forecast from the newest counts (made again if newer counts arrived) and whether
        it is new; publish a new one on the stream. Raise `NoCountsError` without counts."""
        now = now or now_utc()
        async with self._lock:
            as_of, cal_id = await asyncio.to_thread(basis, self.live.store, self.state_dir, now)
            if as_of is None:
                raise NoCountsError
            closing = await asyncio.to_thread(closing_incidents, self.live.store)
            last = self.latest
            if (last is not None and last["as_of"] == iso(as_of) and last["rests_on"]["calibration"] == cal_id
                    and last["closures"]["incidents"] == [i.incident_id for i in closing]):  # fmt: skip
                return last, False
            doc = await asyncio.to_thread(self._make, as_of)
            self.latest = doc
        self.live.bus.publish(Message("forecast", dumps(summary(doc)).decode()))
        return doc, True

    def _make(self, as_of: datetime) -> dict[str, Any]:
        with self._compute_lock:
            return make(self.live.store, self._city_of(), self.state_dir, as_of)


def basis(store: Store, state_dir: Path, now: datetime) -> tuple[datetime | None, str | None]:
    """Return what a forecast at `now` rests on: the end of the newest counts (on the 5-minute grid)
    and the newest calibration job's id."""
    end = store.traffic_counts_end(now + timedelta(minutes=5))
    cal = calibration.latest(store, state_dir)
    if end is None:
        return None, None
    return end.replace(minute=end.minute - end.minute % 5, second=0, microsecond=0), cal and cal[0]


def closing_incidents(store: Store) -> list[IncidentRecord]:
    """Return the open incidents, with a position, of a category that blocks the road (by id)."""
    table = categories.table()
    found = []
    for inc in store.list_incidents(IncidentQuery(statuses=OPEN_STATUSES, limit=10_000)):
        row = table.get(inc.category)
        if row is not None and row.closes_road_m and inc.lon is not None and inc.lat is not None:
            found.append(inc)
    return sorted(found, key=lambda i: i.incident_id)


def _clock(t: datetime) -> str:
    local = t + LOCAL_OFFSET
    return f"{local.hour:02d}:{local.minute:02d}"


def with_closures(
    params: Any, closing: list[IncidentRecord], city: City, as_of: datetime
) -> tuple[Any, list[dict[str, Any]]]:
    """Return `params` (`TrafficParams` set to the forecast's run) with the road closures of the
    `closing` incidents added, and every closure the run uses (the base's, then the incidents')."""
    from simulations import registry  # noqa: PLC0415
    from simulations.scenario import CloseChange  # noqa: PLC0415
    from simulations.traffic import forecast as fc  # noqa: PLC0415

    used: list[dict[str, Any]] = [
        {"source": "scenario", "reason": c.reason, "start": c.start, "end": c.end,
         "links": list(c.links), "names": list(c.names)}
        for c in params.closures
    ]
    earliest = as_of - timedelta(seconds=fc.BACK_S)
    added = []
    table = categories.table()
    for inc in closing:
        row = table.get(inc.category)
        if row is None or not row.closes_road_m or inc.lon is None or inc.lat is None:
            continue
        start = _clock(min(max(inc.first_at, earliest), as_of))
        change = CloseChange(type="close", name=f"{inc.incident_id}: {inc.title_en}", near=(inc.lon, inc.lat),
                             radius_m=row.closes_road_m, start=start)  # fmt: skip
        try:
            closure: Any = registry.get("traffic").closure(change, city.network)  # a TrafficClosure
        except TwinError as e:  # no road within the radius: nothing to close
            log.info("forecast: incident %s closes no road (%s)", inc.incident_id, e)
            continue
        added.append(closure)
        used.append({"source": "incident", "incident": inc.incident_id,
                     "url": f"/incidents/{inc.incident_id}", "category": inc.category,
                     "reason": closure.reason, "start": closure.start, "end": closure.end,
                     "links": list(closure.links)})  # fmt: skip
    if not added:
        return params, used
    data = params.to_dict()
    data["closures"] = [*data.get("closures", []), *(c.model_dump(mode="json") for c in added)]
    return type(params).from_dict(data, where="forecast closures"), used


def make(store: Store, city: City, state_dir: Path, as_of: datetime) -> dict[str, Any]:
    """Make the forecast from `as_of` (blocking: runs the traffic model) as `GET /forecast` answers it."""
    from api.services.traffic_counts import model_table  # noqa: PLC0415
    from simulations.traffic import forecast as fc  # noqa: PLC0415
    from simulations.traffic.params import TrafficParams  # noqa: PLC0415

    made = now_utc()
    week = timedelta(seconds=fc.WEEK_S)
    back, ahead = timedelta(seconds=fc.BACK_S), timedelta(seconds=fc.AHEAD_S)
    span = [(as_of - back, as_of), (as_of - week - back, as_of - week + ahead)]
    records = [r for t0, t1 in span for r in store.traffic_counts(TrafficCountQuery(t0, t1, limit=500_000))]
    table = model_table(records, as_of)
    local = as_of + LOCAL_OFFSET
    cal = calibration.latest(store, state_dir)
    params = TrafficParams.from_dict(cal[1], where="calibrated base") if cal else TrafficParams()
    as_of_s = local.hour * 3600 + local.minute * 60
    closing = closing_incidents(store)
    params, used = with_closures(fc.run_params(params, as_of_s), closing, city, as_of)
    nc = fc.nowcast(table, params=params, network=city.network, cells=city.cells(), as_of_s=as_of_s)
    synthetic = bool(records) and all(r.synthetic for r in records)
    doc = document(nc, city, as_of, made, cal, synthetic=synthetic)
    doc["closures"] = {"incidents": [i.incident_id for i in closing], "used": used}
    return doc


def summary_until(store: Store, city: City, state_dir: Path, until: datetime) -> dict[str, Any] | None:
    """Return the summary of the forecast from the newest counts before `until` (None without counts):
    the briefing's "next hour" section."""
    as_of, _ = basis(store, state_dir, until - timedelta(minutes=5))
    return None if as_of is None else summary(make(store, city, state_dir, as_of))


Calibrated = tuple[str, dict[str, Any], dict[str, Any]]


def document(
    nc: Any, city: City, as_of: datetime, made: datetime, cal: Calibrated | None, *, synthetic: bool
) -> dict[str, Any]:
    """Return the forecast as `GET /forecast` answers it (JSON)."""
    from simulations.traffic import forecast as fc  # noqa: PLC0415

    links = city.network.links
    geoms = links.geometry.to_numpy()
    names = links["name"].fillna("").astype(str).to_numpy()
    counted = nc.counted
    per_link: dict[int, dict[str, Any]] = {}
    for r in nc.links.itertuples():
        d = per_link.setdefault(int(r.link_id), {"link_id": int(r.link_id), "counted": False})
        d[f"flow_{r.horizon_min}_veh_h"] = round(float(r.flow_veh_h), 1)
        d[f"speed_{r.horizon_min}_kmh"] = _num(r.speed_kmh)
        if r.closed:
            d[f"closed_{r.horizon_min}"] = True
    for r in counted.itertuples():
        d = per_link.setdefault(int(r.link_id), {"link_id": int(r.link_id)})
        d["counted"] = True
        d["now_veh_h"] = _num(r.observed_now_veh_h)
        d[f"flow_{r.horizon_min}_veh_h"] = _num(r.nowcast_veh_h)
        d[f"persistence_{r.horizon_min}_veh_h"] = _num(r.persistence_veh_h)
        d[f"historical_{r.horizon_min}_veh_h"] = _num(r.historical_veh_h)
    features = []
    for lid, props in sorted(per_link.items()):
        props["name"] = str(names[lid])
        coords = [[round(float(x), 6), round(float(y), 6)] for x, y in geoms[lid].coords]
        features.append({"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
                         "properties": props})  # fmt: skip
    cells: dict[str, dict[str, Any]] = {}
    for r in nc.cells.itertuples():
        c = cells.setdefault(str(r.cell), {"cell": str(r.cell), "cell_boundary": cell_ring(str(r.cell))})
        c[f"congestion_{r.horizon_min}"] = round(float(r.congestion_index), 3)
    totals = {}
    for h, grp in counted.groupby("horizon_min"):
        totals[str(h)] = {m: _num(grp[f"{m}_veh_h"].sum(min_count=1)) for m in fc.METHODS}
        totals[str(h)]["now"] = _num(grp["observed_now_veh_h"].sum(min_count=1))
        totals[str(h)]["links"] = len(grp)
    fit = None
    if cal is not None:
        job_id, _base, rep = cal
        fit = {"calibration": job_id, "url": f"/calibrations/{job_id}", "period": rep.get("period"),
               "since": rep.get("since"), "until": rep.get("until"), "method": rep.get("method"),
               "held_out": rep.get("held_out"), "fitted": rep.get("fitted")}  # fmt: skip
    return {
        "made_at": iso(made), "as_of": iso(as_of), "horizons_min": list(fc.HORIZONS_MIN),
        "method": "traffic model on the calibrated demand, run 2 h up to as_of and 1 h beyond, "
                  "scaled per counted link by observed/model over the last 30 min",
        "rests_on": fit or {"calibration": None, "note": "no calibration yet: the baseline prior's demand"},
        "baselines": {"persistence": "as now: the observed rate of the last 15 min",
                      "historical": "as this time last week: the same link's counts 7 days earlier"},
        "counted_totals_veh_h": totals,
        "backtest": nc.backtest,
        "synthetic": synthetic,
        "links": {"type": "FeatureCollection", "features": features},
        "cells": list(cells.values()),
    }  # fmt: skip


def _num(x: Any) -> float | None:
    v = finite_or_none(x)
    return None if v is None else round(v, 1)


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """Return the forecast without its map layers (the stream message and the briefing read this)."""
    return {k: v for k, v in doc.items() if k not in ("links", "cells")} | {"url": "/forecast"}


def recalibration_due(store: Store, state_dir: Path, window_h: int, now: datetime) -> Any:
    """Return the `calibration.CalibrationRequest` of the rolling window due at `now` (None if none):
    the `window_h` hours ending at the last whole hour of the counts, once that is past the newest
    calibration's end and no calibration job is queued or running."""
    end = store.traffic_counts_end(now + timedelta(minutes=5))
    if window_h <= 0 or end is None:
        return None
    until = end.replace(minute=0, second=0, microsecond=0)
    cal = calibration.latest(store, state_dir)
    if cal is not None and datetime.fromisoformat(str(cal[2].get("until"))) >= until:
        return None
    for status in ("queued", "running"):
        if any(j.kind == calibration.KIND for j in store.list_jobs(status, 200)):
            return None
    since = until - timedelta(hours=window_h)
    return calibration.CalibrationRequest(name=f"rolling calibration ({window_h} h)", since=since,
                                          until=until, outer=1)  # fmt: skip


async def worker(forecaster: Forecaster, every_s: float, recalibrate: Any = None, window_h: int = 0) -> None:
    """Make the forecast again every `every_s` seconds when newer counts arrived (publishing it); with
    `window_h` > 0 first queue the rolling re-calibration that is due (`recalibration_due`) through
    `recalibrate` (the job manager's ``submit``); the forecast rests on it once it is done."""
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(NoCountsError):
            try:
                if recalibrate is not None and window_h > 0:
                    req = await asyncio.to_thread(recalibration_due, forecaster.live.store,
                                                  forecaster.state_dir, window_h, now_utc())  # fmt: skip
                    if req is not None:
                        job = await asyncio.to_thread(recalibrate, req)
                        log.info("forecast: rolling calibration %s of %s – %s", job.id, req.since, req.until)
                await forecaster.current()
            except (TwinError, OSError, ValueError) as e:  # keep serving; the next round retries
                log.warning("forecast: %s", e)


def forecaster_of(app: Any, live: LiveService) -> Forecaster:
    """Return the app's forecaster (made on first use, for the service's live state)."""
    from api.deps import city_of, settings_of  # noqa: PLC0415

    fc: Forecaster | None = getattr(app.state, "forecaster", None)
    if fc is None or fc.live is not live:
        fc = Forecaster(live, lambda: city_of(app), settings_of(app).state_dir)
        app.state.forecaster = fc
    return fc
