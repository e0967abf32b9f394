"""Camera health: GET /cameras (GeoJSON, live status), GET /cameras/summary, POST /cameras/{id}/heartbeat."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from api.auth.deps import require_speaks_for
from api.errors import NotFound
from api.responses import GeoJSONResponse
from api.routes.declare import EXAMPLE_POINT, WRITE_ERRORS, EventWriter, json_ok, read_route
from api.schemas.errors import errors
from api.schemas.events import bounded_time
from api.schemas.geojson import feature_collection_ok
from api.services.deps import LiveDep
from api.services.geojson import camera_feature, iso
from api.store.base import now_utc

router = APIRouter(tags=["cameras"])


class HeartbeatIn(BaseModel):
    """A camera gateway's sign of life (the body is optional)."""

    model_config = ConfigDict(extra="forbid")

    at: Annotated[AwareDatetime, AfterValidator(bounded_time)] | None = Field(
        default=None, description="When the camera was seen (default now; a time ahead is clamped)."
    )


class HeartbeatOut(BaseModel):
    """The camera's status after the heartbeat."""

    camera_id: str
    status: Literal["online", "offline", "not_connected"]
    last_seen: datetime | None


class CameraSummary(BaseModel):
    """The fleet at a glance, e.g. "50/238 online", and its recent history."""

    online: int
    offline: int
    connected: int
    not_connected: int
    total: int
    label: str = Field(examples=["50/238 online"])
    offline_after_s: float
    history: list[dict[str, Any]]


@read_route(
    router,
    "/cameras",
    "cameras:read",
    "Cameras with their live status (GeoJSON)",
    feature_collection_ok(
        "Every registry camera (synthetic registry) with status and last seen",
        feature_id="LS-CAM-001",
        geometry=EXAMPLE_POINT,
        properties={
            "camera_id": "LS-CAM-001",
            "name": "Ngã tư Lê Lợi - Trần Đăng Ninh",
            "ward_code": "05977",
            "kind": "intersection",
            "connected": True,
            "status": "online",
            "last_seen": "2025-06-12T00:25:01Z",
            "synthetic": True,
        },
    ),
    response_class=GeoJSONResponse,
)
def get_cameras(
    live: LiveDep,
    status: Annotated[Literal["online", "offline", "not_connected"] | None, Query()] = None,
    ward: Annotated[str | None, Query(max_length=16)] = None,
) -> GeoJSONResponse:
    """Return the camera registry with each camera's live status."""
    now = now_utc()
    feats = []
    for cid, info in live.ctx.cameras.items():
        st = live.health.state(cid, now)
        if status is not None and st.status != status:
            continue
        if ward is not None and info.ward_code != ward:
            continue
        feats.append(camera_feature(info, st))
    return GeoJSONResponse(
        {
            "type": "FeatureCollection",
            "features": feats,
            "provenance": {"source": "synthetic", "synthetic": True, "name": "cameras"},
        }
    )


@read_route(
    router,
    "/cameras/summary",
    "cameras:read",
    'Fleet status, e.g. "50/238 online", and its history',
    json_ok(
        "Counts now and the recorded history (one snapshot a minute)",
        {
            "online": 47,
            "offline": 3,
            "connected": 50,
            "not_connected": 188,
            "total": 238,
            "label": "47/238 online",
            "offline_after_s": 120.0,
            "history": [
                {"at": "2025-06-12T00:00:00Z", "online": 48, "connected": 50, "total": 238},
                {"at": "2025-06-12T00:01:00Z", "online": 47, "connected": 50, "total": 238},
            ],
        },
    ),
    response_model=CameraSummary,
)
def get_summary(
    live: LiveDep,
    hours: Annotated[float, Query(gt=0, le=168, description="History span")] = 24.0,
) -> CameraSummary:
    """Return how many cameras are online, connected and registered, with the recorded history."""
    now = now_utc()
    s = live.health.summary(now)
    hist = live.store.camera_history(now - timedelta(hours=hours))
    return CameraSummary(
        **s,
        label=f"{s['online']}/{s['total']} online",
        offline_after_s=live.health.offline_after.total_seconds(),
        history=[
            {"at": iso(h.at), "online": h.online, "connected": h.connected, "total": h.total} for h in hist
        ],
    )


@router.post(
    "/cameras/{camera_id}/heartbeat",
    summary="Record a camera's heartbeat",
    response_model=HeartbeatOut,
    responses={
        200: json_ok(
            "Recorded durably",
            {"camera_id": "LS-CAM-001", "status": "online", "last_seen": "2025-06-12T00:25:01Z"},
        ),
        **errors(*WRITE_ERRORS),
    },
)
async def heartbeat(
    camera_id: str,
    request: Request,
    live: LiveDep,
    principal: EventWriter,
    body: HeartbeatIn | None = None,
) -> HeartbeatOut:
    """Mark the camera seen (durably); it stays online until silent for longer than the offline delay.

    A camera-gateway key may send heartbeats only for the cameras bound to it (403 for any other).
    """
    await require_speaks_for(request, principal, [camera_id])
    if camera_id not in live.ctx.cameras:
        raise NotFound("camera", camera_id)
    await live.heartbeat(camera_id, body.at if body else None)
    st = live.health.state(camera_id, now_utc())
    return HeartbeatOut(camera_id=camera_id, status=st.status, last_seen=st.last_seen)  # type: ignore[arg-type]
