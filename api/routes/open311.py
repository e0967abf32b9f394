"""Citizen reports as Open311 GeoReport v2 (JSON) under /open311/v2."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth.bootstrap import may_send_synthetic
from api.auth.deps import requires
from api.auth.service import Principal
from api.errors import NotFound
from api.schemas.errors import errors
from api.schemas.events import SafeTime
from api.schemas.open311 import RequestCreated, RequestIn, RequestOut, RequestUpdate, Service
from api.services import reports
from api.services.deps import LiveDep
from twin.errors import InputError

router = APIRouter(prefix="/open311/v2", tags=["open311"])
audit = logging.getLogger("twin.audit")

_PUBLIC_EXAMPLE: dict[str, Any] = {
    "service_request_id": "LS-20250612-3fa2b1c0",
    "status": "open",
    "status_notes": None,
    "service_name": "Đổ rác, phế thải trái phép / Illegal dumping",
    "service_code": "illegal_dumping",
    "description": "Rác thải đổ trộm ven sông",
    "agency_responsible": "Đơn vị vệ sinh môi trường đô thị / Urban sanitation service",
    "requested_datetime": "2025-06-12T01:10:00Z",
    "updated_datetime": "2025-06-12T01:10:00Z",
    "address": "Bờ sông Kỳ Cùng gần chợ Kỳ Lừa",
    "lat": 21.853,
    "long": 106.761,
    "ward_code": "06187",
    "synthetic": False,
}


@router.get(
    "/services.json",
    summary="GeoReport: the services citizens can report",
    response_model=list[Service],
    dependencies=[requires("services:read")],
)
def services() -> list[Service]:
    """Return the service list (public order, environmental sanitation, …) in Vietnamese and English."""
    return reports.service_list()


@router.post(
    "/requests.json",
    summary="GeoReport: submit a citizen report",
    status_code=201,
    response_model=list[RequestCreated],
    responses={
        201: {
            "description": "Stored durably",
            "content": {
                "application/json": {
                    "example": [
                        {
                            "service_request_id": "LS-20250612-3fa2b1c0",
                            "service_notice": "Đã tiếp nhận / Received",
                            "account_id": None,
                        }
                    ]
                }
            },
        },
        **errors(400, 413, 422, 503, 507),
    },
)
async def create_request(
    body: RequestIn, live: LiveDep, principal: Annotated[Principal, requires("reports:create")]
) -> list[RequestCreated]:
    """Store a report. Contact details are kept only with ``consent`` and never shown publicly.

    The report is linked to the submitting key, so a reporter can list their own reports.
    """
    if body.synthetic and not may_send_synthetic(principal):
        raise InputError(
            "synthetic",
            "only the service's own replayer (or an admin key) may label a report synthetic",
            hint="leave synthetic out: a citizen's report is real",
        )
    rec = await reports.submit(live, body)
    if principal.key_id is not None:
        await asyncio.wrap_future(live.store.submit_report_owner(rec.request_id, principal.key_id))
    return [
        RequestCreated(
            service_request_id=rec.request_id,
            service_notice=f"Đã tiếp nhận, chuyển {rec.agency_responsible} / Received",
        )
    ]


@router.get(
    "/requests.json",
    summary="GeoReport: list reports (public view; a reporter's own only)",
    response_model=list[RequestOut],
    responses={
        200: {"description": "Newest first", "content": {"application/json": {"example": [_PUBLIC_EXAMPLE]}}},
        **errors(422, 503),
    },
)
def list_requests(  # noqa: PLR0917  (FastAPI query parameters)
    live: LiveDep,
    principal: Annotated[Principal, requires("reports:read")],
    service_request_id: Annotated[
        str | None, Query(max_length=400, description="Comma-separated ids")
    ] = None,
    service_code: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    start_date: Annotated[SafeTime | None, Query()] = None,
    end_date: Annotated[SafeTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Return reports (no contact details; positions coarsened to the H3 cell centre).

    Operators see every report; a reporter sees the reports their own key submitted.
    """
    for name, t in (("start_date", start_date), ("end_date", end_date)):
        if t is not None and t.tzinfo is None:
            raise InputError(name, "must carry a time zone, e.g. 2025-06-12T00:00:00Z")
    if service_request_id:
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()]
        found = [r for r in (live.store.get_report(i) for i in ids) if r is not None]
        return [reports.public_view(r) for r in found if _may_read(live, principal, r.request_id)]
    if not principal.has("reports:all"):
        own = live.store.list_reports_of(principal.key_id, limit=1000) if principal.key_id else []
        picked = [
            r
            for r in own
            if (service_code is None or r.service_code == service_code)
            and (status is None or r.status == status)
            and (start_date is None or r.requested_at >= start_date)
            and (end_date is None or r.requested_at < end_date)
        ]
        return [reports.public_view(r) for r in picked[:limit]]
    rows = live.store.list_reports(
        service_code=service_code, status=status, since=start_date, until=end_date, limit=limit
    )
    return [reports.public_view(r) for r in rows]


