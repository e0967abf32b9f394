"""Test helpers for credentials: create a key in a started app's store, or in a store before it starts.

Tests act as a role by sending its key (``X-API-Key``); most helpers give an admin key so that a test
about something else keeps testing that, through the same scope checks as production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.auth.keys import create_key
from api.store import default_dsn, open_store

__all__ = ["key_headers", "store_key"]


def key_headers(app: Any, role: str = "admin", label: str = "tests") -> dict[str, str]:
    """Create a key of `role` in a started app's store; return the header that sends it."""
    key, _ = create_key(app.state.auth.store, role, label)
    return {"X-API-Key": key}


def store_key(state_dir: Path, role: str = "admin", dsn: str | None = None) -> str:
    """Create a key of `role` in the store a service will open (before it starts); return it."""
    store = open_store(dsn or default_dsn(state_dir))
    try:
        key, _ = create_key(store, role, "tests")
    finally:
        store.close()
    return key
