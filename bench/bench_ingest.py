"""Ingest benchmark of the live service against a toy FastAPI + SQLite app, on loopback, one worker each.

Measured with `wrk` (Debian package ``wrk``) in the same run, one after the other:

* single events per request: events/s, p50 and p99 — ours with H3 indexing, live counts, alert rules
  and a connected SSE reader (streaming on), durable group commits (``synchronous=FULL``);
* batches of 500 events per request: events/s and p99;
* the toy peer: FastAPI + pydantic + one SQLite WAL connection, ``synchronous=NORMAL``, a commit per
  request, no H3, no stream (the "toy FastAPI + SQLite" of docs RELIABILITY.md);
* 20 stalled SSE clients (connected, never reading): ingest with them vs without;
* crash: kill -9 the server under load 20 times (timing each restart to the first /health 200); every
  acknowledged event must be there, the database must pass ``PRAGMA integrity_check``, and replaying
  every acknowledged event must add no row.

Run: ``flock /tmp/twin-heavy.lock .venv/bin/python -m bench.run_all ingest`` (≈ 8–12 min). The server's CPU
time per 1,000 events is reported next to the throughput: it moves much less with other jobs' load.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from api.cli.data import fetch_data
from api.settings import Settings
from api.store.sqlite import SQLiteStore
from bench.harness import Row, write_results
from gis_data.city import build_city
from tests.support.crash import load_until_killed
from tests.support.servers import Server

WRK_SECONDS = int(os.environ.get("BENCH_INGEST_SECONDS", "8"))
CRASH_ROUNDS = int(os.environ.get("BENCH_INGEST_CRASH_ROUNDS", "20"))


# --------------------------------------------------------------------------------------- the toy peer
class _ToyEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str
    camera_id: str
    category: str
    confidence: float
    start_time: datetime
    attributes: dict[str, Any] = {}


class _ToyBatch(BaseModel):
    events: list[_ToyEvent]


def toy_app() -> FastAPI:
    """Return the toy peer: FastAPI + SQLite WAL (NORMAL), one connection, a commit per request."""
    db = sqlite3.connect(os.environ.get("TOY_DB", ":memory:"), check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, camera_id TEXT, category TEXT, "
        "confidence REAL, start_time TEXT)"
    )
    lock = threading.Lock()
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/events")
    def post(e: _ToyEvent) -> dict[str, str]:
        with lock:
            db.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)",
                (e.event_id, e.camera_id, e.category, e.confidence, e.start_time.isoformat()),
            )
            db.commit()
        return {"event_id": e.event_id, "status": "created"}

    @app.post("/events/batch")
    def batch(b: _ToyBatch) -> dict[str, int]:
        with lock:
            db.executemany(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)",
                [
                    (e.event_id, e.camera_id, e.category, e.confidence, e.start_time.isoformat())
                    for e in b.events
                ],
            )
            db.commit()
        return {"accepted": len(b.events)}

    return app


# ------------------------------------------------------------------------------------------- serving
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Proc:
    def __init__(self, factory: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
            "--port", str(self.port), "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        # The ingest figures are the service's cost without the API-key check (TWIN_AUTH=off); the check
        # itself (one primary-key lookup per request) is measured by bench_auth.
        self.proc = subprocess.Popen(
            cmd,
            env={**os.environ, "TWIN_AUTH": "off", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{factory} exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{factory} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ---------------------------------------------------------------------------------------------- wrk
_LUA = r"""
counter = 0
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local cams = {%(cams)s}
local function ev(i)
  return string.format('{"event_id":"%(run)s-%%d-%%d","camera_id":"%%s","category":"congestion",'
    .. '"confidence":0.8,"start_time":"%(ts)s","attributes":{"vehicles":%%d}}',
    tid, i, cams[i %% #cams + 1], i %% 50)
end
function request()
  counter = counter + 1
  if %(batch)d == 0 then
    return wrk.format("POST", "/events", {["Content-Type"]="application/json"}, ev(counter))
  end
  local parts = {}
  for k = 1, %(batch)d do parts[k] = ev(counter * 1000 + k) end
  return wrk.format("POST", "/events/batch", {["Content-Type"]="application/json"},
    '{"events":[' .. table.concat(parts, ",") .. ']}')
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status + summary.errors.timeout))
end
"""


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(
    url: str, cams: list[str], *, batch: int, conns: int, seconds: int, run: str, pid: int | None = None
) -> dict[str, float]:
    """Run wrk against `url`; return events/s, p50/p99 (ms) and errors.

    With the server's `pid`, also its CPU time per 1,000 events: on a machine shared with other jobs
    the throughput moves with their load, the CPU cost per event much less.
    """
    cpu0 = cpu_seconds(pid) if pid else 0.0
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    script = _LUA % {"cams": ",".join(f'"{c}"' for c in cams), "run": run, "ts": ts, "batch": batch}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s", "-s", f.name, url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    finally:
        Path(f.name).unlink()
    m = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not m:
        raise RuntimeError(f"wrk output not understood: {out[-500:]}")
    reqs, dur_us, p50, p99, errors = (int(x) for x in m.groups())
    per = max(1, batch)
    result: dict[str, float] = {
        "events_per_s": reqs * per / (dur_us / 1e6),
        "requests": reqs,
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "errors": errors,
    }
    if pid:
        result["server_cpu_ms_per_1k_events"] = round((cpu_seconds(pid) - cpu0) / max(1, reqs * per) * 1e6, 2)
    return result


class _Reader:
    """A healthy SSE client that reads everything (streaming on)."""

    def __init__(self, url: str) -> None:
        self.count = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._t.start()

    def _run(self, url: str) -> None:
        try:
            with httpx.stream("GET", f"{url}/stream", timeout=None) as r:
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        self.count += 1
                    if self._stop.is_set():
                        return
        except httpx.HTTPError:
            return

    def stop(self) -> None:
        self._stop.set()


def _stalled(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        socks.append(s)
    return socks


def _subscribers(url: str) -> int:
    return int(httpx.get(f"{url}/stats").json()["stream"]["subscribers"])


# -------------------------------------------------------------------------------------------- crash
def crash_rounds(data_dir: Path, cams: list[str], rounds: int) -> dict[str, Any]:
    """Kill -9 the server under load `rounds` times; check every acknowledged event, integrity, replay."""

    state = Path(tempfile.mkdtemp(prefix="bench-crash-"))
    server = Server(state, data_dir, env={"TWIN_AUTH": "off"})
    acked: dict[str, dict[str, object]] = {}
    lost = 0
    integrity_ok = 0
    restarts: list[float] = []
    try:
        for rnd in range(rounds):
            t0 = time.monotonic()
            server.start(timeout=300)
            if rnd > 0:  # kill -9 → the first 200 of /health
                restarts.append(time.monotonic() - t0)
            acked.update(load_until_killed(server, cams, f"k{rnd}", kill_after=1.0 + (rnd % 3)))
            store = SQLiteStore(state / "events.sqlite3")
            integrity_ok += int(store.check_integrity() == "ok")
            stored = {r[0] for r in store._reader().execute("SELECT event_id FROM events")}
            lost = len(set(acked) - stored)
            store.close()
        server.start(timeout=300)
        store = SQLiteStore(state / "events.sqlite3")
        before = store.count_events()
        store.close()
        bodies = list(acked.values())
        for k in range(0, len(bodies), 500):
            httpx.post(f"{server.url}/events/batch", json={"events": bodies[k : k + 500]}, timeout=60)
        store = SQLiteStore(state / "events.sqlite3")
        added = store.count_events() - before
        store.close()
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)
    return {
        "rounds": rounds,
        "acked": len(acked),
        "lost": lost,
        "integrity_ok": integrity_ok,
        "replay_added": added,
        "restart_s_median": round(sorted(restarts)[len(restarts) // 2], 2) if restarts else None,
        "restart_s_max": round(max(restarts), 2) if restarts else None,
    }


# --------------------------------------------------------------------------------------------- main
def main() -> None:
    """Run ours and the toy peer, the stalled-client and crash scenarios; write bench/results/ingest.json."""

    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    settings = Settings()
    data_dir = settings.data.dir
    fetch_data(settings)
    city = build_city(data_dir)
    cams = [str(c) for c in city.cameras.loc[city.cameras["connected"], "camera_id"]]
    state = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    rows: list[Row] = []
    try:
        ours = _Proc(
            "api.app:create_app",
            {"TWIN_STATE_DIR": str(state), "TWIN_DATA_DIR": str(data_dir), "TWIN_REPLAY": "false"},
        )
        try:
            reader = _Reader(ours.url)
            wrk(ours.url, cams, batch=0, conns=8, seconds=2, run="warm")  # warm-up
            single = wrk(ours.url, cams, batch=0, conns=16, seconds=WRK_SECONDS, run="s", pid=ours.proc.pid)
            batch = wrk(ours.url, cams, batch=500, conns=4, seconds=WRK_SECONDS, run="b", pid=ours.proc.pid)
            base = _subscribers(ours.url)
            socks = _stalled(ours.port, 20)
            deadline = time.monotonic() + 30
            while _subscribers(ours.url) < base + 20 and time.monotonic() < deadline:
                time.sleep(0.1)
            stalled = wrk(ours.url, cams, batch=0, conns=16, seconds=WRK_SECONDS, run="st", pid=ours.proc.pid)
            stream_stats = httpx.get(f"{ours.url}/stats").json()["stream"]
            for s in socks:
                s.close()
            reader.stop()
            store_stats = httpx.get(f"{ours.url}/stats").json()["store"]
        finally:
            ours.stop()
        toy = _Proc("bench.bench_ingest:toy_app", {"TOY_DB": str(state / "toy.sqlite3")})
        try:
            wrk(toy.url, cams, batch=0, conns=8, seconds=2, run="warm")
            t_single = wrk(toy.url, cams, batch=0, conns=16, seconds=WRK_SECONDS, run="s", pid=toy.proc.pid)
            t_batch = wrk(toy.url, cams, batch=500, conns=4, seconds=WRK_SECONDS, run="b", pid=toy.proc.pid)
        finally:
            toy.stop()
    finally:
        shutil.rmtree(state, ignore_errors=True)
    toy_name = "toy FastAPI+SQLite WAL NORMAL (same run)"
    rows.append(
        Row(
            "ingest single events/s (H3, stream, FULL)",
            single["events_per_s"],
            toy_name,
            t_single["events_per_s"],
            "events/s",
            "higher",
            extra={"ours_detail": single, "peer_detail": t_single, "sse_reader_messages": reader.count},
        )
    )
    rows.append(Row("ingest single p99", single["p99_ms"], toy_name, t_single["p99_ms"], "ms", "lower"))
    rows.append(
        Row("ingest batch-500 events/s", batch["events_per_s"], toy_name, t_batch["events_per_s"], "events/s",
            "higher", extra={"ours_detail": batch, "peer_detail": t_batch, "group_commit": store_stats})
    )  # fmt: skip
    rows.append(Row("ingest batch-500 p99", batch["p99_ms"], toy_name, t_batch["p99_ms"], "ms", "lower"))
    cpu = "server_cpu_ms_per_1k_events"
    rows.append(
        Row("server CPU per 1,000 events, batch-500", batch[cpu], toy_name, t_batch[cpu], "ms", "lower")
    )
    rows.append(
        Row("server CPU per 1,000 events, single", single[cpu], toy_name, t_single[cpu], "ms", "lower")
    )
    rows.append(
        Row("single events/s with 20 stalled SSE clients", stalled["events_per_s"], "ours without them",
            single["events_per_s"], "events/s", "higher",
            extra={"cost_pct": round(100 * (1 - stalled["events_per_s"] / single["events_per_s"]), 1),
                   "stalled": stalled, "stream": stream_stats})
    )  # fmt: skip
    crash = crash_rounds(data_dir, cams[:20], CRASH_ROUNDS)
    rows.append(
        Row(f"kill -9 x{crash['rounds']}: acknowledged events present", crash["acked"] - crash["lost"],
            "acknowledged", crash["acked"], "events", "higher", extra=crash)
    )  # fmt: skip
    rows.append(
        Row("restart after kill -9 to the first /health 200 (max)", crash["restart_s_max"] or 0.0,
            "goal (issue 8)", 5, "s", "lower", extra={"median_s": crash["restart_s_median"]})
    )  # fmt: skip
    path = write_results("ingest", rows)
    print(json.dumps([r.to_dict() for r in rows], indent=1, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
