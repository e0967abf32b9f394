"""Kill -9 under load: every acknowledged event survives, the database is intact, a replay adds no row.

Two rounds here (the 10-round version runs in ``bench/bench_ingest.py``).
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx

from api.store.sqlite import SQLiteStore
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import Server, event


def load_until_killed(
    server: Server, cameras: list[str], tag: str, kill_after: float, n_threads: int = 4
) -> dict[str, dict[str, object]]:
    """Post single events and batches from threads, kill -9 the server mid-load; return acked bodies."""
    acked: dict[str, dict[str, object]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def worker(w: int) -> None:
        rng = random.Random(w)
        i = 0
        with httpx.Client(base_url=server.url, timeout=10, headers=server.headers) as c:
            while not stop.is_set():
                i += 1
                try:
                    if rng.random() < 0.3:
                        evs = [
                            event(i * 100 + k, rng.choice(cameras), event_id=f"{tag}-{w}-{i}-{k}")
                            for k in range(50)
                        ]
                        r = c.post("/events/batch", json={"events": evs})
                        if r.status_code == 200:
                            ok = {x["event_id"] for x in r.json()["results"] if x["status"] == "created"}
                            with lock:
                                acked.update({e["event_id"]: e for e in evs if e["event_id"] in ok})
                    else:
                        ev = event(i, rng.choice(cameras), event_id=f"{tag}-{w}-{i}")
                        r = c.post("/events", json=ev)
                        if r.status_code == 200 and r.json()["status"] == "created":
                            with lock:
                                acked[ev["event_id"]] = ev
                except httpx.HTTPError:
                    if server.proc is not None and server.proc.poll() is not None:
                        return

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(n_threads)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while not acked and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(kill_after)
    server.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    return acked


def test_kill9_rounds_lose_no_acknowledged_event(
    tmp_path: Path, data_dir: Path, connected: list[str]
) -> None:
    db = tmp_path / "events.sqlite3"
    server = Server(tmp_path, data_dir)
    all_acked: dict[str, dict[str, object]] = {}
    try:
        for rnd in range(2):
            server.start()
            if rnd > 0:
                # Replaying every acknowledged event after the restart adds no row.
                store = SQLiteStore(db)
                n_before = store.count_events()
                store.close()
                bodies = list(all_acked.values())
                statuses: set[str] = set()
                for k in range(0, len(bodies), 500):
                    r = httpx.post(
                        f"{server.url}/events/batch",
                        json={"events": bodies[k : k + 500]},
                        timeout=60,
                        headers=server.headers,
                    )
                    assert r.status_code == 200, r.text
                    statuses |= set(r.json()["counts"])
                assert statuses == {"duplicate"}
                check = SQLiteStore(db)
                assert check.count_events() == n_before
                check.close()
            acked = load_until_killed(server, connected[:20], f"r{rnd}", kill_after=2.0 + rnd)
            assert len(acked) > 50, "the load did not get going before the kill"
            all_acked.update(acked)
            store = SQLiteStore(db)
            try:
                assert store.check_integrity() == "ok"
                stored = {row[0] for row in store._reader().execute("SELECT event_id FROM events")}
                missing = set(all_acked) - stored
                assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
            finally:
                store.close()
    finally:
        server.stop()
