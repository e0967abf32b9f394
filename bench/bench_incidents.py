"""Benchmark: the incident list API with 10,000 open incidents (goal: p99 < 100 ms).

* **ours**: ``GET /incidents`` of the real app (auth with an operator key, filters, labels, overdue
  flags, GeoJSON), through uvicorn on loopback, SQLite store, 10,000 open incidents seeded through
  `Store.submit_occurrence` (synthetic: random cells over the city, 20 categories x 4 wards).
* **peer**: the floor: the same rows read by one SQL query on the same SQLite file and serialised
  with orjson, no HTTP (what any list endpoint pays at least).

Both run in the same process run, sequentially, after a warm-up; the figures are p50/p99 of `n`
requests. Run: ``flock /tmp/twin-heavy.lock .venv/bin/python -m bench.bench_incidents [--n 200]``.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from api.auth.keys import create_key
from api.store import default_dsn, open_store
from api.store.incidents import INCIDENT_COLS, IncidentRecord
from bench.harness import Row, write_results

WARDS = ("05977", "05983", "05986", "06187")
CATS = ("congestion_cluster", "camera_silent", "illegal_dumping", "road_damage", "traffic_safety")


def seed(state: Path, n: int) -> str:
    """Write `n` open incidents and an operator key into the store under `state`; return the key."""
    store = open_store(default_dsn(state))
    rng = random.Random(16)
    now = datetime.now(UTC)
    futs = []
    for i in range(n):
        t = now - timedelta(seconds=rng.randint(0, 6 * 3600))
        cat = CATS[i % len(CATS)]
        futs.append(
            store.submit_occurrence(
                IncidentRecord(
                    incident_id=f"IN-bench-{i:06d}", kind="alert", category=cat, group_key=f"bench:{i}",
                    status="assigned", severity="high", title_vi="Ùn tắc (tổng hợp)",
                    title_en="Congestion (synthetic)",
                    count=1, first_at=t, last_at=t, created_at=t, updated_at=t,
                    lon=106.73 + rng.random() * 0.05, lat=21.82 + rng.random() * 0.05, cell=None,
                    ward_code=WARDS[i % 4], street="Quốc lộ 1A", unit_id="csgt-tinh",
                    due_at=t + timedelta(minutes=30), sources=(f"alert:AL-bench-{i}",),
                    details={"synthetic": True},
                ),
                t - timedelta(hours=1),
            )
        )  # fmt: skip
    for f in futs:
        f.result(timeout=120)
    key, _ = create_key(store, "operator", "bench")
    store.close()
    return key


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(xs: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of `xs` (nearest rank)."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def main() -> None:
    """Seed, serve, time both, write bench/results/incidents.json."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--incidents", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=200, help="requests per measured row")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-incidents-"))
    state = tmp / "state"
    key = seed(state, args.incidents)
    port = free_port()
    env = {**os.environ, "TWIN_STATE_DIR": str(state), "TWIN_REPLAY": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"], env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    rows: list[Row] = []
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as c:
            for _ in range(600):
                try:
                    if c.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            cases: dict[str, dict[str, str | int]] = {
                "page of 500 (default)": {"open": "true"},
                "all 10,000": {"open": "true", "limit": 10000},
            }
            db = sqlite3.connect(state / "events.sqlite3")
            for label, params in cases.items():
                assert len(c.get("/incidents", params=params).json()["features"]) == min(
                    int(params.get("limit", 500)), args.incidents
                )
                ours: list[float] = []
                for _ in range(args.n):
                    t0 = time.perf_counter()
                    resp = c.get("/incidents", params=params)
                    ours.append((time.perf_counter() - t0) * 1000)
                    assert resp.status_code == 200
                limit = int(params.get("limit", 500))
                peer: list[float] = []
                # The same statement the store runs (api/store/incidents.py `list_incidents`).
                sql = f"SELECT {INCIDENT_COLS} FROM incidents WHERE status || '' IN ('new','acknowledged','assigned','in_progress') ORDER BY last_us DESC, incident_id DESC LIMIT ?"  # noqa: E501
                for _ in range(args.n):
                    t0 = time.perf_counter()
                    orjson.dumps(db.execute(sql, (limit,)).fetchall())
                    peer.append((time.perf_counter() - t0) * 1000)
                for q in (0.5, 0.99):
                    rows.append(Row(
                        name=f"GET /incidents, {args.incidents:,} open, {label}: p{int(q * 100)}",
                        ours=round(pct(ours, q), 2), peer="SQL query + orjson (no HTTP)",
                        peer_value=round(pct(peer, q), 2), unit="ms", better="lower",
                        extra={"requests": args.n, "mean_ours_ms": round(statistics.mean(ours), 2),
                               "synthetic": True, "store": "sqlite", "goal": "p99 < 100 ms"},
                    ))  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    path = write_results("incidents", rows)
    for row in rows:
        print(f"{row.name}: ours {row.ours} ms, peer {row.peer_value} ms")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
