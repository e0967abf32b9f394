"""NGSI-LD alternate output: GET /ngsi-ld/v1/entities?type=Alert|Device and /entities/{id}."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.auth.deps import requires
from api.errors import NotFound
from api.responses import LDJSONResponse
from api.schemas.errors import errors
from api.schemas.geojson import LD_ENTITIES, LD_ENTITY
from api.services import ngsi
from api.services.deps import LiveDep
from api.store.base import EventQuery, now_utc

router = APIRouter(prefix="/ngsi-ld/v1", tags=["ngsi-ld"])

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


@router.get(
    "/entities",
    dependencies=[requires("events:read")],
    summary="NGSI-LD entities: events and rule alerts as Alert, cameras as Device",
    response_class=LDJSONResponse,
    responses={
        200: {
            "description": "Entities (normalised)",
            "content": {"application/ld+json": {"schema": LD_ENTITIES, "example": [_EXAMPLE]}},
        },
        **errors(422, 503),
    },
)
def entities(
    live: LiveDep,
    type: Annotated[Literal["Alert", "Device"], Query(description="Entity type")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LDJSONResponse:
    """Return the latest events and open rule alerts (``Alert``) or every camera (``Device``)."""
    out: list[dict[str, Any]]
    if type == "Device":
        now = now_utc()
        out = [
            ngsi.camera_entity(info, live.health.state(cid, now))
            for cid, info in list(live.ctx.cameras.items())[:limit]
        ]
    else:
        page = live.store.query_events(EventQuery(limit=limit))
        out = [ngsi.event_entity(e) for e in page.events]
        out += [ngsi.alert_entity(a) for a in live.store.list_alerts("open", limit)]
        out = out[:limit]
    return LDJSONResponse(out)


@router.get(
    "/entities/{entity_id}",
    dependencies=[requires("events:read")],
    summary="One NGSI-LD entity by URN",
    response_class=LDJSONResponse,
    responses={
        200: {
            "description": "The entity",
            "content": {"application/ld+json": {"schema": LD_ENTITY, "example": _EXAMPLE}},
        },
        **errors(404, 422, 503),
    },
)
def entity(entity_id: str, live: LiveDep) -> LDJSONResponse:
    """Return one entity: ``urn:ngsi-ld:Alert:<event or alert id>`` or ``urn:ngsi-ld:Device:<camera>``."""
    prefix_alert, prefix_dev = "urn:ngsi-ld:Alert:", "urn:ngsi-ld:Device:"
    if entity_id.startswith(prefix_dev):
        cid = entity_id.removeprefix(prefix_dev)
        info = live.ctx.cameras.get(cid)
        if info is not None:
            return LDJSONResponse(ngsi.camera_entity(info, live.health.state(cid, now_utc())))
    elif entity_id.startswith(prefix_alert):
        key = entity_id.removeprefix(prefix_alert)
        e = live.store.get_event(key)
        if e is not None:
            return LDJSONResponse(ngsi.event_entity(e))
        a = live.store.get_alert(key)
        if a is not None:
            return LDJSONResponse(ngsi.alert_entity(a))
    raise NotFound("entity", entity_id)
