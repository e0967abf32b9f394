"""Keys bound to cameras: a camera-gateway key speaks only for the cameras it names (issue 15/18).

An attacker holding one site's key must not be able to post events or heartbeats for the other
cameras of the city; each stored event records the key that sent it, from the credentials.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.auth.keys import issue
from api.cli.base import app as cli
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape
from tests.support.events import event


def _gateway(client: TestClient, cameras: list[str]) -> tuple[str, dict[str, str]]:
    made = client.post("/auth/keys", json={"role": "camera-gateway", "label": "site", "cameras": cameras})
    assert made.status_code == 201, made.text
    assert made.json()["cameras"] == sorted(cameras)
    return made.json()["key_id"], {"X-API-Key": made.json()["key"]}


def test_a_gateway_key_must_name_cameras_that_exist(client: TestClient, connected: list[str]) -> None:
    missing = client.post("/auth/keys", json={"role": "camera-gateway", "label": "site"})
    body = assert_error_shape(missing, 422, "cameras")
    assert '"*"' in body["hint"]
    assert_error_shape(
        client.post("/auth/keys", json={"role": "camera-gateway", "cameras": ["LS-CAM-NOPE"]}),
        422,
        "cameras",
    )
    assert_error_shape(
        client.post("/auth/keys", json={"role": "operator", "cameras": [connected[0]]}), 422, "cameras"
    )
    key_id, _ = _gateway(client, [connected[0], connected[1]])
    listed = next(k for k in client.get("/auth/keys").json() if k["key_id"] == key_id)
    assert listed["cameras"] == sorted([connected[0], connected[1]])


def test_a_bound_key_speaks_for_its_cameras_only(client: TestClient, connected: list[str]) -> None:
    mine, other = connected[0], connected[1]
    key_id, gw = _gateway(client, [mine])
    ok = client.post("/events", json=event(1, mine), headers=gw)
    assert ok.status_code == 200, ok.text
    # Who sent it comes from the key, and an operator sees it.
    got = client.get(f"/events/{event(1, mine)['event_id']}").json()
    assert got["properties"]["sent_by"] == key_id
    # Another camera: 403 naming the field; nothing stored.
    refused = client.post("/events", json=event(2, other), headers=gw)
    body = assert_error_shape(refused, 403, "camera_id")
    assert other in body["detail"][0]["reason"]
    assert client.get(f"/events/{event(2, other)['event_id']}").status_code == 404
    # One foreign camera refuses the whole batch, before anything is stored.
    batch = {"events": [event(3, mine), event(4, other)]}
    assert_error_shape(client.post("/events/batch", json=batch, headers=gw), 403, "events.1.camera_id")
    assert client.get(f"/events/{event(3, mine)['event_id']}").status_code == 404
    # Heartbeats too.
    assert client.post(f"/cameras/{mine}/heartbeat", headers=gw).status_code == 200
    assert_error_shape(client.post(f"/cameras/{other}/heartbeat", headers=gw), 403, "camera_id")


def test_a_key_for_every_camera_and_an_unbound_old_key(client: TestClient, connected: list[str]) -> None:
    _, every = _gateway(client, ["*"])
    for i, cam in enumerate(connected[:3]):
        assert client.post("/events", json=event(10 + i, cam), headers=every).status_code == 200
    # A camera-gateway key created before keys named their cameras speaks for none, and says why.
    text, rec = issue("camera-gateway", "old site")
    client.app.state.auth.store.submit_credential(rec).result(timeout=30)
    old = {"X-API-Key": text}
    body = assert_error_shape(
        client.post("/events", json=event(20, connected[0]), headers=old), 403, "camera_id"
    )
    assert "--cameras" in body["hint"]


def test_cli_creates_bound_gateway_keys(
    client: TestClient, connected: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_STATE_DIR", str(tmp_path))  # the client's service keeps its store there
    monkeypatch.delenv("TWIN_STORE_DSN", raising=False)
    runner = CliRunner()
    unbound = runner.invoke(cli, ["keys", "create", "--role", "camera-gateway"])
    assert unbound.exit_code != 0
    assert "cameras" in unbound.output
    made = runner.invoke(
        cli, ["keys", "create", "--role", "camera-gateway", "--cameras", connected[0], "--json"]
    )
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout.strip().splitlines()[-1])
    assert key["cameras"] == [connected[0]]
    gw = {"X-API-Key": key["key"]}
    assert client.post("/events", json=event(30, connected[0]), headers=gw).status_code == 200
    assert client.post("/events", json=event(31, connected[1]), headers=gw).status_code == 403
    listed = runner.invoke(cli, ["keys", "list"])
    assert f"cameras: {connected[0]}" in listed.output
