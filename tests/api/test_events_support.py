"""Shared helpers of the live-service tests: an app on the real city with a fresh store per test.

Not a test module of its own (no ``test_`` functions); the live tests import from it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import DataSettings, LiveSettings, Settings
from gis_data.city import build_city
from tests.api.auth_support import key_headers, store_key
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


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real uvicorn serving the twin in a subprocess (one worker, loopback), for e2e and crash tests.

    Parameters
    ----------
    state_dir
        Where the SQLite store lives (kept across restarts).
    data_dir
        The data cache.
    env
        Extra environment (e.g. ``TWIN_LIVE_QUEUE_SIZE``).
    """

    def __init__(self, state_dir: Path, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.data_dir = data_dir
        self.extra_env = env or {}
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        #: An admin key's header, created in the store before the first start.
        self.headers: dict[str, str] = {}

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> Server:
        """Start uvicorn and wait until /health answers."""
        if not self.headers:
            dsn = self.extra_env.get("TWIN_STORE_DSN")
            self.headers = {"X-API-Key": store_key(self.state_dir, "admin", dsn)}
        self.port = free_port()
        env = {
            **os.environ,
            "TWIN_STATE_DIR": str(self.state_dir),
            "TWIN_DATA_DIR": str(self.data_dir),
            "TWIN_REPLAY": "false",
            **self.extra_env,
        }
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # fine-grained: the reliability harness times restarts with this
        self.kill()
        raise RuntimeError("uvicorn did not answer /health in time")

    def kill(self) -> None:
        """Kill -9 the server (no shutdown, no flush)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


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
