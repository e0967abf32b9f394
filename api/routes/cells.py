"""Live counts on H3: GET /cells?res&window&category (GeoJSON hexagons with counts)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth.coarse import cap_res, cell_collection, coarse_features
from api.auth.deps import requires
from api.auth.service import Principal
from api.responses import GeoJSONResponse
from api.schemas.errors import errors
from api.schemas.events import Category
from api.schemas.geojson import FEATURE_COLLECTION
from api.services.counts import WINDOWS_HELP, parse_window
from api.services.deps import LiveDep
from api.services.geojson import cell_features
from twin.h3grid import MAX_RES, MIN_RES

router = APIRouter(tags=["live"])

CELLS_EXAMPLE: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "8941a2a4c2fffff",
            "geometry": {"type": "Polygon", "coordinates": [[[106.757, 21.847], [106.758, 21.848]]]},
            "properties": {"cell": "8941a2a4c2fffff", "count": 7, "by_category": {"congestion": 7}},
        }
    ],
    "res": 9,
    "window": "1h",
    "category": None,
    "total": 7,
}


@router.get(
    "/cells",
    summary="Live event counts per H3 cell over a sliding window",
    response_class=GeoJSONResponse,
    responses={
        200: {
            "description": "Cells with at least one event in the window, busiest first",
            "content": {"application/geo+json": {"schema": FEATURE_COLLECTION, "example": CELLS_EXAMPLE}},
        },
        **errors(422, 503),
    },
)
def get_cells(
    live: LiveDep,
    principal: Annotated[Principal, requires("aggregates:read")],
    res: Annotated[int | None, Query(ge=MIN_RES, le=MAX_RES, description="Default: the service's")] = None,
    window: Annotated[str, Query(max_length=8, description=WINDOWS_HELP, examples=["1h"])] = "1h",
    category: Annotated[Category | None, Query(description="Only this category")] = None,
) -> GeoJSONResponse:
    """Return the cells with events whose start lies in the last `window`, with counts per category.

    Public callers get at most res 8 and no cell with fewer than 3 events (see ``access``).
    """
    r = cap_res(principal, live.res if res is None else res)
    counts, synthetic = live.window_counts(r, parse_window(window), category)
    feats, suppressed = coarse_features(principal, cell_features(counts))
    total = sum(f["properties"]["count"] for f in feats)
    provenance = {
        "source": "derived",
        "inputs": ["events"],
        "synthetic": synthetic > 0,
        "synthetic_events": synthetic,
    }
    return cell_collection(
        principal,
        feats,
        requested=res,
        served=r,
        suppressed=suppressed,
        window=window,
        category=category,
        total=total,
        provenance=provenance,
    )
