"""The city model's layers over HTTP: GET /layers and GET /layers/{name} (GeoJSON, RFC 7946)."""

from __future__ import annotations

import threading
import weakref
from typing import Annotated, Any, Literal

import geopandas as gpd
import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.auth.coarse import cap_res
from api.auth.deps import requires
from api.auth.service import Principal
from api.deps import CityDep
from api.errors import error_body
from api.responses import JSONBytes
from api.schemas.errors import errors
from api.services.display import check_simplify, display_variant, parse_fields
from gis_data.io import to_geojson_dict
from twin.city import City, parse_bbox, resolve_layer
from twin.errors import InputError, UnknownLayerError
from twin.h3grid import MAX_RES, MIN_RES, check_resolution

router = APIRouter(tags=["layers"])

GEOJSON = "application/geo+json"
#: Serialised layers without a bbox, per city and (name, res): the big ones take ~1 s to encode.
_ENCODED: weakref.WeakKeyDictionary[City, dict[tuple[Any, ...], bytes]] = weakref.WeakKeyDictionary()
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


@router.get(
    "/layers",
    summary="List the city model's layers",
    response_model=list[LayerInfo],
    dependencies=[requires("layers:read")],
)
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
    principal: Annotated[Principal, requires("layers:read")],
    res: Annotated[
        int | None,
        Query(description=f"H3 resolution of the cells layer ({MIN_RES}–{MAX_RES}; default the service's)"),
    ] = None,
    bbox: Annotated[
        str | None,
        Query(description="west,south,east,north in degrees: keep features that intersect it"),
    ] = None,
    *,
    simplify: Annotated[
        float | None,
        Query(
            description="Display variant: simplify geometries to this many metres (0–50; 1–5 is invisible "
            "on a city map) and round coordinates to 5 decimals. Omit for the full-precision layer."
        ),
    ] = None,
    fields: Annotated[
        str | None,
        Query(
            max_length=1000,
            description="Display variant: keep only these properties (comma-separated); features that are "
            "then identical (e.g. the two directions of a street) are sent once",
        ),
    ] = None,
) -> Response:
    """Return layer `name` as an RFC 7946 FeatureCollection (lon/lat, right-hand rule, no crs).

    Every feature carries ``source`` and ``synthetic`` properties; the collection carries the full
    provenance as the foreign member ``provenance``. Known names: see GET /layers (aliases
    ``wards``, ``units``, ``coverage`` also work). Public callers get the cells layer at res 8 at most.
    """
    try:
        key = resolve_layer(name)
    except UnknownLayerError as e:
        return _error(404, "not_found", "name", e.reason, kind="not_found", hint=e.hint)
    try:
        r = cap_res(principal, check_resolution(city.res if res is None else res, "res"))
        box = parse_bbox(bbox) if bbox is not None else None
        shown = (check_simplify(simplify), parse_fields(fields))
        if box is None:
            return Response(_encoded(city, key, r, shown), media_type=GEOJSON)
    except InputError as e:
        return _error(
            422, "invalid_input", e.field, e.reason, kind=type(e).__name__, hint=e.hint or "fix the field"
        )
    try:
        return Response(_encode(city.layer(key, res=r, bbox=box), shown), media_type=GEOJSON)
    except InputError as e:
        return _error(422, "invalid_input", e.field, e.reason, kind=type(e).__name__, hint=e.hint)


_Shown = tuple[float | None, tuple[str, ...] | None]


def _encode(gdf: gpd.GeoDataFrame, shown: _Shown) -> bytes:
    """Return `gdf` as GeoJSON bytes: the full layer, or its display variant (api.services.display)."""
    if shown == (None, None):
        return orjson.dumps(to_geojson_dict(gdf))
    variant, member = display_variant(gdf, *shown)
    doc = to_geojson_dict(variant)
    doc["display"] = member
    return orjson.dumps(doc)


def _encoded(city: City, key: str, res: int, shown: _Shown = (None, None)) -> bytes:
    """Return the GeoJSON bytes of a whole layer, encoded once per city, layer, resolution and variant."""
    slot = (key, res if key == "cells" else 0, *shown)
    with _ENCODED_LOCK:
        per_city = _ENCODED.setdefault(city, {})
        cached = per_city.get(slot)
    if cached is not None:
        return cached
    data = _encode(city.layer(key, res=res), shown)
    with _ENCODED_LOCK:
        if len(per_city) >= _MAX_ENCODED:
            per_city.pop(next(iter(per_city)))
        per_city[slot] = data
    return data
