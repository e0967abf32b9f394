"""Identities and roles end to end: hashed keys, revocation and expiry, the gateway, the public's
coarse view, reporters' own reports, citizen contacts, the viewer's login cookie, first start."""

from __future__ import annotations

import json
import logging
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.auth.deps import RedactKeys
from api.auth.keys import issue, issue_ticket, parse_key
from api.auth.policy import PUBLIC_MAX_RES, PUBLIC_MIN_COUNT
from api.cli.base import app as cli
from api.settings import DataSettings, Settings
from api.store.base import now_utc
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, live_client
from tests.support.auth import key_headers
from tests.support.events import event
from twin import h3grid
from twin.city import City

REPORT = {"service_code": "road_damage", "lat": 21.8478, "long": 106.7578, "description": "Ổ gà lớn"}


def _env(monkeypatch: pytest.MonkeyPatch, state: Path) -> None:
    monkeypatch.setenv("TWIN_STATE_DIR", str(state))
    monkeypatch.delenv("TWIN_STORE_DSN", raising=False)


def test_keys_are_stored_hashed_and_revocation_holds_at_once(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, tmp_path)  # the client's service keeps its store in tmp_path
    r = CliRunner().invoke(cli, ["keys", "create", "--role", "operator", "--label", "wall", "--json"])
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout.strip().splitlines()[-1])
    key = made["key"]
    parts = parse_key(key)
    assert parts is not None
    assert made["key_id"] == parts.key_id
    assert key.startswith("lst_")
    # The service accepts it at once (another process wrote it) ...
    assert client.get("/events", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/events", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    # ... the database holds its hash only: neither the key nor its secret is in any file of the store.
    client.app.state.auth.store.close  # noqa: B018  (the store stays open; the files are read as bytes)
    blobs = b"".join(p.read_bytes() for p in tmp_path.glob("events.sqlite3*"))
    assert parts.secret.encode() not in blobs
    assert key.encode() not in blobs
    assert parts.key_id.encode() in blobs
    # Listing shows no secret; revoking from the CLI refuses the very next request.
    listed = CliRunner().invoke(cli, ["keys", "list", "--json"])
    assert parts.secret not in listed.stdout
    row = next(x for x in json.loads(listed.stdout) if x["key_id"] == parts.key_id)
    assert row["state"] == "active"
    assert row["last_used_at"] is not None
    r = CliRunner().invoke(cli, ["keys", "revoke", parts.key_id])
    assert r.exit_code == 0, r.output
    refused = client.get("/events", headers={"X-API-Key": key})
    body = assert_error_shape(refused, 401, "credentials")
    assert "revoked" in body["detail"][0]["reason"]
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    again = CliRunner().invoke(cli, ["keys", "revoke", "000000000000"])
    assert again.exit_code == 2
    assert "twin keys list" in again.output


def test_cli_refuses_an_unknown_role_and_says_which_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, tmp_path)
    r = CliRunner().invoke(cli, ["keys", "create", "--role", "superuser"])
    assert r.exit_code == 2
    assert "camera-gateway" in r.output
    assert "operator" in r.output


def test_expired_key_is_401(client: TestClient) -> None:
    store = client.app.state.auth.store
    text, rec = issue("operator", "short-lived", expires_days=1, now=now_utc() - timedelta(days=2))
    store.submit_credential(rec).result(timeout=30)
    body = assert_error_shape(client.get("/events", headers={"X-API-Key": text}), 401)
    assert "expired" in body["detail"][0]["reason"]
    fresh, rec2 = issue("operator", "fresh", expires_days=1)
    store.submit_credential(rec2).result(timeout=30)
    assert client.get("/events", headers={"X-API-Key": fresh}).status_code == 200


def test_gateway_writes_and_cannot_read(client: TestClient, connected: list[str]) -> None:
    gw = key_headers(client.app, "camera-gateway")
    assert client.post("/events", json=event(1, connected[0]), headers=gw).status_code == 200
    assert client.post(f"/cameras/{connected[0]}/heartbeat", headers=gw).status_code == 200
    for path in ("/events", "/cells", "/hotspots", "/stats", "/cameras", "/alerts", "/layers"):
        body = assert_error_shape(client.get(path, headers=gw), 403, "scope")
        assert "camera-gateway" in body["detail"][0]["reason"]
    # Admin (the client's default key) sees what the gateway wrote.
    assert client.get(f"/events/{event(1, connected[0])['event_id']}").status_code == 200


