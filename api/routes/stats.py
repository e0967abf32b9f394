"""Service counters: GET /stats (ingest outcomes, store commits, stream subscribers and drops)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth.deps import requires
from api.schemas.errors import errors
from api.services.deps import LiveDep

router = APIRouter(tags=["live"])


@router.get(
    "/stats",
    dependencies=[requires("stats:read")],
    summary="Ingest, store and stream counters",
    responses={
        200: {
            "description": "Counters since start",
            "content": {
                "application/json": {
                    "example": {
                        "uptime_s": 812.4,
                        "ingest": {
                            "requests": 1200,
                            "batches": 3,
                            "events": 2690,
                            "outcomes": {"created": 2500, "updated": 150, "duplicate": 40},
                            "heartbeats": 400,
                            "reports": 6,
                            "alerts": 2,
                        },
                        "stream": {
                            "subscribers": 2,
                            "published": 2650,
                            "delivered": 5300,
                            "dropped": 0,
                            "queue_size": 1000,
                        },
                        "store": {"commits": 310, "writes": 1606},
                        "live": {"events_in_window": 2500, "res": 9},
                        "hotspots": {"cached": 1, "computed": 12, "ttl_s": 5.0},
                    }
                }
            },
        },
        **errors(503),
    },
)
def get_stats(live: LiveDep) -> dict[str, Any]:
    """Return counters since the service started: a rising ``stream.dropped`` means slow clients."""
    return live.stats_dict()
