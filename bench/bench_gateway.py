"""Camera gateway benchmark: Frigate-shaped MQTT → forwarder → the twin, ours against a plain forwarder.

Same run, same broker (a real Mosquitto started here), a fresh twin (uvicorn subprocess, SQLite,
auth on with a camera-gateway key) for each forwarder:

* **ours**: ``python -m api.gateway`` (paho MQTT 5 persistent session, QoS 1 with manual ack after the
  durable queue's COMMIT, the twin's own validation, batches to ``POST /events/batch``);
* **peer**: a plain paho forwarder, what one writes in an afternoon (``mosquitto_sub | curl`` in
  Python): QoS 1 subscription with automatic ack, JSON → event in memory, batches of ≤ 500 every
  20 ms to the same endpoint, a failed batch retried from memory; no disk, no validation, no health.

Figures, each for ours and the peer:

* throughput: ``BENCH_GATEWAY_OBJECTS`` Frigate tracked objects (new, update, end: 3 messages each)
  published as fast as a QoS 1 publisher can; messages/s = messages / (first publish → last one
  acknowledged by the twin, as the forwarder counts it), then every object checked on ``GET /events``
  (stored once by id, ended); for ours also the rate at which the gateway took the burst in (durably
  queued and acknowledged to the broker), which does not wait for the twin;
* latency: objects published at a paced ``BENCH_GATEWAY_RATE`` messages/s for ``BENCH_GATEWAY_PACED_S``;
  camera-to-stored = the twin's ``received_at`` of the object − the publisher's time of its ``new``;
* CPU: the forwarder process's CPU time per 1,000 messages of the burst (user + system, all its
  threads; it moves much less with other jobs' load than the rates do), and the rate one idle core
  would give at that cost;
* memory: the forwarder process's peak RSS (sampled every 0.1 s) over both phases.

``--outage S`` (or ``BENCH_GATEWAY_OUTAGE_S``): also kill -9 our twin under load and keep it away ``S``
seconds (60 is the issue's case), then start it again on the same store; counts lost and duplicated
objects by id and the time to drain. Run: ``flock /tmp/twin-heavy.lock .venv/bin/python -m
bench.bench_gateway [--outage 60]`` (≈ 2 min, +S).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import psutil
import tomli_w
from paho.mqtt.enums import CallbackAPIVersion

from bench.harness import Row, write_results
from tests.support.cameras import FrigatePublisher
from tests.support.gateway import GatewayProcess, write_config
from tests.support.mosquitto import Broker, mosquitto

if TYPE_CHECKING:
    from tests.support.servers import Server

# The peer runs in a spawned process that imports this module: the twin's modules (settings, store,
# city) are imported where they are used, so the peer's memory is its own, not ours.

OBJECTS = int(os.environ.get("BENCH_GATEWAY_OBJECTS", "4000"))
RATE = float(os.environ.get("BENCH_GATEWAY_RATE", "1000"))
PACED_S = float(os.environ.get("BENCH_GATEWAY_PACED_S", "6"))
FRIGATE_CAMERAS = ("cho_ky_lua", "cau_ky_cung", "nga_tu_bo_ho", "cua_khau_tan_thanh")


# --------------------------------------------------------------------------------------- the peer
def peer_forwarder(
    broker: str, twin_url: str, key: str, cameras: dict[str, str], sent: Any, ready: Any
) -> None:
    """The plain forwarder (runs in its own process): MQTT QoS 1 → memory → POST /events/batch."""
    pending: list[bytes] = []
    lock = threading.Lock()

    def on_message(client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            d = orjson.loads(msg.payload)
            a = d["after"]
            cam = cameras.get(a["camera"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if cam is None:
            return
        lifecycle = d["type"] if d["type"] in ("new", "update", "end") else "update"
        ev: dict[str, Any] = {
            "event_id": f"peer-{a['id']}", "camera_id": cam, "category": "crowding",
            "confidence": float(a.get("top_score") or 0.5), "lifecycle": lifecycle,
            "start_time": datetime.fromtimestamp(a["start_time"]).astimezone().isoformat(),
        }  # fmt: skip
        if lifecycle == "end" and a.get("end_time"):
            ev["end_time"] = datetime.fromtimestamp(a["end_time"]).astimezone().isoformat()
        with lock:
            pending.append(orjson.dumps(ev))

    host, port = broker.rsplit(":", 1)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="plain-forwarder", clean_session=True)
    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("frigate/events", 1)
    client.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
    client.connect(host, int(port))
    client.loop_start()
    http = httpx.Client(base_url=twin_url, headers={"x-api-key": key, "content-type": "application/json"},
                        timeout=10)  # fmt: skip
    batch: list[bytes] = []
    while True:
        if not batch:
            with lock:
                batch, pending[:] = pending[:500], pending[500:]
        if not batch:
            time.sleep(0.02)
            continue
        try:
            r = http.post("/events/batch", content=b'{"events":[' + b",".join(batch) + b"]}")
            if r.status_code == 200:
                with sent.get_lock():
                    sent.value += len(batch)
                batch = []
                continue
            print(f"peer: HTTP {r.status_code} {r.text[:300]}", file=sys.stderr, flush=True)
        except httpx.HTTPError as e:
            print(f"peer: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        time.sleep(1.0)  # retry the same batch from memory


# ------------------------------------------------------------------------------------------ helpers
class PeakRss:
    """Sample a process's RSS every 0.1 s in a thread; `peak_mb` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    def stop(self) -> float:
        """Stop sampling; return the peak in MB."""
        self._stop.set()
        self._t.join()
        return self.peak / 2**20


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (and its threads) so far."""
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def stored_by_id(twin: Server, prefix: str) -> dict[str, dict[str, Any]]:
    """Every event of the twin whose id starts with `prefix` (all cameras, all pages)."""
    out: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        doc = httpx.get(f"{twin.url}/events", params=params, headers=twin.headers, timeout=60).json()
        for f in doc["features"]:
            p = f["properties"]
            if str(p["event_id"]).startswith(prefix):
                out[p["event_id"]] = p
        cursor = doc.get("next_cursor")
        if not cursor:
            return out


def publish_burst(pub: FrigatePublisher, ids: list[str]) -> None:
    """Publish each object's life (new, update, end) as fast as the publisher goes."""
    for i, oid in enumerate(ids):
        pub.tracked_object(oid, FRIGATE_CAMERAS[i % len(FRIGATE_CAMERAS)], "person", updates=1)


