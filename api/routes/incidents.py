"""Incidents (alerts and citizen reports as one worklist), city units and evidence snapshots.

``GET /incidents`` lists newest first with filters; ``GET /incidents/{id}`` adds the recorded changes
and evidence, with the revision as ``ETag``. Changes (``POST /incidents/{id}/status``, ``/assign``,
``/notes``) need ``If-Match: "<revision>"``: a stale revision answers 412, a missing one 428, a jump
the workflow forbids 409 naming ``status``; who acted comes from the credentials. A ``unit`` key sees
and works its own unit's queue only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import require_speaks_for, requires
from api.auth.service import Principal
from api.errors import Conflict, NotFound
from api.responses import GeoJSONResponse, JSONBytes
from api.schemas.errors import errors
from api.schemas.geojson import FEATURE_COLLECTION
from api.services.deps import LiveDep
from api.services.incidents import NOTE_MAX, actor_of, parse_if_match
from api.store.base import now_utc
from api.store.incidents import INCIDENT_STATUSES, SNAPSHOT_MAX_BYTES
from twin.errors import InputError

router = APIRouter(tags=["incidents"])
audit = logging.getLogger("twin.audit")

Status = Literal["new", "acknowledged", "assigned", "in_progress", "resolved", "closed"]
IfMatch = Annotated[str | None, Header(alias="If-Match", description='The revision: `"3"`')]


class StatusChange(BaseModel):
    """A new status and an optional note (who acts comes from the credentials)."""

    model_config = ConfigDict(extra="forbid")

    status: Status
    note: str | None = Field(
        default=None, max_length=NOTE_MAX, examples=["Đã cử tổ tuần tra đến hiện trường"]
    )
    snapshot_id: str | None = Field(
        default=None, max_length=40, description="A photo sent to /snapshots first"
    )


class Assignment(BaseModel):
    """The unit that takes the incident, and an optional note."""

    model_config = ConfigDict(extra="forbid")

    unit_id: str = Field(max_length=64, examples=["cong-an-ky-lua"])
    note: str | None = Field(default=None, max_length=NOTE_MAX)


class Note(BaseModel):
    """A note on the incident (and optionally a photo)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=NOTE_MAX)
    snapshot_id: str | None = Field(default=None, max_length=40)


def _etag(revision: int) -> dict[str, str]:
    return {"ETag": f'"{revision}"'}


def _detail(live: Any, incident_id: str, principal: Principal) -> tuple[dict[str, Any], int]:
    svc = live.incidents
    inc = svc.get_for(incident_id, principal)
    view = svc.view(inc, now_utc())
    view["snapshots"] = svc.snapshots_of(inc)
    view["changes"] = [
        {
            "revision": c.revision,
            "at": c.at.isoformat(),
            "actor": c.actor,
            "role": c.role,
            "action": c.action,
            "from_status": c.from_status,
            "to_status": c.to_status,
            "unit_id": c.unit_id,
            "note": c.note,
            "snapshot_id": c.snapshot_id,
        }
        for c in live.store.incident_changes(incident_id)
    ]
    return view, inc.revision