def test_public_gets_coarse_cells_only(client: TestClient, city: City, connected: list[str]) -> None:
    cams = city.cameras.set_index("camera_id")
    busy, lone = connected[0], next(c for c in connected[1:] if _far(cams, connected[0], c))
    bodies = [event(i, busy, event_id=f"busy-{i}") for i in range(PUBLIC_MIN_COUNT + 2)]
    bodies.append(event(99, lone, event_id="lone-1"))
    assert client.post("/events/batch", json={"events": bodies}).status_code == 200
    full = client.get("/cells", params={"res": 9}).json()  # admin: full resolution, every cell
    assert full["res"] == 9
    assert "access" not in full
    assert sum(f["properties"]["count"] for f in full["features"]) == len(bodies)
    anon = TestClient(client.app)  # no key: the public
    pub = anon.get("/cells", params={"res": 9}).json()
    assert pub["res"] == PUBLIC_MAX_RES
    assert pub["access"]["view"] == "public"
    assert pub["access"]["requested_res"] == 9
    assert pub["access"]["suppressed_cells"] >= 1  # the lone event's cell is left out
    assert pub["features"]
    for f in pub["features"]:
        assert h3grid.resolution(f["properties"]["cell"]) == PUBLIC_MAX_RES
        assert f["properties"]["count"] >= PUBLIC_MIN_COUNT
        assert set(f["properties"]) == {"cell", "count", "by_category"}
    assert pub["total"] == len(bodies) - 1
    hot = anon.get("/hotspots", params={"res": 10}).json()
    assert hot["res"] == PUBLIC_MAX_RES
    layer = anon.get("/layers/cells", params={"res": 10})
    assert layer.status_code == 200
    # Per-event routes are not public at all.
    for path in ("/events", "/stream", "/ngsi-ld/v1/entities", "/events/busy-1"):
        assert_error_shape(anon.get(path), 401, "credentials")


def _far(cams: Any, a: str, b: str) -> bool:
    pa, pb = cams.loc[a].geometry, cams.loc[b].geometry
    return bool(abs(pa.x - pb.x) + abs(pa.y - pb.y) > 0.03)


def test_reporters_see_their_own_reports_and_contacts_only_reach_operators(client: TestClient) -> None:
    alice, bob = key_headers(client.app, "reporter", "alice"), key_headers(client.app, "reporter", "bob")
    op = key_headers(client.app, "operator")
    with_contact = {**REPORT, "consent": True, "email": "alice@example.vn", "phone": "+84 912 345 678"}
    a1 = client.post("/open311/v2/requests.json", json=with_contact, headers=alice).json()[0][
        "service_request_id"
    ]
    a2 = client.post("/open311/v2/requests.json", json=REPORT, headers=alice).json()[0]["service_request_id"]
    b1 = client.post("/open311/v2/requests.json", json=REPORT, headers=bob).json()[0]["service_request_id"]
    # Anyone reads every report in the public view (GeoReport); a reporter reads the words of their own.
    seen = {r["service_request_id"]: r for r in client.get("/open311/v2/requests.json", headers=alice).json()}
    assert set(seen) == {a1, a2, b1}
    assert {rid for rid, r in seen.items() if r["description"] is not None} == {a1, a2}
    (theirs,) = client.get(f"/open311/v2/requests/{b1}.json", headers=alice).json()
    assert theirs["description"] is None
    (own,) = client.get(f"/open311/v2/requests/{a1}.json", headers=alice).json()
    assert own["description"] == REPORT["description"]
    ids = client.get("/open311/v2/requests.json", params={"service_request_id": f"{a1},{b1}"}, headers=alice)
    assert [r["description"] is not None for r in ids.json()] == [True, False]
    everyone = client.get("/open311/v2/requests.json", headers=op).json()
    assert {a1, a2, b1} <= {r["service_request_id"] for r in everyone}
    assert all("email" not in json.dumps(r) for r in everyone)  # list views never carry contacts
    # Contacts: operators (and admins) only.
    got = client.get(f"/open311/v2/requests/{a1}/contact.json", headers=op).json()
    assert got["contact"] == {"email": "alice@example.vn", "phone": "+84 912 345 678"}
    assert got["consent"] is True
    assert client.get(f"/open311/v2/requests/{a2}/contact.json", headers=op).json()["consent"] is False
    for role in ("reporter", "planner", "camera-gateway"):
        assert_error_shape(
            client.get(f"/open311/v2/requests/{a1}/contact.json", headers=key_headers(client.app, role)),
            403,
            "scope",
        )
    assert_error_shape(TestClient(client.app).get(f"/open311/v2/requests/{a1}/contact.json"), 401)
    # Reporters cannot change a report's status.
    upd = client.post(f"/open311/v2/requests/{a1}/updates.json", json={"status": "closed"}, headers=alice)
    assert_error_shape(upd, 403, "scope")


