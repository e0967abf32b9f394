"""NGSI-LD renderings (normalised form) of events as Smart Data Models `Alert` and cameras as `Device`.

For cities on FIWARE: the same data as the GeoJSON routes, in the entity shape Orion-LD and other
context brokers exchange. Alert: https://github.com/smart-data-models/dataModel.Alert ;
Device: https://github.com/smart-data-models/dataModel.Device .
"""

from __future__ import annotations

from typing import Any

from api.services.city import CameraInfo
from api.services.geojson import iso
from api.services.health import CameraState
from api.store.base import AlertRecord, EventRecord

CONTEXT = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Alert/master/context.jsonld",
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Device/master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
]

#: Our categories → SDM Alert (category, subCategory).
ALERT_CATEGORY: dict[str, tuple[str, str]] = {
    "congestion": ("traffic", "trafficJam"),
    "accident": ("traffic", "carAccident"),
    "illegal_dumping": ("environment", "illegalDumping"),
    "crowding": ("security", "crowding"),
    "fire_smoke": ("security", "fire"),
    "flooding": ("weather", "flood"),
    "other": ("security", "other"),
}
SEVERITY = {"info": "informational", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _when(value: str | None) -> dict[str, Any]:
    return {"type": "Property", "value": {"@type": "DateTime", "@value": value}}


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def event_urn(event_id: str) -> str:
    """Return the NGSI-LD id of an event."""
    return f"urn:ngsi-ld:Alert:{event_id}"


def camera_urn(camera_id: str) -> str:
    """Return the NGSI-LD id of a camera."""
    return f"urn:ngsi-ld:Device:{camera_id}"


def event_entity(e: EventRecord, *, context: bool = True) -> dict[str, Any]:
    """Return an event as an SDM `Alert` entity."""
    cat, sub = ALERT_CATEGORY.get(e.category, ("security", "other"))
    ent: dict[str, Any] = {
        "id": event_urn(e.event_id),
        "type": "Alert",
        "category": _prop(cat),
        "subCategory": _prop(sub),
        "severity": _prop(SEVERITY.get(e.severity, "medium")),
        "dateIssued": _when(iso(e.received_at)),
        "validFrom": _when(iso(e.start_time)),
        "location": _point(e.lon, e.lat),
        "alertSource": {"type": "Relationship", "object": camera_urn(e.camera_id)},
        "description": _prop(f"{e.category} ({e.lifecycle}), confidence {e.confidence:.2f}"),
        "data": _prop({"lifecycle": e.lifecycle, "ward_code": e.ward_code, "synthetic": e.synthetic}),
    }
    if e.end_time is not None:
        ent["validTo"] = _when(iso(e.end_time))
    if context:
        ent["@context"] = CONTEXT
    return ent


def alert_entity(a: AlertRecord, *, context: bool = True) -> dict[str, Any]:
    """Return a rule alert as an SDM `Alert` entity."""
    cat = "traffic" if a.rule == "congestion_cluster" else "security"
    ent: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Alert:{a.alert_id}",
        "type": "Alert",
        "category": _prop(cat),
        "subCategory": _prop("trafficJam" if a.rule == "congestion_cluster" else "deviceOffline"),
        "severity": _prop(SEVERITY.get(a.severity, "medium")),
        "dateIssued": _when(iso(a.created_at)),
        "description": _prop(a.title),
        "data": _prop({"rule": a.rule, "status": a.status, **a.details}),
    }
    if a.lon is not None and a.lat is not None:
        ent["location"] = _point(a.lon, a.lat)
    if a.camera_id:
        ent["alertSource"] = {"type": "Relationship", "object": camera_urn(a.camera_id)}
    if context:
        ent["@context"] = CONTEXT
    return ent


def camera_entity(info: CameraInfo, state: CameraState, *, context: bool = True) -> dict[str, Any]:
    """Return a camera as an SDM `Device` entity (category sensor, controlled property image)."""
    ent: dict[str, Any] = {
        "id": camera_urn(info.camera_id),
        "type": "Device",
        "name": _prop(info.name),
        "category": _prop(["sensor"]),
        "controlledProperty": _prop(["image"]),
        "deviceState": _prop(state.status),
        "location": _point(info.lon, info.lat),
        "description": _prop(f"{info.kind} camera, ward {info.ward_code} (synthetic registry)"),
    }
    if state.last_seen is not None:
        ent["dateLastValueReported"] = _when(iso(state.last_seen))
    if context:
        ent["@context"] = CONTEXT
    return ent
