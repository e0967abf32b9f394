"""JSON Schemas of the GeoJSON (RFC 7946) and NGSI-LD bodies, for the OpenAPI `responses=` entries."""

from __future__ import annotations

from typing import Any

FEATURE: dict[str, Any] = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"type": ["string", "integer"]},
        "geometry": {"type": ["object", "null"]},
        "properties": {"type": ["object", "null"]},
    },
}
FEATURE_COLLECTION: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": FEATURE},
    },
}


def feature_collection_ok(
    description: str, *, feature_id: str, geometry: dict[str, Any], properties: Any, **members: Any
) -> dict[str, Any]:
    """Return the OpenAPI 200 entry of a GeoJSON answer: the `FEATURE_COLLECTION` schema and an example
    collection of one feature (plus the collection's own `members`)."""
    feature = {"type": "Feature", "id": feature_id, "geometry": geometry, "properties": properties}
    example = {"type": "FeatureCollection", "features": [feature], **members}
    return {
        "description": description,
        "content": {"application/geo+json": {"schema": FEATURE_COLLECTION, "example": example}},
    }


LD_ENTITY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "type"],
    "properties": {"id": {"type": "string"}, "type": {"type": "string"}},
}
LD_ENTITIES: dict[str, Any] = {"type": "array", "items": LD_ENTITY}
