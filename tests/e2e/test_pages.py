"""The pages people other than the IOC desk see, and the keyboard, in a real browser.

* The **public page** (no sign-in) and the **planner's page** at 1920×1080, 1280×800 and 390×844: no
  developer text (HTTP codes, scope names, commands, raw translation keys), Vietnamese with its
  diacritics and English, nothing laid over the title, the coarse hexagons drawn where the events are.
* The **top bar** at each size: every status badge shown whole (its text not cut, its box inside the
  bar and clear of its neighbours), in both languages.
* The **keyboard**: every control reached with Tab and drawn with a focus ring (pixels of the ring's
  colour around it), the tabs of the right panel with the arrows, the help dialog keeping the focus
  inside and giving it back when it closes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from api.auth.keys import create_key
from api.store import default_dsn, open_store
from tests.e2e.conftest import LOGIN, Page, Server, _server, open_viewer

pytestmark = pytest.mark.browser

SIZES = [(1920, 1080), (1280, 800), (390, 844)]
KEYS: dict[str, str] = {}
#: What a citizen or a planner must never read on their page.
DEVELOPER_TEXT = re.compile(
    r"HTTP|\b40[13]\b|scope|\btwin (keys|serve|scenario|data)|`|\bl_[a-z]|\b(GET|POST) /|Bearer|X-API-Key|"
    r"undefined|NaN|\{\w+\}|Open311|Viewer error"
)
RING = (255, 179, 0)  # --warn: the focus ring's colour


@pytest.fixture(scope="module")
def site(browser_ok: None, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Server]:
    """A server with a planner and a citizen key, 12 events at one camera and one citizen report."""
    tmp = tmp_path_factory.mktemp("pages")
    before = dict(LOGIN)  # the session server's sign-in, given back when this module is done
    srv = _server(tmp, data_dir)
    store = open_store(default_dsn(tmp / "state"))
    try:
        KEYS["planner"], _ = create_key(store, "planner", "Phòng Quản lý đô thị")
        KEYS["citizen"], _ = create_key(store, "reporter", "Ứng dụng người dân")
    finally:
        store.close()
    KEYS["admin"] = srv.key
    srv.start()
    cams = httpx.get(f"{srv.url}/cameras", timeout=30, headers=srv.headers).json()["features"]
    cam = next(c for c in cams if c["properties"]["connected"] and c["properties"]["ward_code"] == "05977")
    now = datetime.now(UTC)
    events = [
        {"event_id": f"e2e-pages-{i}", "camera_id": cam["properties"]["camera_id"], "category": "congestion",
         "confidence": 0.9, "start_time": (now - timedelta(minutes=5 + i)).isoformat().replace("+00:00", "Z")}
        for i in range(12)
    ]  # fmt: skip
    r = httpx.post(f"{srv.url}/events/batch", json={"events": events}, timeout=30, headers=srv.headers)
    assert r.status_code == 200, r.text
    body = {"service_code": "environmental_sanitation", "lat": 21.8475, "long": 106.7612,
            "description": "Rác để lâu ngày (thử nghiệm)"}  # fmt: skip
    r = httpx.post(f"{srv.url}/open311/v2/requests.json", json=body, timeout=10,
                   headers={"X-API-Key": KEYS["citizen"]})  # fmt: skip
    assert r.status_code == 201, r.text
    yield srv
    srv.stop()
    LOGIN.clear()
    LOGIN.update(before)


def page_as(role: str | None, site: Server, chromium: Any, width: int, height: int, query: str = "") -> Page:
    """Open the viewer signed in as `role` (None: nobody, the public page)."""
    LOGIN.pop("key", None)
    if role:
        LOGIN["key"] = KEYS[role]
    return open_viewer(chromium, site.url, width=width, height=height, query=query)


def visible_text(p: Page) -> str:
    """Return the text a person can read on the page (innerText skips what is hidden)."""
    return str(p.page.evaluate("document.body.innerText"))


def for_people(p: Page, title: str) -> None:
    """The page reads `title`, shows no developer text, no sign-in notice and no error banner."""
    text = visible_text(p)
    assert not DEVELOPER_TEXT.search(text), DEVELOPER_TEXT.search(text)
    assert title in p.page.inner_text(".topbar h1")
    assert p.page.locator("#auth-notice").count() == 0
    assert p.page.is_hidden("#banner")


def in_english(p: Page, title: str) -> None:
    """Switch the page to English: the same holds there."""
    p.page.click("#btn-lang")
    p.page.wait_for_function("document.documentElement.lang === 'en'")
    for_people(p, title)


def nothing_over_the_title(p: Page) -> None:
    """The title is what is drawn at its own centre (no banner or notice laid over it)."""
    over = p.page.evaluate(
        """() => { const h = document.querySelector('.topbar h1'); const r = h.getBoundingClientRect();
        const el = document.elementFromPoint(r.left + Math.min(r.width / 2, 60), r.top + r.height / 2);
        return !!el && h.contains(el); }"""
    )
    assert over, "something is drawn over the title"


def badges_whole(p: Page) -> None:
    """Every shown badge of the top bar: text not cut, box inside the bar, clear of its neighbours."""
    boxes = p.page.evaluate(
        """() => { const bar = document.querySelector('.topbar').getBoundingClientRect();
        const sel = '.topbar h1, .topbar .search, .topbar .badge, .topbar .actions';
        const parts = [...document.querySelectorAll(sel)].filter(el => el.offsetParent !== null);
        return { bar: [bar.left, bar.top, bar.right, bar.bottom, innerWidth],
          parts: parts.map(el => { const r = el.getBoundingClientRect();
            return { id: el.id || el.className, text: el.textContent.trim(),
              box: [r.left, r.top, r.right, r.bottom],
              cut: el.classList.contains('badge') && el.scrollWidth > el.clientWidth + 1 }; }) }; }"""
    )
    left, top, right, bottom, vw = boxes["bar"]
    parts = boxes["parts"]
    assert any(x["id"] == "stream-status" for x in parts)
    for x in parts:
        x0, y0, x1, y1 = x["box"]
        assert not x["cut"], f"{x['id']} is cut: {x['text']!r}"
        assert x0 >= left - 0.5, (x["id"], x["box"], boxes["bar"])
        assert x1 <= min(right, vw) + 0.5, (x["id"], x["box"], boxes["bar"])
        assert y0 >= top - 0.5, (x["id"], x["box"], boxes["bar"])
        assert y1 <= bottom + 0.5, (x["id"], x["box"], boxes["bar"])
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            ax0, ay0, ax1, ay1 = a["box"]
            bx0, by0, bx1, by1 = b["box"]
            overlap = min(ax1, bx1) - max(ax0, bx0) > 1 and min(ay1, by1) - max(ay0, by0) > 1
            assert not overlap, (a["id"], a["box"], b["id"], b["box"])


def coarse_cell_drawn(p: Page) -> int:
    """Return the count of the hexagon picked at the pixel of the busiest cell's centre (0: none there)."""
    return int(
        p.page.evaluate(
            """() => new Promise(res => {
          const layer = window.__deck._deck.layerManager.getLayers().find(l => l.id === 'cells');
          if (!layer || !layer.props.data.length) return res(0);
          const d = [...layer.props.data].sort((a, b) => b.count - a.count)[0];
          const ring = layer.props.getPolygon(d);
          const c = ring.slice(0, -1).reduce((s, q) => [s[0] + q[0], s[1] + q[1]], [0, 0])
            .map(v => v / (ring.length - 1));
          window.__map.jumpTo({center: c});
          setTimeout(() => { const q = window.__map.project(c);
            const o = window.__deck.pickObject({x: q.x, y: q.y, radius: 2, layerIds: ['cells']});
            res(o && o.object.cell === d.cell ? o.object.count : 0); }, 800); })"""
        )
    )


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_public_page_is_for_people(chromium: Any, site: Server, width: int, height: int) -> None:
    p = page_as(None, site, chromium, width, height)
    try:
        p.page.wait_for_function("window.__viewer.drawnCells.length > 0", timeout=20_000)
        p.page.wait_for_timeout(800)
        for_people(p, "Bản đồ Lạng Sơn — số liệu công khai")
        assert "Số liệu tổng hợp · cập nhật" in p.page.inner_text("#stream-status")
        assert p.page.is_hidden(".timebar")  # no replay without the event history
        assert p.page.is_hidden("#tab-alerts")
        assert p.page.is_hidden("#camera-summary")
        nothing_over_the_title(p)
        if width > 700:
            layers = p.page.inner_text("#layer-list")
            assert "Sự kiện mới" not in layers
            assert "Camera\n" not in layers
            badges_whole(p)
        # the public explanation and the citizen report, in words
        assert "Bản đồ công khai của thành phố" in p.page.inner_text("#pane-about")
        p.page.click("#tab-feed")
        feed = p.page.inner_text("#feed-list")
        assert "Vệ sinh môi trường" in feed
        p.page.locator("#feed-list .feed-item").first.click()
        details = p.page.inner_text("#details")
        assert "đang xử lý" in details
        assert "Mã phản ánh" in details
        # what is drawn: the coarse hexagon over the events (12 at one camera, res 8)
        assert p.state("S.serverCells.every(c => c.cell.length === 15)")
        assert coarse_cell_drawn(p) >= 3
        p.screenshot(f"public-{width}x{height}")
        in_english(p, "Lạng Sơn map — public figures")
        assert "Aggregated figures · updated" in p.page.inner_text("#stream-status")
        if width > 700:
            badges_whole(p)
        # and no stream retrying a refusal in the background
        assert not [u for u in p.requests if "/stream" in u]
    finally:
        p.page.context.close()


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_planner_page_has_no_operator_errors(chromium: Any, site: Server, width: int, height: int) -> None:
    p = page_as("planner", site, chromium, width, height, query="?lang=vi")
    try:
        p.page.wait_for_function("window.__viewer.cameras.length === 238", timeout=20_000)
        p.page.wait_for_timeout(1500)
        for_people(p, "Bản đồ quy hoạch — Lạng Sơn")
        assert p.page.is_hidden("#tab-alerts")  # incidents are the IOC's and the units'
        assert p.page.get_attribute("#tab-cameras", "aria-selected") == "true"
        nothing_over_the_title(p)
        rows = p.page.locator("#camera-table tbody tr")
        assert rows.count() == 50
        assert re.search(r"Phường \w", rows.first.inner_text())  # the ward in words, not its code
        if width > 700:
            assert p.page.is_visible("#fs-scenarios")
            assert "Chưa có lượt chạy mô phỏng nào đã xong." in p.page.inner_text("#scenario-status")
            assert "Sự kiện mới" not in p.page.inner_text("#layer-list")
            badges_whole(p)
        p.screenshot(f"planner-{width}x{height}")
        in_english(p, "Planning map — Lạng Sơn")
        assert not [u for u in p.requests if "/stream" in u]
    finally:
        p.page.context.close()


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_operator_top_bar_shows_every_badge_whole(
    chromium: Any, site: Server, width: int, height: int
) -> None:
    p = page_as("admin", site, chromium, width, height)
    try:
        p.page.wait_for_function("window.__viewer.stream.state === 'open'", timeout=20_000)
        p.page.wait_for_function(
            "document.getElementById('camera-summary').textContent.includes('238')", timeout=20_000
        )
        if width > 700:
            assert "/238 camera trực tuyến · 50 đã kết nối" in p.page.inner_text("#camera-summary")
        badges_whole(p)
        nothing_over_the_title(p)
        p.page.click("#btn-lang")
        p.page.wait_for_function("document.documentElement.lang === 'en'")
        badges_whole(p)
        p.screenshot(f"topbar-{width}x{height}")
    finally:
        p.page.context.close()


