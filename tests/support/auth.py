"""Test helpers for credentials: create a key in a started app's store, or in a store before it starts.

Tests act as a role by sending its key (``X-API-Key``); most helpers give an admin key so that a test
about something else keeps testing that, through the same scope checks as production.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from api.auth.keys import ALL_CAMERAS, CAMERA_ROLE, create_key
from api.store import default_dsn, open_store

__all__ = ["key_headers", "store_key"]


def _cameras(role: str, cameras: Sequence[str] | None) -> Sequence[str] | None:
    """A camera-gateway key must name its cameras: tests get every camera unless they say."""
    if role == CAMERA_ROLE and cameras is None:
        return [ALL_CAMERAS]
    return cameras


def key_headers(
    app: Any, role: str = "admin", label: str = "tests", cameras: Sequence[str] | None = None
) -> dict[str, str]:
    """Create a key of `role` in a started app's store; return the header that sends it.

    A camera-gateway key is bound to `cameras` (default: every camera, ``"*"``).
    """
    key, _ = create_key(app.state.auth.store, role, label, cameras=_cameras(role, cameras))
    return {"X-API-Key": key}


def store_key(state_dir: Path, role: str = "admin", dsn: str | None = None) -> str:
    """Create a key of `role` in the store a service will open (before it starts); return it."""
    store = open_store(dsn or default_dsn(state_dir))
    try:
        key, _ = create_key(store, role, "tests", cameras=_cameras(role, None))
    finally:
        store.close()
    return key
