"""Alert rules on the live stream, and the alert lifecycle operators drive (open → acknowledged → resolved).

Rules:

* ``congestion_cluster``: at least `congestion_count` congestion events start in one H3 cell within
  `congestion_window` (exact, per event time).
* ``camera_silent``: a connected camera has not been seen for `camera_silent` (resolved on its own
  when the camera is seen again).

One alert stays open per (rule, subject): a rule that keeps firing does not pile up duplicates. A cell
still congested a full window after its alert raises a new one (the old one resolved as superseded);
`api.services.incidents` groups the occurrences of one subject into one incident.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from api.errors import Conflict
from api.services.health import CameraHealth
from api.store.base import AlertRecord, EventRecord
from twin import h3grid

ACTIVE = ("open", "acknowledged")


@dataclass(frozen=True)
class AlertRules:
    """Thresholds of the alert rules."""

    congestion_count: int = 5
    congestion_window: timedelta = timedelta(minutes=10)
    camera_silent: timedelta = timedelta(minutes=5)


def new_alert_id() -> str:
    """Return a fresh alert id."""
    return "AL-" + uuid.uuid4().hex[:16]


def open_alert(rule: str, key: str, severity: str, title: str, now: datetime, **where: Any) -> AlertRecord:
    """Return a new open alert of `rule` about `key`, raised at `now` (`where`: its cell, camera,
    position and details)."""
    return AlertRecord(
        alert_id=new_alert_id(),
        rule=rule,
        key=key,
        status="open",
        severity=severity,
        title=title,
        created_at=now,
        updated_at=now,
        **where,
    )


class AlertEngine:
    """Evaluate the rules and apply operators' transitions.

    Parameters
    ----------
    rules
        Thresholds.
    res
        The resolution of the cells the congestion rule counts on.
    active
        Alerts still open or acknowledged, restored from the store.
    """

    def __init__(self, rules: AlertRules, res: int, active: list[AlertRecord] | None = None) -> None:
        self.rules = rules
        self.res = res
        self._active: dict[tuple[str, str], AlertRecord] = {}
        for a in active or []:
            if a.status in ACTIVE:
                self._active[(a.rule, a.key)] = a
        self._congestion: dict[int, list[datetime]] = {}

    def restore(self, active: list[AlertRecord], *, congestion: bool = False) -> None:
        """Take the open and acknowledged alerts from the store (another instance may have changed
        them); with `congestion`, also forget the congestion rule's event times (to be fed again)."""
        self._active = {(a.rule, a.key): a for a in active if a.status in ACTIVE}
        if congestion:
            self._congestion.clear()

    def on_created(
        self, records: list[EventRecord], now: datetime, *, supersede: bool = True
    ) -> list[AlertRecord]:
        """Return the alerts that newly created events raise (and those they supersede, resolved)."""
        raised: list[AlertRecord] = []
        window = self.rules.congestion_window
        for r in records:
            if r.category != "congestion":
                continue
            cell = r.cells[self.res]
            times = self._congestion.setdefault(cell, [])
            bisect.insort(times, r.start_time)
            # keep only the window that ends at the latest event of the cell
            del times[: bisect.bisect_left(times, times[-1] - window)]
            if len(times) < self.rules.congestion_count:
                continue
            recent = times
            key = h3grid.hex_of(cell)
            active = self._active.get(("congestion_cluster", key))
            if active is not None:
                if not supersede or now - active.created_at < window:
                    continue
                # Still congested a window later: a new occurrence (grouped into the same incident),
                # the previous alert resolved as superseded.
                raised.append(
                    replace(
                        active,
                        status="resolved",
                        updated_at=now,
                        note="superseded by a new occurrence",
                        details={**active.details, "superseded": True},
                    )
                )
            lat, lon = h3grid.cell_to_latlng(key)
            minutes = int(window.total_seconds() // 60)
            span_vi, span_en = (
                (f"{minutes} phút", f"{minutes} min")
                if minutes
                else (f"{int(window.total_seconds())} giây", f"{int(window.total_seconds())} s")
            )
            alert = open_alert(
                "congestion_cluster",
                key,
                "high",
                f"Ùn tắc: {len(recent)} sự kiện trong {span_vi} "
                f"/ Congestion: {len(recent)} events in {span_en}",
                now,
                cell=cell,
                lon=lon,
                lat=lat,
                details={"events": len(recent), "window_min": minutes, "res": self.res},
            )
            self._active[(alert.rule, key)] = alert
            raised.append(alert)
        return raised

    def on_tick(self, health: CameraHealth, now: datetime) -> tuple[list[AlertRecord], list[AlertRecord]]:
        """Return (raised, resolved) camera-silence alerts at `now`."""
        raised: list[AlertRecord] = []
        resolved: list[AlertRecord] = []
        for cid, info in health.ctx.cameras.items():
            silent = health.silent_for(cid, now)
            connected = cid in health.ctx.connected_ids or silent is not None
            if not connected:
                continue
            key = ("camera_silent", cid)
            if silent is not None and silent <= self.rules.camera_silent:
                active = self._active.pop(key, None)
                if active is not None:
                    resolved.append(
                        replace(active, status="resolved", updated_at=now, note="camera seen again")
                    )
                continue
            if silent is None or key in self._active:
                continue
            minutes = int(silent.total_seconds() // 60)
            alert = open_alert(
                "camera_silent",
                cid,
                "medium",
                f"Camera {info.name} mất tín hiệu {minutes} phút / silent for {minutes} min",
                now,
                camera_id=cid,
                lon=info.lon,
                lat=info.lat,
                details={"silent_min": minutes, "last_seen": health.last_seen[cid].isoformat()},
            )
            self._active[key] = alert
            raised.append(alert)
        return raised, resolved

    def transition(
        self, alert: AlertRecord, action: str, now: datetime, by: str | None, note: str | None
    ) -> AlertRecord:
        """Return `alert` after an operator's ``ack`` or ``resolve``; an invalid step raises `Conflict`."""
        if action == "ack":
            if alert.status == "resolved":
                raise Conflict("status", "a resolved alert cannot be acknowledged")
            if alert.status == "acknowledged":
                return alert
            new = replace(alert, status="acknowledged", updated_at=now, acknowledged_by=by, note=note)
        else:
            if alert.status == "resolved":
                return alert
            new = replace(
                alert,
                status="resolved",
                updated_at=now,
                acknowledged_by=alert.acknowledged_by or by,
                note=note or alert.note,
            )
        key = (new.rule, new.key)
        if new.status == "resolved":
            self._active.pop(key, None)
        else:
            self._active[key] = new
        return new