def _ring_pixels(p: Page, selector: str) -> int:
    """Count pixels of the focus ring's colour in a band around the element (screenshot of the page)."""
    box = p.page.locator(selector).bounding_box()
    assert box
    pad = 6
    clip = {"x": max(0, box["x"] - pad), "y": max(0, box["y"] - pad),
            "width": box["width"] + 2 * pad, "height": box["height"] + 2 * pad}  # fmt: skip
    px = np.asarray(Image.open(io.BytesIO(p.page.screenshot(clip=clip))).convert("RGB"), dtype=int)
    ring = (abs(px[..., 0] - RING[0]) < 40) & (abs(px[..., 1] - RING[1]) < 50) & (px[..., 2] < 90)
    return int(ring.sum())


def tab_to(p: Page, selector: str, limit: int = 160) -> int:
    """Press Tab until `selector` has the focus; return how many presses it took."""
    for n in range(1, limit + 1):
        p.page.keyboard.press("Tab")
        if p.page.evaluate(f"document.activeElement === document.querySelector({selector!r})"):
            return n
    pytest.fail(f"{selector} is not reached with Tab in {limit} presses")


def test_keyboard_reaches_every_control_with_a_visible_ring(chromium: Any, site: Server) -> None:
    p = page_as("admin", site, chromium, 1280, 800)
    try:
        p.page.wait_for_function("window.__viewer.stream.state === 'open'", timeout=20_000)
        p.page.wait_for_selector("#incident-list")
        # Tab through the whole page once: every control is reached
        p.page.focus("body")
        seen = p.page.evaluate(
            """() => new Promise(res => {
              const got = new Set();
              const on = () => { const a = document.activeElement; got.add(
                a.id || a.getAttribute('data-toggle') || a.getAttribute('aria-label') || a.className); };
              document.addEventListener('focusin', on); res(got); window.__seen = got; })"""
        )
        assert seen == {}
        for _ in range(140):
            p.page.keyboard.press("Tab")
        reached = set(p.page.evaluate("[...window.__seen]"))
        wanted = {
            "search", "btn-export-png", "btn-export-geojson", "btn-export-html", "btn-lang", "btn-help",
            "cells", "hotspots", "events", "cameras", "sel-category", "sel-window", "sel-run", "sel-compare",
            "tab-alerts", "f-status", "f-category", "f-ward", "f-unit", "f-overdue",
            "btn-play", "btn-live", "time-slider", "sel-speed", "Zoom in", "Zoom out",
        }  # fmt: skip
        assert wanted <= reached, wanted - reached
        # a focus ring is drawn around what has the focus (and not when it has not)
        for sel in (
            "#search",
            "#btn-help",
            '#layer-list [data-toggle="cells"]',
            "#tab-alerts",
            "#sel-window",
        ):
            p.page.evaluate("document.activeElement.blur()")
            p.page.mouse.click(640, 790)  # the time bar's empty edge: nothing focused there
            before = _ring_pixels(p, sel)
            tab_to(p, sel)
            after = _ring_pixels(p, sel)
            box = p.page.locator(sel).bounding_box()
            assert box
            perimeter = 2 * (box["width"] + box["height"])
            assert after - before > 0.8 * perimeter, (sel, before, after, perimeter)
        p.page.evaluate("document.activeElement.blur()")
        tab_to(p, "#tab-alerts")
        p.screenshot("keyboard-focus-ring-1280x800")
        # the tabs: arrows move between them (and never step the time)
        p.page.keyboard.press("ArrowRight")
        assert p.page.evaluate("document.activeElement.id") == "tab-cameras"
        assert p.page.get_attribute("#tab-cameras", "aria-selected") == "true"
        assert p.page.is_visible("#camera-table")
        p.page.keyboard.press("End")  # an admin's last tab is the planner's "author" tab
        assert p.page.evaluate("document.activeElement.id") == "tab-author"
        p.page.keyboard.press("Home")
        assert p.page.evaluate("document.activeElement.id") == "tab-alerts"
        assert p.state("S.time.mode") == "live"
        # the help dialog: opened from its button, Tab stays inside, Esc closes it, focus comes back
        p.page.evaluate("document.activeElement.blur()")
        tab_to(p, "#btn-help")
        p.page.keyboard.press("Enter")
        p.page.wait_for_selector("#help[open]")
        for _ in range(5):
            p.page.keyboard.press("Tab")
            assert p.page.evaluate("document.getElementById('help').contains(document.activeElement)")
        p.page.keyboard.press("Shift+Tab")
        assert p.page.evaluate("document.getElementById('help').contains(document.activeElement)")
        p.screenshot("keyboard-help-dialog-1280x800")
        p.page.keyboard.press("Escape")
        p.page.wait_for_selector("#help:not([open])", state="attached")
        assert p.page.evaluate("document.activeElement.id") == "btn-help"
        # "?" from the search box's neighbour opens it too and gives the focus back there
        tab_to(p, "#btn-lang")
        p.page.keyboard.press("?")
        p.page.wait_for_selector("#help[open]")
        p.page.keyboard.press("Enter")  # the Close button has the focus
        p.page.wait_for_selector("#help:not([open])", state="attached")
        assert p.page.evaluate("document.activeElement.id") == "btn-lang"
        assert p.state("S.time.mode") == "live"
    finally:
        p.page.context.close()
