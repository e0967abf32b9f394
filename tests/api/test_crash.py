"""Kill -9 under load: every acknowledged event survives, the database is intact, a replay adds no row.

Two rounds here (the 10-round version runs in ``bench/bench_ingest.py``).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from api.store.sqlite import SQLiteStore
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.support.crash import load_until_killed
from tests.support.servers import Server


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
