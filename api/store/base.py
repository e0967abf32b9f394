"""The event store contract: records, queries and the `Store` protocol every backend implements.

The contract is backend-neutral: times are timezone-aware UTC datetimes, H3 cells are integers (they fit
a signed 64-bit column: the top bit of an H3 index is always 0), and every write returns a
`concurrent.futures.Future` that completes only after the write is durable (committed with fsync).
SQLite (`api.store.sqlite`) is the embedded default; a PostgreSQL backend implements the same protocol
and passes the same suite (``tests/api/store_contract.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from twin.errors import InputError

if TYPE_CHECKING:
    from api.store.incidents import IncidentChange, IncidentQuery, IncidentRecord, SnapshotRecord
    from api.store.jobs import JobRecord
    from api.store.traffic_counts import TrafficCountQuery, TrafficCountRecord

Lifecycle = Literal["new", "update", "end"]
#: How an upsert was applied: a new row, a changed row, an identical replay, an older lifecycle
#: message that was ignored, or a contradiction (same id, other camera or category) that was refused.
Outcome = Literal["created", "updated", "duplicate", "stale", "conflict"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
ReportStatus = Literal["open", "closed"]

LIFECYCLE_RANK: dict[str, int] = {"new": 0, "update": 1, "end": 2}
#: Coarsest resolution whose parent cell is stored with every event.
PARENT_MIN_RES = 7


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(t: datetime) -> int:
    """Return microseconds since the Unix epoch of an aware datetime."""
    if t.tzinfo is None:
        raise InputError("time", "must carry a time zone (UTC recommended)")
    delta = t - _EPOCH  # aware arithmetic accounts for the offset
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """Return the aware UTC datetime of microseconds since the Unix epoch."""
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).replace(microsecond=us % 1_000_000)


def now_utc() -> datetime:
    """Return the current time (aware, UTC)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One camera-derived detection as stored (no frames, faces or plates: detections only).

    `cells` maps resolution → H3 cell (int) for the event's position, from the store resolution down
    to `PARENT_MIN_RES`.
    """

    event_id: str
    camera_id: str
    category: str
    severity: str
    confidence: float
    lifecycle: str
    start_time: datetime
    end_time: datetime | None
    lon: float
    lat: float
    cells: dict[int, int]
    ward_code: str
    attributes: dict[str, Any]
    synthetic: bool
    received_at: datetime
    updated_at: datetime
    revision: int = 1
    #: The message's own order, as the sender gave it: a sequence number per event id, and the time
    #: the camera observed what the message says. A message older than the stored one is stale.
    sequence: int | None = None
    observed_at: datetime | None = None
    #: The API key that sent the event's first message (from the credentials, never the body; None
    #: with auth off or for events stored before keys were recorded).
    sent_by: str | None = None

    def same_content(self, other: EventRecord) -> bool:
        """Return whether `other` carries the same observable content (a replay of this one)."""
        return (
            self.lifecycle == other.lifecycle
            and self.severity == other.severity
            and self.confidence == other.confidence
            and self.end_time == other.end_time
            and self.lon == other.lon
            and self.lat == other.lat
            and self.attributes == other.attributes
        )


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What happened to one event of a write, and the stored record after it."""

    event_id: str
    outcome: Outcome
    record: EventRecord | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters of `Store.query_events`; all optional; results newest first (start time, then id)."""

    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    since: datetime | None = None
    until: datetime | None = None
    categories: tuple[str, ...] = ()
    camera_id: str | None = None
    ward_code: str | None = None
    cell: tuple[int, int] | None = None  # (res, cell)
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events and the opaque cursor of the next page (None at the end)."""

    events: list[EventRecord]
    next_cursor: str | None