def publish_paced(pub: FrigatePublisher, ids: list[str], rate: float) -> None:
    """Publish objects at `rate` messages/s (3 messages an object)."""
    t0 = time.perf_counter()
    for i, oid in enumerate(ids):
        due = t0 + 3 * i / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        pub.tracked_object(oid, FRIGATE_CAMERAS[i % len(FRIGATE_CAMERAS)], "person", updates=1)


def wait_count(count: Callable[[], int], n: int, timeout: float) -> float:
    """Wait until `count()` ≥ n; return the time it happened (perf_counter), raise on timeout.

    Polled every 0.1 s for both forwarders (ours answers on its /health, which costs it a little;
    the peer's is a shared counter): the times are good to 0.1 s.
    """
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if count() >= n:
            return time.perf_counter()
        time.sleep(0.1)
    raise RuntimeError(f"forwarded {count()} of {n} in {timeout} s")


def quantile(xs: list[float], p: float) -> float:
    """The p-quantile (nearest rank) of xs."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))]


def check(twin: Server, prefix: str, pub: FrigatePublisher, ids: list[str]) -> dict[str, Any]:
    """Stored once by id, ended; camera-to-stored latency of each object's ``new``.

    The ids of one phase share a stem (``<stamp><phase>``): events of that stem that were not
    published in it would be extra (none can be: one row per id).
    """
    got = stored_by_id(twin, prefix + ids[0][:11])
    handed = {oid for oid, lc in pub.handed_over.items() if oid in set(ids) and "end" in lc}
    want = {f"{prefix}{oid}" for oid in ids}
    lat = [
        datetime.fromisoformat(str(got[f"{prefix}{oid}"]["received_at"])).timestamp() - pub.published_at[oid]
        for oid in ids
        if f"{prefix}{oid}" in got
    ]
    return {
        "handed_over": len(handed),
        "stored": len(want & set(got)),
        "lost": len(want - set(got)),
        "extra": len(set(got) - want),
        "not_ended": sum(1 for k in want & set(got) if got[k]["lifecycle"] != "end"),
        "p50_ms": round(1000 * quantile(lat, 0.5), 1) if lat else None,
        "p99_ms": round(1000 * quantile(lat, 0.99), 1) if lat else None,
    }


# ------------------------------------------------------------------------------------------- a run
def run_one(which: str, broker: Broker, data_dir: Path, cams: dict[str, str], work: Path,
            outage_s: float) -> dict[str, Any]:  # fmt: skip
    """Run one forwarder through the burst and paced phases (and, for ours, the outage)."""
    from tests.support.auth import store_key  # noqa: PLC0415  (see the imports)
    from tests.support.servers import Server  # noqa: PLC0415

    state = work / f"twin-{which}"
    state.mkdir()
    key = store_key(state, "camera-gateway")
    twin = Server(state, data_dir).start()
    stamp = f"{int(time.time())}"
    pub = FrigatePublisher(broker.address)
    out: dict[str, Any] = {}
    try:
        if which == "ours":
            source = {"name": "bench", "kind": "frigate", "broker": broker.address, "cameras": cams,
                      "rules": [{"what": "person", "category": "crowding"}]}  # fmt: skip
            cfg = write_config(work / "gw.toml", twin.url, tomli_w.dumps({"sources": [source]}),
                               backoff=(0.2, 15))  # fmt: skip
            gw = GatewayProcess(cfg, key).start()
            gw.wait(lambda d: d["sources"][0]["state"] == "connected", what="connected")
            proc_pid = gw.proc.pid if gw.proc else 0
            prefix = "bench-"

            def sent() -> int:
                return int(gw.health()["twin"]["sent"])

            def queued() -> int:
                return int(gw.health()["queue"]["committed"])

            stop: Callable[[], None] = gw.stop
        else:
            ctx = mp.get_context("spawn")
            counter, ready = ctx.Value("q", 0), ctx.Event()
            peer = ctx.Process(
                target=peer_forwarder, args=(broker.address, twin.url, key, cams, counter, ready), daemon=True
            )
            peer.start()
            if not ready.wait(120):
                raise RuntimeError("the plain forwarder did not subscribe")
            proc_pid = peer.pid or 0
            prefix = "peer-"

            def sent() -> int:
                return int(counter.value)

            queued = sent  # it has no queue: what it holds is in memory

            def stop() -> None:
                peer.kill()
                peer.join(10)

        rss = PeakRss(proc_pid)
        try:
            # warm-up (imports, first connections), not counted
            warm = [f"{stamp}w{i:04d}" for i in range(200)]
            publish_burst(pub, warm)
            wait_count(sent, 3 * len(warm), 120)
            base = sent()
            # throughput: a burst
            ids = [f"{stamp}b{i:06d}" for i in range(OBJECTS)]
            qbase = queued()
            cpu0 = cpu_s(proc_pid)
            t0 = time.perf_counter()
            publish_burst(pub, ids)
            t_pub = time.perf_counter()
            tq = wait_count(lambda: queued() - qbase, 3 * len(ids), 600)
            t1 = wait_count(lambda: sent() - base, 3 * len(ids), 600)
            cpu_ms = 1000 * (cpu_s(proc_pid) - cpu0) / (3 * len(ids)) * 1000
            out["burst"] = {"messages": 3 * len(ids), "publish_s": round(t_pub - t0, 2),
                            "taken_in_msg_per_s": round(3 * len(ids) / (tq - t0), 1),
                            "cpu_ms_per_1000": round(cpu_ms, 1),
                            "one_core_msg_per_s": round(1e6 / cpu_ms, 0),
                            "wall_s": round(t1 - t0, 2), "msg_per_s": round(3 * len(ids) / (t1 - t0), 1),
                            **check(twin, prefix, pub, ids)}  # fmt: skip
            # latency: paced below the goal rate
            base = sent()
            paced = [f"{stamp}p{i:06d}" for i in range(int(RATE * PACED_S / 3))]
            publish_paced(pub, paced, RATE)
            wait_count(lambda: sent() - base, 3 * len(paced), 120)
            out["paced"] = {"rate": RATE, "messages": 3 * len(paced), **check(twin, prefix, pub, paced)}
            if which == "ours" and outage_s > 0:
                out["outage"] = outage(twin, pub, sent, stamp, prefix, outage_s)
        finally:
            out["peak_rss_mb"] = round(rss.stop(), 1)
            stop()
    finally:
        pub.close()
        twin.stop()
    return out


def outage(twin: Server, pub: FrigatePublisher, sent: Callable[[], int], stamp: str, prefix: str,
           outage_s: float) -> dict[str, Any]:  # fmt: skip
    """Kill -9 the twin under paced load, keep it away `outage_s`, start it again; count by id."""
    base = sent()
    ids = [f"{stamp}o{i:06d}" for i in range(int(RATE / 3 * min(outage_s, 30)))]
    th = threading.Thread(target=publish_paced, args=(pub, ids, RATE / 2), daemon=True)
    th.start()
    time.sleep(1.0)
    twin.kill()
    down = time.perf_counter()
    th.join()
    time.sleep(max(0.0, outage_s - (time.perf_counter() - down)))
    twin.start()
    back = time.perf_counter()
    t = wait_count(lambda: sent() - base, 3 * len(ids), 600)
    res = check(twin, prefix, pub, ids)
    res.pop("p50_ms")
    res.pop("p99_ms")
    return {"down_s": round(back - down, 1), "drain_s": round(t - back, 2), "messages": 3 * len(ids), **res}


def main(argv: list[str] | None = None) -> None:
    """Run ours and the peer; write bench/results/gateway.json."""
    ap = argparse.ArgumentParser(prog="python -m bench.bench_gateway")
    ap.add_argument("--outage", type=float, default=float(os.environ.get("BENCH_GATEWAY_OUTAGE_S", "0")))
    args = ap.parse_args(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    from api.cli.data import fetch_data  # noqa: PLC0415  (see the imports)
    from api.settings import Settings  # noqa: PLC0415
    from gis_data.city import build_city  # noqa: PLC0415

    settings = Settings()
    fetch_data(settings)
    city = build_city(settings.data.dir)
    connected = [str(c) for c in city.cameras.loc[city.cameras["connected"], "camera_id"]]
    cams = dict(zip(FRIGATE_CAMERAS, connected, strict=False))
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    res: dict[str, dict[str, Any]] = {}
    with mosquitto(work / "mosquitto") as broker:
        for which in ("peer", "ours"):
            (work / which).mkdir()
            res[which] = run_one(which, broker, settings.data.dir, cams, work / which, args.outage)
            print(which, orjson.dumps(res[which]).decode(), flush=True)
    o, p = res["ours"], res["peer"]
    common = {"objects": OBJECTS, "ours_detail": o, "peer_detail": p}
    rows = [
        Row("gateway MQTT → twin throughput (burst)", o["burst"]["msg_per_s"], "plain paho forwarder",
            p["burst"]["msg_per_s"], "messages/s", "higher", o["peak_rss_mb"], p["peak_rss_mb"], common),
        Row(f"gateway camera-to-stored p99 at {RATE:.0f} msg/s", o["paced"]["p99_ms"],
            "plain paho forwarder", p["paced"]["p99_ms"], "ms", "lower", o["peak_rss_mb"], p["peak_rss_mb"]),
        Row("gateway CPU per 1,000 messages", o["burst"]["cpu_ms_per_1000"], "plain paho forwarder",
            p["burst"]["cpu_ms_per_1000"], "ms", "lower"),
        Row("gateway peak RSS", o["peak_rss_mb"], "plain paho forwarder", p["peak_rss_mb"], "MB", "lower"),
    ]  # fmt: skip
    if "outage" in o:
        rows[0].extra["outage"] = {"seconds": args.outage, **o["outage"]}
    path = write_results("gateway", rows)
    for r in rows:
        print(f"{r.name}: ours {r.ours} vs {r.peer} {r.peer_value} {r.unit} (ratio {r.ratio:.2f})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
