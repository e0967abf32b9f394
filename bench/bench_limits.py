"""Cost-based limits: does anonymous load on expensive reads hurt a camera gateway's ingest?

A real `twin serve` (uvicorn, one worker, SQLite, auth on, replayer off) on loopback. One gateway
sends single events back to back (`POST /events`, one connection) and we record each request's
latency, first alone, then while 8 anonymous clients (another process, one connection each) ask as
fast as they can for display variants of the roads layer with a random ``simplify`` (as the attack of
issue 18) and a random ``bbox`` (so that no cache can help). Rows:

- ``before``: the same server with the cost bucket switched off (``TWIN_LIMIT_COST_RATE_MS`` huge),
  which is how it behaved before this work (apart from the ``simplify`` steps, see the README);
- ``ours``: the defaults (300 ms of server time per second per anonymous client, burst 5 s).

Run: ``flock /tmp/twin-heavy.lock .venv/bin/python -m bench.run_all limits`` (about 2 minutes).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from api.auth.keys import create_key
from api.store import default_dsn, open_store
from bench.harness import Row, write_results

N_EVENTS = 600
N_ATTACKERS = 8
#: Huge: no anonymous client ever goes into debt (the behaviour before the cost bucket).
OFF = "1e12"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(state: Path, port: int, cost_rate: str | None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TWIN_STATE_DIR": str(state), "TWIN_REPLAY": "false", "TWIN_STATUS_LOG_S": "0"}
    env.pop("TWIN_LIMIT_COST_RATE_MS", None)
    if cost_rate is not None:
        env["TWIN_LIMIT_COST_RATE_MS"] = cost_rate
    cmd = [str(Path(sys.executable).with_name("twin")), "serve", "--port", str(port), "--no-replay"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the service did not start within 120 s")


async def _attack(url: str, seconds: float, seed: int) -> Counter[int]:
    rng = random.Random(seed)
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        while time.monotonic() < deadline:
            w = 106.70 + rng.random() * 0.05
            params = {"simplify": f"{rng.uniform(1, 50):.3f}", "bbox": f"{w:.5f},21.80,{w + 0.05:.5f},21.88"}
            r = await c.get("/layers/roads", params=params)
            statuses[r.status_code] += 1
            if r.status_code == 429:
                await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 2.0))
    return statuses


def _attackers(url: str, seconds: float, out: Any) -> None:
    async def run() -> list[Counter[int]]:
        return await asyncio.gather(*(_attack(url, seconds, i) for i in range(N_ATTACKERS)))

    total: Counter[int] = Counter()
    for c in asyncio.run(run()):
        total.update(c)
    out.put(dict(total))


def _ingest(url: str, key: str, camera: str, n: int, tag: str) -> list[float]:
    out = []
    now = time.time()
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as c:
        for i in range(n):
            start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
            body = {"event_id": f"b-{tag}-{i}", "camera_id": camera, "category": "congestion",
                    "confidence": 0.9, "start_time": start}  # fmt: skip
            t0 = time.perf_counter()
            r = c.post("/events", json=body)
            out.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"ingest refused: {r.status_code} {r.text[:200]}")
    return out


def _pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] if len(xs) > 1 else xs[0]


def _measure(cost_rate: str | None, label: str) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix=f"bench-limits-{label}-"))
    store = open_store(default_dsn(state))
    key, _ = create_key(store, "camera-gateway", "bench", cameras=["*"])
    store.close()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(state, port, cost_rate)
    try:
        cams = httpx.get(f"{url}/layers/cameras", timeout=30).json()["features"]
        camera = next(f["properties"]["camera_id"] for f in cams if f["properties"].get("connected"))
        _ingest(url, key, camera, 50, f"{label}-warm")
        alone = _ingest(url, key, camera, N_EVENTS, f"{label}-alone")
        q: Any = mp.get_context("spawn").Queue()
        seconds = 10 + N_EVENTS * 0.1
        attackers = mp.get_context("spawn").Process(target=_attackers, args=(url, seconds, q))
        attackers.start()
        time.sleep(3)  # let the attack ramp up (and the cost buckets empty)
        loaded = _ingest(url, key, camera, N_EVENTS, f"{label}-loaded")
        statuses = q.get(timeout=seconds + 60)
        attackers.join(timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "alone_p50": _pct(alone, 50),
        "alone_p99": _pct(alone, 99),
        "loaded_p50": _pct(loaded, 50),
        "loaded_p99": _pct(loaded, 99),
        "attack_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "attack_seconds": seconds,
    }


def main() -> None:
    """Measure and write bench/results/limits.json."""
    before = _measure(OFF, "before")
    ours = _measure(None, "ours")
    print("POST /events latency (ms), one gateway, single events back to back:")
    for name, m in (("cost bucket off (before)", before), ("cost bucket on (ours)", ours)):
        print(
            f"  {name}: alone p50 {m['alone_p50']:.1f} / p99 {m['alone_p99']:.1f}; with {N_ATTACKERS} "
            f"anonymous clients p50 {m['loaded_p50']:.1f} / p99 {m['loaded_p99']:.1f}; "
            f"attackers' answers {m['attack_statuses']}"
        )
    extra = {"events": N_EVENTS, "attackers": N_ATTACKERS, "before": before, "ours": ours}
    rows = [
        Row(f"POST /events p50, {N_ATTACKERS} anonymous variant clients", round(ours["loaded_p50"], 2),
            "same server, cost bucket off", round(before["loaded_p50"], 2), "ms", "lower", extra=extra),
        Row(f"POST /events p99, {N_ATTACKERS} anonymous variant clients", round(ours["loaded_p99"], 2),
            "same server, cost bucket off", round(before["loaded_p99"], 2), "ms", "lower", extra=extra),
        Row("POST /events p50 alone", round(ours["alone_p50"], 2), "same server, cost bucket off",
            round(before["alone_p50"], 2), "ms", "lower", extra=extra),
        Row("POST /events p99 alone", round(ours["alone_p99"], 2), "same server, cost bucket off",
            round(before["alone_p99"], 2), "ms", "lower", extra=extra),
    ]  # fmt: skip
    print(f"wrote {write_results('limits', rows)}")


if __name__ == "__main__":
    main()
