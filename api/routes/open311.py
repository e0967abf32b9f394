"""Citizen reports as Open311 GeoReport v2 (XML and JSON) under /open311.

Every GeoReport resource answers in the format its path names (``.xml`` or ``.json``), errors
included (``[{code, description}]``, `api.routes.georeport`). ``POST requests`` takes the spec's
form-encoded body (``api_key``, ``attribute[code]``, ``media_url``, …) as well as JSON. Anyone may read
requests in the public view; a reporter also sees the words of their own, operators of all.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from api.auth.bootstrap import may_send_synthetic
from api.auth.deps import requires
from api.auth.service import Principal
from api.errors import NotFound, parse_form
from api.routes.georeport import MEDIA, Format, GeoReportRoute, error_responses, respond
from api.schemas.errors import errors
from api.schemas.events import SafeTime
from api.schemas.open311 import (
    Discovery,
    RequestCreated,
    RequestIn,
    RequestOut,
    RequestUpdate,
    Service,
    ServiceDefinition,
)
from api.services import reports
from api.services.deps import LiveDep
from api.store.base import ReportRecord
from twin.errors import InputError

router = APIRouter(prefix="/open311", tags=["open311"], route_class=GeoReportRoute)
#: Operator extensions (not GeoReport resources): the service's own error shape.
operator = APIRouter(prefix="/v2")
audit = logging.getLogger("twin.audit")

#: This service's one jurisdiction (GeoReport's optional ``jurisdiction_id``).
JURISDICTION_ID = "langson"
#: When the GeoReport interface last changed (the discovery document's ``changeset``).
CHANGESET = datetime(2026, 12, 3, tzinfo=UTC)
#: GeoReport's default and largest date range of ``GET requests``.
MAX_SPAN = timedelta(days=90)
_STATUSES = ("open", "closed")

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
_XML = {"text/xml": {"schema": {"type": "string"}}}


def _ok(description: str, example: Any) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {"application/json": {"example": example}, **_XML}}}


def _jurisdiction(value: str | None) -> None:
    if value not in (None, "", JURISDICTION_ID):
        raise InputError(
            "jurisdiction_id", f"jurisdiction {value!r} not found; this service has {JURISDICTION_ID!r}"
        )


Jurisdiction = Annotated[str | None, Query(max_length=64, description=f"Optional: {JURISDICTION_ID!r}")]


@router.get(
    "/discovery.{fmt}",
    summary="Open311 service discovery: where GeoReport v2 is, and in which formats",
    response_model=Discovery,
    responses={**_ok("The discovery document", None), **error_responses(400)},
    dependencies=[requires("services:read")],
)
def discovery(fmt: Format, request: Request) -> Response:
    """Return the discovery document (the endpoint's URL, specification and formats)."""
    doc = {
        "changeset": CHANGESET,
        "contact": "Trung tâm Giám sát, điều hành đô thị thông minh (IOC) Lạng Sơn / Lạng Sơn IOC",
        "key_service": "Khóa API do IOC cấp (vai trò reporter) / an API key of role reporter from the IOC",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": str(request.url_for("services", fmt="json")).removesuffix("/services.json"),
                "changeset": CHANGESET,
                "type": "production",
                "formats": [MEDIA["xml"].split(";")[0], MEDIA["json"].split(";")[0]],
            }
        ],
    }
    return respond(fmt, "discovery", doc)


@router.get(
    "/v2/services.{fmt}",
    summary="GeoReport: the services citizens can report",
    response_model=list[Service],
    responses={**_ok("The service list", None), **error_responses(400)},
    dependencies=[requires("services:read")],
)
def services(fmt: Format, jurisdiction_id: Jurisdiction = None) -> Response:
    """Return the service list (public order, environmental sanitation, …) in Vietnamese and English."""
    _jurisdiction(jurisdiction_id)
    return respond(fmt, "services", reports.service_list())


@router.get(
    "/v2/services/{service_code}.{fmt}",
    summary="GeoReport: a service's definition (the attributes it asks)",
    response_model=ServiceDefinition,
    responses={**_ok("The attributes, with their allowed values", None), **error_responses(400, 404)},
    dependencies=[requires("services:read")],
)
def service_definition(service_code: str, fmt: Format, jurisdiction_id: Jurisdiction = None) -> Response:
    """Return the attributes a service asks (answer them as ``attribute[code]`` when submitting)."""
    _jurisdiction(jurisdiction_id)
    return respond(fmt, "service_definition", reports.service_definition(service_code))


