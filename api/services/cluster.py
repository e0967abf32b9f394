"""Several service instances on one PostgreSQL store: the instance name and the alert leader.

Every instance takes events, serves the stream (`api.services.pgbus`) and runs scenario jobs
(`api.services.jobs`, leases). The alert rules and the camera status messages come from one instance,
the **leader**: the one holding the session-level advisory lock `LEADER_LOCK` on its own connection.
Each instance tries to take the lock every live tick (``TWIN_LIVE_TICK_S``, 2 s); when the leader's
process dies its connection closes, PostgreSQL releases the lock, and another instance takes over at its
next tick. What the leader evaluates comes from the store, so it sees every instance's events:

- **Congestion rule.** Each tick the leader reads the congestion events that started since its high
  water mark less `OVERLAP` (the index on category and start time), feeds those it has not seen to the
  rule, and stores what they raise. On taking over it first reads the whole rule window (as a restart
  does). Events that arrive more than `OVERLAP` later than the newest start time the leader has seen
  are not counted by the rule (they are stored and streamed).
- **Camera silence rule.** Each instance writes the last-seen times of the cameras it heard from to
  the store every tick (``camera_seen``, one row per camera); the leader reads them before the rule runs.
- **No duplicates.** The leader reloads the open and acknowledged alerts from the store every tick
  (operators may have acknowledged or resolved them on another instance), so a new leader continues
  where the old one stopped instead of raising the same alerts again. Alerts reach the clients of every
  instance through the stream.

Staleness: an alert is raised within one tick (plus `OVERLAP` for late events) of its events' COMMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg

from api.settings import ClusterSettings
from api.store.base import AlertRecord, EventRecord
from twin.errors import InputError

if TYPE_CHECKING:
    from api.services.live import LiveService
    from api.services.pgbus import ClusterBus

log = logging.getLogger("twin.cluster")

#: The advisory lock key of the alert leader ("LSALRT" in ASCII).
LEADER_LOCK = 0x4C53414C5254
#: How far behind the newest start time the leader still reads congestion events.
OVERLAP = timedelta(seconds=30)


@contextlib.asynccontextmanager
async def joined(live: LiveService, dsn: str, settings: ClusterSettings) -> AsyncIterator[ClusterRole | None]:
    """With ``settings.enabled``, make `live` one instance of a cluster on the PostgreSQL store `dsn`
    (before it starts): its stream goes through `ClusterBus`, its rules through the leader; undo it on
    exit. Otherwise change nothing (yield None)."""
    from api.services.pgbus import ClusterBus  # noqa: PLC0415  (only a cluster needs it)

    if not settings.enabled:
        yield None
        return
    if not dsn.startswith(("postgresql:", "postgres:")):
        raise InputError("TWIN_CLUSTER_ENABLED", "several instances need a PostgreSQL store (TWIN_STORE_DSN)")
    name = instance_name(settings)
    bus = ClusterBus(dsn, name, live.bus.queue_size)
    live.bus = bus
    role = ClusterRole(Leadership(dsn, name), bus)
    live.cluster = role
    bus.start(asyncio.get_running_loop())
    try:
        yield role
    finally:
        live.cluster = None
        await asyncio.to_thread(bus.close)
        await asyncio.to_thread(role.leadership.close)


def instance_name(settings: ClusterSettings) -> str:
    """Return this instance's name: ``TWIN_CLUSTER_NAME``, else ``<host>:<pid>``."""
    return settings.name or f"{socket.gethostname()}:{os.getpid()}"


