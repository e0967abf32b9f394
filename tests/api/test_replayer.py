"""The replayer: a realistic, labelled-synthetic stream through the public API (in-process and CLI)."""

from __future__ import annotations

import json
from datetime import datetime

import httpx
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli.base import app as cli
from api.replayer import KY_LUA, Camera, Replayer, category_weights
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected, server)
from tests.api.test_events_support import ThreadServer
from tests.support.auth import key_headers


def test_daily_patterns() -> None:
    corridor = Camera("c", "corridor", "05977", 106.75, 21.84)
    market = Camera("m", "market", KY_LUA, 106.76, 21.85)
    other_market = Camera("m2", "market", "05977", 106.76, 21.85)
    rush = datetime(2025, 6, 12, 7, 20)  # local time
    noon = datetime(2025, 6, 12, 12, 0)
    night = datetime(2025, 6, 12, 20, 30)
    assert category_weights(corridor, rush)["congestion"] > 5 * category_weights(corridor, noon)["congestion"]
    assert category_weights(market, night)["crowding"] > 5 * category_weights(market, noon)["crowding"]
    assert category_weights(market, night)["crowding"] > category_weights(other_market, night)["crowding"]
    assert (
        category_weights(market, datetime(2025, 6, 12, 2, 0))["illegal_dumping"]
        > category_weights(market, noon)["illegal_dumping"]
    )


def test_in_process_replay_is_labelled_and_lifecycled(client: TestClient) -> None:
    # As in `twin serve`: events and heartbeats as a camera gateway, citizen reports as a reporter.
    gateway = key_headers(client.app, "camera-gateway")
    # (only the service's own replayer keys may label reports synthetic: the label says which they are)
    reporter = key_headers(client.app, "reporter", "in-process replayer (reporter)")["X-API-Key"]

    async def play() -> dict[str, object]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://twin.internal", headers=gateway
        ) as c:
            rp = Replayer(c, rate=200, seed=7, report_share=0.2, heartbeat_s=0.5, report_key=reporter)
            await rp.run(duration=1.5)
            return rp.stats.as_dict()

    stats = client.portal.call(play)  # type: ignore[union-attr]
    assert stats["errors"] == 0
    assert set(stats["statuses"]) <= {"200", "201"}, stats
    assert stats["events"] > 0  # how many depends on the machine's load: not a speed test
    assert stats["reports"] > 0
    assert stats["heartbeats"] >= 40  # the connected cameras, at least once
    outcomes = stats["outcomes"]
    assert outcomes["created"] > 0
    assert outcomes["updated"] > 0  # new → update → end under one id
    fc = client.get("/events", params={"limit": 1000}).json()
    assert fc["provenance"]["synthetic"] is True
    assert all(f["properties"]["attributes"]["synthetic"] is True for f in fc["features"])
    assert all(f["properties"]["synthetic"] for f in fc["features"])
    assert {f["properties"]["lifecycle"] for f in fc["features"]} >= {"new", "end"}
    assert client.get("/cells").json()["provenance"]["synthetic"] is True
    reports = client.get("/open311/v2/requests.json").json()
    assert reports
    assert all(r["synthetic"] for r in reports)
    assert client.get("/cameras/summary").json()["online"] >= 40


def test_cli_replay_against_a_served_twin(server: ThreadServer) -> None:
    gateway = key_headers(server.app, "camera-gateway")["X-API-Key"]
    args = ["replay", "--rate", "30", "--duration", "2", "--url", server.url, "--key", gateway, "--json"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["events"] > 0  # how many depends on the machine's load: not a speed test
    assert summary["errors"] == 0
    assert set(summary["statuses"]) <= {"200", "201"}


def test_cli_replay_without_a_twin_says_what_to_do() -> None:
    r = CliRunner().invoke(cli, ["replay", "--duration", "1", "--url", "http://127.0.0.1:9"])
    assert r.exit_code == 2
    assert "twin serve" in r.output
