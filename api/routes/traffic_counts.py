"""Camera traffic counts (issue 14): POST /counts (a batch of ≤ 500 interval messages), GET /counts.

Not the live event counts per H3 cell (GET /cells). GET /counts exports through `gis_data.io` (GeoJSON,
GeoParquet, CSV), as `twin export` and the layer routes do.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth.deps import require_speaks_for, requires
from api.auth.service import Principal
from api.responses import JSONBytes
from api.routes.events import parse_body
from api.schemas.errors import errors
from api.schemas.events import SafeTime, inline_schema
from api.schemas.traffic_counts import COUNT_BATCH_ADAPTER, TrafficCountBatchIn, TrafficCountResult
from api.services import traffic_counts as service
from api.services.deps import LiveDep
from api.store.base import now_utc
from api.store.traffic_counts import TrafficCountQuery
from gis_data import io
from twin.errors import InputError

router = APIRouter(tags=["traffic counts"])

#: The longest period one GET /counts may ask for.
MAX_PERIOD = timedelta(days=31)
MAX_ROWS = 200_000


@router.post(
    "/counts",
    summary="Ingest camera traffic counts (≤ 500 intervals; idempotent by camera, interval and direction)",
    response_model=TrafficCountResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(TrafficCountBatchIn)}},
        }
    },
    responses={**errors(400, 413, 422, 503, 507)},
)
async def post_counts(
    request: Request, live: LiveDep, principal: Annotated[Principal, requires("events:write")]
) -> JSONBytes:
    """Store the batch durably in one transaction; any bad item refuses it all, naming the field.

    ``rows`` counts the stored rows (one per interval and direction) by outcome: ``created``,
    ``updated`` (a recount of the same interval) or ``duplicate`` (a replay: nothing changed).
    """
    batch: TrafficCountBatchIn = await parse_body(request, COUNT_BATCH_ADAPTER)
    # A camera-gateway key counts only for the cameras bound to it (403 naming counts.N.camera_id).
    await require_speaks_for(request, principal, [c.camera_id for c in batch.counts], "counts.")
    return JSONBytes(await service.ingest(live.store, live.ctx, batch, now_utc()))


@router.get(
    "/counts",
    dependencies=[requires("cameras:read")],
    summary="Camera traffic counts of a period, as GeoJSON, GeoParquet or CSV",
    responses={**errors(400, 422, 503)},
)
def get_counts(
    live: LiveDep,
    since: Annotated[SafeTime, Query(description="Intervals starting at or after (ISO 8601, with zone)")],
    until: Annotated[SafeTime, Query(description="Intervals starting before (ISO 8601, with zone)")],
    camera: Annotated[str | None, Query(max_length=2000, description="Camera ids, comma-separated")] = None,
    format: Annotated[str, Query(description="geojson, geoparquet (parquet) or csv")] = "geojson",
) -> Response:
    """Return one feature per camera × interval × direction (Point at the camera), oldest first."""
    if since.tzinfo is None or until.tzinfo is None:
        raise InputError("since" if since.tzinfo is None else "until", "needs a time zone (e.g. Z)")
    if until <= since:
        raise InputError("until", "must be after since")
    if until - since > MAX_PERIOD:
        raise InputError("until", f"the period may be at most {MAX_PERIOD.days} days")
    fmt = io.check_format(format)
    cams = tuple(c for c in (camera or "").split(",") if c)
    query = TrafficCountQuery(since=since, until=until, cameras=cams, limit=MAX_ROWS)
    frame = service.frame(live.ctx, live.store.traffic_counts(query), query)
    media = io.MEDIA[fmt]
    return Response(
        io.encode(frame, fmt, members={"name": "traffic_counts"}),
        media_type=media.media_type,
        headers={"Content-Disposition": f'attachment; filename="traffic_counts{media.suffix}"'},
    )
