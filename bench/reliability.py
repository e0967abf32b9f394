"""Reliability harness: sustained load, kill -9 rounds, idempotent replay, stalled stream clients, disk-full
and lock faults, on SQLite AND PostgreSQL; results in the bench format (``bench/results/reliability.json``).

Every row compares a measured figure with the goal of issue 8 / docs RELIABILITY.md (``peer`` is the
goal, ``peer_value`` its threshold, ``ratio`` = measured / goal, ``better`` says which side passes).
Everything runs on loopback, one uvicorn worker, the real app (rate limits, CORS, H3 indexing, live
counts, alert rules, SSE stream), with durable commits (SQLite ``synchronous=FULL``; PostgreSQL
``fsync=on``, ``synchronous_commit=on``).

Phases, per backend:

1. sustained single-event load with ``wrk`` (16 connections) and one healthy SSE reader;
2. batches of 500 events (4 connections);
3. the same single-event load with 20 stalled SSE clients (connected, never reading): the cost;
4. kill -9 rounds under load from 4 client threads: every acknowledged event present, integrity check,
   restart time; then every acknowledged event replayed: rows added must be 0;
5. faults: a second connection holding an exclusive lock → 503 + Retry-After, then recovery; the disk
   filled under the database (a tmpfs; for PostgreSQL a tablespace on it) → 507, then recovery once
   space is freed. Any 500 or connection reset is counted as a failure.

Then the cluster's failover rounds (`bench.bench_cluster`: two instances on PostgreSQL behind HAProxy,
kill -9 one under load with 20 SSE clients; ``ARGS="--only cluster"`` runs them alone).

Run: ``make reliability`` (under ``flock /tmp/twin-heavy.lock``): the 10-minute soak and 20 kill -9
rounds per backend (≈ 35–45 min for both), or ``make reliability ARGS=--quick`` (15 s, 4 rounds) as a
smoke run; ``ARGS="--only sqlite"`` runs one backend and keeps the other's rows. The disk-full phase
needs root to mount a tmpfs; without it the row says "skipped" and why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api.cli.data import fetch_data
from api.settings import Settings
from api.store import open_store
from bench import bench_cluster
from bench.bench_ingest import _Proc, _Reader, _stalled, _subscribers, wrk
from bench.harness import RESULTS, Row, write_results
from gis_data.city import build_city
from tests.support.crash import load_until_killed
from tests.support.postgres import postgres_server
from tests.support.servers import Server

GOAL = "goal (issue 8)"
NOTE = ("xe tải dừng đỗ trên cầu Kỳ Lừa, " * 16)[:480]


# ---------------------------------------------------------------------------------------------- util
def _event(i: int, cam: str, tag: str, note: bool = False) -> dict[str, Any]:
    attrs: dict[str, Any] = {"vehicles": i % 50}
    if note:
        attrs["note"] = NOTE
    return {
        "event_id": f"{tag}-{i}",
        "camera_id": cam,
        "category": "congestion",
        "confidence": 0.8,
        "start_time": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "attributes": attrs,
    }


def _post(client: httpx.Client, path: str, body: dict[str, Any], seen: Counter[str]) -> httpx.Response | None:
    """POST and count the answer's status (or 'reset' when the connection failed)."""
    try:
        r = client.post(path, json=body)
    except httpx.HTTPError:
        seen["reset"] += 1
        return None
    seen[str(r.status_code)] += 1
    return r


@contextlib.contextmanager
def _tmpfs(size_mb: int) -> Iterator[Path | str]:
    """Mount a tmpfs of `size_mb`; yield its path, or the reason it could not be mounted."""
    if os.geteuid() != 0:
        yield "needs root to mount a tmpfs"
        return
    root = Path(tempfile.mkdtemp(prefix="rel-tmpfs-"))
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0777", "tmpfs", str(root)],
        capture_output=True,
        check=False,
    )
    if r.returncode != 0:
        root.rmdir()
        yield f"mount -t tmpfs not permitted: {r.stderr.decode().strip()}"
        return
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            root.rmdir()


