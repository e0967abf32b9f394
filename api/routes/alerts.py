"""Alerts raised by the live rules: GET /alerts, POST /alerts/{id}/ack, POST /alerts/{id}/resolve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import requires
from api.auth.service import Principal
from api.errors import NotFound
from api.responses import GeoJSONResponse
from api.routes.declare import EXAMPLE_POINT, WRITE_ERRORS, json_ok, read_route
from api.schemas.errors import errors
from api.schemas.geojson import feature_collection_ok
from api.services.deps import LiveDep
from api.services.geojson import alert_dict, alert_feature

router = APIRouter(tags=["alerts"])

ALERT_EXAMPLE: dict[str, Any] = {
    "alert_id": "AL-3f2a9c1d7e6b5a40",
    "rule": "congestion_cluster",
    "key": "8941a2a4c2fffff",
    "status": "open",
    "severity": "high",
    "title": "Ùn tắc: 5 sự kiện trong 10 phút / Congestion: 5 events in 10 min",
    "created_at": "2025-06-12T00:30:00Z",
    "updated_at": "2025-06-12T00:30:00Z",
    "cell": "8941a2a4c2fffff",
    "camera_id": None,
    "lon": 106.7578,
    "lat": 21.8478,
    "details": {"events": 5, "window_min": 10, "res": 9},
    "acknowledged_by": None,
    "note": None,
}


class OperatorAction(BaseModel):
    """An optional note on an operator's action. Who acted is taken from the credentials (the key id
    and label, recorded as ``acknowledged_by``), never from the body: a ``by`` member is refused."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500, examples=["Đã cử CSGT đến hiện trường"])


@read_route(
    router,
    "/alerts",
    "alerts:read",
    "Alerts, newest first (GeoJSON)",
    feature_collection_ok(
        "Alerts as Point features (null geometry when not located)",
        feature_id=ALERT_EXAMPLE["alert_id"],
        geometry=EXAMPLE_POINT,
        properties=ALERT_EXAMPLE,
    ),
    response_class=GeoJSONResponse,
)
def list_alerts(
    live: LiveDep,
    status: Annotated[Literal["open", "acknowledged", "resolved"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> GeoJSONResponse:
    """Return alerts, optionally of one status."""
    alerts = live.store.list_alerts(status, limit)
    return GeoJSONResponse({"type": "FeatureCollection", "features": [alert_feature(a) for a in alerts]})


async def _act(
    alert_id: str, action: str, live: Any, body: OperatorAction | None, principal: Principal
) -> dict[str, Any]:
    alert = live.store.get_alert(alert_id)
    if alert is None:
        raise NotFound("alert", alert_id)
    new = await live.transition_alert(alert, action, principal.actor, body.note if body else None)
    return alert_dict(new)


#: Who may act on alerts (the credentials name the actor).
AlertWriter = Annotated[Principal, requires("alerts:write")]


def _action_route(
    action: str, summary: str, status: str, codes: tuple[int, ...]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    example = {**ALERT_EXAMPLE, "status": status}
    return router.post(
        f"/alerts/{{alert_id}}/{action}",
        summary=summary,
        responses={200: json_ok(f"The alert, {status}", example), **errors(*codes)},
    )


@_action_route("ack", "Acknowledge an alert", "acknowledged", (400, 404, 409, 413, 422, 503, 507))
async def ack(
    alert_id: str, live: LiveDep, principal: AlertWriter, body: OperatorAction | None = None
) -> dict[str, Any]:
    """Mark an open alert as being handled (idempotent; a resolved alert cannot be acknowledged: 409)."""
    return await _act(alert_id, "ack", live, body, principal)


@_action_route("resolve", "Resolve an alert", "resolved", WRITE_ERRORS)
async def resolve(
    alert_id: str, live: LiveDep, principal: AlertWriter, body: OperatorAction | None = None
) -> dict[str, Any]:
    """Close an alert (idempotent)."""
    return await _act(alert_id, "resolve", live, body, principal)
