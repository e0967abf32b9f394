"""Liveness and version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

import twin
from api.auth.deps import OPEN

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Service liveness",
    dependencies=[OPEN],
)
def health() -> dict[str, Any]:
    """Return ``{"status": "ok"}`` while the service runs."""
    return {"status": "ok", "version": twin.__version__}
