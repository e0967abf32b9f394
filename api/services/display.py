"""Display variants of the city layers: what a map needs to draw them, not what a researcher exports.

``GET /layers/{name}?simplify=M&fields=a,b`` answers the same FeatureCollection with

* geometries simplified to `M` metres (Douglas-Peucker in UTM 48N, topology of each feature kept),
* coordinates rounded to 5 decimals (about 1.1 m) when `M` ≥ 1, else to the usual 6,
* only the listed properties (plus ``source`` and ``synthetic``), and each feature that is identical
  to an earlier one after that (same normalised geometry, same kept properties) sent once: the two
  directed links of a two-way street are one line on a map.

The answer says what was done in the foreign member ``display``. Without these parameters the layer is
the full-precision export, unchanged.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from twin.crs import METRIC
from twin.errors import InputError

#: UTM zone 48N: metres around Lạng Sơn (106.7° E).
#: Largest tolerance accepted: beyond it the wards stop looking like wards.
MAX_SIMPLIFY_M = 50.0
#: The tolerances served: a request is snapped down to the nearest (never simplified more than asked),
#: so that any value shares one of a few cached variants and random values cannot defeat the cache.
SIMPLIFY_STEPS_M = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
#: Decimals of a display coordinate when the tolerance is 1 m or more (1e-5° ≈ 1.1 m).
DISPLAY_DECIMALS = 5
MAX_FIELDS = 32


def parse_fields(text: str | None) -> tuple[str, ...] | None:
    """Return the property names of a ``fields=a,b`` parameter (None when absent)."""
    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise InputError("fields", "empty: list property names separated by commas", "e.g. fields=road_class")
    if len(names) > MAX_FIELDS:
        raise InputError("fields", f"{len(names)} names; at most {MAX_FIELDS}")
    return names


def check_simplify(value: float | None) -> float | None:
    """Validate a ``simplify`` tolerance in metres (0 < value ≤ MAX_SIMPLIFY_M) and return the
    tolerance served: the largest of `SIMPLIFY_STEPS_M` not above it (the smallest step below that)."""
    if value is None:
        return None
    if not np.isfinite(value) or value <= 0 or value > MAX_SIMPLIFY_M:
        raise InputError(
            "simplify", f"{value} m is outside (0, {MAX_SIMPLIFY_M:g}]", "1–5 m is invisible on a city map"
        )
    below = [s for s in SIMPLIFY_STEPS_M if s <= value]
    return below[-1] if below else SIMPLIFY_STEPS_M[0]


def display_variant(
    gdf: gpd.GeoDataFrame, simplify_m: float | None, fields: tuple[str, ...] | None
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Return the display variant of `gdf` and the ``display`` member describing it.

    Raises InputError (field ``fields``) when a listed property is not in the layer.
    """
    geom_name = gdf.geometry.name
    out = gdf
    if fields is not None:
        known = [str(c) for c in gdf.columns if c != geom_name]
        unknown = [f for f in fields if f not in known]
        if unknown:
            raise InputError("fields", f"unknown properties {unknown}; this layer has {known}")
        out = gdf[[*fields, geom_name]]
    decimals = DISPLAY_DECIMALS if simplify_m is not None and simplify_m >= 1 else 6
    geoms = out.geometry.to_numpy()
    n_coords = int(shapely.get_num_coordinates(geoms).sum())
    if simplify_m is not None and len(out):
        metric = gpd.GeoSeries(geoms, crs=gdf.crs).to_crs(METRIC).to_numpy()
        simple = shapely.simplify(metric, simplify_m, preserve_topology=True)
        geoms = gpd.GeoSeries(simple, crs=METRIC).to_crs(gdf.crs).to_numpy()
    # Snap to the grid of `decimals` (keeps polygons valid, unlike rounding each coordinate), then round
    # away the float noise of the snapped values.
    geoms = shapely.set_precision(geoms, 10.0**-decimals)
    geoms = shapely.transform(geoms, lambda c: np.round(c, decimals))
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=gdf.crs), crs=gdf.crs)
    dropped = 0
    if fields is not None and len(out):
        keys = pd.DataFrame({f: out[f].astype(str) for f in fields})
        keys["__geom"] = shapely.to_wkb(shapely.normalize(geoms), hex=True)
        dup = keys.duplicated().to_numpy()
        dropped = int(dup.sum())
        out = out[~dup]
    out.attrs = dict(gdf.attrs)
    member = {
        "simplify_m": simplify_m,
        "decimals": decimals,
        "fields": list(fields) if fields is not None else None,
        "duplicates_dropped": dropped,
        "coordinates": int(shapely.get_num_coordinates(out.geometry.to_numpy()).sum()),
        "coordinates_full": n_coords,
        "note": "display variant: drop simplify/fields for the full-precision layer",
    }
    return out, member
