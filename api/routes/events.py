"""Camera events: POST /events, POST /events/batch (≤ 500), GET /events (GeoJSON, keyset paging)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.types import DecoratedCallable
from pydantic import TypeAdapter, ValidationError

from api.auth.deps import require_speaks_for
from api.errors import Conflict, NotFound
from api.limits import check_event_query, limits_of
from api.responses import GeoJSONResponse, JSONBytes, LDJSONResponse
from api.routes.declare import READ_ERRORS, EventWriter, json_ok, read_route
from api.schemas import categories
from api.schemas.errors import errors
from api.schemas.events import (
    BATCH_ADAPTER,
    EVENT_ADAPTER,
    BatchResult,
    EventBatchIn,
    EventIn,
    IngestResult,
    SafeTime,
    inline_schema,
)
from api.schemas.geojson import FEATURE, FEATURE_COLLECTION, LD_ENTITIES
from api.services import ngsi
from api.services.deps import LiveDep
from api.services.geojson import cell_rings, event_feature
from api.store.base import EventQuery, EventRecord, UpsertResult
from twin import h3grid
from twin.city import parse_bbox
from twin.errors import InputError

router = APIRouter(tags=["events"])

_EXAMPLE_ID = "LS-CAM-007-20250612T072501-0001"
_FEATURE_EXAMPLE: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "LS-CAM-007-20250612T072501-0001",
            "geometry": {"type": "Point", "coordinates": [106.7578, 21.8478]},
            "properties": {
                "event_id": "LS-CAM-007-20250612T072501-0001",
                "camera_id": "LS-CAM-007",
                "category": "congestion",
                "severity": "medium",
                "confidence": 0.87,
                "lifecycle": "new",
                "start_time": "2025-06-12T00:25:01Z",
                "end_time": None,
                "cell": "8941a2a4c2fffff",
                "ward_code": "05977",
                "attributes": {"vehicles": 42},
                "synthetic": True,
                "received_at": "2025-06-12T00:25:01.2Z",
                "updated_at": "2025-06-12T00:25:01.2Z",
                "revision": 1,
            },
        }
    ],
    "next_cursor": None,
    "count": 1,
}


def _result(r: UpsertResult, res: int) -> dict[str, Any]:
    """Return one `IngestResult` as a plain dict (serialised by orjson, no model per event)."""
    rec = r.record
    if rec is None:
        return {"event_id": r.event_id, "status": r.outcome, "cell": None, "ward_code": None,
                "revision": None, "reason": r.reason or None}  # fmt: skip
    return {
        "event_id": r.event_id,
        "status": r.outcome,
        "cell": h3grid.hex_of(rec.cells[res]),
        "ward_code": rec.ward_code,
        "revision": rec.revision,
        "reason": r.reason or None,
    }


def _is_json(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (main.startswith("application/") and main.endswith("+json"))


async def parse_body(request: Request, adapter: TypeAdapter[Any]) -> Any:
    """Parse and validate the raw JSON body in one pass (pydantic-core reads the bytes directly).

    Errors take the shape FastAPI gives its own (``loc`` starting with ``body``), so the one
    validation handler answers: 400 for malformed JSON, 422 naming the field otherwise.
    """
    ctype = request.headers.get("content-type")
    if ctype and not _is_json(ctype):
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"Content-Type must be application/json, not {ctype[:60]!r}",
              "type": "content_type"}]
        )  # fmt: skip
    body = await request.body()
    try:
        return adapter.validate_json(body)
    except ValidationError as e:
        errs = e.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in errs]) from None


class _BodyDoc(dict[str, Any]):
    """The request body of a route's OpenAPI operation, rendered when the schema is: the category enum
    is the category table's of that moment (FastAPI merges ``openapi_extra`` through ``items()``)."""

    def __init__(self, model: type[EventIn] | type[EventBatchIn]) -> None:
        super().__init__(requestBody={})
        self.model = model

    def items(self) -> Any:
        body = {"required": True, "content": {"application/json": {"schema": inline_schema(self.model)}}}
        return {"requestBody": body}.items()