async def form_api_key(request: Request) -> None:
    """Dependency: take GeoReport's ``api_key`` from a form body (or the query) as the credential."""
    key = request.query_params.get("api_key")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        key = parse_form(await request.body()).get("api_key") or key
    if key:
        request.state.form_api_key = key


_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]{1,64})\](\[\])?")


async def _read_request(request: Request) -> RequestIn:
    """Return the submitted report from a form-encoded or JSON body; validation errors name the field."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    data: Any
    if ctype == "application/x-www-form-urlencoded":
        data, answers = {}, {}
        for key, value in parse_form(raw).items():
            if key == "api_key" or value == "":  # a credential; blank optional fields are absent
                continue
            m = _ATTRIBUTE.fullmatch(key)
            if m:
                answers[m.group(1)] = value
            else:
                data[key] = value
        if answers:
            data["attributes"] = answers
    elif ctype in ("application/json", "") or ctype.endswith("+json"):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "malformed JSON"}]
            ) from None
    else:
        raise InputError("content-type", f"{ctype} is not accepted: send a form or JSON body")
    try:
        return RequestIn.model_validate(data)
    except ValidationError as e:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in e.errors(include_input=False)]
        ) from None


_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["service_code", "description"],
    "properties": {
        **{k: v for k, v in RequestIn.model_json_schema()["properties"].items() if k != "attributes"},
        "api_key": {"type": "string", "description": "The key (instead of an X-API-Key header)"},
        **{
            f"attribute[{a['code']}]": {"type": "string", "enum": [v["key"] for v in a["values"]]}
            for a in reports.service_definition("public_order")["attributes"]
        },
    },
}


@router.post(
    "/v2/requests.{fmt}",
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
                },
                **_XML,
            },
        },
        **error_responses(400, 404, 503, 507),
        **errors(413),
    },
    dependencies=[Depends(form_api_key)],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
                "application/json": {"schema": RequestIn.model_json_schema()},
            },
        }
    },
)
async def create_request(
    fmt: Format,
    request: Request,
    live: LiveDep,
    principal: Annotated[Principal, requires("reports:create")],
) -> Response:
    """Store a report. Contact details are kept only with ``consent`` and never shown publicly.

    The credential is an ``api_key`` form field (GeoReport) or the usual header. The report is linked
    to the submitting key, so its reporter can read its words later.
    """
    body = await _read_request(request)
    _jurisdiction(body.jurisdiction_id)
    if body.synthetic and not may_send_synthetic(principal):
        raise InputError(
            "synthetic",
            "only the service's own replayer (or an admin key) may label a report synthetic",
            hint="leave synthetic out: a citizen's report is real",
        )
    rec = await reports.submit(live, body)
    if principal.key_id is not None:
        await asyncio.wrap_future(live.store.submit_report_owner(rec.request_id, principal.key_id))
    created = RequestCreated(
        service_request_id=rec.request_id,
        service_notice=f"Đã tiếp nhận, chuyển {rec.agency_responsible} / Received",
    )
    return respond(fmt, "service_requests", [created], status_code=201)


def _split(name: str, text: str | None, allowed: tuple[str, ...] | None = None) -> list[str | None]:
    """Return a comma list as its items (``[None]``, meaning all, when absent)."""
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    for item in items:
        if allowed is not None and item not in allowed:
            raise InputError(name, f"unknown {item!r}; known: {', '.join(allowed)}")
    return list(dict.fromkeys(items)) or [None]


def _views(live: Any, principal: Principal, rows: list[ReportRecord]) -> list[dict[str, Any]]:
    """Return the reports as the caller may see them (their own or all in full with reports:all)."""
    if principal.has("reports:all"):
        return [reports.public_view(r) for r in rows]
    own: set[str] = set()
    if principal.key_id is not None and principal.has("reports:read"):
        own = {r.request_id for r in live.store.list_reports_of(principal.key_id, limit=1000)}
    return [reports.public_view(r, full=r.request_id in own) for r in rows]


@router.get(
    "/v2/requests.{fmt}",
    summary="GeoReport: list reports (anyone: the public view; words only to their reporter and staff)",
    response_model=list[RequestOut],
    responses={**_ok("Newest first", [_PUBLIC_EXAMPLE]), **error_responses(400, 503)},
)
def list_requests(  # noqa: PLR0917  (GeoReport's query parameters)
    fmt: Format,
    live: LiveDep,
    principal: Annotated[Principal, requires("reports:public")],
    service_request_id: Annotated[
        str | None, Query(max_length=400, description="Comma-separated ids (overrides the rest)")
    ] = None,
    service_code: Annotated[str | None, Query(max_length=400, description="Comma-separated codes")] = None,
    status: Annotated[str | None, Query(max_length=40, description="Comma-separated: open, closed")] = None,
    start_date: Annotated[SafeTime | None, Query()] = None,
    end_date: Annotated[SafeTime | None, Query()] = None,
    jurisdiction_id: Jurisdiction = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> Response:
    """Return reports, newest first (no contact details; positions coarsened to the H3 cell centre).

    As GeoReport says: without dates, the last 90 days; a date range spans at most 90 days.
    Without ``reports:all`` the description, address and photo link show only on the caller's own.
    """
    _jurisdiction(jurisdiction_id)
    for name, t in (("start_date", start_date), ("end_date", end_date)):
        if t is not None and t.tzinfo is None:
            raise InputError(name, "must carry a time zone, e.g. 2025-06-12T00:00:00Z")
    if service_request_id:
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()]
        found = [r for r in (live.store.get_report(i) for i in dict.fromkeys(ids)) if r is not None]
        return respond(fmt, "service_requests", _views(live, principal, found))
    codes = _split("service_code", service_code, tuple(s.service_code for s in reports.service_list()))
    statuses = _split("status", status, _STATUSES)
    until = end_date or (start_date + MAX_SPAN if start_date else None)
    since = start_date or ((until or datetime.now(UTC)) - MAX_SPAN)
    if until is not None and until - since > MAX_SPAN:
        raise InputError("end_date", "a date range spans at most 90 days (GeoReport)")
    rows = [
        r
        for code in codes
        for st in statuses
        for r in live.store.list_reports(service_code=code, status=st, since=since, until=until, limit=limit)
    ]
    rows.sort(key=lambda r: (r.requested_at, r.request_id), reverse=True)
    return respond(fmt, "service_requests", _views(live, principal, rows[:limit]))


@router.get(
    "/v2/requests/{request_id}.{fmt}",
    summary="GeoReport: one report (public view)",
    response_model=list[RequestOut],
    responses={
        **_ok("A one-element list, as GeoReport specifies", [_PUBLIC_EXAMPLE]),
        **error_responses(400, 404, 503),
    },
)
def get_request(
    request_id: str,
    fmt: Format,
    live: LiveDep,
    principal: Annotated[Principal, requires("reports:public")],
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    """Return one report as a one-element list (its words to its reporter and staff only)."""
    _jurisdiction(jurisdiction_id)
    r = live.store.get_report(request_id)
    if r is None:
        raise NotFound("service request", request_id)
    return respond(fmt, "service_requests", _views(live, principal, [r]))


@operator.post(
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
async def update_request(
    request_id: str,
    body: RequestUpdate,
    live: LiveDep,
    principal: Annotated[Principal, requires("reports:update")],
) -> list[dict[str, Any]]:
    """Set the status and notes of a report (IOC operators; the citizen sees the notes).

    Who did it is the caller's key, written to the audit log (``twin.audit``); the body names no one.
    """
    saved = await reports.update(live, request_id, body)
    audit.info("report %s set %s by key %s (%s)", request_id, saved.status, principal.key_id, principal.role)
    return [reports.public_view(saved)]


class ContactOut(BaseModel):
    """A reporter's contact details (personal data: operators and admins only, access is logged)."""

    service_request_id: str = Field(examples=["LS-20250612-3fa2b1c0"])
    consent: bool = Field(description="False when the citizen gave no consent: nothing was kept")
    contact: dict[str, str] = Field(examples=[{"email": "dan@example.vn", "phone": "+84 912 345 678"}])


@operator.get(
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


router.include_router(operator)
