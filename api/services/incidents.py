"""Incidents: alerts and citizen reports as one worklist, grouped, located, routed and worked through.

* **Grouping.** An alert of a rule on a cell or camera, or a citizen report of a service on a cell,
  joins the open incident of the same group whose last occurrence is within `window` (count + 1,
  last time moves); otherwise it opens a new incident.
* **Location in words.** The ward (the city model's ward lookup) and the nearest named street or
  bridge (the road links' names, else the nearest camera site's name) within `STREET_RADIUS_M`.
* **Routing.** `UnitDirectory` (``units.toml``: units, ordered rules by category and ward, target
  times per category) assigns each new incident to a unit and sets when it is due (overdue flags).
* **Workflow.** ``new → acknowledged → assigned → in_progress → resolved → closed`` (`TRANSITIONS`);
  every change is recorded with the caller's identity from its credentials, the time and a note, and
  names the revision it was made on (If-Match): a stale revision is refused (412), never merged.
* **Citizens.** A report's Open311 ``status_notes`` and ``agency_responsible`` follow its incident.
* **Evidence.** One JPEG (≤ `SNAPSHOT_MAX_BYTES`) per event from a gateway, or per change from staff.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import tomllib
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from api.errors import Conflict, NotFound, PreconditionFailed
from api.schemas import categories
from api.store.base import AlertRecord, ReportRecord, now_utc
from api.store.incidents import (
    INCIDENT_STATUSES,
    OPEN_STATUSES,
    SNAPSHOT_MAX_BYTES,
    IncidentChange,
    IncidentQuery,
    IncidentRecord,
    RevisionConflict,
    SnapshotRecord,
)
from twin import h3grid
from twin.crs import metres_per_degree
from twin.errors import DataError, InputError

if TYPE_CHECKING:
    from api.auth.service import Principal
    from api.services.live import LiveService

log = logging.getLogger("twin.incidents")
audit = logging.getLogger("twin.audit")

UNITS_FILE = Path(__file__).with_name("units.toml")
#: Longest note on a change (characters).
NOTE_MAX = 1000
#: How far the nearest street may be to name it (metres).
STREET_RADIUS_M = 250.0

#: Status → (Vietnamese, English).
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "new": ("Mới", "New"),
    "acknowledged": ("Đã tiếp nhận", "Acknowledged"),
    "assigned": ("Đã giao đơn vị", "Assigned"),
    "in_progress": ("Đang xử lý", "In progress"),
    "resolved": ("Đã xử lý xong", "Resolved"),
    "closed": ("Đã đóng", "Closed"),
}
SEVERITY_LABELS: dict[str, tuple[str, str]] = {
    "high": ("Cao", "High"),
    "medium": ("Trung bình", "Medium"),
    "low": ("Thấp", "Low"),
}
#: Alert rules' labels (reports use the Open311 service names).
RULE_LABELS: dict[str, tuple[str, str]] = {
    "congestion_cluster": ("Ùn tắc giao thông", "Traffic congestion"),
    "camera_silent": ("Camera mất tín hiệu", "Camera offline"),
}
#: Which status may follow which (a change to the same status is refused too).
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"acknowledged", "assigned", "resolved", "closed"}),
    "acknowledged": frozenset({"assigned", "in_progress", "resolved", "closed"}),
    "assigned": frozenset({"acknowledged", "in_progress", "resolved", "closed"}),
    "in_progress": frozenset({"assigned", "resolved"}),
    "resolved": frozenset({"in_progress", "closed"}),
    "closed": frozenset(),
}
#: The statuses a unit's own staff may set on their incidents.
UNIT_MAY_SET = frozenset({"acknowledged", "in_progress", "resolved"})
_OPEN = frozenset(OPEN_STATUSES)


def category_labels() -> dict[str, tuple[str, str]]:
    """Return every incident category (alert rules, then Open311 services) → (vi, en)."""
    return {**RULE_LABELS, **{r.code: (r.vi, r.en) for r in categories.table().services}}


# ------------------------------------------------------------------------------------ units
@dataclass(frozen=True, slots=True)
class Unit:
    """A city unit that handles incidents."""

    unit_id: str
    name_vi: str
    name_en: str
    categories: tuple[str, ...]
    wards: tuple[str, ...]

    @property
    def name(self) -> str:
        """Return "Vietnamese / English"."""
        return f"{self.name_vi} / {self.name_en}"


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """Incidents of one of `categories` in one of `wards` (``*``: any) go to `unit`."""

    categories: tuple[str, ...]
    wards: tuple[str, ...]
    unit: str

    def matches(self, category: str, ward: str) -> bool:
        """Return whether the rule applies."""
        return category in self.categories and ("*" in self.wards or ward in self.wards)


@dataclass(frozen=True, slots=True)
class UnitDirectory:
    """The units, the ordered routing rules and the target minutes per category."""

    units: dict[str, Unit]
    rules: tuple[RoutingRule, ...]
    targets: dict[str, int]

    @classmethod
    def load(cls, path: Path = UNITS_FILE) -> UnitDirectory:
        """Read and check a units file (see ``api/services/units.toml``)."""
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise DataError(f"{path}: {e}", hint="fix the units file") from e
        try:
            units = {
                str(u["id"]): Unit(
                    str(u["id"]),
                    str(u["name_vi"]),
                    str(u["name_en"]),
                    tuple(map(str, u.get("categories", []))),
                    tuple(map(str, u.get("wards", ["*"]))),
                )
                for u in doc.get("unit", [])
            }
            rules = tuple(
                RoutingRule(
                    tuple(map(str, r["categories"])), tuple(map(str, r.get("wards", ["*"]))), str(r["unit"])
                )
                for r in doc.get("rule", [])
            )
            targets = {str(k): int(v) for k, v in doc.get("targets", {}).items()}
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(
                f"{path}: bad unit or rule entry ({e})", hint="see the comments in units.toml"
            ) from e
        unknown = sorted({r.unit for r in rules} - set(units))
        if unknown:
            raise DataError(f"{path}: rules name unknown units {unknown}")
        return cls(units, rules, targets)

    def route(self, category: str, ward: str) -> str | None:
        """Return the unit the first matching rule names, or None."""
        for r in self.rules:
            if r.matches(category, ward):
                return r.unit
        return None

    def target(self, category: str) -> timedelta | None:
        """Return the target time of a category (the ``default`` target if unnamed)."""
        minutes = self.targets.get(category, self.targets.get("default"))
        return None if minutes is None else timedelta(minutes=minutes)

    def check_unit(self, unit_id: str, field: str = "unit_id") -> Unit:
        """Return a unit; an unknown id raises `InputError` naming `field`."""
        unit = self.units.get(unit_id)
        if unit is None:
            raise InputError(field, f"unknown unit {unit_id!r}; known: {', '.join(self.units)}")
        return unit

    def as_dict(self) -> dict[str, Any]:
        """Return the directory as JSON (units, rules, targets in minutes)."""
        return {
            "units": [
                {
                    "unit_id": u.unit_id,
                    "name_vi": u.name_vi,
                    "name_en": u.name_en,
                    "categories": list(u.categories),
                    "wards": list(u.wards),
                }
                for u in self.units.values()
            ],
            "rules": [
                {"categories": list(r.categories), "wards": list(r.wards), "unit": r.unit} for r in self.rules
            ],
            "targets_min": self.targets,
        }


# --------------------------------------------------------------------------------- streets
_DIRECTION = re.compile(r"\s*\(hướng [^)]*\)|\s*–\s*số \d+")
_REFS = ((re.compile(r"^QL\s*"), "Quốc lộ "), (re.compile(r"^(TL|ĐT)\s*"), "Tỉnh lộ "))


def street_words(name: str) -> str:
    """Return a road name or ref in words ("QL1A" → "Quốc lộ 1A")."""
    out = name.strip()
    for pattern, words in _REFS:
        out = pattern.sub(words, out)
    return out


class StreetLocator:
    """Nearest named road link (or camera site) of a point, in words."""

    def __init__(self, city: Any, cameras: dict[str, Any]) -> None:
        geoms: list[Any] = []
        names: list[str] = []
        network = getattr(city, "network", None)
        links = getattr(network, "links", None)
        if links is not None and "name" in links.columns:
            named = links[links["name"].fillna("").astype(str).str.strip() != ""]
            geoms.extend(named.geometry.values)
            names.extend(street_words(str(n)) for n in named["name"])
        for info in cameras.values():
            site = _DIRECTION.sub("", info.name).strip()
            if site:
                geoms.append(shapely.Point(info.lon, info.lat))
                names.append(site)
        self._names = np.asarray(names, dtype=object)
        self._tree = shapely.STRtree(np.asarray(geoms, dtype=object)) if geoms else None

    def nearest(self, lon: float, lat: float) -> str:
        """Return the nearest street or site name within `STREET_RADIUS_M` ("" if none)."""
        if self._tree is None:
            return ""
        # degrees of longitude shrink with latitude: search generously, then measure in metres
        radius = STREET_RADIUS_M / float(metres_per_degree(lat)[0])
        idx = self._tree.query_nearest(shapely.Point(lon, lat), max_distance=radius, all_matches=False)
        return str(self._names[int(idx[0])]) if len(idx) else ""


# -------------------------------------------------------------------------------- the service
def actor_of(principal: Principal) -> str:
    """Return the recorded identity of a caller: key label and id (never anything from the body)."""
    return principal.actor


def parse_if_match(value: str | None) -> int:
    """Return the revision of an ``If-Match`` header (``"3"``, ``W/"3"`` or ``3``); missing → 428."""
    if value is None:
        raise PreconditionFailed(
            "If-Match", "send the incident's revision (its ETag) in If-Match", status_code=428
        )
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise PreconditionFailed("If-Match", f"{value!r} is not a revision (ETag) of this service")
    return int(text)


def check_jpeg(data: bytes, field: str = "snapshot") -> None:
    """Refuse what is not one JPEG of at most `SNAPSHOT_MAX_BYTES` (InputError naming `field`)."""
    if len(data) > SNAPSHOT_MAX_BYTES:
        raise InputError(field, f"is {len(data):,} bytes; the limit is {SNAPSHOT_MAX_BYTES:,} bytes (200 kB)")
    if len(data) < 4 or data[:3] != b"\xff\xd8\xff" or data[-2:] != b"\xff\xd9":
        raise InputError(field, "is not a JPEG image (no SOI/EOI markers)", hint="send image/jpeg bytes")


class IncidentService:
    """Incidents of one live service: grouping, routing, the workflow and its side effects.

    Parameters
    ----------
    live
        The live service (store, city context, bus, alert lifecycle).
    city
        The city model (road link names for the nearest street).
    directory
        Units, routing rules and targets.
    window
        How long after an incident's last occurrence a new one of the same group joins it.
    """

    def __init__(
        self,
        live: LiveService,
        city: Any,
        directory: UnitDirectory | None = None,
        window: timedelta = timedelta(minutes=60),
    ) -> None:
        self.live = live
        self.store = live.store
        self.directory = directory or UnitDirectory.load()
        self.window = window
        self.streets = StreetLocator(city, live.ctx.cameras)

    # -------------------------------------------------------------------------------- location
    def locate(self, lon: float | None, lat: float | None) -> tuple[str, str]:
        """Return (ward code, nearest street in words) of a position."""
        if lon is None or lat is None:
            return "", ""
        ward = self.live.ctx.ward_of(np.array([lon]), np.array([lat]))[0]
        return ward, self.streets.nearest(lon, lat)

    def _candidate(
        self,
        *,
        kind: str,
        category: str,
        subject: str,
        severity: str,
        title: tuple[str, str],
        at: datetime,
        source: str,
        lon: float | None,
        lat: float | None,
        cell: int | None,
        camera_id: str | None,
        ward: str | None,
        details: dict[str, Any],
    ) -> IncidentRecord:
        found_ward, street = self.locate(lon, lat)
        ward_code = ward or found_ward
        unit = self.directory.route(category, ward_code)
        target = self.directory.target(category)
        return IncidentRecord(
            incident_id="IN-" + uuid.uuid4().hex[:16],
            kind=kind,
            category=category,
            group_key=f"{kind}:{category}:{subject}",
            status="assigned" if unit else "new",
            severity=severity,
            title_vi=title[0],
            title_en=title[1],
            count=1,
            first_at=at,
            last_at=at,
            created_at=now_utc(),
            updated_at=now_utc(),
            lon=lon,
            lat=lat,
            cell=cell,
            camera_id=camera_id,
            ward_code=ward_code,
            street=street,
            unit_id=unit,
            due_at=at + target if target else None,
            sources=(source,),
            details=details,
        )

    # ------------------------------------------------------------------------------ occurrences
    async def on_alert(self, alert: AlertRecord) -> IncidentRecord | None:
        """Group a newly raised alert into an incident, or follow its resolution."""
        source = f"alert:{alert.alert_id}"
        existing = await asyncio.to_thread(self.store.incident_of_source, source)
        if existing is not None:
            superseded = bool(alert.details.get("superseded"))
            if alert.status == "resolved" and existing.status in _OPEN and not superseded:
                note = f"{alert.acknowledged_by or 'system'}: {alert.note or 'alert resolved'}"
                if existing.status == "in_progress":  # people are on it: tell them, do not close it
                    return await self._system_change(existing, None, note)
                return await self._system_change(existing, "resolved", note)
            return existing
        if alert.status != "open":
            return None
        subject = h3grid.hex_of(alert.cell) or alert.camera_id or alert.key
        vi, en = RULE_LABELS.get(alert.rule, (alert.rule, alert.rule))
        title = alert.title.split(" / ", 1)
        cand = self._candidate(
            kind="alert",
            category=alert.rule,
            subject=subject,
            severity=alert.severity,
            title=(title[0], title[-1]) if len(title) == 2 else (vi, en),
            at=alert.created_at,
            source=source,
            lon=alert.lon,
            lat=alert.lat,
            cell=alert.cell,
            camera_id=alert.camera_id,
            ward=None,
            details=dict(alert.details),
        )
        inc, _ = await asyncio.wrap_future(self.store.submit_occurrence(cand, alert.created_at - self.window))
        self._publish(inc)
        return inc

    async def on_report(self, report: ReportRecord) -> ReportRecord:
        """Group a new citizen report into an incident; return the report with its agency set."""
        labels = category_labels()
        vi, en = labels.get(report.service_code, (report.service_code, report.service_code))
        cand = self._candidate(
            kind="report",
            category=report.service_code,
            subject=h3grid.hex_of(report.cell),
            severity="medium",
            title=(f"Phản ánh: {vi}", f"Citizen report: {en}"),
            at=report.requested_at,
            source=f"report:{report.request_id}",
            lon=report.lon,
            lat=report.lat,
            cell=report.cell,
            camera_id=None,
            ward=report.ward_code,
            details={"description": report.description[:200]},
        )
        inc, _ = await asyncio.wrap_future(
            self.store.submit_occurrence(cand, report.requested_at - self.window)
        )
        self._publish(inc)
        unit = self.directory.units.get(inc.unit_id or "")
        if unit is None:
            return report
        new = replace(report, agency_responsible=unit.name)
        return await asyncio.wrap_future(self.store.submit_report(new))

    # ---------------------------------------------------------------------------------- changes
    def unit_of(self, principal: Principal) -> str | None:
        """Return the unit a ``unit``-role caller belongs to (None for other roles)."""
        if principal.role != "unit" or principal.key_id is None:
            return None
        unit = self.store.unit_of_key(principal.key_id)
        if unit is None:
            raise Conflict(
                "credentials", "this unit key is bound to no unit; bind it with `twin keys create --unit`"
            )
        return unit

    def get_for(self, incident_id: str, principal: Principal) -> IncidentRecord:
        """Return an incident the caller may see (a unit sees its own incidents only: else 404)."""
        inc = self.store.get_incident(incident_id)
        unit = self.unit_of(principal)
        if inc is None or (unit is not None and inc.unit_id != unit):
            raise NotFound("incident", incident_id)
        return inc

    async def change(
        self,
        incident_id: str,
        principal: Principal,
        revision: int,
        *,
        status: str | None = None,
        unit_id: str | None = None,
        note: str | None = None,
        snapshot_id: str | None = None,
    ) -> IncidentRecord:
        """Apply one operator's or unit's change at `revision`; refuse what the workflow forbids."""
        if note is not None and len(note) > NOTE_MAX:
            raise InputError("note", f"is {len(note)} characters; at most {NOTE_MAX}")
        if status is not None and status not in INCIDENT_STATUSES:
            raise InputError("status", f"unknown status {status!r}; one of {', '.join(INCIDENT_STATUSES)}")
        inc = await asyncio.to_thread(self.get_for, incident_id, principal)
        own_unit = await asyncio.to_thread(self.unit_of, principal)
        if unit_id is not None:
            if own_unit is not None:
                raise Conflict("unit_id", "a unit cannot reassign incidents; ask the IOC operators")
            self.directory.check_unit(unit_id)
        if snapshot_id is not None:
            snap = await asyncio.to_thread(self.store.get_snapshot, snapshot_id)
            if snap is None or snap.incident_id not in (None, incident_id):
                raise InputError("snapshot_id", f"no snapshot {snapshot_id!r} of this incident")
        target = status
        if unit_id is not None and status is None:
            target = "assigned" if inc.status in ("new", "acknowledged", "assigned", "in_progress") else None
            if target is None:
                raise Conflict("unit_id", f"a {inc.status} incident cannot be reassigned")
        if target is not None and target != inc.status:
            if target not in TRANSITIONS[inc.status]:
                allowed = ", ".join(sorted(TRANSITIONS[inc.status])) or "none (closed)"
                raise Conflict(
                    "status", f"{inc.status} → {target} is not allowed; from {inc.status}: {allowed}"
                )
            if own_unit is not None and target not in UNIT_MAY_SET:
                raise Conflict("status", f"a unit may set {', '.join(sorted(UNIT_MAY_SET))}, not {target}")
            if target == "assigned" and not (unit_id or inc.unit_id):
                raise InputError("unit_id", "assigning needs a unit")
        elif target is not None and unit_id is None:
            raise Conflict("status", f"the incident is already {inc.status}")
        if revision != inc.revision:
            raise PreconditionFailed(
                "If-Match", f"the incident is at revision {inc.revision}, not {revision}"
            )
        if target is None and unit_id is None and note is None and snapshot_id is None:
            raise InputError("body", "nothing to change: give status, unit_id, note or snapshot_id")
        now = now_utc()
        new = replace(
            inc,
            status=target or inc.status,
            unit_id=unit_id or inc.unit_id,
            updated_at=now,
            revision=inc.revision + 1,
            snapshot_ids=inc.snapshot_ids + ((snapshot_id,) if snapshot_id else ()),
        )
        action = "assign" if unit_id else ("status" if target and target != inc.status else "note")
        change = IncidentChange(
            incident_id=inc.incident_id,
            revision=new.revision,
            at=now,
            actor=actor_of(principal),
            role=principal.role,
            action=action,
            from_status=inc.status,
            to_status=new.status,
            unit_id=new.unit_id,
            note=note,
            snapshot_id=snapshot_id,
        )
        try:
            saved = await asyncio.wrap_future(self.store.update_incident(new, revision, change))
        except RevisionConflict as e:
            raise PreconditionFailed(
                "If-Match", f"the incident changed meanwhile (now revision {e.current})"
            ) from e
        await self._follow(saved, change)
        return saved

    async def _system_change(self, inc: IncidentRecord, status: str | None, note: str) -> IncidentRecord:
        """Record the system's change (its condition cleared): resolve, or only note when `status` is None."""
        for _ in range(3):
            now = now_utc()
            to = status or inc.status
            details = {**inc.details, "auto_resolved": True} if to == "resolved" else inc.details
            new = replace(inc, status=to, updated_at=now, revision=inc.revision + 1, details=details)
            change = IncidentChange(
                inc.incident_id,
                new.revision,
                now,
                "system",
                "system",
                "auto",
                inc.status,
                to,
                inc.unit_id,
                note,
            )
            try:
                saved = await asyncio.wrap_future(self.store.update_incident(new, inc.revision, change))
            except RevisionConflict:
                fresh = await asyncio.to_thread(self.store.get_incident, inc.incident_id)
                if fresh is None or fresh.status not in _OPEN:
                    return fresh or inc
                inc = fresh
                continue
            await self._follow(saved, change)
            return saved
        return inc

    async def _follow(self, inc: IncidentRecord, change: IncidentChange) -> None:
        """Carry a change to the incident's alerts and reports, and publish it."""
        self._publish(inc)
        for source in inc.sources:
            kind, _, ident = source.partition(":")
            try:
                if kind == "alert":
                    await self._follow_alert(ident, inc, change)
                elif kind == "report":
                    await self._follow_report(ident, inc, change)
            except Exception:  # the incident change is committed; a side effect must not undo it
                log.exception("incident %s: could not update %s", inc.incident_id, source)

    async def _follow_alert(self, alert_id: str, inc: IncidentRecord, change: IncidentChange) -> None:
        alert = await asyncio.to_thread(self.store.get_alert, alert_id)
        if alert is None or alert.status == "resolved":
            return
        if inc.status in ("resolved", "closed"):
            await self.live.transition_alert(alert, "resolve", change.actor, change.note)
        elif inc.status != "new" and alert.status == "open":
            await self.live.transition_alert(alert, "ack", change.actor, change.note)

    async def _follow_report(self, request_id: str, inc: IncidentRecord, change: IncidentChange) -> None:
        from api.schemas.open311 import RequestUpdate  # noqa: PLC0415  (reports import the live service)
        from api.services.reports import update  # noqa: PLC0415

        report = await asyncio.to_thread(self.store.get_report, request_id)
        if report is None:
            return
        vi, en = STATUS_LABELS[inc.status]
        notes = f"{vi} / {en}" + (f": {change.note}" if change.note else "")
        unit = self.directory.units.get(inc.unit_id or "")
        await update(
            self.live,
            request_id,
            RequestUpdate(
                status="closed" if inc.status in ("resolved", "closed") else "open",
                status_notes=notes[:1000],
                agency_responsible=unit.name[:200] if unit else None,
            ),
        )

    def _publish(self, inc: IncidentRecord) -> None:
        from api.responses import dumps  # noqa: PLC0415
        from api.services.bus import Message  # noqa: PLC0415

        view = self.view(inc, now_utc())
        self.live.bus.publish(
            Message("incident", dumps(view).decode(), inc.category, inc.ward_code, inc.lon, inc.lat)
        )

    # --------------------------------------------------------------------------------- evidence
    async def attach_snapshot(
        self,
        data: bytes,
        principal: Principal,
        *,
        event_id: str | None = None,
        incident_id: str | None = None,
    ) -> SnapshotRecord:
        """Store a JPEG for an event (gateway) or an incident (staff); refuse anything else."""
        check_jpeg(data)
        snap = SnapshotRecord(
            snapshot_id="SN-" + uuid.uuid4().hex[:16],
            data=data,
            created_at=now_utc(),
            key_id=principal.key_id or principal.via,
            event_id=event_id,
            incident_id=incident_id,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        saved = await asyncio.wrap_future(self.store.submit_snapshot(snap))
        audit.info("snapshot %s stored by %s (event %s, incident %s)", snap.snapshot_id, actor_of(principal),
                   event_id, incident_id)  # fmt: skip
        return saved

    def snapshots_of(self, inc: IncidentRecord) -> list[str]:
        """Return the snapshot ids of an incident: its own, and those gateways attached to the events
        of its cell or camera between its first and last occurrence (the evidence of the alert)."""
        from api.store.base import EventQuery  # noqa: PLC0415

        ids = list(inc.snapshot_ids)
        if inc.kind != "alert" or (inc.cell is None and inc.camera_id is None):
            return ids
        since = inc.first_at - timedelta(minutes=int(inc.details.get("window_min", 10)))
        res = int(inc.details.get("res", self.store.res))
        q = EventQuery(
            since=since,
            until=inc.last_at + timedelta(seconds=1),
            cell=(res, inc.cell) if inc.cell is not None else None,
            camera_id=inc.camera_id if inc.cell is None else None,
            limit=200,
        )
        for ev in self.store.query_events(q).events:
            ids.extend(s for s in self.store.snapshots_of_event(ev.event_id) if s not in ids)
        return ids

    # ------------------------------------------------------------------------------------ views
    def query(
        self,
        principal: Principal,
        *,
        statuses: tuple[str, ...] = (),
        category: str | None = None,
        ward_code: str | None = None,
        unit_id: str | None = None,
        overdue: bool = False,
        limit: int = 200,
    ) -> list[IncidentRecord]:
        """Return the incidents a caller may see, filtered, newest first."""
        bad = [s for s in statuses if s not in INCIDENT_STATUSES]
        if bad:
            raise InputError("status", f"unknown status {bad[0]!r}; one of {', '.join(INCIDENT_STATUSES)}")
        if unit_id is not None:
            self.directory.check_unit(unit_id, "unit")
        own = self.unit_of(principal)
        if own is not None:
            if unit_id is not None and unit_id != own:
                raise Conflict("unit", "a unit key sees its own unit's incidents only")
            unit_id = own
        return self.store.list_incidents(
            IncidentQuery(
                statuses=statuses,
                category=category,
                ward_code=ward_code,
                unit_id=unit_id,
                overdue_at=now_utc() if overdue else None,
                limit=limit,
            )
        )

    def view(
        self, inc: IncidentRecord, now: datetime, cats: dict[str, tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        """Return an incident as JSON with its labels, ward and unit names and overdue flag."""
        cat = (cats or category_labels()).get(inc.category, (inc.category, inc.category))
        sev = SEVERITY_LABELS.get(inc.severity, (inc.severity, inc.severity))
        st = STATUS_LABELS[inc.status]
        unit = self.directory.units.get(inc.unit_id or "")
        overdue = inc.status in _OPEN and inc.due_at is not None and inc.due_at < now
        cell = h3grid.hex_of(inc.cell)
        return {
            "incident_id": inc.incident_id,
            "revision": inc.revision,
            "kind": inc.kind,
            "category": inc.category,
            "category_vi": cat[0],
            "category_en": cat[1],
            "status": inc.status,
            "status_vi": st[0],
            "status_en": st[1],
            "severity": inc.severity,
            "severity_vi": sev[0],
            "severity_en": sev[1],
            "title_vi": inc.title_vi,
            "title_en": inc.title_en,
            "count": inc.count,
            "first_at": inc.first_at.isoformat(),
            "last_at": inc.last_at.isoformat(),
            "updated_at": inc.updated_at.isoformat(),
            "due_at": inc.due_at.isoformat() if inc.due_at else None,
            "overdue": overdue,
            "ward_code": inc.ward_code,
            "ward_name": self.live.ctx.ward_name(inc.ward_code),
            "street": inc.street,
            "unit_id": inc.unit_id,
            "unit_name_vi": unit.name_vi if unit else None,
            "unit_name_en": unit.name_en if unit else None,
            "camera_id": inc.camera_id,
            "cell": cell,
            "lon": inc.lon,
            "lat": inc.lat,
            "sources": list(inc.sources),
            "snapshots": list(inc.snapshot_ids),  # the detail view adds the alert's event snapshots
            "details": inc.details,
        }

    def feature(
        self, inc: IncidentRecord, now: datetime, cats: dict[str, tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        """Return an incident as a GeoJSON Point feature (null geometry when not located)."""
        geom = (
            {"type": "Point", "coordinates": [round(inc.lon, 6), round(inc.lat, 6)]}
            if inc.lon is not None and inc.lat is not None
            else None
        )
        props = self.view(inc, now, cats)
        return {"type": "Feature", "id": inc.incident_id, "geometry": geom, "properties": props}

    def features(self, incidents: list[IncidentRecord], now: datetime) -> list[dict[str, Any]]:
        """Return incidents as GeoJSON features (the category labels read once for the whole list)."""
        cats = category_labels()
        return [self.feature(i, now, cats) for i in incidents]

    def labels(self) -> dict[str, Any]:
        """Return the vocabulary the viewer shows: statuses, severities, categories, transitions."""
        return {
            "statuses": {k: {"vi": v[0], "en": v[1]} for k, v in STATUS_LABELS.items()},
            "severities": {k: {"vi": v[0], "en": v[1]} for k, v in SEVERITY_LABELS.items()},
            "categories": {k: {"vi": v[0], "en": v[1]} for k, v in category_labels().items()},
            "transitions": {k: sorted(v) for k, v in TRANSITIONS.items()},
            "unit_may_set": sorted(UNIT_MAY_SET),
            "note_max": NOTE_MAX,
            "snapshot_max_bytes": SNAPSHOT_MAX_BYTES,
            "h3_res": h3grid.DEFAULT_RES,
        }