def _fill(path: Path) -> int:
    written = 0
    chunk = b"\0" * 65536
    with path.open("wb") as f:
        try:
            while True:
                f.write(chunk)
                f.flush()
                written += len(chunk)
        except OSError:
            pass
    return written


# ------------------------------------------------------------------------------------------ backends
class Backend:
    """How to point the service at one store, count its rows and check its integrity."""

    name = ""

    def env(self, state: Path) -> dict[str, str]:
        """Return the service environment for this backend."""
        raise NotImplementedError

    def ids(self, state: Path) -> set[str]:
        """Return every stored event id."""
        raise NotImplementedError

    def integrity(self, state: Path) -> str:
        """Return the store's integrity check."""
        s = open_store(self.dsn(state))
        try:
            return s.check_integrity()
        finally:
            s.close()

    def dsn(self, state: Path) -> str:
        """Return the store DSN."""
        raise NotImplementedError

    def reset(self, state: Path) -> None:
        """Empty the store."""


class SQLite(Backend):
    name = "sqlite"

    def dsn(self, state: Path) -> str:
        return f"sqlite:///{state / 'events.sqlite3'}"

    def env(self, state: Path) -> dict[str, str]:
        return {"TWIN_STATE_DIR": str(state), "TWIN_STORE_DSN": self.dsn(state)}

    def ids(self, state: Path) -> set[str]:
        with contextlib.closing(sqlite3.connect(state / "events.sqlite3")) as c:
            return {r[0] for r in c.execute("SELECT event_id FROM events")}


class Postgres(Backend):
    name = "postgresql"

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def dsn(self, state: Path) -> str:
        return self._dsn

    def env(self, state: Path) -> dict[str, str]:
        return {"TWIN_STATE_DIR": str(state), "TWIN_STORE_DSN": self._dsn}

    def ids(self, state: Path) -> set[str]:
        with psycopg.connect(self._dsn) as c:
            return {r[0] for r in c.execute("SELECT event_id FROM events")}


