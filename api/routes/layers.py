"""The city model's layers over HTTP: GET /layers and GET /layers/{name} (GeoJSON, RFC 7946)."""

from __future__ import annotations

import threading
import weakref
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import CityDep
from api.errors import error_body
from api.schemas.errors import errors
from api.services.responses import JSONBytes
from gis_data.io import to_geojson_dict
from twin.city import City, parse_bbox, resolve_layer
from twin.errors import InputError, UnknownLayerError
from twin.h3grid import MAX_RES, MIN_RES, check_resolution

router = APIRouter(tags=["layers"])

GEOJSON = "application/geo+json"
#: Serialised layers without a bbox, per city and (name, res): the big ones take ~1 s to encode.
_ENCODED: weakref.WeakKeyDictionary[City, dict[tuple[str, int], bytes]] = weakref.WeakKeyDictionary()
_ENCODED_LOCK = threading.Lock()
_MAX_ENCODED = 24


def _error(status: int, error: str, field: str, reason: str, *, kind: str, hint: str | None) -> JSONBytes:
    """Return the service's one error shape: ``{error, detail: [{field, reason, type}], hint}``."""
    return JSONBytes(
        error_body(error, [{"field": field, "reason": reason, "type": kind}], hint), status_code=status
    )


class LayerInfo(BaseModel):
    """One layer of the city model."""

    name: str = Field(examples=["wards_2025"])
    title_vi: str = Field(examples=["Phường, xã (2025)"])
    title_en: str = Field(examples=["Wards and communes (2025)"])
    description: str
    source: Literal["real", "synthetic", "simulated", "derived"] = Field(examples=["real"])
    synthetic: bool = Field(description="True when any part of the layer was generated, not observed")


@router.get("/layers", summary="List the city model's layers", response_model=list[LayerInfo])
def list_layers(city: CityDep) -> list[dict[str, Any]]:
    """Return every layer: name, Vietnamese and English titles, description, source and synthetic flag.

    ``source`` is real, synthetic or derived; ``synthetic`` is true when any part of the layer was
    generated rather than observed.
    """
    return city.layer_info()


@router.get(
    "/layers/{name}",
    summary="One layer as GeoJSON",
    response_class=Response,
    responses={
        200: {
            "content": {GEOJSON: {"schema": {"type": "object"}}},
            "description": "RFC 7946 FeatureCollection with provenance",
        },
        **errors(404, 422),
    },
)
def get_layer(
    name: str,
    city: CityDep,
    res: Annotated[
        int | None,
        Query(description=f"H3 resolution of the cells layer ({MIN_RES}–{MAX_RES}; default the service's)"),
    ] = None,
    bbox: Annotated[
        str | None,
        Query(description="west,south,east,north in degrees: keep features that intersect it"),
    ] = None,
) -> Response:
    """Return layer `name` as an RFC 7946 FeatureCollection (lon/lat, right-hand rule, no crs).

    Every feature carries ``source`` and ``synthetic`` properties; the collection carries the full
    provenance as the foreign member ``provenance``. Known names: see GET /layers (aliases
    ``wards``, ``units``, ``coverage`` also work).
    """
    try:
        key = resolve_layer(name)
    except UnknownLayerError as e:
        return _error(404, "not_found", "name", e.reason, kind="not_found", hint=e.hint)
    try:
        r = check_resolution(city.res if res is None else res, "res")
        box = parse_bbox(bbox) if bbox is not None else None
    except InputError as e:
        return _error(
            422, "invalid_input", e.field, e.reason, kind=type(e).__name__, hint=e.hint or "fix the field"
        )
    if box is None:
        return Response(_encoded(city, key, r), media_type=GEOJSON)
    gdf = city.layer(key, res=r, bbox=box)
    return Response(orjson.dumps(to_geojson_dict(gdf)), media_type=GEOJSON)


def _encoded(city: City, key: str, res: int) -> bytes:
    """Return the GeoJSON bytes of a whole layer, encoded once per city, layer and resolution."""
    slot = (key, res if key == "cells" else 0)
    with _ENCODED_LOCK:
        per_city = _ENCODED.setdefault(city, {})
        cached = per_city.get(slot)
    if cached is not None:
        return cached
    data = orjson.dumps(to_geojson_dict(city.layer(key, res=res)))
    with _ENCODED_LOCK:
        if len(per_city) >= _MAX_ENCODED:
            per_city.pop(next(iter(per_city)))
        per_city[slot] = data
    return data
