"""NGSI-LD: GET /ngsi-ld/v1/entities (query), /entities/{id} and the JSON-LD @context of the twin.

As NGSI-LD clients read it (ETSI GS CIM 009): ``Accept: application/ld+json`` gets JSON-LD with the
``@context`` in each entity; ``application/json`` (or ``*/*``, or no Accept) gets plain JSON and the
context in a ``Link`` header. Every query parameter is honoured or refused with 400; errors are
ProblemDetails with the spec's ``type`` URIs (``https://uri.etsi.org/ngsi-ld/errors/...``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from fastapi.types import DecoratedCallable

from api.auth.deps import OPEN
from api.responses import JSONBytes, LDJSONResponse
from api.routes.declare import read_route
from api.schemas.geojson import LD_ENTITIES, LD_ENTITY
from api.services import ngsi
from api.services.deps import LiveDep
from api.services.live import LiveService
from api.store.base import EventQuery, now_utc

router = APIRouter(prefix="/ngsi-ld/v1", tags=["ngsi-ld"])

CONTEXT_PATH = "/ngsi-ld/v1/context.jsonld"
_LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
_PAGE = 1000

_EXAMPLE = {
    "id": "urn:ngsi-ld:Alert:LS-CAM-007-20250612T072501-0001",
    "type": "Alert",
    "category": {"type": "Property", "value": "traffic"},
    "subCategory": {"type": "Property", "value": "trafficJam"},
    "severity": {"type": "Property", "value": "medium"},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [106.7578, 21.8478]}},
    "alertSource": {"type": "Relationship", "object": "urn:ngsi-ld:Device:LS-CAM-007"},
    "@context": ngsi.CONTEXT,
}
_PROBLEM = {
    "description": "ProblemDetails (RFC 7807) with an NGSI-LD error type",
    "content": {
        "application/json": {
            "example": {
                "type": "https://uri.etsi.org/ngsi-ld/errors/BadRequestData",
                "title": "BadRequestData",
                "status": 400,
                "detail": "limit: must be between 0 and 1000",
                "field": "limit",
            }
        }
    },
}
_OK = {
    "application/ld+json": {"schema": LD_ENTITIES, "example": [_EXAMPLE]},
    "application/json": {"schema": LD_ENTITIES},
}


def _problem(e: ngsi.NgsiError) -> JSONBytes:
    return JSONBytes(e.problem(), status_code=e.status)


def _wants_ld(request: Request) -> bool:
    """Return True for JSON-LD, False for plain JSON; any other media type is NotAcceptable."""
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return False
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for t in types:
        if t == "application/ld+json":
            return True
        if t in ("application/json", "application/*", "*/*"):
            return False
    raise ngsi.NgsiError("NotAcceptable", "Accept", "answers are application/ld+json or application/json")


def _answer(request: Request, body: Any, *, ld: bool, headers: dict[str, str] | None = None) -> Response:
    out = dict(headers or {})
    if ld:
        return LDJSONResponse(body, headers=out)
    out["Link"] = f"<{str(request.base_url).rstrip('/')}{CONTEXT_PATH}>; {_LINK_REL}"
    return JSONBytes(body, headers=out)


def _entities_of(live: LiveService, query: ngsi.EntityQuery, ld: bool) -> Iterator[dict[str, Any]]:
    """Yield candidate entities (normalised) of the asked types, newest events first, then rule alerts."""
    if query.ids:
        for entity_id in sorted(query.ids):
            ent = _lookup(live, entity_id, ld)
            if ent is not None:
                yield ent
        return
    types = query.types or ngsi.TYPES
    if "Alert" in types:
        cursor: str | None = None
        while True:
            page = live.store.query_events(EventQuery(limit=_PAGE, cursor=cursor))
            yield from (ngsi.event_entity(e, context=ld) for e in page.events)
            cursor = page.next_cursor
            if cursor is None:
                break
        yield from (ngsi.alert_entity(a, context=ld) for a in live.store.list_alerts("open", ngsi.MAX_SCAN))
    if "Device" in types:
        now = now_utc()
        for cid, info in list(live.ctx.cameras.items()):
            yield ngsi.camera_entity(info, live.health.state(cid, now), context=ld)


def _lookup(live: LiveService, entity_id: str, ld: bool) -> dict[str, Any] | None:
    prefix_alert, prefix_dev = "urn:ngsi-ld:Alert:", "urn:ngsi-ld:Device:"
    if entity_id.startswith(prefix_dev):
        cid = entity_id.removeprefix(prefix_dev)
        info = live.ctx.cameras.get(cid)
        if info is not None:
            return ngsi.camera_entity(info, live.health.state(cid, now_utc()), context=ld)
    elif entity_id.startswith(prefix_alert):
        key = entity_id.removeprefix(prefix_alert)
        e = live.store.get_event(key)
        if e is not None:
            return ngsi.event_entity(e, context=ld)
        a = live.store.get_alert(key)
        if a is not None:
            return ngsi.alert_entity(a, context=ld)
    return None


_Format = Annotated[str | None, Query(description="simplified (keyValues) or normalized")]
_Options = Annotated[str | None, Query(description="keyValues (simplified) or normalized")]
_Attrs = Annotated[str | None, Query(description="Attributes to return, comma-separated")]
_ENTITY_PARAMS = frozenset({"attrs", "options", "format"})


def _ngsi_route(
    path: str, summary: str, ok: dict[str, Any], problems: dict[int, str]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """Declare an NGSI-LD ``GET path``: errors are ProblemDetails (400, then ``problems``: code →
    NGSI-LD error type and when), a busy store the shared 503."""
    responses: dict[int | str, dict[str, Any]] = {
        400: _PROBLEM,
        **{code: {**_PROBLEM, "description": what} for code, what in problems.items()},
    }
    return read_route(
        router,
        path,
        "events:read",
        summary,
        ok,
        codes=(503,),
        responses=responses,
        response_class=LDJSONResponse,
    )


@_ngsi_route(
    "/entities",
    "NGSI-LD query: events and rule alerts as Alert, cameras as Device",
    {"description": "Entities (normalised, or keyValues)", "content": _OK},
    {
        403: "TooComplexQuery: the query would examine too many entities",
        406: "NotAcceptable: ask for application/ld+json or application/json",
    },
)
def entities(  # noqa: PLR0917  (the NGSI-LD query parameters, listed for the OpenAPI schema)
    request: Request,
    live: LiveDep,
    type: Annotated[str | None, Query(description="Entity types, comma-separated (Alert, Device)")] = None,
    id: Annotated[str | None, Query(description="Entity ids (URIs), comma-separated")] = None,
    attrs: _Attrs = None,
    q: Annotated[
        str | None, Query(description='NGSI-LD query, e.g. category=="traffic";severity=="high"')
    ] = None,
    georel: Annotated[str | None, Query(description="near;maxDistance==<m>, within, intersects, …")] = None,
    geometry: Annotated[str | None, Query(description="Point, Polygon, …")] = None,
    coordinates: Annotated[
        str | None, Query(description="GeoJSON coordinates, e.g. [106.7578,21.8478]")
    ] = None,
    geoproperty: Annotated[str | None, Query(description="Only location")] = None,
    limit: Annotated[str | None, Query(description=f"Page size 0–{ngsi.MAX_LIMIT} (default 20)")] = None,
    offset: Annotated[str | None, Query(description="Entities to skip")] = None,
    count: Annotated[str | None, Query(description="true: total in the NGSILD-Results-Count header")] = None,
    options: _Options = None,
    format: _Format = None,
) -> Response:
    """Query entities as NGSI-LD does; an unknown type matches nothing (200 ``[]``)."""
    try:
        ld = _wants_ld(request)
        query = ngsi.parse_query(request.query_params)
        matched: list[dict[str, Any]] = []
        total = scanned = 0
        for ent in _entities_of(live, query, ld):
            scanned += 1
            if scanned > ngsi.MAX_SCAN:
                raise ngsi.NgsiError(
                    "TooComplexQuery",
                    "q",
                    f"examines more than {ngsi.MAX_SCAN:,} entities; narrow it (id, type)",
                )
            if not query.matches(ent):
                continue
            if query.offset <= total < query.offset + query.limit:
                matched.append(query.render(ent))
            total += 1
            if not query.count and total >= query.offset + query.limit:
                break
    except ngsi.NgsiError as e:
        return _problem(e)
    headers = {"NGSILD-Results-Count": str(total)} if query.count else None
    return _answer(request, matched, ld=ld, headers=headers)


@_ngsi_route(
    "/entities/{entity_id}",
    "One NGSI-LD entity by URN",
    {
        "description": "The entity",
        "content": {
            "application/ld+json": {"schema": LD_ENTITY, "example": _EXAMPLE},
            "application/json": {"schema": LD_ENTITY},
        },
    },
    {404: "ResourceNotFound", 406: "NotAcceptable"},
)
def entity(  # noqa: PLR0917  (FastAPI query parameters)
    entity_id: str,
    request: Request,
    live: LiveDep,
    attrs: _Attrs = None,
    options: _Options = None,
    format: _Format = None,
) -> Response:
    """Return one entity: ``urn:ngsi-ld:Alert:<event or alert id>`` or ``urn:ngsi-ld:Device:<camera>``."""
    try:
        ld = _wants_ld(request)
        ngsi.check_entity_id(entity_id)
        extra = sorted(set(request.query_params) - _ENTITY_PARAMS)
        if extra:
            raise ngsi.NgsiError(
                "BadRequestData", extra[0], "not a parameter of this route; known: attrs, options, format"
            )
        query = ngsi.parse_query({**request.query_params, "id": entity_id})
        ent = _lookup(live, entity_id, ld)
        if ent is None:
            raise ngsi.NgsiError("ResourceNotFound", "id", f"no entity {entity_id[:120]!r}")
    except ngsi.NgsiError as e:
        return _problem(e)
    return _answer(request, query.render(ent), ld=ld)


@router.get(
    "/context.jsonld",
    dependencies=[OPEN],
    summary="The JSON-LD @context of the twin's entities (the Link header of plain-JSON answers)",
    response_class=LDJSONResponse,
    responses={
        200: {
            "description": "A JSON-LD context document",
            "content": {
                "application/ld+json": {
                    "schema": {
                        "type": "object",
                        "required": ["@context"],
                        "properties": {"@context": {"type": "array", "items": {"type": "string"}}},
                    },
                    "example": {"@context": ngsi.CONTEXT},
                }
            },
        }
    },
)
def context() -> LDJSONResponse:
    """Return the @context: Smart Data Models Alert and Device, and the NGSI-LD core context."""
    return LDJSONResponse({"@context": ngsi.CONTEXT})