def _may_read(live: Any, principal: Principal, request_id: str) -> bool:
    """Return whether the caller may read a report: every one with reports:all, else their own."""
    if principal.has("reports:all"):
        return True
    return principal.key_id is not None and live.store.report_owner(request_id) == principal.key_id


@router.get(
    "/requests/{request_id}.json",
    summary="GeoReport: one report (public view)",
    response_model=list[RequestOut],
    responses={
        200: {
            "description": "A one-element list, as GeoReport specifies",
            "content": {"application/json": {"example": [_PUBLIC_EXAMPLE]}},
        },
        **errors(404, 422, 503),
    },
)
def get_request(
    request_id: str, live: LiveDep, principal: Annotated[Principal, requires("reports:read")]
) -> list[dict[str, Any]]:
    """Return one report as a one-element list (a reporter's own only: others are 404)."""
    r = live.store.get_report(request_id)
    if r is None or not _may_read(live, principal, request_id):
        raise NotFound("service request", request_id)
    return [reports.public_view(r)]


@router.post(
    "/requests/{request_id}/updates.json",
    dependencies=[requires("reports:update")],
    summary="Operator: update a report's status (open/closed) and notes",
    response_model=list[RequestOut],
    responses={
        200: {
            "description": "The updated report (public view)",
            "content": {
                "application/json": {
                    "example": [{**_PUBLIC_EXAMPLE, "status": "closed", "status_notes": "Đã thu gom"}]
                }
            },
        },
        **errors(400, 404, 413, 422, 503, 507),
    },
)
async def update_request(request_id: str, body: RequestUpdate, live: LiveDep) -> list[dict[str, Any]]:
    """Set the status and notes of a report (IOC operators; the citizen sees the notes)."""
    return [reports.public_view(await reports.update(live, request_id, body))]


class ContactOut(BaseModel):
    """A reporter's contact details (personal data: operators and admins only, access is logged)."""

    service_request_id: str = Field(examples=["LS-20250612-3fa2b1c0"])
    consent: bool = Field(description="False when the citizen gave no consent: nothing was kept")
    contact: dict[str, str] = Field(examples=[{"email": "dan@example.vn", "phone": "+84 912 345 678"}])


@router.get(
    "/requests/{request_id}/contact.json",
    summary="Operator: a reporter's contact details (personal data)",
    response_model=ContactOut,
    responses={**errors(404, 422, 503)},
)
def get_contact(
    request_id: str, live: LiveDep, principal: Annotated[Principal, requires("contacts:read")]
) -> dict[str, Any]:
    """Return the contact details a citizen gave with consent (empty once erased by the retention purge).

    Every read is written to the audit log (``twin.audit``) with the key that read it.
    """
    r = live.store.get_report(request_id)
    if r is None:
        raise NotFound("service request", request_id)
    audit.info("contact of report %s read by key %s (%s)", request_id, principal.key_id, principal.role)
    return {"service_request_id": r.request_id, "consent": bool(r.contact), "contact": dict(r.contact)}
