"""Viewer: frame times of the operator's page with 10,000 open incidents (goal: no frame over 100 ms).

Setup: the real app (uvicorn, temp state, replay off, auth on) with 10,000 synthetic open incidents
seeded in its store (`bench.bench_incidents.seed`); headless Chromium (SwiftShader, no GPU) at
1920×1080 signed in with an operator key. The page loads the newest 1,000 of them (its list draws 300,
the map rings all it holds).

After the first complete frame the page runs a fixed script of operator actions — the status filter
to "all" and back, a ward filter, opening an incident, the incident tab's list scrolled, three pans of
the map — and records every animation frame's interval (``requestAnimationFrame``), the main thread's
long tasks (``PerformanceObserver('longtask')``) and the JS time of each list redraw.

* **ours**: that page over 10,000 open incidents.
* **peer**: the same page and actions over an empty incident list (what the incidents add).

Run: ``flock /tmp/twin-heavy.lock .venv/bin/python -m bench.bench_viewer_frames``; writes
bench/results/viewer_frames.json. Software WebGL redraws of the whole 1080p map dominate frame times
here; the long tasks and list redraw times are the page's own JavaScript.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from api.auth.keys import create_key
from api.store import default_dsn, open_store
from bench.bench_incidents import seed
from bench.bench_viewer import workspace
from bench.harness import Row, write_results

ROOT = Path(__file__).resolve().parents[1]
N_INCIDENTS = 10_000

#: Installed in the page after its first complete frame: frame intervals and long tasks from now on.
RECORD = """() => { window.__bench = {frames: [], long: [], lists: [], actions: []};
  let last = performance.now();
  const tick = (t) => { window.__bench.frames.push(t - last); last = t; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__bench.long.push([e.startTime, e.duration]);
  }).observe({type: 'longtask', buffered: false}); }"""

#: One filter change, timed synchronously (the list redraw is the change handler's own work).
FILTER = """([id, value]) => { const el = document.getElementById(id); if (!el) return -1;
  const t0 = performance.now(); el.value = value; el.dispatchEvent(new Event('change'));
  const ms = performance.now() - t0; window.__bench.lists.push(ms); return ms; }"""


def _run(browser: Any, url: str, key: str) -> dict[str, Any]:
    """Open the page as an operator, run the actions, return frame and task figures."""
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
    page = ctx.new_page()
    try:
        page.goto(f"{url}/login?" + urlencode({"key": key, "next": "/"}))
        page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=600_000)
        page.wait_for_function("window.__viewer.inc.labels !== null", timeout=120_000)
        page.wait_for_timeout(3000)  # the loads after the first frame settle
        held = page.evaluate("window.__viewer.inc.items.size")
        listed = page.evaluate("document.querySelectorAll('#incident-list li.incident').length")
        page.evaluate(RECORD)

        def mark(name: str) -> None:
            page.evaluate(f"window.__bench.actions.push([{name!r}, performance.now()])")

        mark("idle")
        page.wait_for_timeout(1000)
        for sel, value in (("f-status", ""), ("f-status", "open"), ("f-ward", "05977"), ("f-ward", "")):
            mark(f"{sel}={value or 'all'}")
            page.evaluate(FILTER, [sel, value])
            page.wait_for_timeout(700)
        first = page.locator("#incident-list [data-open]").first
        if first.count():
            mark("open incident")
            first.click()
            page.wait_for_timeout(1200)
            mark("incident tab")
            page.click("#tab-alerts")
            page.wait_for_timeout(500)
        mark("scroll list")
        page.evaluate("document.getElementById('panel-right').scrollTop = 4000")
        page.wait_for_timeout(700)
        for dx in (300, -300, 300):
            mark(f"pan {dx}")
            page.evaluate(f"window.__map.panBy([{dx}, 0], {{duration: 600}})")
            page.wait_for_timeout(1200)
        got = page.evaluate("window.__bench")
    finally:
        ctx.close()
    frames = [f for f in got["frames"][1:] if f > 0]
    return {
        "held": held,
        "listed": listed,
        "frames": len(frames),
        "max_frame_ms": max(frames, default=0.0),
        "p95_frame_ms": statistics.quantiles(frames, n=20)[-1]
        if len(frames) >= 20
        else max(frames, default=0.0),
        "over_100ms": sum(1 for f in frames if f > 100),
        "long_tasks": len(got["long"]),
        "max_long_task_ms": max((d for _, d in got["long"]), default=0.0),
        "long_by_action": _by_action(got),
        "list_redraw_ms": got["lists"],
    }


def _by_action(got: dict[str, Any]) -> dict[str, float]:
    """Return the longest main-thread task (ms) after each action, up to the next one."""
    out: dict[str, float] = {}
    acts = got["actions"]
    for start, dur in got["long"]:
        name = next((n for n, t in reversed(acts) if t <= start), "before")
        out[name] = round(max(out.get(name, 0.0), dur), 1)
    return out


def _serve(tmp: Path, data: Path, incidents: int) -> tuple[Any, str]:
    from tests.e2e.conftest import _server  # noqa: PLC0415

    state = tmp / "state"
    if incidents:
        key = seed(state, incidents)
    else:
        store = open_store(default_dsn(state))
        key, _ = create_key(store, "operator", "bench")
        store.close()
    srv = _server(tmp, data)
    srv.factory = "api.app:create_app"
    srv.env["TWIN_LIMIT_ENABLED"] = "false"
    srv.start(timeout=300)
    return srv, key


def main() -> None:
    """Run both pages and write bench/results/viewer_frames.json."""
    base, data = workspace("bench-viewer-frames-")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415  (dev dependency)

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: PLC0415

    out: dict[str, dict[str, Any]] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for name, n in (("ours", N_INCIDENTS), ("peer", 0)):
            tmp = base / name
            tmp.mkdir()
            t0 = time.perf_counter()
            srv, key = _serve(tmp, data, n)
            took = time.perf_counter() - t0
            print(f"{name}: {n:,} incidents seeded and served in {took:.1f} s", flush=True)
            try:
                out[name] = _run(browser, srv.url, key)
            finally:
                srv.stop()
            print(name, {k: v for k, v in out[name].items() if k != "list_redraw_ms"}, flush=True)
        browser.close()
    o, p = out["ours"], out["peer"]
    common = {
        "viewport": "1920x1080",
        "browser": "headless Chromium, SwiftShader (no GPU)",
        "synthetic": True,
        "open_incidents": N_INCIDENTS,
        "incidents_held_by_page": o["held"],
        "incidents_listed": o["listed"],
        "goal": "no frame over 100 ms",
    }
    peer = "same page, no incidents"
    frames = {
        "frames": o["frames"],
        "peer_frames": p["frames"],
        "p95_frame_ms": round(o["p95_frame_ms"], 1),
        "peer_p95_frame_ms": round(p["p95_frame_ms"], 1),
        "frames_over_100ms": o["over_100ms"],
        "peer_frames_over_100ms": p["over_100ms"],
    }
    redraw = max(o["list_redraw_ms"], default=0.0)
    peer_redraw = max(p["list_redraw_ms"], default=0.0)
    rows = [
        Row("viewer_frames_max_ms_10k_incidents", round(o["max_frame_ms"], 1), peer,
            round(p["max_frame_ms"], 1), "ms", "lower", extra={**common, **frames}),
        Row("viewer_long_task_max_ms_10k_incidents", round(o["max_long_task_ms"], 1), peer,
            round(p["max_long_task_ms"], 1), "ms", "lower",
            extra={**common, "long_tasks": o["long_tasks"], "peer_long_tasks": p["long_tasks"],
                   "by_action_ms": o["long_by_action"], "peer_by_action_ms": p["long_by_action"]}),
        Row("viewer_incident_list_redraw_ms", round(redraw, 1), peer, round(peer_redraw, 1), "ms", "lower",
            extra={**common, "redraws_ms": [round(x, 1) for x in o["list_redraw_ms"]]}),
    ]  # fmt: skip
    print(write_results("viewer_frames", rows))


if __name__ == "__main__":
    main()
