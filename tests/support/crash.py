"""Kill -9 under load: the client side of the crash tests and the reliability harness."""

from __future__ import annotations

import random
import threading
import time

import httpx

from tests.support.events import event
from tests.support.servers import Server


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
