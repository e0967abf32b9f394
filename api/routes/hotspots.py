"""Hotspots as they form: GET /hotspots (Getis-Ord Gi* on the live H3 counts, FDR-corrected)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query

from api.auth.coarse import cap_res, cell_collection, is_coarse
from api.auth.deps import requires
from api.auth.policy import PUBLIC_MIN_COUNT
from api.auth.service import Principal
from api.responses import GeoJSONResponse
from api.schemas.errors import errors
from api.schemas.events import Category
from api.schemas.geojson import feature_collection_ok
from api.services.counts import WINDOWS_HELP, parse_window
from api.services.deps import LiveDep
from api.services.geojson import polygon_coords
from twin.errors import InputError
from twin.h3grid import MIN_RES
from twin.numbers import finite_or_none

router = APIRouter(tags=["live"])

#: Hotspot statistics are computed over the whole city at most at this resolution (cost grows 7× a level).
MAX_HOTSPOT_RES = 10


@router.get(
    "/hotspots",
    summary="Hot and cold spots of live events (Getis-Ord Gi*)",
    response_class=GeoJSONResponse,
    responses={
        200: feature_collection_ok(
            "Cells flagged hot or cold (all study-area cells with `all=true`)",
            feature_id="8941a2a4c2fffff",
            geometry={"type": "Polygon", "coordinates": [[[106.757, 21.847]]]},
            properties={
                "cell": "8941a2a4c2fffff",
                "count": 12,
                "gi_z": 4.1,
                "p_value": 0.00004,
                "p_fdr": 0.003,
                "hotspot": "hot",
            },
            res=9,
            window="1h",
            computed_age_s=1.2,
        ),
        **errors(422, 503),
    },
)
async def get_hotspots(  # noqa: PLR0917  (FastAPI query parameters)
    live: LiveDep,
    principal: Annotated[Principal, requires("aggregates:read")],
    res: Annotated[
        int | None, Query(ge=MIN_RES, le=MAX_HOTSPOT_RES, description="Default: the service's")
    ] = None,
    window: Annotated[str, Query(max_length=8, description=WINDOWS_HELP, examples=["1h"])] = "1h",
    category: Annotated[Category | None, Query(description="Only this category")] = None,
    all_cells: Annotated[bool, Query(alias="all", description="Include cells that are neither")] = False,
) -> GeoJSONResponse:
    """Return Gi* hot/cold cells over the city's cells (recomputed at most every few seconds)."""
    r = cap_res(principal, live.res if res is None else res)
    if r > live.res:
        raise InputError("res", f"must be at most the service resolution {live.res}, got {r}")
    td = parse_window(window)
    counts, synthetic = live.window_counts(r, td, category)
    table, age = await live.hotspots.get((r, int(td.total_seconds()), category), lambda: counts)
    rows = table if all_cells else table[table["hotspot"] != "none"]
    if is_coarse(principal):
        rows = rows[rows["count"] >= PUBLIC_MIN_COUNT]
    feats = [
        {
            "type": "Feature",
            "id": str(cell),
            "geometry": {"type": "Polygon", "coordinates": polygon_coords(str(cell))},
            "properties": {
                "cell": str(cell),
                "count": int(row["count"]),
                "gi_z": finite_or_none(row["gi_z"]),
                "p_value": finite_or_none(row["p_value"]),
                "p_fdr": finite_or_none(row["p_fdr"]),
                "hotspot": str(row["hotspot"]),
            },
        }
        for cell, row in rows.iterrows()
    ]
    return cell_collection(
        principal,
        feats,
        requested=res,
        served=r,
        suppressed=0,
        window=window,
        category=category,
        hot=int((table["hotspot"] == "hot").sum()),
        cold=int((table["hotspot"] == "cold").sum()),
        study_cells=len(table),
        computed_age_s=round(max(0.0, age_since(age)), 3),
        method="Getis-Ord Gi* (k=1 ring), alpha 0.05, Benjamini-Hochberg FDR",
        provenance={"source": "derived", "inputs": ["events"], "synthetic": synthetic > 0},
    )


def age_since(stamp: float) -> float:
    """Return seconds since a monotonic timestamp."""
    return time.monotonic() - stamp