class Leadership:
    """The advisory lock that makes one instance the alert leader, on a connection of its own.

    Parameters
    ----------
    dsn
        The PostgreSQL store's DSN.
    name
        This instance's name (shown in ``/health``).
    """

    def __init__(self, dsn: str, name: str) -> None:
        self.dsn = dsn
        self.name = name
        self.leader = False
        self.since: float | None = None
        self.takeovers = 0
        self.error: str | None = None
        self._conn: psycopg.Connection[Any] | None = None

    def check(self) -> bool:
        """Keep or try to take the lock (blocking: run in a thread); return whether this instance leads."""
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._drop()
                self._conn = psycopg.connect(
                    self.dsn, autocommit=True, connect_timeout=3, application_name="twin-leader"
                )
            if self.leader:
                self._conn.execute("SELECT 1")  # the lock lives as long as this session
            else:
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)).fetchone()
                if row is not None and row[0]:
                    self.leader = True
                    self.since = time.monotonic()
                    self.takeovers += 1
                    log.info("instance %s is now the alert leader", self.name)
            self.error = None
        except psycopg.Error as e:
            self.error = (str(e).splitlines() or [type(e).__name__])[0]
            if self.leader:
                log.warning("instance %s lost the alert leadership: %s", self.name, self.error)
            self._drop()
        return self.leader

    def _drop(self) -> None:
        self.leader = False
        self.since = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Give the lock up (closing the session releases it)."""
        self._drop()

    def stats(self) -> dict[str, Any]:
        """Return whether this instance leads, since when, and the last error."""
        return {
            "leader": self.leader,
            "leader_for_s": None if self.since is None else round(time.monotonic() - self.since, 1),
            "error": self.error,
        }


class ClusterRole:
    """What one instance of a cluster does on each live tick (see the module docstring).

    Parameters
    ----------
    leadership
        The leader lock.
    bus
        The stream bridge (its state is reported with the leadership's).
    """

    def __init__(self, leadership: Leadership, bus: ClusterBus) -> None:
        self.leadership = leadership
        self.bus = bus
        self._was_leader = False
        self._seen: dict[str, datetime] = {}
        self._high: datetime | None = None
        self._written: dict[str, datetime] = {}

    @property
    def leader(self) -> bool:
        """Whether this instance evaluates the alert rules now."""
        return self.leadership.leader

    async def tick(self, live: LiveService, now: datetime) -> list[AlertRecord] | None:
        """Share this instance's camera sightings, keep or take the lead; None unless it leads.

        The leader also brings its alert state up to date from the store and returns what the
        congestion rule raises (for the caller to store and publish).
        """
        fresh = [(c, t) for c, t in live.health.last_seen.items() if self._written.get(c) != t]
        if fresh:
            await asyncio.wrap_future(live.store.submit_heartbeats(fresh))
            self._written.update(fresh)
        if not await asyncio.to_thread(self.leadership.check):
            self._was_leader = False
            return None
        raised = await asyncio.to_thread(self._refresh, live, now, not self._was_leader)
        self._was_leader = True
        return raised

    def _refresh(self, live: LiveService, now: datetime, took_over: bool) -> list[AlertRecord]:
        store, engine = live.store, live.alerts
        active = store.list_alerts("open", 10_000) + store.list_alerts("acknowledged", 10_000)
        engine.restore(active, congestion=took_over)
        for camera_id, at in store.camera_last_seen().items():
            if camera_id in live.ctx.cameras:
                live.health.seen(camera_id, at)
        window = engine.rules.congestion_window
        if took_over or self._high is None:
            self._seen.clear()
            since = now - window
        else:
            since = min(self._high - OVERLAP, now - OVERLAP)
        rows = store.category_rows_since("congestion", since)
        res = live.res
        new = [
            EventRecord(
                i, "", "congestion", "", 0.0, "new", t, None, 0.0, 0.0, {res: cell}, "", {}, False, t, t
            )
            for i, t, cell in rows
            if i not in self._seen
        ]
        for r in new:
            self._seen[r.event_id] = r.start_time
            if self._high is None or r.start_time > self._high:
                self._high = r.start_time
        if len(self._seen) > 50_000:  # forget what fell out of the window
            cut = now - window - OVERLAP
            self._seen = {k: t for k, t in self._seen.items() if t >= cut}
        return engine.on_created(new, now, supersede=not took_over)

    def stats(self) -> dict[str, Any]:
        """Return the instance's name, its leadership and the stream bus's state (for ``/health``)."""
        return {
            "instance": self.leadership.name,
            **self.leadership.stats(),
            "takeovers": self.leadership.takeovers,
            "stream": self.bus.cluster_stats(),
        }


__all__ = ["LEADER_LOCK", "OVERLAP", "ClusterRole", "Leadership", "instance_name", "joined"]
