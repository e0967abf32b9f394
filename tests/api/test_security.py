"""The holes of issue 18, each tested as an attacker would try it (every test failed before its fix)."""

from __future__ import annotations

import base64
import json
import logging
import os
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
from api.auth.policy import PUBLIC_MIN_COUNT
from api.cli import serve as serve_mod
from api.cli.base import app as cli_app
from api.errors import install_error_handlers
from api.middleware import install_limits
from api.schemas.events import attribute_problem
from api.settings import Settings
from api.store import default_dsn, open_store
from api.store.base import now_utc
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, assert_georeport_error
from tests.support.auth import key_headers, store_key
from tests.support.events import event, now_iso
from tests.support.servers import free_port
from twin.city import City


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


# --------------------------------------------------------------------------------- the smaller holes
def test_a_long_plain_sentence_is_not_base64_but_base64_still_is() -> None:
    sentence = (
        "A heavy truck stopped in the motorbike lane near the Ky Lua market and blocked the traffic "
        "for about fifteen minutes this morning ok."
    )
    assert len(sentence) == 133
    assert attribute_problem({"note": sentence}) is None
    vi = (
        "Xe tải dừng đỗ sai quy định ở làn xe máy gần chợ Kỳ Lừa, "
        "gây ùn tắc khoảng mười lăm phút sáng nay rồi."
    )
    assert attribute_problem({"note": vi}) is None
    blob = os.urandom(150)
    for encoded in (
        base64.b64encode(blob).decode(),
        base64.urlsafe_b64encode(blob).decode().rstrip("="),
        base64.encodebytes(blob).decode(),  # MIME: lines of 76 characters
    ):
        problem = attribute_problem({"img_b64": encoded})
        assert problem is not None
        assert "base64" in problem


def test_a_position_far_from_its_camera_is_refused(
    client: TestClient, city: City, connected: list[str]
) -> None:
    cam = city.cameras.set_index("camera_id").loc[connected[0]]
    lon, lat = float(cam.geometry.x), float(cam.geometry.y)
    near = event(1, connected[0], position={"lon": lon + 0.001, "lat": lat})  # ~100 m
    assert client.post("/events", json=near).status_code == 200
    far = event(2, connected[0], position={"lon": lon, "lat": lat - 20_000 / 111_195})  # 20 km south
    body = assert_error_shape(client.post("/events", json=far), 422, "position")
    assert "20.0 km from camera" in json.dumps(body, ensure_ascii=False)
    batch = {"events": [event(3, connected[0]), far]}
    assert_error_shape(client.post("/events/batch", json=batch), 422, "events.1.position")
    assert client.get(f"/events/{far['event_id']}").status_code == 404


def test_an_empty_events_page_is_not_labelled_real(client: TestClient, connected: list[str]) -> None:
    empty = client.get("/events").json()
    assert empty["features"] == []
    assert empty["provenance"]["source"] == "none"
    client.post("/events", json=event(1, connected[0]))
    assert client.get("/events").json()["provenance"]["source"] == "real"
    client.post("/events", json=event(2, connected[0], attributes={"synthetic": True}))
    assert client.get("/events").json()["provenance"]["source"] == "mixed"


def test_public_cells_hide_categories_under_the_threshold(client: TestClient, connected: list[str]) -> None:
    bodies = [event(i, connected[0], event_id=f"c-{i}") for i in range(PUBLIC_MIN_COUNT + 1)]
    bodies.append(event(50, connected[0], event_id="a-1", category="accident"))
    assert client.post("/events/batch", json={"events": bodies}).status_code == 200
    staff = client.get("/cells", params={"res": 8}).json()
    (cell,) = staff["features"]
    assert cell["properties"]["by_category"] == {"congestion": PUBLIC_MIN_COUNT + 1, "accident": 1}
    public = TestClient(client.app).get("/cells", params={"res": 8}).json()
    (cell,) = public["features"]
    assert cell["properties"]["by_category"] == {"congestion": PUBLIC_MIN_COUNT + 1}
    for f in public["features"]:
        assert all(n >= PUBLIC_MIN_COUNT for n in f["properties"]["by_category"].values())


def test_a_citizen_cannot_label_a_report_synthetic(client: TestClient) -> None:
    report = {"service_code": "road_damage", "lat": 21.8478, "long": 106.7578, "description": "Ổ gà lớn"}
    citizen = key_headers(client.app, "reporter", "citizen app")
    body = assert_georeport_error(
        client.post("/open311/v2/requests.json", json={**report, "synthetic": True}, headers=citizen),
        400,
        "synthetic",
    )
    assert "replayer" in json.dumps(body)
    assert client.post("/open311/v2/requests.json", json=report, headers=citizen).status_code in (200, 201)
    replayer = key_headers(client.app, "reporter", "in-process replayer (reporter)")
    made = client.post("/open311/v2/requests.json", json={**report, "synthetic": True}, headers=replayer)
    assert made.status_code in (200, 201), made.text


# ------------------------------------------------------------------------------ out-of-order messages
def test_a_delayed_update_is_acknowledged_as_stale_and_counted(
    client: TestClient, connected: list[str]
) -> None:
    cam = connected[0]
    first = event(1, cam, sequence=1)
    newer = {**first, "lifecycle": "update", "severity": "high", "sequence": 3}
    older = {**first, "lifecycle": "update", "severity": "low", "sequence": 2}
    assert client.post("/events", json=first).json()["status"] == "created"
    assert client.post("/events", json=newer).json()["status"] == "updated"
    late = client.post("/events", json=older)
    assert late.status_code == 200  # acknowledged: the sender must not retry it
    assert late.json()["status"] == "stale"
    assert client.get(f"/events/{first['event_id']}").json()["properties"]["severity"] == "high"
    # A second `end` that would move end_time back is stale too.
    end = {**first, "lifecycle": "end", "end_time": now_iso(0), "sequence": None}
    early = {**end, "end_time": now_iso(-1)}
    ended = client.post("/events/batch", json={"events": [end, early]}).json()
    assert [r["status"] for r in ended["results"]] == ["updated", "stale"]
    assert client.get("/stats").json()["ingest"]["outcomes"]["stale"] == 2
    assert_error_shape(client.post("/events", json={**first, "sequence": -1}), 422, "sequence")
