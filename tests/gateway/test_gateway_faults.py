"""Faults: the gateway killed -9 mid-stream, the broker restarted, the twin down for a minute; every
message a source handed over is stored exactly once (counted by id), in the order handed over.

Short here; ``bench/bench_gateway.py --outage 60`` runs the twin outage for a real 60 s under load."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from tests.api.test_events_support import ThreadServer
from tests.gateway.test_gateway_frigate import frigate_source, stored
from tests.support.auth import key_headers, store_key
from tests.support.cameras import FrigatePublisher
from tests.support.gateway import GatewayProcess, write_config
from tests.support.mosquitto import Broker
from tests.support.servers import Server

N = 400
#: The production backoff (0.2 s doubling to 15 s) retries 9 times in a 60 s outage; scaled by 1/10 it
#: retries as often in 6 s: the outage below is the 60 s one, fast-forwarded ten times.
FAST_FORWARD = 10
OUTAGE_S = 60 / FAST_FORWARD


def wait_stored(twin_url: str, headers: dict[str, str], camera: str, prefix: str, n: int,
                timeout: float = 90) -> dict[str, dict[str, object]]:  # fmt: skip
    """Poll the twin until `n` events with ids starting `prefix` are stored and ended; return them."""
    deadline = time.monotonic() + timeout
    got: dict[str, dict[str, object]] = {}
    while time.monotonic() < deadline:
        got = {k: v for k, v in stored(twin_url, headers, camera).items() if k.startswith(prefix)}
        if len(got) >= n and all(v["lifecycle"] == "end" for v in got.values()):
            break
        time.sleep(0.5)
    return got


def assert_exactly_once(pub: FrigatePublisher, ids: list[str], got: dict[str, dict[str, object]],
                        source: str) -> None:  # fmt: skip
    """Every object the broker acknowledged whole is stored once, ended; nothing else is."""
    assert {oid for oid, lc in pub.handed_over.items() if "end" in lc} == set(ids)
    assert set(got) == {f"{source}-{oid}" for oid in ids}  # none lost, none extra: one row per id
    assert all(v["lifecycle"] == "end" for v in got.values())


@contextmanager
def frigate_run(
    twin_url: str, key: str, broker: Broker, cams: list[str], tmp_path: Path, name: str,
    backoff: tuple[float, float] = (0.1, 1.0),
) -> Iterator[tuple[GatewayProcess, FrigatePublisher, list[str]]]:  # fmt: skip
    """A gateway process on a Frigate source, connected; a publisher; the N object ids to publish."""
    cfg = write_config(tmp_path / "gw.toml", twin_url, frigate_source(broker, cams, name=name),
                       backoff=backoff)  # fmt: skip
    gw = GatewayProcess(cfg, key).start()
    pub = FrigatePublisher(broker.address)
    try:
        gw.wait(lambda d: d["sources"][0]["state"] == "connected", what="connected")
        yield gw, pub, [f"{int(time.time())}.{i:05d}" for i in range(N)]
    finally:
        pub.close()
        gw.stop()


def publish(pub: FrigatePublisher, ids: list[str]) -> None:
    """Publish the whole life (new, update, end) of each object."""
    for oid in ids:
        pub.tracked_object(oid, "cho_ky_lua", "person", updates=1)


def test_gateway_kill9_and_broker_restart_lose_nothing(
    twin: ThreadServer, broker: Broker, connected: list[str], tmp_path: Path
) -> None:
    """Kill -9 with messages queued and unsent and others unacknowledged, then a broker restart."""
    key, cams = key_headers(twin.app, "camera-gateway")["X-API-Key"], connected[4:6]
    with frigate_run(twin.url, key, broker, cams, tmp_path, "fault") as (gw, pub, ids):
        publish(pub, ids[: N // 2])
        gw.wait(lambda d: d["queue"]["committed"] > 50, what="some messages queued")
        gw.kill()  # mid-stream: some queued and unsent, some unacknowledged at the broker
        publish(pub, ids[N // 2 : 3 * N // 4])  # the broker keeps them for the gateway's session
        gw.start()
        broker.restart(down_s=1.0)  # with unacknowledged messages for the gateway in its session
        publish(pub, ids[3 * N // 4 :])
        assert pub.wait_acked(60)
        got = wait_stored(twin.url, key_headers(twin.app, "admin"), cams[0], f"fault-{ids[0][:10]}", N)
        assert_exactly_once(pub, ids, got, "fault")


def test_broker_restart_loses_no_acknowledged_event(
    twin: ThreadServer, broker: Broker, connected: list[str], tmp_path: Path
) -> None:
    """QoS 1 into a persistent session: what the broker acknowledged survives its restart."""
    cams = connected[4:6]
    key = key_headers(twin.app, "camera-gateway")["X-API-Key"]
    with frigate_run(twin.url, key, broker, cams, tmp_path, "brk") as (gw, pub, ids):
        publish(pub, ids[: N // 2])
        broker.restart(down_s=1.0)  # SIGTERM: the broker saves sessions and queued messages
        publish(pub, ids[N // 2 :])  # while the gateway reconnects: queued for its session
        assert pub.wait_acked(60)
        gw.wait(lambda d: d["sources"][0]["last_error"] is not None, what="the gateway saw the restart")
        got = wait_stored(twin.url, key_headers(twin.app, "admin"), cams[0], f"brk-{ids[0][:10]}", N)
        assert_exactly_once(pub, ids, got, "brk")


def test_twin_down_a_minute_gateway_queues_and_delivers_in_order_once(
    broker: Broker, connected: list[str], tmp_path: Path, data_dir: Path
) -> None:
    """The twin killed -9 under load, away for 60 s (fast-forwarded), back on the same store and port."""
    cams = connected[4:6]
    state = tmp_path / "twin"
    state.mkdir()
    key = store_key(state, "camera-gateway")
    twin = Server(state, data_dir).start()
    backoff = (0.2 / FAST_FORWARD, 15 / FAST_FORWARD)
    try:
        with frigate_run(twin.url, key, broker, cams, tmp_path, "out", backoff) as (gw, pub, ids):
            publish(pub, ids[: N // 4])
            gw.wait(lambda d: d["twin"]["sent"] > 30, what="some delivered")
            twin.kill()  # under load: batches in flight, more arriving
            down_at = time.monotonic()
            publish(pub, ids[N // 4 :])
            assert pub.wait_acked(60)
            doc = gw.wait(lambda d: d["queue"]["committed"] >= 3 * N and d["twin"]["state"] == "down",
                          what="everything queued while the twin is away")  # fmt: skip
            assert doc["status"] == "degraded"
            assert "twin link is down" in doc["problems"]
            assert doc["queue"]["depth"] > 0
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
            retries_while_down = gw.health()["twin"]["retries"]
            twin.start()  # same store, same port
            got = wait_stored(twin.url, twin.headers, cams[0], f"out-{ids[0][:10]}", N)
            assert_exactly_once(pub, ids, got, "out")
            # in order: the twin first received each object in the order the source handed it over
            received = [datetime.fromisoformat(str(got[f"out-{oid}"]["received_at"])) for oid in ids]
            assert received == sorted(received)
            doc = gw.wait(lambda d: d["queue"]["depth"] == 0 and d["status"] == "ok", what="drained")
            assert doc["twin"]["dead_letters"] == 0
            assert retries_while_down >= 3  # it kept trying (with backoff) while the twin was away
    finally:
        twin.stop()
