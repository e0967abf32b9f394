"""The live IOC service state: ingest → store → counts, stream, camera health and alerts.

`LiveService` owns the store, the in-memory counts, the stream bus, camera health, the alert engine,
the hotspot cache and the citizen-report service; `live_lifespan` opens and closes it with the app.
Everything that touches the bus runs on the event loop; blocking store calls go to worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from api.errors import StoreError
from api.responses import dumps
from api.schemas.events import EventIn
from api.services.alerts import AlertEngine, AlertRules
from api.services.bus import Bus, Message
from api.services.city import CityContext, CityLike
from api.services.cluster import ClusterRole
from api.services.counts import HORIZON, LiveCounts
from api.services.geojson import alert_dict, event_feature
from api.services.health import CameraHealth
from api.services.hotspots import HotspotCache
from api.services.incidents import IncidentService
from api.settings import LiveSettings
from api.store.base import (
    PARENT_MIN_RES,
    AlertRecord,
    CameraSnapshot,
    EventRecord,
    Store,
    UpsertResult,
    now_utc,
)
from twin import h3grid
from twin.crs import CITY_POINT, distance_m
from twin.errors import InputError, OutOfCityError

log = logging.getLogger("twin.live")

#: A camera's reach when its registry entry has no ``range_m``.
DEFAULT_RANGE_M = 300.0


@dataclass
class IngestStats:
    """Counters of what the service took in."""

    requests: int = 0
    batches: int = 0
    events: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    heartbeats: int = 0
    reports: int = 0
    alerts: int = 0
    started: float = field(default_factory=time.monotonic)


class LiveService:
    """The live state of the IOC service.

    Parameters
    ----------
    store
        The event store (already open).
    city
        The city model (camera registry, wards, boundary).
    settings
        Tuning.
    """

    def __init__(self, store: Store, city: CityLike, settings: LiveSettings | None = None) -> None:
        self.store = store
        self.settings = settings or LiveSettings()
        self.ctx = CityContext(city)
        self.res = store.res
        self.counts = LiveCounts(self.res)
        self.bus = Bus(self.settings.queue_size, self.settings.stream_window)
        self.health = CameraHealth(
            self.ctx, timedelta(seconds=self.settings.offline_after_s), store.camera_last_seen()
        )
        self.alerts = AlertEngine(
            AlertRules(
                congestion_count=self.settings.congestion_count,
                congestion_window=timedelta(minutes=self.settings.congestion_window_min),
                camera_silent=timedelta(minutes=self.settings.camera_silent_min),
            ),
            self.res,
            store.list_alerts("open", 10_000) + store.list_alerts("acknowledged", 10_000),
        )
        self.incidents = IncidentService(self, city)
        self.hotspots = HotspotCache(self.ctx.universe, self.settings.hotspot_ttl_s)
        self.stats = IngestStats()
        self._parents: dict[int, dict[int, int]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._gc_threshold: tuple[int, int, int] | None = None
        self._last_history = 0.0
        #: One instance of several (`api.services.cluster`): set by the lifespan; None when alone.
        self.cluster: ClusterRole | None = None

    # ------------------------------------------------------------------------------ start / stop
    def rebuild(self, now: datetime | None = None) -> int:
        """Rebuild the in-memory counts and congestion rule state from the store; return events read."""
        now = now or now_utc()
        light = getattr(self.store, "live_rows_since", None)
        if not callable(light):  # a store without the light read: whole records
            recent = self.store.events_since(now - HORIZON)
            self.counts.add(((e.start_time, e.cells[self.res], e.category, e.synthetic) for e in recent), now)
            self.alerts.on_created(
                [e for e in recent if e.start_time >= now - self.alerts.rules.congestion_window],
                now,
                supersede=False,
            )
            return len(recent)
        rows: list[tuple[datetime, int, str, bool]] = light(now - HORIZON)
        self.counts.add(rows, now)
        # The congestion rule needs each recent event's time and cell only: minimal records, never stored.
        since = now - self.alerts.rules.congestion_window
        res = self.res
        self.alerts.on_created(
            [
                EventRecord("", "", cat, "", 0.0, "new", t, None, 0.0, 0.0, {res: cell}, "", {}, syn, t, t)
                for t, cell, cat, syn in rows
                if t >= since and cat == "congestion"
            ],
            now,
            supersede=False,
        )
        return len(rows)

    async def start(self) -> None:
        """Rebuild state from the store and start the periodic health/alert task."""
        # Single points use h3 itself; the lifespan loads the numba kernel in the background.
        await asyncio.to_thread(h3grid.latlng_to_cells, [CITY_POINT[1]], [CITY_POINT[0]], self.res)
        n = await asyncio.to_thread(self.rebuild)
        log.info("live state rebuilt from %d recent events", n)
        self.health.transitions(now_utc())
        if self.settings.gc_freeze:
            gc.collect()
            gc.freeze()
        self._gc_threshold = gc.get_threshold()
        _, gen1, gen2 = self._gc_threshold
        gc.set_threshold(self.settings.gc_gen0, gen1, gen2)
        self._ticker = asyncio.create_task(self._tick_forever(), name="live-ticker")

    async def stop(self) -> None:
        """Stop the periodic task; give the garbage collector back what start() froze."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._gc_threshold is not None:
            gc.set_threshold(*self._gc_threshold)
            self._gc_threshold = None
            if self.settings.gc_freeze:
                gc.unfreeze()  # e.g. many apps in one test process: their objects can be collected again

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_s)
            try:
                await self.tick()
            except Exception:  # a failing tick (e.g. disk full) must not stop the loop
                log.exception("live tick failed")

    async def tick(self, now: datetime | None = None) -> None:
        """Publish camera status changes, run the silence rule and record the fleet history."""
        now = now or now_utc()
        if self.cluster is not None:
            # Of several instances only the leader runs the rules and reports camera status.
            raised_here = await self.cluster.tick(self, now)
            if raised_here is None:
                return
            for a in raised_here:
                await self._save_alert(a)
        self._publish_camera_transitions(now)
        raised, resolved = self.alerts.on_tick(self.health, now)
        for a in raised + resolved:
            await self._save_alert(a)
        mono = time.monotonic()
        if mono - self._last_history >= self.settings.history_every_s:
            self._last_history = mono
            summary = self.health.summary(now)
            snap = CameraSnapshot(now, summary["online"], summary["connected"], summary["total"])
            await asyncio.wrap_future(self.store.submit_camera_snapshot(snap))

    # ------------------------------------------------------------------------------------ ingest
    def _cells(self, fine: int) -> dict[int, int]:
        cells = self._parents.get(fine)
        if cells is None:
            one = np.array([fine], dtype=np.uint64)
            cells = {self.res: fine}
            for r in range(PARENT_MIN_RES, self.res):
                cells[r] = int(h3grid.cells_to_parents(one, r)[0])
            if len(self._parents) > 200_000:
                self._parents.clear()
            self._parents[fine] = cells
        return cells

    def _check_in_view(self, cam: Any, lon: float, lat: float, where: str) -> None:
        """Refuse a detection placed further from its camera than the camera sees (plus a slack)."""
        reach = float(cam.props.get("range_m", DEFAULT_RANGE_M)) + self.settings.position_slack_m
        dist = float(distance_m(lon, lat, cam.lon, cam.lat))
        if dist > reach:
            raise InputError(
                f"{where}position",
                f"is {dist / 1000:.1f} km from camera {cam.camera_id}, which sees at most "
                f"{reach / 1000:.2f} km (its range_m plus {self.settings.position_slack_m:g} m)",
                hint="send the detection's own position in the camera's view, or omit position",
            )

    def to_records(
        self, events: Sequence[EventIn], now: datetime, *, prefix: str = "", sent_by: str | None = None
    ) -> list[EventRecord]:
        """Resolve cameras, positions, H3 cells and wards; unknown cameras or far positions raise.

        One pass over the batch in Python, the rest vectorised: the extent test, the ward lookup (only
        for events that give their own position) and the H3 indexing (the numba kernel) run once per
        batch; parent cells come from a cache keyed by the fine cell.
        """
        n = len(events)
        cameras = self.ctx.cameras
        lons: list[float] = [0.0] * n
        lats: list[float] = [0.0] * n
        wards: list[str | None] = [None] * n
        for i, e in enumerate(events):
            cam = cameras.get(e.camera_id)
            if cam is None:
                where = f"{prefix}{i}." if prefix else ""
                raise InputError(
                    f"{where}camera_id",
                    f"unknown camera {e.camera_id!r}",
                    hint="use a camera id of the city registry (GET /cameras)",
                )
            pos = e.position
            if pos is None:
                lons[i], lats[i], wards[i] = cam.lon, cam.lat, cam.ward_code
            else:
                lons[i], lats[i] = pos.lon, pos.lat
                self._check_in_view(cam, pos.lon, pos.lat, f"{prefix}{i}." if prefix else "")
        lon = np.asarray(lons, dtype=np.float64)
        lat = np.asarray(lats, dtype=np.float64)
        near = self.ctx.near_city(lon, lat)
        if not near.all():
            i = int(np.flatnonzero(~near)[0])
            where = f"{prefix}{i}." if prefix else ""
            x0, y0, x1, y1 = self.ctx.extent
            raise OutOfCityError(
                f"{where}position",
                f"({lon[i]:.5f}, {lat[i]:.5f}) is far outside the city "
                f"(lon {x0:.3f}..{x1:.3f}, lat {y0:.3f}..{y1:.3f})",
                hint="send the detection's WGS84 lon/lat, or omit position to use the camera's",
            )
        todo = [i for i in range(n) if wards[i] is None]
        if todo:
            found = self.ctx.ward_of(lon[todo], lat[todo])
            for i, w in zip(todo, found, strict=True):
                wards[i] = w
        fine = h3grid.latlng_to_cells(lat, lon, self.res).tolist()
        parents = self._parents
        out = []
        for i, e in enumerate(events):
            start = e.start_time.astimezone(UTC)
            end = e.end_time
            if end is not None:
                end = end.astimezone(UTC)
            elif e.lifecycle == "end":
                end = max(now, start)
            cells = parents.get(fine[i])
            if cells is None:
                cells = self._cells(fine[i])
            attrs = e.attributes
            out.append(
                EventRecord(
                    event_id=e.event_id,
                    camera_id=e.camera_id,
                    category=e.category,
                    severity=e.severity,
                    confidence=e.confidence,
                    lifecycle=e.lifecycle,
                    start_time=start,
                    end_time=end,
                    lon=lons[i],
                    lat=lats[i],
                    cells=cells,
                    ward_code=wards[i] or "",
                    attributes=attrs,
                    synthetic=attrs.get("synthetic") is True,
                    received_at=now,
                    updated_at=now,
                    sequence=e.sequence,
                    observed_at=e.observed_at.astimezone(UTC) if e.observed_at is not None else None,
                    sent_by=sent_by,
                )
            )
        return out

    async def ingest(
        self, events: Sequence[EventIn], *, batch: bool = False, sent_by: str | None = None
    ) -> list[UpsertResult]:
        """Validate against the city, write durably, then update counts, stream, health and alerts.

        Everything after the COMMIT works per request, not per event: one pass sorts the outcomes,
        camera health is touched once per camera, the counts and the congestion rule take the created
        events together, and the stream gets one burst (frames built only if someone subscribes).
        """
        now = now_utc()
        records = self.to_records(events, now, prefix="events." if batch else "", sent_by=sent_by)
        results = await asyncio.wrap_future(self.store.submit_events(records))
        stats = self.stats
        stats.requests += 1
        stats.batches += int(batch)
        stats.events += len(records)
        created: list[EventRecord] = []
        changed: list[EventRecord] = []
        outcomes: Counter[str] = Counter()
        for r in results:
            outcome = r.outcome
            outcomes[outcome] += 1
            rec = r.record
            if rec is None or (outcome != "created" and outcome != "updated"):  # noqa: PLR1714
                continue
            if outcome == "created":
                created.append(rec)
            changed.append(rec)
        stats.outcomes.update(outcomes)
        if changed:
            seen = self.health.seen
            for camera_id in {rec.camera_id for rec in changed}:
                seen(camera_id, now)
            self._publish_events(changed)
        if created:
            res = self.res
            self.counts.add(((e.start_time, e.cells[res], e.category, e.synthetic) for e in created), now)
            # Of several instances, the leader reads every instance's events from the store instead.
            for alert in self.alerts.on_created(created, now) if self.cluster is None else ():
                # Rare; awaited so that an answer implies its alert is visible too. The events are
                # committed already: an alert that cannot be stored is logged, not turned into an error.
                try:
                    await self._save_alert(alert)
                except StoreError:
                    log.exception("alert %s could not be stored", alert.alert_id)
        return results

    def _publish_events(self, records: list[EventRecord]) -> None:
        """Offer changed events to the stream as one burst; JSON is built only when someone listens
        or may resume (`api.services.bus`: the stream keeps a window of recent messages)."""
        bus = self.bus
        if not bus.subscribers and not bus.window:
            bus.published += len(records)
            return
        res = self.res
        bus.publish_many(
            [
                Message(
                    "event", dumps(event_feature(r, res, ring=True)), r.category, r.ward_code, r.lon, r.lat
                )
                for r in records
            ]
        )

    async def _save_alert(self, alert: AlertRecord) -> AlertRecord:
        saved = await asyncio.wrap_future(self.store.submit_alert(alert))
        self.stats.alerts += 1
        self.bus.publish(
            Message("alert", dumps(alert_dict(saved)).decode(), None, None, saved.lon, saved.lat)
        )
        try:
            await self.incidents.on_alert(saved)
        except StoreError:  # the alert is stored and listed; only its incident entry is missing
            log.exception("alert %s: incident not updated", saved.alert_id)
        return saved

    async def transition_alert(
        self, alert: AlertRecord, action: str, by: str | None, note: str | None
    ) -> AlertRecord:
        """Apply an operator's ack/resolve, store it durably and publish it."""
        new = self.alerts.transition(alert, action, now_utc(), by, note)
        if new is alert:
            return alert
        return await self._save_alert(new)

    async def heartbeat(self, camera_id: str, at: datetime | None) -> datetime:
        """Record a camera heartbeat durably; return the last-seen time used."""
        now = now_utc()
        when = min(at or now, now)
        await asyncio.wrap_future(self.store.submit_heartbeats([(camera_id, when)]))
        self.health.seen(camera_id, when)
        self.stats.heartbeats += 1
        if self.cluster is not None and not self.cluster.leader:
            return when  # the leader reports camera status (from the store, at its next tick)
        self._publish_camera_transitions(now)
        return when

    def _publish_camera_transitions(self, now: datetime) -> None:
        """Publish a ``camera`` message for each camera that went online or offline by `now`."""
        for s in self.health.transitions(now):
            info = self.ctx.cameras[s.camera_id]
            payload = {
                "camera_id": s.camera_id,
                "status": s.status,
                "last_seen": s.last_seen.isoformat() if s.last_seen else None,
                "ward_code": info.ward_code,
            }
            self.bus.publish(
                Message("camera", dumps(payload).decode(), None, info.ward_code, info.lon, info.lat)
            )

    def window_counts(
        self, res: int, window: timedelta, category: str | None
    ) -> tuple[dict[str, Counter[str]], int]:
        """Return live counts per cell (and the synthetic share) for a window ending now."""
        return self.counts.counts(res=res, window=window, now=now_utc(), category=category)

    def stats_dict(self) -> dict[str, Any]:
        """Return the service counters for GET /stats."""
        writer = getattr(self.store, "stats", None)
        return {
            "uptime_s": round(time.monotonic() - self.stats.started, 1),
            "ingest": {
                "requests": self.stats.requests,
                "batches": self.stats.batches,
                "events": self.stats.events,
                "outcomes": dict(self.stats.outcomes),
                "heartbeats": self.stats.heartbeats,
                "reports": self.stats.reports,
                "alerts": self.stats.alerts,
            },
            "stream": self.bus.stats(),
            "store": writer() if callable(writer) else {},
            "live": {"events_in_window": self.counts.total, "res": self.res},
            "hotspots": self.hotspots.stats(),
        }


@contextlib.asynccontextmanager
async def running(service: LiveService) -> AsyncIterator[LiveService]:
    """Start `service`, yield it, and stop it (closing nothing it did not open)."""
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
