"""SSE end to end on a real uvicorn: filtered delivery, stalled clients that never block ingest, and
resumption with ``Last-Event-ID`` read by an SSE client library no one here wrote (``httpx-sse``)."""

from __future__ import annotations

import json
import queue
import socket
import threading
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from api.services.bus import Bus, Message, StreamFilter
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


def _sse(
    url: str, headers: dict[str, str], out: queue.Queue[ServerSentEvent], messages: int, query: dict[str, str]
) -> None:
    """Read the stream with httpx-sse until `messages` messages with data came; then hang up."""
    got = 0
    params = {"types": "event", **query}
    with (
        httpx.Client(timeout=30) as c,
        connect_sse(c, "GET", f"{url}/stream", params=params, headers=headers) as source,
    ):
        for sse in source.iter_sse():
            out.put(sse)
            got += bool(sse.data)
            if got >= messages:
                return


def _start(
    url: str, headers: dict[str, str], messages: int, **query: str
) -> tuple[threading.Thread, queue.Queue[Any]]:
    out: queue.Queue[ServerSentEvent] = queue.Queue()
    t = threading.Thread(target=_sse, args=(url, headers, out, messages, query), daemon=True)
    t.start()
    return t, out


def _data_events(out: queue.Queue[ServerSentEvent], n: int) -> list[ServerSentEvent]:
    got = []
    while len(got) < n:
        sse = out.get(timeout=20)
        if sse.data:
            got.append(sse)
    return got


def test_a_client_that_reconnects_with_last_event_id_misses_nothing(
    server: ThreadServer, connected: list[str]
) -> None:
    base = _subscribers(server.url)
    cam = connected[0]
    t, out = _start(server.url, HEADERS, 1)
    first = out.get(timeout=20)
    assert first.retry == 3000  # the stream opens with its reconnection delay
    _post(f"{server.url}/events", json=event(1, cam, event_id="r-a")).raise_for_status()
    (a,) = _data_events(out, 1)
    assert (a.event, json.loads(a.data)["id"]) == ("event", "r-a")
    assert a.id
    t.join(timeout=20)
    _wait(lambda: _subscribers(server.url) == base)  # the client is away
    for i, eid in enumerate(("r-b", "r-c", "r-d"), 2):
        _post(f"{server.url}/events", json=event(i, cam, event_id=eid)).raise_for_status()
    # Back, with the id of the last message it saw (what an EventSource sends by itself).
    t, out = _start(server.url, {**HEADERS, "Last-Event-ID": a.id}, 4)
    missed = _data_events(out, 3)
    _post(f"{server.url}/events", json=event(5, cam, event_id="r-e")).raise_for_status()
    (live,) = _data_events(out, 1)
    got = [*missed, live]
    assert [json.loads(x.data)["id"] for x in got] == ["r-b", "r-c", "r-d", "r-e"]  # once, in order
    seqs = [int(x.id.rsplit("-", 1)[1]) for x in [a, *got]]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    t.join(timeout=20)
    _wait(lambda: _subscribers(server.url) == base)
    # The same through the query (a client that opens a new EventSource cannot set the header).
    _post(f"{server.url}/events", json=event(6, cam, event_id="r-f")).raise_for_status()
    t, out = _start(server.url, HEADERS, 2, last_event_id=live.id)
    (f,) = _data_events(out, 1)
    _post(f"{server.url}/events", json=event(7, cam, event_id="r-g")).raise_for_status()
    (g,) = _data_events(out, 1)
    assert [json.loads(x.data)["id"] for x in (f, g)] == ["r-f", "r-g"]
    t.join(timeout=20)
    _wait(lambda: _subscribers(server.url) == base)
    st = _get(f"{server.url}/stats").json()["stream"]
    assert st["resumed"] >= 1


def test_a_resumption_that_cannot_be_served_says_reload(server: ThreadServer) -> None:
    for headers in ({**HEADERS, "Last-Event-ID": "0a1b2c-7"}, {**HEADERS, "Last-Event-ID": "garbage"}):
        t, out = _start(server.url, headers, 1)
        (reload,) = _data_events(out, 1)
        assert reload.event == "reload"
        assert "restart" in json.loads(reload.data)["reason"]
        t.join(timeout=20)


def test_the_window_bounds_what_is_kept() -> None:
    bus = Bus(queue_size=10, window=3)
    everything = StreamFilter()
    bus.publish_many([Message("event", f'{{"n": {i}}}') for i in range(1, 6)])  # nobody listening
    kept = bus.subscribe(everything, f"{bus.run}-2")  # 3, 4, 5 are still kept
    chunk = kept.queue.get_nowait()[0].decode()
    assert [line for line in chunk.splitlines() if line.startswith("id:")] == [
        f"id: {bus.run}-{i}" for i in (3, 4, 5)
    ]
    gone = bus.subscribe(everything, f"{bus.run}-1")  # 2 fell out of the window
    assert "event: reload" in gone.queue.get_nowait()[0].decode()
    nothing_missed = bus.subscribe(everything, bus.last_id)
    assert nothing_missed.queue.empty()
    small = Bus(queue_size=2, window=10)
    small.publish_many([Message("event", "{}") for _ in range(5)])
    assert "more than 2" in small.subscribe(everything, f"{small.run}-1").queue.get_nowait()[0].decode()
    assert bus.stats()["reloads"] == 1
