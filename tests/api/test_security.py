"""The holes of issue 18, each tested as an attacker would try it (every test failed before its fix)."""

from __future__ import annotations

import logging
import stat
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import serve as serve_mod
from api.cli.base import app as cli_app
from api.errors import install_error_handlers
from api.middleware import install_limits
from api.settings import Settings
from api.store import default_dsn, open_store
from api.store.base import now_utc
from tests.api.auth_support import store_key
from tests.api.test_events_support import free_port


# ------------------------------------------------------------------------- X-Forwarded-For, uvicorn
async def _echo_client(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """ASGI app answering the client address uvicorn put in the scope."""
    if scope["type"] != "http":
        return
    host = (scope.get("client") or ("?", 0))[0]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(host).encode()})


def _served_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run `twin serve --no-warm` with uvicorn.run captured; return the options it was given."""
    got: dict[str, Any] = {}

    def fake_run(app: Any, **kw: Any) -> None:
        got.update(kw)

    monkeypatch.setattr(serve_mod.uvicorn, "run", fake_run)
    monkeypatch.setenv("TWIN_STATE_DIR", str(tmp_path))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    res = CliRunner().invoke(cli_app, ["serve", "--no-warm", "--no-replay"])
    assert res.exit_code == 0, res.output
    return got


def _run_with(options: dict[str, Any], forged: str) -> tuple[str, list[str]]:
    """Serve the echo app with `options` on a free loopback port; return what it saw and the access log."""
    opts = {k: v for k, v in options.items() if k not in ("host", "port")}
    lines: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    access = logging.getLogger("uvicorn.access")
    handler = Grab()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_echo_client, host="127.0.0.1", port=port, **opts))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        access.addHandler(handler)  # after uvicorn configured its loggers
        r = httpx.get(f"http://127.0.0.1:{port}/x", headers={"X-Forwarded-For": forged}, timeout=10)
        time.sleep(0.1)
        return r.text, lines
    finally:
        server.should_exit = True
        t.join(timeout=10)
        access.removeHandler(handler)


def test_forwarded_for_from_loopback_is_ignored_unless_the_proxy_is_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    options = _served_options(monkeypatch, tmp_path, {"TWIN_LIMIT_TRUSTED_PROXIES": "[]"})
    seen, log = _run_with(options, "203.0.113.66")
    assert seen == "127.0.0.1"  # the peer, not the forged address
    assert log
    assert not any("203.0.113.66" in line for line in log)
    # Behind a proxy the operator listed, the header is believed (and the log shows the real client).
    options = _served_options(monkeypatch, tmp_path, {"TWIN_LIMIT_TRUSTED_PROXIES": '["127.0.0.1"]'})
    seen, log = _run_with(options, "203.0.113.66")
    assert seen == "203.0.113.66"


# ------------------------------------------------------------------------------- /assets/%00 and 500s
@pytest.mark.parametrize("name", ["%00", "a%00b.js", "x" * 5000])
def test_odd_asset_names_are_404_with_the_security_headers(name: str, tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path, replay=False))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get(f"/assets/{name}")
        assert r.status_code == 404
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"


def test_an_unexpected_failure_is_a_json_500_with_the_security_headers() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("bug")

    install_limits(app, Settings())
    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.json()["error"] == "internal_error"


# ----------------------------------------------------------------------------- file modes of the store
def test_the_store_and_its_wal_are_private_in_a_private_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store_key(state, "operator")  # creates the store, writes a row (so the WAL exists)
    store = open_store(default_dsn(state))
    try:
        store.touch_credential("x", now_utc()).result(timeout=30)
        files = sorted(p.name for p in state.iterdir())
        assert {"events.sqlite3", "events.sqlite3-wal", "events.sqlite3-shm"} <= set(files)
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        for name in ("events.sqlite3", "events.sqlite3-wal", "events.sqlite3-shm"):
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    finally:
        store.close()
    # An older install's 0755 folder and 0644 files are tightened at the next start.
    state.chmod(0o755)
    (state / "events.sqlite3").chmod(0o644)
    open_store(default_dsn(state)).close()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "events.sqlite3").stat().st_mode) == 0o600
