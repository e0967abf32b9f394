"""What the API-key check costs per request: one SQLite primary-key lookup and a SHA-256.

Ours: the median time of one request with an operator key (``X-API-Key``, checked on every request);
peer: the same request on the same app with ``TWIN_AUTH=off`` (no check). The request is
``GET /open311/v2/services.json`` (a static list, so the answer costs little and the check shows);
in-process ASGI (httpx), one event loop, 3,000 requests each, interleaved in rounds of 500.
Also reported: `Authenticator.verify_key` alone (µs per call).

Run: ``flock /tmp/twin-heavy.lock .venv/bin/python -m bench.bench_auth``
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from api.app import create_app
from api.auth.bootstrap import start_auth
from api.auth.keys import create_key
from api.settings import Settings
from api.store import default_dsn, open_store
from bench.harness import Row, write_results

N = 3000
ROUND = 500
PATH = "/open311/v2/services.json"


async def _timings(app: object, headers: dict[str, str], n: int) -> list[float]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    out = []
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", headers=headers) as c:
        for _ in range(n):
            t0 = time.perf_counter()
            r = await c.get(PATH)
            out.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    return out


def main() -> None:
    """Measure and write bench/results/auth.json."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-auth-"))
    store = open_store(default_dsn(tmp))
    key, _ = create_key(store, "operator", "bench")
    auth = start_auth(store, Settings(state_dir=tmp, auth=True))
    for _ in range(200):
        auth.verify_key(key)
    t0 = time.perf_counter()
    for _ in range(20000):
        auth.verify_key(key)
    verify_us = (time.perf_counter() - t0) / 20000 * 1e6
    on = create_app(Settings(state_dir=tmp, replay=False, auth=True))
    off = create_app(Settings(state_dir=tmp, replay=False, auth=False))
    for app in (on, off):
        app.state.auth = auth  # the lifespan is not needed for this route; the check is
        app.state.settings = Settings(state_dir=tmp, replay=False, auth=app is on)
    ours: list[float] = []
    peer: list[float] = []
    asyncio.run(_timings(on, {"X-API-Key": key}, 200))
    asyncio.run(_timings(off, {}, 200))
    for _ in range(N // ROUND):
        ours += asyncio.run(_timings(on, {"X-API-Key": key}, ROUND))
        peer += asyncio.run(_timings(off, {}, ROUND))
    store.close()
    med_on, med_off = statistics.median(ours) * 1e6, statistics.median(peer) * 1e6
    rows = [
        Row(
            "request with an API key check (median, in-process ASGI)",
            round(med_on, 1),
            "same request, TWIN_AUTH=off",
            round(med_off, 1),
            "µs",
            "lower",
            extra={
                "check_us": round(med_on - med_off, 1),
                "verify_key_us": round(verify_us, 2),
                "p99_on_us": round(sorted(ours)[int(len(ours) * 0.99)] * 1e6, 1),
                "p99_off_us": round(sorted(peer)[int(len(peer) * 0.99)] * 1e6, 1),
                "requests": len(ours),
                "route": f"GET {PATH}",
                "store": "SQLite (WAL)",
            },
        )
    ]
    path = write_results("auth", rows)
    print(f"with key {med_on:.0f} µs, auth off {med_off:.0f} µs, verify_key {verify_us:.1f} µs → {path}")


if __name__ == "__main__":
    main()
