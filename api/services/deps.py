"""FastAPI dependencies of the live routes: the running `LiveService`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.errors import StoreUnavailable
from api.services.live import LiveService


async def get_live(request: Request) -> LiveService:
    """Dependency: the live service started in the app lifespan."""
    live = getattr(request.app.state, "live", None)
    if not isinstance(live, LiveService):
        reason = getattr(request.app.state, "live_error", None)
        raise StoreUnavailable(
            f"the live service is not running: {reason}" if reason else "the live service is not running"
        )
    return live


LiveDep = Annotated[LiveService, Depends(get_live)]
