"""Failover of a cluster: two instances on one PostgreSQL behind HAProxy, kill -9 one under load.

Per round: 4 client threads post events (singles and batches of 50) through HAProxy and 20 SSE clients
read ``/stream`` through it (reconnecting with ``Last-Event-ID`` when their connection drops, as a
browser's EventSource does); after a second of load one instance (alternately a and b) is killed
with SIGKILL, the load goes on for `SWITCH_S`, then the instance is started again (same port, HAProxy
takes it back) before the next round. Measured:

- acknowledged events lost: every event answered ``created`` must be in the store (0 is the goal);
- the p99 and the errors of the requests sent while the switch lasts (from the kill to `SWITCH_S`
  after it; a request in flight on the killed instance fails and is not acknowledged);
- SSE: events acknowledged while a client was connected (before the kill and after its reconnection)
  that it did not receive, and events acknowledged while it was reconnecting that it never got (what a
  replay from ``Last-Event-ID`` would have to fill in);
- alerts: congestion alerts raised twice for one cell within the rule window (0 is the goal).

Run: ``python -m bench.bench_cluster`` (20 rounds) or ``--quick`` (3 rounds); rows are merged into
``bench/results/reliability.json`` (``make reliability`` runs it after the single-instance phases).
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.cli.data import fetch_data
from api.settings import Settings
from bench.harness import RESULTS, Row
from gis_data.city import build_city
from tests.support.cluster import Cluster, SseReader, cluster, wait_for
from tests.support.events import event

GOAL = "goal (issue 20)"
#: Seconds of load after each kill before the killed instance comes back.
SWITCH_S = 4.0
#: SSE clients.
N_SSE = 20


def _load(c: Cluster, cams: list[str], tag: str, stop: threading.Event, out: dict[str, Any]) -> None:
    """Post from 4 threads until `stop`; record acknowledged ids and (send time, latency, status)."""
    lock = threading.Lock()

    def worker(w: int) -> None:
        rng = random.Random(w)
        i = 0
        with httpx.Client(base_url=c.url, timeout=10, headers=c.headers) as client:
            while not stop.is_set():
                i += 1
                t0 = time.monotonic()
                status = "reset"
                acked: list[str] = []
                try:
                    if rng.random() < 0.3:
                        evs = [event(k, rng.choice(cams), category="other", event_id=f"{tag}-{w}-{i}-{k}")
                               for k in range(50)]  # fmt: skip
                        r = client.post("/events/batch", json={"events": evs})
                        status = str(r.status_code)
                        if r.status_code == 200:
                            acked = [x["event_id"] for x in r.json()["results"] if x["status"] == "created"]
                    else:
                        ev = event(i, rng.choice(cams), category="other", event_id=f"{tag}-{w}-{i}")
                        r = client.post("/events", json=ev)
                        status = str(r.status_code)
                        if r.status_code == 200 and r.json()["status"] == "created":
                            acked = [ev["event_id"]]
                except httpx.HTTPError:
                    pass
                t1 = time.monotonic()
                with lock:
                    out["requests"].append((t0, (t1 - t0) * 1000, status))
                    for a in acked:
                        out["acked"][a] = t1

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(timeout=30)


def _p99(xs: list[float]) -> float:
    if not xs:
        return 0.0
    ys = sorted(xs)
    return round(ys[min(len(ys) - 1, int(0.99 * len(ys)))], 1)


def failover(c: Cluster, cams: list[str], rounds: int) -> dict[str, Any]:
    """Run the kill -9 rounds on a running cluster; return the figures."""
    readers = [SseReader(f"{c.url}/stream?types=event", c.headers, resume=True) for _ in range(N_SSE)]
    for r in readers:
        r.connected.wait(30)
    per_round: list[dict[str, Any]] = []
    all_acked: dict[str, float] = {}
    try:
        for rnd in range(rounds):
            victim = c.instances[rnd % len(c.instances)]
            out: dict[str, Any] = {"requests": [], "acked": {}}
            stop = threading.Event()
            loader = threading.Thread(target=_load, args=(c, cams, f"f{rnd}", stop, out), daemon=True)
            before = [len(r.ids()) for r in readers]
            loader.start()
            time.sleep(1.0)
            kill_at = time.monotonic()
            victim.kill()
            time.sleep(SWITCH_S)
            stop.set()
            loader.join(timeout=60)
            time.sleep(1.0)  # let the streams drain
            switch = [ms for t0, ms, _ in out["requests"] if kill_at <= t0 <= kill_at + SWITCH_S]
            errors = [s for t0, _, s in out["requests"] if kill_at <= t0 <= kill_at + SWITCH_S and s != "200"]
            acked = set(out["acked"])
            all_acked.update(out["acked"])
            missed = [len(acked - set(r.ids()[b:])) for r, b in zip(readers, before, strict=True)]
            victim.start(timeout=300)
            wait_for(lambda v=victim: _bus_up(v), "the restarted instance's bus")
            per_round.append({
                "round": rnd, "killed": victim.extra_env.get("TWIN_CLUSTER_NAME"),
                "requests": len(out["requests"]), "acked": len(acked),
                "switch_requests": len(switch), "switch_p99_ms": _p99(switch), "switch_errors": len(errors),
                "sse_missed_max": max(missed), "sse_missed_total": sum(missed),
            })  # fmt: skip
            print(f"round {rnd}: {per_round[-1]}", flush=True)
    finally:
        for r in readers:
            r.close()
    with psycopg.connect(c.dsn) as conn:
        stored = {row[0] for row in conn.execute("SELECT event_id FROM events WHERE event_id LIKE 'f%'")}
        dup = conn.execute(
            "SELECT count(*) FROM (SELECT a.alert_id FROM alerts a JOIN alerts b ON a.rule = b.rule "
            "AND a.key = b.key AND a.alert_id < b.alert_id AND abs(a.created_us - b.created_us) < 600e6 "
            "WHERE a.rule = 'congestion_cluster') d"
        ).fetchone()
    return {
        "rounds": rounds,
        "lost": len(set(all_acked) - stored),
        "acked": len(all_acked),
        "switch_p99_ms": max(r["switch_p99_ms"] for r in per_round),
        "switch_errors": sum(r["switch_errors"] for r in per_round),
        "sse_missed_max": max(r["sse_missed_max"] for r in per_round),
        "sse_reconnects": sum(r.reconnects for r in readers),
        "duplicate_alerts": int(dup[0]) if dup else 0,
        "per_round": per_round,
    }


def _bus_up(s: Any) -> bool:
    try:
        h = httpx.get(f"{s.url}/health", timeout=5).json()
    except httpx.HTTPError:
        return False
    return bool(h.get("cluster", {}).get("stream", {}).get("state") == "connected")


def rows_for(f: dict[str, Any]) -> list[Row]:
    """Turn the failover figures into harness rows (measured vs goal)."""
    name = f"[cluster 2×postgresql] kill -9 x{f['rounds']}"
    return [
        Row(f"{name}: acknowledged events lost", f["lost"], GOAL, 0, "events", "lower", extra=f),
        Row(f"{name}: p99 during the switch", f["switch_p99_ms"], GOAL, 1000, "ms", "lower"),
        Row(f"{name}: failed requests during the switch", f["switch_errors"], GOAL, 0, "requests", "lower"),
        Row(
            f"{name}: SSE events missed (worst client, round)",
            f["sse_missed_max"],
            GOAL,
            0,
            "events",
            "lower",
        ),
        Row(f"{name}: duplicate alerts", f["duplicate_alerts"], GOAL, 0, "alerts", "lower"),
    ]


def merge(rows: list[Row], path: Path = RESULTS / "reliability.json") -> Path:
    """Replace the cluster rows of `path` with `rows` (the single-instance rows stay)."""
    kept = (
        [r for r in json.loads(path.read_text()) if not r["name"].startswith("[cluster")]
        if path.exists()
        else []
    )
    path.write_text(json.dumps(kept + [r.to_dict() for r in rows], indent=2, ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    """Run the failover rounds; merge the rows into bench/results/reliability.json."""
    ap = argparse.ArgumentParser(prog="python -m bench.bench_cluster", description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=None, help="kill -9 rounds (default 20; --quick 3)")
    ap.add_argument("--quick", action="store_true", help="3 rounds (a smoke run)")
    args = ap.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 20)
    settings = Settings()
    fetch_data(settings)
    city = build_city(settings.data.dir)
    cams = [str(x) for x in city.cameras.loc[city.cameras["connected"], "camera_id"]][:20]
    with cluster(settings.data.dir, 2, {"TWIN_LIVE_TICK_S": "1"}) as c:
        figures = failover(c, cams, rounds)
    rows = rows_for(figures)
    path = merge(rows)
    for r in rows:
        print(f"{r.name:70s} {r.ours:>10.4g} {r.unit:10s} goal {r.peer_value:g} ({r.better})")
    print(f"merged into {path}")


if __name__ == "__main__":
    main()
