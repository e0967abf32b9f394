"""SSE end to end on a real uvicorn: filtered delivery, and stalled clients that never block ingest."""

from __future__ import annotations

import json
import queue
import socket
import threading
from typing import Any

import httpx
import pytest

from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, connected, server)
from tests.api.test_events_support import ThreadServer
from tests.support.events import event

#: The module server's admin key header (set by `_auth`); every request here sends it.
HEADERS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _auth(server: ThreadServer) -> None:
    HEADERS.clear()
    HEADERS.update(server.headers)


def _post(url: str, **kw: Any) -> httpx.Response:
    return httpx.post(url, headers=HEADERS, **kw)


def _get(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url, headers=HEADERS, **kw)


def _subscribers(url: str) -> int:
    return int(httpx.get(f"{url}/stats", headers=HEADERS).json()["stream"]["subscribers"])


def _wait(cond: object, timeout: float = 20.0) -> None:
    import time  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _reader(
    url: str, params: dict[str, str], out: queue.Queue[tuple[str, str]], stop: threading.Event
) -> None:
    with httpx.stream("GET", f"{url}/stream", params=params, timeout=30, headers=HEADERS) as r:
        kind = ""
        for line in r.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                out.put((kind, line.split(":", 1)[1].strip()))


def test_stream_delivers_filtered_messages(server: ThreadServer, connected: list[str]) -> None:
    base = _subscribers(server.url)
    got: queue.Queue[tuple[str, str]] = queue.Queue()
    stop = threading.Event()
    t = threading.Thread(
        target=_reader, args=(server.url, {"category": "accident", "types": "event"}, got, stop), daemon=True
    )
    t.start()
    _wait(lambda: _subscribers(server.url) == base + 1)
    cam = connected[0]
    _post(f"{server.url}/events", json=event(1, cam, event_id="s-cong")).raise_for_status()
    _post(
        f"{server.url}/events", json=event(2, cam, event_id="s-acc", category="accident")
    ).raise_for_status()
    kind, data = got.get(timeout=20)
    feature = json.loads(data)
    assert kind == "event"
    assert feature["id"] == "s-acc"  # the congestion event was filtered out
    assert feature["properties"]["category"] == "accident"
    assert feature["geometry"]["type"] == "Point"
    stop.set()
    _post(f"{server.url}/events", json=event(3, cam, event_id="s-acc2", category="accident"))
    t.join(timeout=20)
    _wait(lambda: _subscribers(server.url) == base)  # the bus forgets a closed client


def test_stalled_clients_do_not_block_ingest(server: ThreadServer, connected: list[str]) -> None:
    base = _subscribers(server.url)
    socks = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port))
        key = server.headers["X-API-Key"]
        s.sendall(
            f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-API-Key: {key}\r\n\r\n".encode()
        )
        socks.append(s)  # never read from
    try:
        _wait(lambda: _subscribers(server.url) == base + 20)
        before = _get(f"{server.url}/stats").json()["stream"]["dropped"]
        evs = [event(100 + i, connected[i % 10], event_id=f"stall-{i}") for i in range(400)]
        for k in range(0, 400, 100):
            r = _post(f"{server.url}/events/batch", json={"events": evs[k : k + 100]}, timeout=30)
            assert r.status_code == 200
        st = _get(f"{server.url}/stats").json()["stream"]
        assert st["dropped"] > before  # overflow is dropped and counted, not waited for
        r = _post(f"{server.url}/events", json=event(999, connected[0], event_id="after-stall"), timeout=10)
        assert r.json()["status"] == "created"
    finally:
        for s in socks:
            s.close()
    _wait(lambda: _subscribers(server.url) == base)
