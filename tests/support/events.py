"""Event bodies as cameras send them (the tests' and the benchmarks' one source)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def now_iso(minutes: float = 0) -> str:
    """Return an ISO time `minutes` from now (UTC, with zone)."""
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def event(i: int, camera: str, **kw: Any) -> dict[str, Any]:
    """Return a valid event body."""
    body: dict[str, Any] = {
        "event_id": f"t-{camera}-{i}",
        "camera_id": camera,
        "category": "congestion",
        "severity": "medium",
        "confidence": 0.9,
        "start_time": now_iso(-1),
        "attributes": {"vehicles": i},
    }
    body.update(kw)
    return body
