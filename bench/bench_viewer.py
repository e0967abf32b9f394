"""Viewer: time to the first complete frame with the whole city and 100k events, and payload sizes.

Setup: the real app (uvicorn, temp state, replay off) over the data cache; 100,000 synthetic events
over the last 6 hours ingested through POST /events/batch; headless Chromium (SwiftShader, no GPU).

* **ours**: the viewer as shipped: city layers + cameras + H3 counts aggregated on the server
  (GET /cells, gzip), first complete frame = ``body[data-ready="1"]`` (map idle + 2 frames).
* **peer**: the same page fed the raw events (``?raw=1``: every event fetched through GET /events,
  1,000 a page, and aggregated to H3 in the browser), the way a viewer without server aggregates works.

Payload rows compare each layer's gzip bytes on the wire with its uncompressed size, the display
variants the page draws (``?simplify=2&fields=…``, read from the built index.html) with the full layers,
and the server aggregate (/cells) with the raw events it replaces. The page's step timings and the
number of frames each canvas drew before the first complete one are kept (``ours_timings_ms``).
Run: ``python -m bench.run_all viewer`` (heavy: wrap in ``flock /tmp/twin-heavy.lock``).
Writes bench/results/viewer.json.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np

from api.cli.data import fetch_data
from api.settings import Settings
from bench.harness import Row, write_results

ROOT = Path(__file__).resolve().parents[1]
N_EVENTS = 100_000
REPEATS = 3
CATEGORIES = ("congestion", "accident", "illegal_dumping", "crowding", "fire_smoke", "flooding")


def _ingest(url: str, n: int, seed: int = 7) -> float:
    """Post `n` events (500 a batch) over the last 6 h at the cameras, jittered ~150 m; return seconds."""
    rng = np.random.default_rng(seed)
    cams = httpx.get(f"{url}/cameras", timeout=60).json()["features"]
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    with httpx.Client(timeout=120) as client:
        for start in range(0, n, 500):
            batch = []
            for i in range(start, min(n, start + 500)):
                cam = cams[int(rng.integers(len(cams)))]
                lon, lat = cam["geometry"]["coordinates"]
                t = now - timedelta(seconds=float(rng.uniform(60, 6 * 3600 - 60)))
                batch.append(
                    {
                        "event_id": f"bench-{i:06d}",
                        "camera_id": cam["properties"]["camera_id"],
                        "category": CATEGORIES[int(rng.integers(len(CATEGORIES)))],
                        "confidence": 0.9,
                        "start_time": t.isoformat().replace("+00:00", "Z"),
                        "position": {
                            "lon": lon + float(rng.normal(0, 0.0015)),
                            "lat": lat + float(rng.normal(0, 0.0015)),
                        },
                    }
                )
            r = client.post(f"{url}/events/batch", json={"events": batch})
            r.raise_for_status()
    return time.perf_counter() - t0


def _bytes(url: str) -> tuple[int, int]:
    """Return (bytes on the wire with gzip, uncompressed bytes) of one GET."""
    with httpx.Client(timeout=120) as c:
        raw = c.get(url, headers={"Accept-Encoding": "identity"})
        raw.raise_for_status()
        with c.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as r:
            wire = sum(len(chunk) for chunk in r.iter_raw())
    return wire, len(raw.content)


def _raw_events_bytes(url: str, since: str) -> tuple[int, int, int]:
    """Page through GET /events as the peer does; return (gzip wire bytes, raw bytes, pages)."""
    wire = raw = pages = 0
    cursor = None
    with httpx.Client(timeout=120) as c:
        while True:
            params = {"since": since, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            body = c.get(f"{url}/events", params=params, headers={"Accept-Encoding": "identity"}).content
            raw += len(body)
            wire += len(gzip.compress(body, 6))
            pages += 1
            doc = httpx.Response(200, content=body).json()
            cursor = doc.get("next_cursor")
            if not cursor or not doc.get("features"):
                return wire, raw, pages


def _first_frame_requests() -> list[tuple[str, dict[str, Any]]]:
    """Return the [path, params] the built page requests for its first frame (viewer/src/startup.js)."""
    from tests.e2e.conftest import DIST  # noqa: PLC0415

    found = re.search(r"const list = (\{.*?\})\[", DIST.read_text())
    if not found:
        raise SystemExit("viewer/dist/index.html has no prefetch list: rebuild with `make viewer`")
    return [(item[0], item[1] if len(item) > 1 else {}) for item in json.loads(found.group(1))["plain"]]


def _first_frame(browser: Any, url: str) -> dict[str, float]:
    """Open the page in a fresh context (cold cache); return ms to the first complete frame and counts."""
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
    page = ctx.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=600_000)
        wall = (time.perf_counter() - t0) * 1000
        state = page.evaluate(
            "({ready: window.__viewer.readyAt, cells: window.__viewer.drawnCells.length,"
            " events: window.__viewer.drawnCells.reduce((a, d) => a + d.count, 0),"
            " heap: performance.memory ? performance.memory.usedJSHeapSize : 0,"
            " timings: window.__viewer.timings})"
        )
        return {
            "ms": float(state["ready"]),
            "wall_ms": wall,
            "cells": state["cells"],
            "events": state["events"],
            "heap_mb": state["heap"] / 1e6,
            "timings": state["timings"],
        }
    finally:
        ctx.close()


def workspace(prefix: str) -> tuple[Path, Path]:
    """Check the viewer is built; return a temp folder and a data cache in it (the browser benchmarks')."""
    sys.path.insert(0, str(ROOT))
    from tests.e2e.conftest import DIST  # noqa: PLC0415

    if not DIST.is_file():
        raise SystemExit("the viewer is not built: run `make viewer`")
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    data = tmp / "data"
    fetch_data(Settings(), cache_dir=data)
    return tmp, data


def main() -> None:
    """Run the benchmark and write bench/results/viewer.json."""
    tmp, data = workspace("bench-viewer-")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415  (dev dependency)

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, DIST, _server  # noqa: PLC0415

    srv = _server(tmp, data)
    srv.factory = "api.app:create_app"
    srv.env["TWIN_LIMIT_ENABLED"] = "false"
    srv.env["TWIN_AUTH"] = "off"  # the first frame of the viewer, not the sign-in, is measured
    srv.start(timeout=300)
    rows: list[Row] = []
    try:
        ingest_s = _ingest(srv.url, N_EVENTS)
        print(f"ingested {N_EVENTS:,} events in {ingest_s:.1f} s", flush=True)
        since = (datetime.now(UTC) - timedelta(hours=6, minutes=5)).isoformat().replace("+00:00", "Z")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            _first_frame(browser, f"{srv.url}/")  # warm the server's layer caches, not the browser's
            ours = [_first_frame(browser, f"{srv.url}/") for _ in range(REPEATS)]
            peer = [_first_frame(browser, f"{srv.url}/?raw=1") for _ in range(REPEATS)]
            browser.close()
        o_ms = statistics.median(r["ms"] for r in ours)
        p_ms = statistics.median(r["ms"] for r in peer)
        print(f"first frame: ours {o_ms:.0f} ms, raw-events peer {p_ms:.0f} ms", flush=True)
        rows.append(
            Row(
                name="viewer_first_frame_100k_events",
                ours=o_ms / 1000,
                peer="same page fed raw events (?raw=1)",
                peer_value=p_ms / 1000,
                unit="s",
                better="lower",
                extra={
                    "goal_s": 3.0,
                    "events": N_EVENTS,
                    "repeats": REPEATS,
                    "viewport": "1920x1080",
                    "browser": "headless Chromium, SwiftShader (no GPU)",
                    "ours_runs_ms": [round(r["ms"]) for r in ours],
                    "peer_runs_ms": [round(r["ms"]) for r in peer],
                    "ours_cells_drawn": ours[0]["cells"],
                    "ours_events_in_cells": ours[0]["events"],
                    "peer_events_in_cells": peer[0]["events"],
                    "ours_js_heap_mb": round(ours[0]["heap_mb"], 1),
                    "peer_js_heap_mb": round(peer[0]["heap_mb"], 1),
                    "ours_timings_ms": ours[-1]["timings"],
                    "ingest_s": round(ingest_s, 1),
                },
            )
        )
        cells_wire, cells_raw = _bytes(f"{srv.url}/cells?window=6h")
        ev_wire, ev_raw, pages = _raw_events_bytes(srv.url, since)
        rows.append(
            Row(
                name="viewer_payload_counts_100k_events",
                ours=cells_wire / 1e3,
                peer="raw events via GET /events (gzip)",
                peer_value=ev_wire / 1e3,
                unit="kB",
                better="lower",
                extra={
                    "ours_uncompressed_kb": round(cells_raw / 1e3, 1),
                    "peer_uncompressed_kb": round(ev_raw / 1e3, 1),
                    "peer_requests": pages,
                },
            )
        )
        # The display variants the page asks for (read from the built index.html), against the full layers.
        for path, params in _first_frame_requests():
            if not path.startswith("/layers/"):
                continue
            name = path.removeprefix("/layers/")
            shown = f"{path}?{urlencode(params)}"
            s_wire, s_raw = _bytes(f"{srv.url}{shown}")
            f_wire, f_raw = _bytes(f"{srv.url}{path}")
            rows.append(
                Row(
                    name=f"viewer_payload_{name}_display",
                    ours=s_wire / 1e3,
                    peer="full-precision layer (gzip)",
                    peer_value=f_wire / 1e3,
                    unit="kB",
                    better="lower",
                    extra={
                        "path": shown,
                        "ours_uncompressed_kb": s_raw / 1e3,
                        "peer_uncompressed_kb": f_raw / 1e3,
                    },
                )
            )
            print(
                f"{name + ' (display)':28s} {s_wire / 1e3:9.1f} kB gzip / {s_raw / 1e3:9.1f} kB", flush=True
            )
        layers = {
            "wards_2025": "/layers/wards_2025",
            "units_pre2025": "/layers/units_pre2025",
            "roads": "/layers/roads",
            "river": "/layers/river",
            "camera_coverage": "/layers/camera_coverage",
            "camera_coverage_display": "/layers/camera_coverage?simplify=2&fields=camera_id",
            "cameras": "/cameras",
            "hotspots": "/hotspots?window=6h",
        }
        manifest = (DIST.parent / "manifest.json").read_text()
        for key, name in json.loads(manifest).items():
            layers[f"bundle_{key}"] = f"/assets/{name}"
        for name, path in layers.items():
            wire, raw = _bytes(f"{srv.url}{path}")
            rows.append(
                Row(
                    name=f"viewer_payload_{name}",
                    ours=wire / 1e3,
                    peer="same, uncompressed",
                    peer_value=raw / 1e3,
                    unit="kB",
                    better="lower",
                    extra={"path": path},
                )
            )
            print(f"{name:28s} {wire / 1e3:9.1f} kB gzip / {raw / 1e3:9.1f} kB", flush=True)
    finally:
        srv.stop()
    print(write_results("viewer", rows))


if __name__ == "__main__":
    main()
