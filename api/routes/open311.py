"""Citizen reports as Open311 GeoReport v2 (JSON) under /open311/v2."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.errors import NotFound
from api.schemas.errors import errors
from api.schemas.events import SafeTime
from api.schemas.open311 import RequestCreated, RequestIn, RequestOut, RequestUpdate, Service
from api.services import reports
from api.services.deps import LiveDep
from twin.errors import InputError

router = APIRouter(prefix="/open311/v2", tags=["open311"])

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
    "/services.json", summary="GeoReport: the services citizens can report", response_model=list[Service]
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
async def create_request(body: RequestIn, live: LiveDep) -> list[RequestCreated]:
    """Store a report. Contact details are kept only with ``consent`` and never shown publicly."""
    rec = await reports.submit(live, body)
    return [
        RequestCreated(
            service_request_id=rec.request_id,
            service_notice=f"Đã tiếp nhận, chuyển {rec.agency_responsible} / Received",
        )
    ]


@router.get(
    "/requests.json",
    summary="GeoReport: list reports (public view)",
    response_model=list[RequestOut],
    responses={
        200: {"description": "Newest first", "content": {"application/json": {"example": [_PUBLIC_EXAMPLE]}}},
        **errors(422, 503),
    },
)
def list_requests(  # noqa: PLR0917  (FastAPI query parameters)
    live: LiveDep,
    service_request_id: Annotated[
        str | None, Query(max_length=400, description="Comma-separated ids")
    ] = None,
    service_code: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    start_date: Annotated[SafeTime | None, Query()] = None,
    end_date: Annotated[SafeTime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Return reports (no contact details; positions coarsened to the H3 cell centre)."""
    for name, t in (("start_date", start_date), ("end_date", end_date)):
        if t is not None and t.tzinfo is None:
            raise InputError(name, "must carry a time zone, e.g. 2025-06-12T00:00:00Z")
    if service_request_id:
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()]
        found = [live.store.get_report(i) for i in ids]
        return [reports.public_view(r) for r in found if r is not None]
    rows = live.store.list_reports(
        service_code=service_code, status=status, since=start_date, until=end_date, limit=limit
    )
    return [reports.public_view(r) for r in rows]


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
def get_request(request_id: str, live: LiveDep) -> list[dict[str, Any]]:
    """Return one report as a one-element list."""
    r = live.store.get_report(request_id)
    if r is None:
        raise NotFound("service request", request_id)
    return [reports.public_view(r)]


@router.post(
    "/requests/{request_id}/updates.json",
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
