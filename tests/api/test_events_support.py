"""Shared helpers of the live-service tests: an app on the real city with a fresh store per test.

Not a test module of its own (no ``test_`` functions); the live tests import from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services.live import LiveSettings
from api.settings import Settings
from gis_data.city import build_city
from twin.city import City

__all__ = ["city", "client", "connected"]


@pytest.fixture(scope="session")
def city(data_dir: Path) -> City:
    """The real city model (synthetic roads and camera registry), built once."""
    return build_city(data_dir)


@pytest.fixture(scope="session")
def connected(city: City) -> list[str]:
    """Ids of the cameras connected to the IOC."""
    return [str(c) for c in city.cameras.loc[city.cameras["connected"], "camera_id"]]


@contextmanager
def live_client(city: City, state_dir: Path, data_dir: Path, **tuning: Any) -> Iterator[TestClient]:
    """Yield a TestClient of the full app (lifespan run) with the live service on `state_dir`."""
    settings = Settings(state_dir=state_dir, data_dir=data_dir, replay=False)
    app = create_app(settings)
    app.state.city = city
    app.state.live_settings = LiveSettings(**tuning)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(city: City, tmp_path: Path, data_dir: Path) -> Iterator[TestClient]:
    """A client of a fresh service (empty store, replayer off, alert threshold 3 events)."""
    with live_client(city, tmp_path, data_dir, congestion_count=3, tick_s=3600) as c:
        yield c


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


def _no_constant(name: str) -> Any:
    raise AssertionError(f"the response contains the non-JSON constant {name}")


def assert_error_shape(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """Assert an error response: status, the one error body shape, field named, no NaN echoed."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = json.loads(r.text, parse_constant=_no_constant)  # strict JSON: no NaN
    assert set(body) == {"error", "detail", "hint"}
    assert body["detail"]
    assert all(set(d) == {"field", "reason", "type"} for d in body["detail"])
    if field is not None:
        fields = [d["field"] for d in body["detail"]]
        assert any(f == field or f.startswith(field) for f in fields), fields
    return body


Post = Callable[..., Any]