def _ingest_route(
    path: str, summary: str, model: type[EventIn] | type[EventBatchIn], **declared: Any
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """Declare ``POST path``: its body is ``model``'s schema, ``declared`` the rest (answers, model)."""
    return router.post(path, summary=summary, openapi_extra=_BodyDoc(model), **declared)


@_ingest_route(
    "/events",
    "Ingest one camera event (idempotent upsert by event_id)",
    EventIn,
    response_model=IngestResult,
    responses={
        200: json_ok(
            "Durably stored (or recognised as a replay)",
            {
                "event_id": _EXAMPLE_ID,
                "status": "created",
                "cell": "8941a2a4c2fffff",
                "ward_code": "05977",
                "revision": 1,
                "reason": None,
            },
        ),
        **errors(400, 409, 413, 422, 503, 507),
    },
)
async def post_event(request: Request, live: LiveDep, principal: EventWriter) -> JSONBytes:
    """Store one detection durably, then count it on H3, stream it and run the alert rules.

    The answer comes only after the write is committed. ``status`` says what happened: ``created``,
    ``updated`` (a later lifecycle message of the same object), ``duplicate`` (a replay: nothing
    changed) or ``stale`` (an older lifecycle message after a newer one: ignored). Reusing an
    ``event_id`` for another camera or category is a 409. A camera-gateway key speaks only for the
    cameras bound to it (403 for any other); the event records the key that sent it.
    """
    event = await parse_body(request, EVENT_ADAPTER)
    await require_speaks_for(request, principal, [event.camera_id])
    (r,) = await live.ingest([event], sent_by=principal.key_id)
    if r.outcome == "conflict":
        raise Conflict("event_id", r.reason)
    return JSONBytes(_result(r, live.res))


@_ingest_route(
    "/events/batch",
    "Ingest up to 500 camera events in one durable write",
    EventBatchIn,
    response_model=BatchResult,
    responses={
        200: json_ok(
            "Every event stored or recognised; one result per event, in order",
            {
                "accepted": 2,
                "counts": {"created": 1, "duplicate": 1},
                "results": [
                    {"event_id": "a-1", "status": "created", "cell": "8941a2a4c2fffff"},
                    {"event_id": "a-0", "status": "duplicate", "cell": "8941a2a4c2fffff"},
                ],
            },
        ),
        **errors(400, 413, 422, 503, 507),
    },
)
async def post_batch(request: Request, live: LiveDep, principal: EventWriter) -> JSONBytes:
    """Store a batch in one transaction; the whole batch is refused if any event is invalid.

    Conflicting ids inside a batch are reported per event (``status: conflict``), not as a 409.
    """
    batch: EventBatchIn = await parse_body(request, BATCH_ADAPTER)
    await require_speaks_for(request, principal, [e.camera_id for e in batch.events], "events.")
    results = await live.ingest(batch.events, batch=True, sent_by=principal.key_id)
    counts = Counter(r.outcome for r in results)
    res = live.res
    return JSONBytes(
        {
            "accepted": len(results) - counts.get("conflict", 0),
            "counts": dict(counts),
            "results": [_result(r, res) for r in results],
        }
    )


def parse_categories(text: str | None) -> tuple[str, ...]:
    """Return the categories of a comma-separated list; an unknown one raises `InputError`."""
    if not text:
        return ()
    cats = tuple(c.strip() for c in text.split(",") if c.strip())
    known = categories.table().event_codes
    bad = [c for c in cats if c not in known]
    if bad:
        raise InputError("category", f"unknown {bad[0]!r}; known: {', '.join(known)}")
    return cats


def events_provenance(events: Sequence[EventRecord]) -> dict[str, Any]:
    """Return the provenance of a page of events: real, synthetic, mixed, or none when it is empty."""
    n_syn = sum(1 for e in events if e.synthetic)
    if not events:
        source = "none"
    elif n_syn == len(events):
        source = "synthetic"
    else:
        source = "mixed" if n_syn else "real"
    return {
        "source": source,
        "synthetic": n_syn > 0,
        "synthetic_events": n_syn,
        "description": "camera-derived detections (synthetic when sent by the replayer)"
        if events
        else "no event matched the query",
    }


@read_route(
    router,
    "/events",
    "events:read",
    "Query stored events as GeoJSON (newest first, keyset paging)",
    {
        "description": "A FeatureCollection; pass `next_cursor` back as `cursor` for the next page",
        "content": {
            "application/geo+json": {"schema": FEATURE_COLLECTION, "example": _FEATURE_EXAMPLE},
            "application/ld+json": {
                "schema": LD_ENTITIES,
                "example": [{"id": "urn:ngsi-ld:Alert:a-1", "type": "Alert"}],
            },
        },
    },
    response_class=GeoJSONResponse,
)
def get_events(  # noqa: PLR0917  (FastAPI query parameters)
    live: LiveDep,
    request: Request,
    bbox: Annotated[
        str | None, Query(description="west,south,east,north (WGS84)", examples=["106.70,21.80,106.80,21.90"])
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Start time at or after (ISO 8601, with zone)")
    ] = None,
    until: Annotated[SafeTime | None, Query(description="Start time before (ISO 8601, with zone)")] = None,
    category: Annotated[
        str | None, Query(description="One category or several, comma-separated", examples=["congestion"])
    ] = None,
    camera: Annotated[str | None, Query(max_length=64, examples=["LS-CAM-007"])] = None,
    ward: Annotated[str | None, Query(max_length=16, description="Ward code", examples=["05977"])] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=512, description="From a previous page")] = None,
) -> JSONBytes:
    """Return events matching every given filter, newest first.

    With ``Accept: application/ld+json`` the page comes as NGSI-LD `Alert` entities instead.
    """
    for name, t in (("since", since), ("until", until)):
        if t is not None and t.tzinfo is None:
            raise InputError(name, "must carry a time zone, e.g. 2025-06-12T07:00:00+07:00")
    q = EventQuery(
        bbox=parse_bbox(bbox) if bbox else None,
        since=since,
        until=until,
        categories=parse_categories(category),
        camera_id=camera,
        ward_code=ward,
        limit=limit,
        cursor=cursor,
    )
    check_event_query(limits_of(request.app.state), since, until, q.bbox)
    page = live.store.query_events(q)
    if "application/ld+json" in request.headers.get("accept", ""):
        # NGSI-LD alternate output: the same page as Smart Data Models `Alert` entities.
        headers = {"Link": f'<{request.url.include_query_params(cursor=page.next_cursor)}>; rel="next"'}
        return LDJSONResponse(
            [ngsi.event_entity(e) for e in page.events], headers=headers if page.next_cursor else None
        )
    feats = [event_feature(e, live.res) for e in page.events]
    body: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": feats,
        "count": len(feats),
        "next_cursor": page.next_cursor,
        "provenance": events_provenance(page.events),
        # foreign member (RFC 7946 §6.1): the ring of each cell on the page, once
        "cell_boundaries": cell_rings(feats),
    }
    if page.next_cursor:
        body["links"] = [
            {"rel": "next", "href": str(request.url.include_query_params(cursor=page.next_cursor))}
        ]
    return GeoJSONResponse(body)


@read_route(
    router,
    "/events/{event_id}",
    "events:read",
    "One event as a GeoJSON Feature",
    {
        "description": "The event",
        "content": {"application/geo+json": {"schema": FEATURE, "example": _FEATURE_EXAMPLE["features"][0]}},
    },
    codes=(404, *READ_ERRORS),
    response_class=GeoJSONResponse,
)
def get_event(event_id: str, live: LiveDep) -> GeoJSONResponse:
    """Return one stored event."""
    e = live.store.get_event(event_id)
    if e is None:
        raise NotFound("event", event_id)
    return GeoJSONResponse(event_feature(e, live.res, ring=True))
