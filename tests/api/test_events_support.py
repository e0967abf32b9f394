"""Shared helpers of the live-service tests: an app on the real city with a fresh store per test.

Not a test module of its own (no ``test_`` functions); the live tests import from it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import DataSettings, LiveSettings, Settings
from gis_data.city import build_city
from tests.support.auth import key_headers, store_key
from tests.support.servers import free_port
from twin.city import City

__all__ = ["city", "client", "connected", "key_headers", "server", "store_key"]


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
    settings = Settings(state_dir=state_dir, data=DataSettings(dir=data_dir), replay=False)
    app = create_app(settings)
    app.state.city = city
    app.state.live_settings = LiveSettings(**tuning)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(key_headers(app, "admin"))
        yield client


@pytest.fixture
def client(city: City, tmp_path: Path, data_dir: Path) -> Iterator[TestClient]:
    """A client of a fresh service (empty store, replayer off, alert threshold 3 events)."""
    with live_client(city, tmp_path, data_dir, congestion_count=3, tick_s=3600) as c:
        yield c


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


def assert_georeport_error(r: Any, status: int, field: str | None = None) -> list[dict[str, Any]]:
    """Assert an Open311 error: the status, GeoReport's ``[{code, description}]``, the field named first."""
    assert r.status_code == status, r.text
    body: list[dict[str, Any]] = json.loads(r.text, parse_constant=_no_constant)
    assert isinstance(body, list), body
    assert body
    assert all(set(e) == {"code", "description"} and e["code"] == status for e in body), body
    if field is not None:
        assert any(e["description"].startswith(field) for e in body), body
    return body


Post = Callable[..., Any]


class ThreadServer:
    """A real uvicorn (HTTP on a loopback port) serving the app from a thread of the test process.

    Starts in a second: the modules are imported and the city is built already. Same `url`/`port`
    interface as `Server` (which a crash test needs, to kill -9 a separate process).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers: dict[str, str] = {}
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="uvicorn-test", daemon=True)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ThreadServer:
        """Start serving and wait until the lifespan has run."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        self.headers = key_headers(self.app)  # an admin key; send `headers=server.headers`
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for it."""
        self._server.should_exit = True
        self._thread.join(timeout=30)


@pytest.fixture(scope="module")
def server(city: City, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[ThreadServer]:
    """A real uvicorn on loopback, with tiny stream queues so overflow is easy to provoke."""
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("served"), data=DataSettings(dir=data_dir), replay=False
    )
    app = create_app(settings)
    app.state.city = city
    app.state.live_settings = LiveSettings(queue_size=5, tick_s=3600)
    srv = ThreadServer(app).start()
    yield srv
    srv.stop()