def encode_cursor(start_time: datetime, event_id: str) -> str:
    """Return the opaque keyset cursor that resumes after (start_time, event_id)."""
    raw = json.dumps([to_us(start_time), event_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Return (start_us, event_id) of a cursor; a malformed cursor raises `InputError`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        start_us, event_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InputError("cursor", "is not a cursor returned by this service") from None
    if not isinstance(start_us, int) or not isinstance(event_id, str):
        raise InputError("cursor", "is not a cursor returned by this service")
    return start_us, event_id


@dataclass(frozen=True, slots=True)
class CameraSnapshot:
    """The camera fleet's status at one moment (for the "50/238 online" history)."""

    at: datetime
    online: int
    connected: int
    total: int


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert raised by a rule, and what operators did with it."""

    alert_id: str
    rule: str
    key: str  # what the alert is about: a cell, a camera
    status: AlertStatus
    severity: str
    title: str
    created_at: datetime
    updated_at: datetime
    cell: int | None = None
    camera_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    acknowledged_by: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """A citizen report (Open311 service request). `contact` is private: never on public endpoints."""

    request_id: str
    service_code: str
    status: ReportStatus
    description: str
    lon: float
    lat: float
    cell: int
    ward_code: str
    address: str | None
    requested_at: datetime
    updated_at: datetime
    status_notes: str | None = None
    agency_responsible: str | None = None
    contact: dict[str, str] = field(default_factory=dict)
    synthetic: bool = False
    #: Open311 ``media_url`` (a photo hosted elsewhere) and ``attribute[code]`` answers (issue 18).
    media_url: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    """An API key as stored: its public id, the hash of its secret (never the secret), role and life.

    The plain key (``lst_<key_id>_<secret>``) is shown once, when it is created; only
    ``secret_hash`` (SHA-256 of the high-entropy secret) is kept. A key is usable while it is neither
    revoked nor past ``expires_at``.
    """

    key_id: str
    secret_hash: str
    role: str
    label: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@runtime_checkable
class Store(Protocol):
    """The event store. Writes return futures that complete after a durable commit.

    Backends raise `api.errors.StoreFull` when the disk is full, `StoreBusy` when another writer holds
    the database, `StoreUnavailable` when closed or on I/O failure; a failed write leaves no trace.
    """

    res: int

    def submit_events(self, events: Sequence[EventRecord]) -> Future[list[UpsertResult]]:
        """Upsert events by `event_id` (idempotent, lifecycle-aware); durable when the future is done."""
        ...

    def get_event(self, event_id: str) -> EventRecord | None:
        """Return one event by id, or None."""
        ...

    def query_events(self, query: EventQuery) -> EventPage:
        """Return one page of events matching `query`, newest first, with keyset paging."""
        ...

    def events_since(self, since: datetime) -> list[EventRecord]:
        """Return the events whose start time is at or after `since`, oldest first."""
        ...

    def count_events(self) -> int:
        """Return the number of stored events."""
        ...

    def submit_heartbeats(self, beats: Sequence[tuple[str, datetime]]) -> Future[None]:
        """Record cameras' last-seen times (a later time wins)."""
        ...

    def category_rows_since(self, category: str, since: datetime) -> list[tuple[str, datetime, int]]:
        """Return (event id, start time, fine cell) of the events of `category` started since `since`."""
        ...

    def camera_last_seen(self) -> dict[str, datetime]:
        """Return the last-seen time of every camera that has been seen."""
        ...

    def submit_camera_snapshot(self, snapshot: CameraSnapshot) -> Future[None]:
        """Append a fleet status snapshot to the history."""
        ...

    def camera_history(self, since: datetime, limit: int = 1440) -> list[CameraSnapshot]:
        """Return the fleet snapshots since `since`, oldest first (at most `limit`, the latest)."""
        ...

    def submit_alert(self, alert: AlertRecord) -> Future[AlertRecord]:
        """Insert or replace an alert by id."""
        ...

    def get_alert(self, alert_id: str) -> AlertRecord | None:
        """Return one alert, or None."""
        ...

    def list_alerts(self, status: str | None = None, limit: int = 200) -> list[AlertRecord]:
        """Return alerts, newest first, optionally of one status."""
        ...

    def submit_report(self, report: ReportRecord) -> Future[ReportRecord]:
        """Insert or replace a citizen report by id."""
        ...

    def get_report(self, request_id: str) -> ReportRecord | None:
        """Return one citizen report, or None."""
        ...

    def list_reports(
        self,
        *,
        service_code: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 200,
    ) -> list[ReportRecord]:
        """Return citizen reports, newest first."""
        ...

    def submit_credential(self, credential: CredentialRecord) -> Future[CredentialRecord]:
        """Insert a new API key record (its id must be new)."""
        ...

    def get_credential(self, key_id: str) -> CredentialRecord | None:
        """Return one API key record by its public id, or None."""
        ...

    def list_credentials(self) -> list[CredentialRecord]:
        """Return every API key record, newest first."""
        ...

    def revoke_credential(self, key_id: str, at: datetime) -> Future[bool]:
        """Mark a key revoked at `at` (an earlier revocation stays); return whether the key exists."""
        ...

    def bind_key_cameras(self, key_id: str, cameras: Sequence[str]) -> Future[None]:
        """Bind a key to the cameras it may speak for (``"*"``: every camera); rebinding replaces."""
        ...

    def cameras_of_key(self, key_id: str) -> frozenset[str] | None:
        """Return the cameras a key may speak for (``{"*"}``: all), or None when it is not bound."""
        ...

    def consume_credential(self, key_id: str, at: datetime) -> Future[bool]:
        """Revoke a key at `at` only if nobody has yet; return whether this call did (a one-time use)."""
        ...

    def touch_credential(self, key_id: str, at: datetime) -> Future[None]:
        """Record that a key was used at `at` (a later time wins)."""
        ...

    def submit_report_owner(self, request_id: str, owner: str) -> Future[None]:
        """Record which key (reporter) submitted a citizen report."""
        ...

    def report_owner(self, request_id: str) -> str | None:
        """Return the key id that submitted a report, or None."""
        ...

    def list_reports_of(self, owner: str, limit: int = 200) -> list[ReportRecord]:
        """Return the reports a key submitted, newest first."""
        ...

    def check_integrity(self) -> str:
        """Run the backend's integrity check; return "ok" or the problems found."""
        ...

    # -- scenario jobs (api.store.jobs: conditional status changes, `claim_job` atomic) --------------
    def submit_job(self, job: JobRecord) -> Future[JobRecord]:
        """Insert a new scenario job."""
        ...

    def get_job(self, job_id: str) -> JobRecord | None:
        """Return one job, or None."""
        ...

    def list_jobs(self, status: str | None = None, limit: int = 100) -> list[JobRecord]:
        """Return jobs newest first, optionally of one status."""
        ...

    def count_jobs(self, status: str) -> int:
        """Return how many jobs are in `status`."""
        ...

    def claim_job(
        self, pid: int | None = None, owner: str | None = None, lease_s: float = 0.0
    ) -> Future[JobRecord | None]:
        """Move the oldest queued job to running and return it (None when none waits); with `owner`,
        that instance holds it on a lease of `lease_s` seconds."""
        ...

    def renew_job_leases(self, owner: str, lease_s: float) -> Future[bool]:
        """Extend the leases of `owner`'s running jobs to `lease_s` seconds from now."""
        ...

    def fail_expired_jobs(self) -> Future[list[str]]:
        """Fail the running jobs whose lease ran out; return their ids."""
        ...

    def start_job(self, job_id: str, pid: int | None) -> Future[bool]:
        """Move one queued job to running; False if it is no longer queued."""
        ...

    def set_job_pid(self, job_id: str, pid: int | None) -> Future[bool]:
        """Record the worker process of a job."""
        ...

    def set_job_progress(self, job_id: str, fraction: float, message: str) -> Future[bool]:
        """Record the progress of a running job (never backwards)."""
        ...

    def finish_job(self, job_id: str, kpis: dict[str, Any], layers: list[str]) -> Future[bool]:
        """Mark a running job done; False if it is not running (e.g. cancelled meanwhile)."""
        ...

    def fail_job(self, job_id: str, error: str) -> Future[bool]:
        """Mark a queued or running job failed; False if it had already ended."""
        ...

    def cancel_job(self, job_id: str) -> Future[bool]:
        """Mark a queued or running job cancelled; False if it had already ended."""

    # -- incidents (issue 16; records and SQL in api/store/incidents.py) ------------------------
    def submit_occurrence(
        self, candidate: IncidentRecord, since: datetime, actor: str = "system"
    ) -> Future[tuple[IncidentRecord, bool]]:
        """Group an alert/report into the open incident of its group seen since `since`, or insert it."""
        ...

    def update_incident(
        self, new: IncidentRecord, expected_revision: int, change: IncidentChange
    ) -> Future[IncidentRecord]:
        """Replace an incident still at `expected_revision` and record `change` (else RevisionConflict)."""
        ...

    def get_incident(self, incident_id: str) -> IncidentRecord | None:
        """Return one incident, or None."""
        ...

    def incident_of_source(self, source: str) -> IncidentRecord | None:
        """Return the incident of ``alert:<id>`` or ``report:<id>``, or None."""
        ...

    def list_incidents(self, query: IncidentQuery) -> list[IncidentRecord]:
        """Return incidents matching `query`, newest first."""
        ...

    def incident_changes(self, incident_id: str) -> list[IncidentChange]:
        """Return an incident's recorded changes, oldest first."""
        ...

    def submit_snapshot(self, snap: SnapshotRecord) -> Future[SnapshotRecord]:
        """Store one JPEG of evidence."""
        ...

    def get_snapshot(self, snapshot_id: str) -> SnapshotRecord | None:
        """Return one snapshot with its bytes, or None."""
        ...

    def snapshots_of_event(self, event_id: str) -> list[str]:
        """Return the ids of an event's snapshots."""
        ...

    def purge_snapshots(self, before: datetime) -> Future[int]:
        """Delete snapshots created before `before`; return how many."""
        ...

    def bind_unit_key(self, key_id: str, unit_id: str) -> Future[None]:
        """Bind a ``unit`` key to its unit."""
        ...

    def unit_of_key(self, key_id: str) -> str | None:
        """Return the unit a key is bound to, or None."""
        ...

    # -- traffic counts (issue 14; records and SQL in api/store/traffic_counts.py) -------------------
    def submit_traffic_counts(self, records: Sequence[TrafficCountRecord]) -> Future[list[str]]:
        """Store camera traffic counts in one transaction; per record created/updated/duplicate."""
        ...

    def traffic_counts(self, query: TrafficCountQuery) -> list[TrafficCountRecord]:
        """Return the traffic counts matching `query`, by interval start, camera and direction."""
        ...

    def traffic_counts_end(self, until: datetime) -> datetime | None:
        """Return the end of the latest counted interval starting before `until` (None: no counts)."""
        ...

    def close(self) -> None:
        """Finish pending writes and release connections; later calls raise `StoreUnavailable`."""
        ...