#: What a browser sends when the user opened the link themselves (typed, pasted, from a terminal).
USER_OPENED = {"Sec-Fetch-Site": "none"}


def test_viewer_login_sets_a_strict_httponly_cookie_and_revocation_ends_it(client: TestClient) -> None:
    op = key_headers(client.app, "operator")["X-API-Key"]
    browser = TestClient(client.app, base_url="http://127.0.0.1:8000")
    assert browser.get("/events").status_code == 401
    r = browser.get(
        "/login", params={"key": op, "next": "/?lang=en"}, headers=USER_OPENED, follow_redirects=False
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/?lang=en"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert op.lower() not in cookie  # the cookie is a signed session, not the key
    assert browser.get("/events").status_code == 200
    who = browser.get("/auth/whoami").json()
    assert (who["role"], who["via"]) == ("operator", "session")
    # A cookie-authenticated write from another site is refused; from the viewer's origin it passes.
    foreign = browser.post("/alerts/x/ack", json={}, headers={"Origin": "https://evil.example"})
    assert_error_shape(foreign, 403, "origin")
    own = browser.post("/alerts/x/ack", json={}, headers={"Origin": "http://127.0.0.1:8000"})
    assert own.status_code == 404
    # Revoking the key ends the session at once.
    parts = parse_key(op)
    assert parts is not None
    client.app.state.auth.store.revoke_credential(parts.key_id, now_utc()).result(timeout=30)
    assert_error_shape(browser.get("/events"), 401)
    assert browser.get("/cells").status_code == 200  # a dead session on a public route: the public
    # Bad keys and foreign redirects.
    assert_error_shape(browser.get("/login", params={"key": "lst_nope"}, headers=USER_OPENED), 401)
    evil = browser.get(
        "/login",
        params={"key": key_headers(client.app, "planner")["X-API-Key"], "next": "//evil.example/x"},
        headers=USER_OPENED,
        follow_redirects=False,
    )
    assert evil.headers["location"] == "/"
    assert browser.post("/logout").status_code == 204


def test_a_login_link_from_another_site_asks_before_signing_in(client: TestClient) -> None:
    """Login CSRF: a page that sends a browser to /login?key=<attacker's key> signs nobody in."""
    planner = key_headers(client.app, "planner", "attacker's planner key")["X-API-Key"]
    browser = TestClient(client.app, base_url="http://127.0.0.1:8000")
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {}):
        r = browser.get("/login", params={"key": planner}, headers=headers, follow_redirects=False)
        assert r.status_code == 200
        assert "set-cookie" not in r.headers
        assert "attacker&#x27;s planner key" in r.text  # the page names who one would become
        assert 'action="/login"' in r.text
        assert "script" not in r.headers["content-security-policy"]
    assert browser.get("/auth/whoami").json()["via"] == "anonymous"
    # The confirmation form, posted from another site, is refused; from the page itself it signs in.
    form = {"key": planner, "next": "/"}
    foreign = browser.post("/login", data=form, headers={"Origin": "https://evil.example"})
    assert_error_shape(foreign, 403, "origin")
    cross = browser.post("/login", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert_error_shape(cross, 403, "origin")
    assert browser.get("/auth/whoami").json()["via"] == "anonymous"
    own = browser.post(
        "/login", data=form, headers={"Origin": "http://127.0.0.1:8000"}, follow_redirects=False
    )
    assert own.status_code == 303
    assert browser.get("/auth/whoami").json()["role"] == "planner"
    assert_error_shape(browser.post("/login", data={"next": "/"}), 422, "key")


def test_first_start_writes_a_one_time_sign_in_link_never_the_key_to_the_log(
    city: City, tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with live_client(city, tmp_path, data_dir) as c:
        path = tmp_path / "login-url.txt"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        url = path.read_text().strip()
        assert url.startswith("http://127.0.0.1:8000/login?key=lst_")
        key = url.split("key=", 1)[1]
        assert key not in caplog.text  # the log says where the link is, not the link
        assert key[4:16] in caplog.text  # but names its id
        assert str(path) in caplog.text
        assert c.get("/events", headers={"X-API-Key": key}).status_code == 401  # not an API key
        browser = TestClient(c.app, base_url="http://127.0.0.1:8000")
        link = url.replace("http://127.0.0.1:8000", "")
        assert browser.get(link, headers=USER_OPENED, follow_redirects=False).status_code == 303
        assert browser.get("/alerts").status_code == 200  # the operator's viewer works
        # The link works once: a second browser (or the same one) cannot use it again.
        again = TestClient(c.app, base_url="http://127.0.0.1:8000")
        assert_error_shape(again.get(link, headers=USER_OPENED), 401)
        assert_error_shape(again.get(link), 401)
        assert again.get("/alerts").status_code == 401
        # The session has its own operator key, expiring with the session.
        ops = [k for k in c.app.state.auth.store.list_credentials() if k.role == "operator"]
        assert len(ops) == 1
        assert ops[0].expires_at is not None
        assert ops[0].expires_at - now_utc() <= timedelta(hours=c.app.state.settings.session_hours)
    with live_client(city, tmp_path, data_dir) as c:  # a restart while the session lives: no new link
        tickets = [k for k in c.app.state.auth.store.list_credentials() if k.role.startswith("login:")]
        assert len(tickets) == 1
        assert path.read_text().strip() == url


def test_an_unused_sign_in_link_expires(client: TestClient) -> None:
    store = client.app.state.auth.store
    text, rec = issue_ticket("operator", "old link", hours=1, now=now_utc() - timedelta(hours=2))
    store.submit_credential(rec).result(timeout=30)
    browser = TestClient(client.app, base_url="http://127.0.0.1:8000")
    r = browser.get("/login", params={"key": text}, headers=USER_OPENED)
    body = assert_error_shape(r, 401)
    assert "expired" in json.dumps(body)


def test_a_wrong_secret_says_nothing_of_the_key_state(client: TestClient) -> None:
    """Key-state oracle: a guessed secret for a revoked or expired key id is just "not known"."""
    store = client.app.state.auth.store
    revoked = key_headers(client.app, "operator")["X-API-Key"]
    parts = parse_key(revoked)
    assert parts is not None
    store.revoke_credential(parts.key_id, now_utc()).result(timeout=30)
    text, rec = issue("operator", expires_days=1, now=now_utc() - timedelta(days=2))
    store.submit_credential(rec).result(timeout=30)
    for real in (revoked, text):
        forged = real[:-5] + ("AAAAA" if not real.endswith("AAAAA") else "BBBBB")
        r = TestClient(client.app).get("/events", headers={"X-API-Key": forged})
        reason = assert_error_shape(r, 401)["detail"][0]["reason"]
        assert "revoked" not in reason
        assert "expired" not in reason
        assert "not known" in reason
        # The holder of the real secret is told why.
        r = TestClient(client.app).get("/events", headers={"X-API-Key": real})
        assert re.search("revoked|expired", assert_error_shape(r, 401)["detail"][0]["reason"])


def test_the_last_admin_key_cannot_be_revoked(client: TestClient) -> None:
    store = client.app.state.auth.store
    admins = [k for k in store.list_credentials() if k.role == "admin"]
    assert len(admins) == 1  # the test client's own
    last = admins[0].key_id
    body = assert_error_shape(client.post(f"/auth/keys/{last}/revoke"), 409, "key_id")
    assert "last active admin" in json.dumps(body)
    other = client.post("/auth/keys", json={"role": "admin", "label": "second admin"}).json()
    assert client.post(f"/auth/keys/{last}/revoke").json()["state"] == "revoked"
    alone = TestClient(client.app, headers={"X-API-Key": other["key"]})
    assert_error_shape(alone.post(f"/auth/keys/{other['key_id']}/revoke"), 409, "key_id")


def test_in_process_replayer_uses_its_own_gateway_and_reporter_keys(
    city: City, tmp_path: Path, data_dir: Path
) -> None:
    settings = Settings(state_dir=tmp_path, data=DataSettings(dir=data_dir), replay=True, replay_rate=50)
    app = create_app(settings)
    app.state.city = city
    with TestClient(app) as c:
        c.headers.update(key_headers(app))
        import time  # noqa: PLC0415

        deadline = time.monotonic() + 60
        while c.get("/stats").json()["ingest"]["events"] < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert c.get("/stats").json()["ingest"]["events"] >= 20
        roles = {k.role for k in app.state.auth.store.list_credentials() if "replayer" in k.label}
        assert roles == {"camera-gateway", "reporter"}
        kept = tmp_path / "replayer-keys.json"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_auth_off_only_when_asked(
    city: City, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().auth is True
    monkeypatch.setenv("TWIN_AUTH", "off")
    settings = Settings(state_dir=tmp_path, data=DataSettings(dir=data_dir), replay=False)
    assert settings.auth is False
    app = create_app(settings)
    app.state.city = city
    with TestClient(app) as c:
        assert c.get("/events").status_code == 200
        assert c.get("/auth/whoami").json()["via"] == "auth-off"


def test_cors_and_origin_rules_are_unchanged(client: TestClient) -> None:
    allowed = "http://127.0.0.1:8000"
    anon = TestClient(client.app)
    pre = anon.options("/events", headers={"Origin": allowed, "Access-Control-Request-Method": "GET",
                                            "Access-Control-Request-Headers": "x-api-key"})  # fmt: skip
    assert pre.headers["access-control-allow-origin"] == allowed
    assert "x-api-key" in pre.headers["access-control-allow-headers"].lower()
    # A 401 still carries the CORS answer an allowed page needs to read it; a foreign origin gets none.
    r = anon.get("/events", headers={"Origin": allowed})
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == allowed
    assert (
        "access-control-allow-origin"
        not in anon.get("/events", headers={"Origin": "https://evil.example"}).headers
    )


def test_admin_manages_keys_over_http(client: TestClient, connected: list[str]) -> None:
    made = client.post(
        "/auth/keys",
        json={"role": "camera-gateway", "label": "gateway Kỳ Lừa", "expires_days": 30,
              "cameras": [connected[0]]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    gw = {"X-API-Key": key}
    assert client.post("/events", json=event(5, connected[0]), headers=gw).status_code == 200
    listed = client.get("/auth/keys").json()
    assert key not in json.dumps(listed)
    assert any(k["key_id"] == made.json()["key_id"] and k["state"] == "active" for k in listed)
    assert_error_shape(client.post("/auth/keys", json={"role": "root"}), 422, "role")
    assert client.post(f"/auth/keys/{made.json()['key_id']}/revoke").json()["state"] == "revoked"
    assert client.post("/events", json=event(6, connected[0]), headers=gw).status_code == 401
    assert_error_shape(client.post("/auth/keys/000000000000/revoke"), 404)
    assert client.post("/admin/purge", json={"dry_run": True}).json()["dry_run"] is True


def test_keys_never_reach_the_access_log() -> None:
    key = issue("operator")[0]
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", f"/login?key={key}", "1.1", 303), None)  # fmt: skip
    assert RedactKeys().filter(record)
    assert key not in record.getMessage()
    assert key[:16] in record.getMessage()