@router.get(
    "/incidents",
    summary="Incidents (alerts and citizen reports), newest first (GeoJSON)",
    response_class=GeoJSONResponse,
    responses={
        200: {"content": {"application/geo+json": {"schema": FEATURE_COLLECTION}}},
        **errors(422, 503),
    },
)
def list_incidents(  # noqa: PLR0917  (FastAPI query parameters)
    live: LiveDep,
    principal: Annotated[Principal, requires("incidents:read")],
    status: Annotated[list[Status] | None, Query(description="One or more statuses")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    ward: Annotated[str | None, Query(max_length=16, description="2025 ward code")] = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    overdue: Annotated[bool, Query(description="Only open incidents past their target time")] = False,
    open_only: Annotated[bool, Query(alias="open", description="Only new … in progress")] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> GeoJSONResponse:
    """Return the incidents the caller may see (a unit key: its unit's), newest occurrence first."""
    statuses: tuple[str, ...] = tuple(status or ())
    if open_only:
        statuses = tuple(s for s in (statuses or INCIDENT_STATUSES) if s not in ("resolved", "closed"))
    svc = live.incidents
    found = svc.query(principal, statuses=statuses, category=category, ward_code=ward, unit_id=unit,
                      overdue=overdue, limit=limit)  # fmt: skip
    now = now_utc()
    return GeoJSONResponse({"type": "FeatureCollection", "features": svc.features(found, now)})


@router.get("/incidents/labels", dependencies=[requires("incidents:read")], summary="Incident vocabulary")
def labels(live: LiveDep) -> dict[str, Any]:
    """Return statuses, severities and categories in Vietnamese and English, and the workflow."""
    out: dict[str, Any] = live.incidents.labels()
    return out


@router.get("/units", dependencies=[requires("incidents:read")], summary="City units, routing rules, targets")
def units(live: LiveDep) -> dict[str, Any]:
    """Return the units that handle incidents, the routing rules and the target minutes per category."""
    out: dict[str, Any] = live.incidents.directory.as_dict()
    return out


@router.get(
    "/incidents/{incident_id}",
    summary="One incident with its recorded changes (ETag: revision)",
    responses=errors(404, 503),
)
def get_incident(
    incident_id: str, live: LiveDep, principal: Annotated[Principal, requires("incidents:read")]
) -> JSONBytes:
    """Return an incident, its changes (who, when, from → to, note) and its evidence."""
    view, rev = _detail(live, incident_id, principal)
    return JSONBytes(view, headers=_etag(rev))


async def _answer(live: Any, incident_id: str, principal: Principal) -> JSONBytes:
    view, rev = await asyncio.to_thread(_detail, live, incident_id, principal)
    return JSONBytes(view, headers=_etag(rev))


_CHANGE_ERRORS = errors(404, 409, 412, 422, 428, 503)


@router.post(
    "/incidents/{incident_id}/status", summary="Change an incident's status", responses=_CHANGE_ERRORS
)
async def change_status(
    incident_id: str,
    body: StatusChange,
    live: LiveDep,
    principal: Annotated[Principal, requires("incidents:write")],
    if_match: IfMatch = None,
) -> JSONBytes:
    """Move the incident along the workflow, with an optional note and photo."""
    rev = parse_if_match(if_match)
    await live.incidents.change(
        incident_id, principal, rev, status=body.status, note=body.note, snapshot_id=body.snapshot_id
    )
    return await _answer(live, incident_id, principal)


@router.post(
    "/incidents/{incident_id}/assign", summary="Assign an incident to a unit", responses=_CHANGE_ERRORS
)
async def assign(
    incident_id: str,
    body: Assignment,
    live: LiveDep,
    principal: Annotated[Principal, requires("incidents:assign")],
    if_match: IfMatch = None,
) -> JSONBytes:
    """Give the incident to a unit (status becomes ``assigned``)."""
    rev = parse_if_match(if_match)
    await live.incidents.change(incident_id, principal, rev, unit_id=body.unit_id, note=body.note)
    return await _answer(live, incident_id, principal)


@router.post("/incidents/{incident_id}/notes", summary="Add a note to an incident", responses=_CHANGE_ERRORS)
async def add_note(
    incident_id: str,
    body: Note,
    live: LiveDep,
    principal: Annotated[Principal, requires("incidents:write")],
    if_match: IfMatch = None,
) -> JSONBytes:
    """Record a note (and a photo) without changing the status."""
    rev = parse_if_match(if_match)
    await live.incidents.change(incident_id, principal, rev, note=body.note, snapshot_id=body.snapshot_id)
    return await _answer(live, incident_id, principal)


_JPEG_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "image/jpeg": {"schema": {"type": "string", "format": "binary", "maxLength": SNAPSHOT_MAX_BYTES}}
        },
    }
}


async def _jpeg(request: Request) -> bytes:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "image/jpeg":
        raise InputError("content-type", f"must be image/jpeg, not {ctype or 'missing'}")
    return await request.body()


@router.post(
    "/incidents/{incident_id}/snapshots",
    summary="Attach a photo (JPEG ≤ 200 kB) to an incident",
    status_code=201,
    openapi_extra=_JPEG_BODY,
    responses=errors(404, 413, 422, 503),
)
async def incident_snapshot(
    incident_id: str,
    request: Request,
    live: LiveDep,
    principal: Annotated[Principal, requires("incidents:write")],
) -> dict[str, Any]:
    """Store a photo taken on site; reference its id in the next status change or note."""
    await asyncio.to_thread(live.incidents.get_for, incident_id, principal)
    snap = await live.incidents.attach_snapshot(await _jpeg(request), principal, incident_id=incident_id)
    return {"snapshot_id": snap.snapshot_id, "bytes": snap.size, "sha256": snap.sha256}


@router.post(
    "/events/{event_id}/snapshot",
    summary="Attach one snapshot (JPEG ≤ 200 kB) to an event (gateways)",
    status_code=201,
    openapi_extra=_JPEG_BODY,
    responses=errors(404, 409, 413, 422, 503),
)
async def event_snapshot(
    event_id: str, request: Request, live: LiveDep, principal: Annotated[Principal, requires("events:write")]
) -> dict[str, Any]:
    """Store the evidence frame of a detection; operators see it in the event's incident."""
    data = await _jpeg(request)
    ev = await asyncio.to_thread(live.store.get_event, event_id)
    if ev is None:
        raise NotFound("event", event_id)
    await require_speaks_for(request, principal, [ev.camera_id])
    if await asyncio.to_thread(live.store.snapshots_of_event, event_id):
        raise Conflict("snapshot", f"event {event_id} already has its snapshot (one per event)")
    snap = await live.incidents.attach_snapshot(data, principal, event_id=event_id)
    return {"snapshot_id": snap.snapshot_id, "bytes": snap.size, "sha256": snap.sha256}


@router.get(
    "/snapshots/{snapshot_id}",
    summary="One evidence snapshot (JPEG; every access is audited)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **errors(404, 503)},
)
def get_snapshot(
    snapshot_id: str, live: LiveDep, principal: Annotated[Principal, requires("incidents:read")]
) -> Response:
    """Return a snapshot to operators, or to the unit whose incident it belongs to."""
    snap = live.store.get_snapshot(snapshot_id)
    if snap is None:
        raise NotFound("snapshot", snapshot_id)
    unit = live.incidents.unit_of(principal)
    if unit is not None:
        inc = live.store.get_incident(snap.incident_id) if snap.incident_id else None
        if inc is None or inc.unit_id != unit:
            raise NotFound("snapshot", snapshot_id)
    audit.info("snapshot %s viewed by %s", snapshot_id, actor_of(principal))
    return Response(snap.data, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"})
