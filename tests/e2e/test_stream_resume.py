"""The viewer's live stream loses nothing when the connection drops: headless Chromium on the real app.

The page reaches the server through a relay (`Link`) that the test cuts, as a pulled cable would;
events posted while the page is away must reach it after it reconnects, once each and in order. What
the browser receives on its EventSource is read from Chromium itself (DevTools
``Network.eventSourceMessageReceived``), and what the viewer counted from ``window.__viewer``.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Link, Server, open_viewer

pytestmark = pytest.mark.browser


def _post(server: Server, event_id: str, camera_id: str) -> None:
    body = {
        "event_id": event_id, "camera_id": camera_id, "category": "congestion", "severity": "medium",
        "confidence": 0.9, "start_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    r = httpx.post(f"{server.url}/events", json=body, timeout=10, headers=server.headers)
    assert r.status_code == 200, r.text


def test_events_posted_while_the_page_was_away_arrive_once_in_order(
    chromium: Any, server: Server, link: Link
) -> None:
    server.require("POST /events", "GET /stream")
    p = open_viewer(chromium, link.url)
    try:
        page = p.page
        received: list[tuple[str, str]] = []  # (SSE type, event_id) as Chromium delivered them
        cdp = page.context.new_cdp_session(page)
        cdp.on(
            "Network.eventSourceMessageReceived",
            lambda m: received.append((m["eventName"], _event_id(m["data"]))),
        )
        cdp.send("Network.enable")
        page.wait_for_function("window.__viewer.stream.state === 'open'", timeout=30_000)
        camera = p.state("S.cameras[0].camera_id")
        stamp = int(time.time() * 1000)

        first = f"e2e-resume-{stamp}-first"
        _post(server, first, camera)  # seen live: the page now holds a message id to resume from
        page.wait_for_function(f"window.__viewer.stream.lastEventId === '{first}'", timeout=15_000)
        before = p.state("S.stream.received")

        link.cut()
        try:
            page.wait_for_function("window.__viewer.stream.state !== 'open'", timeout=30_000)
            away = [f"e2e-resume-{stamp}-away-{i}" for i in range(5)]
            for event_id in away:
                _post(server, event_id, camera)
        finally:
            link.restore()
        page.wait_for_function("window.__viewer.stream.state === 'open'", timeout=60_000)
        last = f"e2e-resume-{stamp}-last"
        _post(server, last, camera)
        page.wait_for_function(f"window.__viewer.stream.lastEventId === '{last}'", timeout=30_000)

        mine = [eid for kind, eid in received if kind == "event" and eid.startswith(f"e2e-resume-{stamp}")]
        assert mine[mine.index(first) + 1 :] == [*away, last]  # every one, once, in the order posted
        assert p.state("S.stream.received") - before == len(away) + 1
        assert all(p.state(f"S.history.events.some(e => e.id === '{eid}')") for eid in away)
    finally:
        p.page.context.close()


def _event_id(data: str) -> str:
    try:
        doc = json.loads(data)
    except ValueError:
        return ""
    props = doc.get("properties", doc) if isinstance(doc, dict) else {}
    return str(props.get("event_id", "")) if isinstance(props, dict) else ""
