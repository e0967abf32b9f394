"""Frigate-shaped messages through a real Mosquitto → `twin gateway` (own process) → a real twin."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.api.test_events_support import ThreadServer
from tests.support.auth import key_headers
from tests.support.cameras import FrigatePublisher
from tests.support.gateway import GatewayProcess, write_config
from tests.support.mosquitto import Broker


def frigate_source(broker: Broker, cams: list[str], name: str = "frigate-kl") -> str:
    """A Frigate source: two cameras, a crowding rule, a zone rule, a count threshold."""
    return f"""
[[sources]]
name = "{name}"
kind = "frigate"
broker = "{broker.address}"
cameras = {{ cho_ky_lua = "{cams[0]}", cau_ky_cung = "{cams[1]}" }}

[[sources.rules]]
what = "person"
category = "crowding"
severity = "low"

[[sources.rules]]
camera = "cau_ky_cung"
what = "car"
zone = "bridge*"
category = "congestion"

[[sources.counts]]
camera = "cho_ky_lua"
what = "person"
threshold = 3
category = "crowding"
"""


def stored(twin: ThreadServer | str, headers: dict[str, str], camera: str) -> dict[str, dict[str, object]]:
    """Return the twin's events of `camera` by id (all pages); `twin` a server or its URL."""
    base = twin if isinstance(twin, str) else twin.url
    out: dict[str, dict[str, object]] = {}
    cursor = None
    while True:
        params: dict[str, str | int] = {"camera": camera, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        r = httpx.get(f"{base}/events", params=params, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        doc = r.json()
        for f in doc["features"]:
            out[f["properties"]["event_id"]] = f["properties"]
        cursor = doc.get("next_cursor")
        if not cursor:
            return out


def test_frigate_events_and_counts_reach_the_twin(
    twin: ThreadServer, broker: Broker, connected: list[str], tmp_path: Path
) -> None:
    cams = connected[:2]
    key = key_headers(twin.app, "camera-gateway")["X-API-Key"]
    cfg = write_config(tmp_path / "gateway.toml", twin.url, frigate_source(broker, cams))
    gw = GatewayProcess(cfg, key).start()
    pub = FrigatePublisher(broker.address)
    try:
        gw.wait(lambda d: d["sources"][0]["state"] == "connected", what="broker connection")
        run = f"{int(time.time())}"
        for i in range(20):
            pub.tracked_object(f"{run}.{i:04d}-p", "cho_ky_lua", "person", updates=2)
        pub.tracked_object(f"{run}.9000-c", "cau_ky_cung", "car", zones=("bridge_north",))
        pub.tracked_object(f"{run}.9001-c", "cau_ky_cung", "car")  # no zone: no rule → not sent
        # bad input: never reaches the twin, counted by reason
        pub.publish("events", b"{not json")
        pub.publish("events", b'{"type": "new", "after": {"id": 5}}')
        pub.publish("events", b'{"type": "boom", "after": {}}')
        pub.publish("cho_ky_lua/person", b"many")
        pub.tracked_object(f"{run}.9002-x", "unknown_cam", "person")
        # a count over the threshold opens a crowding episode, below it ends it
        pub.publish("cho_ky_lua/person", b"5")
        pub.publish("cho_ky_lua/person", b"1")
        assert pub.wait_acked()
        doc = gw.wait(
            lambda d: d["queue"]["depth"] == 0 and d["twin"]["sent"] >= 20 * 4 + 3 + 2,
            what="everything forwarded",
        )
        src = doc["sources"][0]
        assert src["refused"]["malformed_payload"] == 4
        assert src["refused"]["unknown_camera"] == 3  # new, update, end of the unknown camera
        assert src["refused"]["unmapped"] == 3
        assert src["counts"]["cho_ky_lua/person"] == 1
        admin = key_headers(twin.app, "admin")
        people = stored(twin, admin, cams[0])
        for i in range(20):
            ev = people[f"frigate-kl-{run}.{i:04d}-p"]
            assert ev["category"] == "crowding"
            assert ev["lifecycle"] == "end"
            assert ev["end_time"]
        counts = [e for e in people.values() if str(e["event_id"]).startswith("frigate-kl-count-")]
        assert len(counts) == 1
        assert counts[0]["lifecycle"] == "end"
        assert counts[0]["attributes"]["count"] == 5
        cars = stored(twin, admin, cams[1])
        assert set(cars) == {f"frigate-kl-{run}.9000-c"}
        assert cars[f"frigate-kl-{run}.9000-c"]["category"] == "congestion"
        # heartbeats keep both cameras online
        gw.wait(lambda d: d["twin"]["heartbeats"] >= 2, what="heartbeats")
        r = httpx.get(f"{twin.url}/cameras", headers=admin, timeout=30)
        status = {f["properties"]["camera_id"]: f["properties"]["status"] for f in r.json()["features"]}
        assert status[cams[0]] == "online"
        assert status[cams[1]] == "online"
        assert doc["status"] == "ok", doc["problems"]
    finally:
        pub.close()
        gw.stop()