# ---------------------------------------------------------------------------------------------- load
def load_phase(backend: Backend, data_dir: Path, cams: list[str], seconds: int) -> dict[str, Any]:
    """Run the sustained, batch and stalled-client loads; return their figures."""
    state = Path(tempfile.mkdtemp(prefix=f"rel-load-{backend.name}-"))
    env = {"TWIN_DATA_DIR": str(data_dir), "TWIN_REPLAY": "false", **backend.env(state)}
    proc = _Proc("api.app:create_app", env)
    try:
        reader = _Reader(proc.url)
        wrk(proc.url, cams, batch=0, conns=8, seconds=2, run=f"{backend.name}-warm")
        pid = proc.proc.pid
        single = wrk(proc.url, cams, batch=0, conns=16, seconds=seconds, run=f"{backend.name}-s", pid=pid)
        # Batches for at most a minute: 4 connections × 500 events fill the store fast.
        bsec = max(5, min(60, seconds // 2))
        batch = wrk(proc.url, cams, batch=500, conns=4, seconds=bsec, run=f"{backend.name}-b", pid=pid)
        short = max(5, min(seconds, 15))
        ref = wrk(proc.url, cams, batch=0, conns=16, seconds=short, run=f"{backend.name}-r")
        base = _subscribers(proc.url)
        socks = _stalled(proc.port, 20)
        deadline = time.monotonic() + 30
        while _subscribers(proc.url) < base + 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        stalled = wrk(proc.url, cams, batch=0, conns=16, seconds=short, run=f"{backend.name}-st")
        stats = httpx.get(f"{proc.url}/stats").json()
        for s in socks:
            s.close()
        reader.stop()
        health = httpx.get(f"{proc.url}/health", timeout=10).status_code
    finally:
        proc.stop()
        shutil.rmtree(state, ignore_errors=True)
    return {
        "single": single,
        "batch": batch,
        "reference": ref,
        "stalled": stalled,
        "stream": stats.get("stream"),
        "store": stats.get("store"),
        "health_after": health,
        "reader_messages": reader.count,
    }


# --------------------------------------------------------------------------------------------- crash
def crash_phase(backend: Backend, data_dir: Path, cams: list[str], rounds: int) -> dict[str, Any]:
    """Kill -9 the service under load `rounds` times; then replay every acknowledged event."""
    state = Path(tempfile.mkdtemp(prefix=f"rel-crash-{backend.name}-"))
    server = Server(state, data_dir, env={"TWIN_AUTH": "off", **backend.env(state)})
    acked: dict[str, dict[str, object]] = {}
    lost_max = 0
    integrity_ok = 0
    restarts: list[float] = []
    try:
        for rnd in range(rounds):
            t0 = time.monotonic()
            server.start(timeout=300)
            if rnd > 0:
                restarts.append(time.monotonic() - t0)
            acked.update(
                load_until_killed(server, cams, f"{backend.name}-k{rnd}", kill_after=0.5 + (rnd % 3))
            )
            integrity_ok += int(backend.integrity(state) == "ok")
            lost_max = max(lost_max, len(set(acked) - backend.ids(state)))
        t0 = time.monotonic()
        server.start(timeout=300)
        restarts.append(time.monotonic() - t0)
        before = len(backend.ids(state))
        bodies = list(acked.values())
        statuses: Counter[str] = Counter()
        with httpx.Client(base_url=server.url, timeout=60) as c:
            for k in range(0, len(bodies), 500):
                _post(c, "/events/batch", {"events": bodies[k : k + 500]}, statuses)
        added = len(backend.ids(state)) - before
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)
    return {
        "rounds": rounds,
        "acked": len(acked),
        "lost": lost_max,
        "integrity_ok": integrity_ok,
        "restart_s_max": round(max(restarts), 2) if restarts else None,
        "restart_s_median": round(sorted(restarts)[len(restarts) // 2], 2) if restarts else None,
        "replayed": len(bodies),
        "replay_added": added,
        "replay_statuses": dict(statuses),
    }


# -------------------------------------------------------------------------------------------- faults
def _during_and_after(
    url: str, cams: list[str], tag: str, hold: Callable[[], None], release: Callable[[], None], seconds: float
) -> dict[str, Any]:
    """Post while a fault holds, then release it and time the recovery; count every answer."""
    during: Counter[str] = Counter()
    retry_after_ok = True
    with httpx.Client(base_url=url, timeout=30) as c:
        hold()
        try:
            t_end = time.monotonic() + seconds
            i = 0
            while time.monotonic() < t_end:
                i += 1
                r = _post(c, "/events", _event(i, cams[i % len(cams)], f"{tag}-d"), during)
                if r is not None and r.status_code in (503, 507):
                    retry_after_ok &= int(r.headers.get("retry-after", "0")) >= 1
        finally:
            release()
        after: Counter[str] = Counter()
        t0 = time.monotonic()
        recovered_s = None
        for j in range(200):
            r = _post(c, "/events", _event(j, cams[j % len(cams)], f"{tag}-a"), after)
            if r is not None and r.status_code == 200:
                recovered_s = round(time.monotonic() - t0, 3)
                break
            time.sleep(0.05)
    return {
        "during": dict(during),
        "after": dict(after),
        "retry_after_ok": retry_after_ok,
        "recovered_s": recovered_s,
    }


def lock_fault(backend: Backend, data_dir: Path, cams: list[str]) -> dict[str, Any]:
    """Hold an exclusive lock from a second connection for 5 s while posting; then release it."""
    state = Path(tempfile.mkdtemp(prefix=f"rel-lock-{backend.name}-"))
    env = {"TWIN_DATA_DIR": str(data_dir), "TWIN_REPLAY": "false", **backend.env(state)}
    proc = _Proc("api.app:create_app", env)
    holder: dict[str, Any] = {}
    try:
        httpx.post(f"{proc.url}/events", json=_event(0, cams[0], "lock-warm"), timeout=30)
        if isinstance(backend, SQLite):

            def hold() -> None:
                c = sqlite3.connect(state / "events.sqlite3", isolation_level=None, timeout=1)
                c.execute("BEGIN EXCLUSIVE")
                holder["c"] = c

            def release() -> None:
                holder["c"].execute("ROLLBACK")
                holder["c"].close()

        else:

            def hold() -> None:
                c = psycopg.connect(backend.dsn(state))
                c.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
                holder["c"] = c

            def release() -> None:
                holder["c"].rollback()
                holder["c"].close()

        out = _during_and_after(proc.url, cams, f"{backend.name}-lock", hold, release, 5.0)
    finally:
        proc.stop()
        shutil.rmtree(state, ignore_errors=True)
    return out


def disk_full_fault(
    backend: Backend, data_dir: Path, cams: list[str], pg_admin: str | None
) -> dict[str, Any]:
    """Fill the disk under the database (tmpfs), post until 507, free the space, check recovery."""
    size = 4 if isinstance(backend, SQLite) else 40
    with _tmpfs(size) as mnt:
        if isinstance(mnt, str):
            return {"skipped": mnt}
        state = Path(tempfile.mkdtemp(prefix=f"rel-full-{backend.name}-"))
        dsn = None
        if isinstance(backend, SQLite):
            env = {"TWIN_STATE_DIR": str(mnt), "TWIN_STORE_DSN": f"sqlite:///{mnt / 'events.sqlite3'}"}
        else:
            assert pg_admin is not None
            space = mnt / "ts"
            space.mkdir()
            with contextlib.suppress(KeyError):
                pw = pwd.getpwnam("postgres")
                os.chown(space, pw.pw_uid, pw.pw_gid)
            with psycopg.connect(pg_admin, autocommit=True) as a:
                a.execute(f"CREATE TABLESPACE rel_tiny LOCATION '{space}'")
                a.execute("CREATE DATABASE rel_full TABLESPACE rel_tiny")
            dsn = pg_admin.rsplit("/", 1)[0] + "/rel_full"
            env = {"TWIN_STATE_DIR": str(state), "TWIN_STORE_DSN": dsn}
        env = {"TWIN_DATA_DIR": str(data_dir), "TWIN_REPLAY": "false", **env}
        proc = _Proc("api.app:create_app", env)
        filler = mnt / "filler.bin"
        seen: Counter[str] = Counter()
        retry_ok = True
        failed: list[dict[str, Any]] = []
        try:
            with httpx.Client(base_url=proc.url, timeout=60) as c:
                _post(
                    c,
                    "/events/batch",
                    {"events": [_event(i, cams[i % 10], "pre", True) for i in range(50)]},
                    seen,
                )
                filled = _fill(filler)
                for b in range(200):
                    batch = [_event(b * 100 + i, cams[i % 10], "full", True) for i in range(100)]
                    r = _post(c, "/events/batch", {"events": batch}, seen)
                    if r is not None and r.status_code == 507:
                        retry_ok &= int(r.headers.get("retry-after", "0")) >= 1
                        failed = batch
                        break
                got_507 = bool(failed)
                read_ok = c.get("/events", params={"limit": 10}).status_code == 200
                filler.unlink()
                t0 = time.monotonic()
                recovered_s = None
                after: Counter[str] = Counter()
                for _ in range(100):
                    r = _post(
                        c, "/events/batch", {"events": failed or [_event(0, cams[0], "post", True)]}, after
                    )
                    if r is not None and r.status_code == 200:
                        recovered_s = round(time.monotonic() - t0, 3)
                        break
                    time.sleep(0.1)
        finally:
            proc.stop()
            with contextlib.suppress(FileNotFoundError):
                filler.unlink()
            if dsn is not None and pg_admin is not None:
                with psycopg.connect(pg_admin, autocommit=True) as a:
                    a.execute("DROP DATABASE IF EXISTS rel_full WITH (FORCE)")
                    a.execute("DROP TABLESPACE IF EXISTS rel_tiny")
            shutil.rmtree(state, ignore_errors=True)
        return {
            "filled_bytes": filled,
            "statuses": dict(seen),
            "got_507": got_507,
            "retry_after_ok": retry_ok,
            "reads_while_full_ok": read_ok,
            "after": dict(after),
            "recovered_s": recovered_s,
        }


# ---------------------------------------------------------------------------------------------- rows
def _bad(counter: dict[str, int]) -> int:
    return sum(
        v for k, v in counter.items() if k == "reset" or (k.startswith("50") and k not in ("503", "507"))
    )


def rows_for(
    name: str, load: dict[str, Any], crash: dict[str, Any], lock: dict[str, Any], full: dict[str, Any]
) -> list[Row]:
    """Turn one backend's figures into harness rows (measured vs goal)."""
    s, b = load["single"], load["batch"]
    cost = 100 * (1 - load["stalled"]["events_per_s"] / load["reference"]["events_per_s"])
    rows = [
        Row(
            f"[{name}] sustained single events/s",
            s["events_per_s"],
            GOAL,
            1000,
            "events/s",
            "higher",
            extra={"detail": s, "reader_messages": load["reader_messages"]},
        ),
        Row(f"[{name}] sustained single p99", s["p99_ms"], GOAL, 50, "ms", "lower"),
        Row(f"[{name}] sustained errors (non-2xx, timeouts)", s["errors"], GOAL, 0, "requests", "lower"),
        Row(
            f"[{name}] batch-500 events/s",
            b["events_per_s"],
            GOAL,
            50_000,
            "events/s",
            "higher",
            extra={"detail": b},
        ),
        Row(f"[{name}] batch-500 p99", b["p99_ms"], GOAL, 100, "ms", "lower"),
        Row(
            f"[{name}] ingest cost of 20 stalled SSE clients",
            round(cost, 1),
            GOAL,
            30,
            "%",
            "lower",
            extra={"with": load["stalled"], "without": load["reference"], "stream": load["stream"]},
        ),
        Row(
            f"[{name}] kill -9 x{crash['rounds']}: acknowledged events lost",
            crash["lost"],
            GOAL,
            0,
            "events",
            "lower",
            extra=crash,
        ),
        Row(
            f"[{name}] kill -9: integrity checks passed",
            crash["integrity_ok"],
            GOAL,
            crash["rounds"],
            "rounds",
            "higher",
        ),
        Row(f"[{name}] restart after kill -9 (max)", crash["restart_s_max"] or 0.0, GOAL, 5, "s", "lower"),
        Row(
            f"[{name}] replay of every acknowledged event: rows added",
            crash["replay_added"],
            GOAL,
            0,
            "rows",
            "lower",
        ),
        Row(
            f"[{name}] lock held: 500s or resets",
            _bad(lock["during"]) + _bad(lock["after"]),
            GOAL,
            0,
            "requests",
            "lower",
            extra={"lock": lock, "answers_503": lock["during"].get("503", 0)},
        ),
        Row(
            f"[{name}] lock released: recovery",
            lock["recovered_s"] if lock["recovered_s"] is not None else -1,
            GOAL,
            5,
            "s",
            "lower",
        ),
    ]
    if "skipped" in full:
        rows.append(Row(f"[{name}] disk full → 507", -1, GOAL, 1, "skipped", "higher", extra=full))
    else:
        rows.append(
            Row(
                f"[{name}] disk full → 507 (then recovery)",
                int(full["got_507"] and full["recovered_s"] is not None),
                GOAL,
                1,
                "pass",
                "higher",
                extra={**full, "bad": _bad(full["statuses"]) + _bad(full["after"])},
            )
        )
    return rows  # fmt: skip


def run_backend(backend: Backend, data_dir: Path, cams: list[str], seconds: int, rounds: int,
                pg_admin: str | None) -> list[Row]:  # fmt: skip
    """Run every phase on one backend and return its rows."""
    print(f"[{backend.name}] load ({seconds} s sustained)…", flush=True)
    load = load_phase(backend, data_dir, cams, seconds)
    if isinstance(backend, Postgres):
        _truncate(backend.dsn(Path()))
    print(f"[{backend.name}] kill -9 × {rounds}…", flush=True)
    crash = crash_phase(backend, data_dir, cams[:20], rounds)
    if isinstance(backend, Postgres):
        _truncate(backend.dsn(Path()))
    print(f"[{backend.name}] lock fault…", flush=True)
    lock = lock_fault(backend, data_dir, cams)
    print(f"[{backend.name}] disk-full fault…", flush=True)
    full = disk_full_fault(backend, data_dir, cams, pg_admin)
    return rows_for(backend.name, load, crash, lock, full)


def _truncate(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("TRUNCATE events, camera_seen, camera_history, alerts, reports")


def main(argv: list[str] | None = None) -> None:
    """Run the harness on SQLite and PostgreSQL; write bench/results/reliability.json."""
    ap = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick", action="store_true", help="15 s of sustained load and 4 kill -9 rounds (a smoke run)"
    )
    ap.add_argument(
        "--seconds", type=int, default=None, help="sustained-load seconds (default 600; --quick 15)"
    )
    ap.add_argument("--rounds", type=int, default=None, help="kill -9 rounds (default 20; --quick 4)")
    ap.add_argument(
        "--only", choices=["sqlite", "postgresql", "cluster"], default=None, help="one backend only"
    )
    args = ap.parse_args(argv)
    seconds = args.seconds or (15 if args.quick else 600)
    rounds = args.rounds or (4 if args.quick else 20)
    if args.only == "cluster":  # two instances behind HAProxy, kill -9 rounds (bench.bench_cluster)
        bench_cluster.main(["--rounds", str(rounds)])
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    settings = Settings()
    data_dir = settings.data.dir
    fetch_data(settings)
    city = build_city(data_dir)
    cams = [str(c) for c in city.cameras.loc[city.cameras["connected"], "camera_id"]]
    t0 = time.monotonic()
    rows: list[Row] = []
    current = RESULTS / "reliability.json"
    if args.only and current.exists():
        shutil.copyfile(current, RESULTS / "reliability.json.prev")
    if args.only in (None, "sqlite"):
        rows += run_backend(SQLite(), data_dir, cams, seconds, rounds, None)
    if args.only in (None, "postgresql"):
        with postgres_server("twin_rel") as dsn:
            admin = dsn.rsplit("/", 1)[0] + "/postgres"
            rows += run_backend(Postgres(dsn), data_dir, cams, seconds, rounds, admin)
    for r in rows:
        r.extra.setdefault("run", {"seconds": seconds, "rounds": rounds, "quick": args.quick})
    path = write_results("reliability", rows)
    if args.only:
        # Keep the other backend's rows of the previous run (marked as such by their own dates).
        previous = RESULTS / "reliability.json.prev"
        if previous.exists():
            kept = [r for r in json.loads(previous.read_text()) if not r["name"].startswith(f"[{args.only}]")]
            path.write_text(
                json.dumps(kept + json.loads(path.read_text()), indent=2, ensure_ascii=False) + "\n"
            )
            previous.unlink()
    for r in rows:
        print(f"{r.name:60s} {r.ours:>12.4g} {r.unit:10s} goal {r.peer_value:g} ({r.better})")
    print(f"wrote {path} in {time.monotonic() - t0:.0f} s")
    if args.only is None:  # the cluster's failover rounds, merged into the same file
        bench_cluster.main(["--rounds", str(rounds)])
    print(json.dumps({"rows": len(rows)}))


if __name__ == "__main__":
    main()
