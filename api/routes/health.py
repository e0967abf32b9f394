"""Liveness and version (and, of one instance of several, its cluster state)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

import twin
from api.auth.deps import OPEN

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Service liveness",
    dependencies=[OPEN],
)
def health(request: Request) -> dict[str, Any]:
    """Return ``{"status": "ok"}`` while the service runs.

    One instance of a cluster adds ``cluster`` (its name, whether it leads the alert rules, the stream
    bus's state) and answers ``"status": "degraded"`` while the bus to the other instances is lost: it
    still serves, its stream then carries its own instance's messages only.
    """
    out: dict[str, Any] = {"status": "ok", "version": twin.__version__}
    live = getattr(request.app.state, "live", None)
    role = getattr(live, "cluster", None)
    if role is not None:
        out["cluster"] = role.stats()
        if out["cluster"]["stream"]["state"] != "connected":
            out["status"] = "degraded"
    return out
