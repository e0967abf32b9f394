"""The next-hour traffic forecast (issue 14): ``GET /forecast`` (`api.services.forecast`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from api.auth.deps import requires
from api.responses import JSONBytes
from api.schemas.errors import errors
from api.services import forecast as service
from api.services.deps import LiveDep

router = APIRouter(tags=["forecast"])


@router.get(
    "/forecast",
    dependencies=[requires("forecast:read")],
    summary="The next-hour traffic forecast: links and H3 cells at +15/+30/+60 min, baselines, error",
    responses={**errors(404, 503)},
)
async def get_forecast(
    request: Request,
    live: LiveDep,
    parts: Annotated[
        Literal["all", "summary"], Query(description="summary: without the link and cell layers")
    ] = "all",
) -> JSONBytes:
    """Return the forecast from the newest counts (made again when newer counts arrived).

    ``made_at`` (when), ``as_of`` (the end of the newest counts it rests on), ``rests_on`` (the
    calibration job and its held-out fit, or the prior), per horizon the counted links' totals for the
    nowcast and both baselines, ``backtest`` (the same forecast made an hour earlier against the counts
    that came after: MAE %, RMSE %, GEH < 5 share per horizon and method), ``links`` (GeoJSON, flow and
    speed per horizon) and ``cells`` (H3 congestion index per horizon, with their rings).
    """
    doc, _new = await service.forecaster_of(request.app, live).current()
    return JSONBytes(service.summary(doc) if parts == "summary" else doc)
