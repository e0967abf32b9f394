"""The operator's day in a real browser: incidents grouped, assigned to a unit from the IOC, handled by
that unit's key on the phone view and resolved, the citizen's Open311 request showing the notes; the
search box, the camera table, camera clustering and keyboard focus. Each test reads what is drawn or
shown (the DOM, `window.__deck.pickObject`, the stored incident), at 1920×1080, 1280×800 and 390×844.

The module runs its own server: a congestion window of 6 s and a 3-event threshold make "still
congested a window later" (a second occurrence, grouped into the same incident) happen in seconds.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from api.auth.keys import create_key
from api.store import default_dsn, open_store
from tests.e2e.conftest import ARTIFACTS, LOGIN, Page, Server, _server, open_viewer

pytestmark = pytest.mark.browser

UNIT = "csgt-tinh"  # the operator hands the incidents to the Provincial Traffic Police
KEYS: dict[str, str] = {}


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def ops(browser_ok: None, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Server]:
    """A server with a short congestion window, and keys: admin, a unit key of `UNIT`, a citizen."""
    tmp = tmp_path_factory.mktemp("ops")
    before = dict(LOGIN)  # the session server's sign-in, given back when this module is done
    srv = _server(tmp, data_dir)
    srv.env.update({"TWIN_LIVE_CONGESTION_WINDOW_MIN": "0.1", "TWIN_LIVE_CONGESTION_COUNT": "3"})
    store = open_store(default_dsn(tmp / "state"))
    try:
        KEYS["unit"], rec = create_key(store, "unit", "Tổ CSGT số 3")
        store.bind_unit_key(rec.key_id, UNIT).result(timeout=30)
        KEYS["citizen"], _ = create_key(store, "reporter", "Ứng dụng người dân")
    finally:
        store.close()
    KEYS["admin"] = srv.key
    srv.start()
    yield srv
    srv.stop()
    LOGIN.clear()
    LOGIN.update(before)


def as_(role: str, url: str, chromium: Any, *, width: int, height: int, query: str = "") -> Page:
    LOGIN["key"] = KEYS[role]
    return open_viewer(chromium, url, width=width, height=height, query=query)


def shot(p: Page, name: str) -> Path:
    p.page.wait_for_timeout(400)
    return p.screenshot(name)


def jpeg_file(tmp: Path) -> Path:
    path = tmp / "hien-truong.jpg"
    img = Image.new("RGB", (320, 240), (90, 110, 130))
    for x in range(320):
        for y in range(100, 140):
            img.putpixel((x, y), (40, 40, 40))  # a road across the picture
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    path.write_bytes(buf.getvalue())
    return path


def connected_camera(server: Server, ward: str) -> dict[str, Any]:
    cams = httpx.get(f"{server.url}/cameras", timeout=30, headers=server.headers).json()["features"]
    return next(c["properties"] | {"lonlat": c["geometry"]["coordinates"]} for c in cams
                if c["properties"]["connected"] and c["properties"]["ward_code"] == ward)  # fmt: skip


def jam(server: Server, camera: str, tag: str) -> None:
    now = datetime.now(UTC)
    events = [
        {"event_id": f"e2e-ops-{tag}-{i}", "camera_id": camera, "category": "congestion",
         "confidence": 0.9, "start_time": _iso(now - timedelta(seconds=3 - i))}
        for i in range(3)
    ]  # fmt: skip
    r = httpx.post(f"{server.url}/events/batch", json={"events": events}, timeout=30, headers=server.headers)
    assert r.status_code == 200, r.text


def stored(server: Server, incident_id: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/incidents/{incident_id}", timeout=10, headers=server.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_alert_grouped_assigned_and_resolved_from_the_phone(
    chromium: Any, ops: Server, tmp_path: Path
) -> None:
    cam = connected_camera(ops, "06187")  # Kỳ Lừa
    # --- the IOC wall (1920×1080): a jam, still there a window later: one incident, two occurrences
    wall = as_("admin", ops.url, chromium, width=1920, height=1080)
    try:
        jam(ops, cam["camera_id"], "a")
        wall.page.wait_for_selector("#incident-list .inc-open", timeout=15_000)
        time.sleep(7)  # the 6 s window passes; the cell is congested again
        jam(ops, cam["camera_id"], "b")
        wall.page.wait_for_selector("#incident-list .count-badge", timeout=15_000)
        items = wall.page.locator("#incident-list li.incident")
        assert items.count() == 1
        text = items.first.inner_text()
        assert "×2" in text
        assert "Ùn tắc" in text
        assert "Kỳ Lừa" in text
        assert "Đã giao đơn vị" in text
        assert "Công an phường Kỳ Lừa" in text
        inc_id = items.first.locator("[data-open]").get_attribute("data-open")
        inc = stored(ops, inc_id)
        assert inc["count"] == 2
        assert inc["street"]
        assert inc["street"] in text
        # the operator opens it and hands it to the provincial traffic police, with a note
        items.first.locator("[data-open]").click()
        wall.page.wait_for_selector("#inc-assign")
        wall.page.select_option("#inc-unit", UNIT)
        wall.page.fill("#inc-note", "Giao CSGT tỉnh phân luồng")
        wall.page.click("#inc-assign")
        wall.page.wait_for_function(f"window.__viewer.inc.detail?.unit_id === '{UNIT}'", timeout=10_000)
        history = wall.page.inner_text("ol.history")
        assert "Giao cho Phòng Cảnh sát giao thông Công an tỉnh" in history
        assert "Giao CSGT tỉnh phân luồng" in history
        assert "browser tests [" in history  # who: the signed-in key, not anything the page sent
        # drawn: a ring at the incident's place (pickable at its pixel)
        picked = wall.page.evaluate(
            """(id) => { const d = window.__viewer.inc.items.get(id);
            const p = window.__map.project(d.position);
            return (window.__deck.pickMultipleObjects({x: p.x, y: p.y, radius: 4, layerIds: ['incidents']})
                    .map(o => o.object.incident_id)); }""",
            inc_id,
        )
        if picked:  # not under a panel
            assert inc_id in picked
        shot(wall, "incidents-wall-1920x1080")
    finally:
        wall.page.context.close()

    # --- the field (390×844): the traffic police key sees its queue, acts on site, resolves with a photo
    phone = as_("unit", ops.url, chromium, width=390, height=844, query="?view=field")
    try:
        phone.page.wait_for_selector(f'#field [data-open="{inc_id}"]', timeout=15_000)
        assert phone.page.locator("#field li.incident").count() == 1  # only its own unit's incidents
        assert "Sự cố được giao cho tôi" in phone.page.inner_text("#field")
        # nothing of the IOC desk on the phone: no layer panel, no time bar, no auth banner
        assert phone.page.is_hidden("#panel-layers")
        assert phone.page.is_hidden(".timebar")
        assert phone.page.locator("#auth-notice").count() == 0
        shot(phone, "incidents-phone-list-390x844")
        phone.page.click(f'#field [data-open="{inc_id}"]')
        phone.page.wait_for_selector("#field #inc-h")
        phone.page.wait_for_function(
            """() => { const c = window.__map.getCenter(); const d = window.__viewer.inc.detail;
            return Math.abs(c.lng - d.lon) < 0.002 && Math.abs(c.lat - d.lat) < 0.002
              && window.__map.getZoom() >= 15.9; }""",
            timeout=10_000,
        )
        # the sheet and the map share the screen without overlap
        sheet = phone.page.locator("#field").bounding_box()
        mapbox = phone.page.locator("#map").bounding_box()
        assert sheet
        assert mapbox
        assert mapbox["y"] + mapbox["height"] <= sheet["y"] + 1
        assert sheet["height"] > 300
        buttons = phone.page.locator("#field .inc-actions button[data-status]")
        assert {buttons.nth(i).inner_text() for i in range(buttons.count())} <= {
            "Đã tiếp nhận",
            "Đang xử lý",
            "Đã xử lý xong",
        }
        phone.page.fill("#inc-note", "Đã có mặt, đang phân luồng")
        phone.page.click('#field button[data-status="in_progress"]')
        phone.page.wait_for_function("window.__viewer.inc.detail?.status === 'in_progress'", timeout=10_000)
        phone.page.fill("#inc-note", "Đã thông xe")
        phone.page.set_input_files("#inc-photo", str(jpeg_file(tmp_path)))
        # the page's own photo button, in the page's language, names the chosen file
        assert "Chọn ảnh…" in phone.page.inner_text("#field .file-btn")
        assert phone.page.inner_text("#inc-photo-name") == "hien-truong.jpg"
        phone.page.click('#field button[data-status="resolved"]')
        phone.page.wait_for_function("window.__viewer.inc.detail?.status === 'resolved'", timeout=15_000)
        phone.page.wait_for_selector("#field .snapshots img")
        phone.page.wait_for_function(  # the photo has loaded (not only its <img> been written)
            "document.querySelector('#field .snapshots img').complete", timeout=10_000
        )
        natural = phone.page.evaluate("document.querySelector('#field .snapshots img').naturalWidth")
        assert natural == 320  # the photo itself is shown back, not a broken image
        history = phone.page.inner_text("#field ol.history")
        assert "Đã thông xe" in history
        assert "Tổ CSGT số 3 [" in history
        shot(phone, "incidents-phone-resolved-390x844")
    finally:
        phone.page.context.close()
    final = stored(ops, inc_id)
    assert final["status"] == "resolved"
    assert [c["action"] for c in final["changes"]][-3:] == ["assign", "status", "status"]
    assert final["changes"][-1]["role"] == "unit"
    assert final["changes"][-1]["snapshot_id"]
    # the alerts behind the incident follow it
    alerts = httpx.get(f"{ops.url}/alerts", timeout=10, headers=ops.headers).json()["features"]
    mine = [f["properties"] for f in alerts if f"alert:{f['properties']['alert_id']}" in final["sources"]]
    assert mine
    assert all(a["status"] == "resolved" for a in mine)


def test_citizen_report_assigned_handled_and_notes_reach_the_citizen(chromium: Any, ops: Server) -> None:
    citizen = {"X-API-Key": KEYS["citizen"]}
    body = {
        "service_code": "traffic_safety", "lat": 21.8555, "long": 106.7468,
        "description": "Xe đỗ lấn làn gần động Tam Thanh", "address_string": "Đường Tam Thanh",
    }  # fmt: skip
    r = httpx.post(f"{ops.url}/open311/v2/requests.json", json=body, headers=citizen, timeout=10)
    assert r.status_code == 201, r.text
    rid = r.json()[0]["service_request_id"]
    desk = as_("admin", ops.url, chromium, width=1280, height=800)
    try:
        desk.page.select_option("#f-category", "traffic_safety")
        row = desk.page.locator("#incident-list li.incident").first
        row.wait_for(timeout=10_000)
        assert "Phản ánh: Trật tự an toàn giao thông" in row.inner_text()
        row.locator("[data-open]").click()
        desk.page.wait_for_selector("#inc-assign")
        desk.page.select_option("#inc-unit", UNIT)
        desk.page.click("#inc-assign")
        desk.page.wait_for_function(f"window.__viewer.inc.detail?.unit_id === '{UNIT}'", timeout=10_000)
        inc_id = desk.state("S.inc.detail.incident_id")
        shot(desk, "incidents-desk-1280x800")
    finally:
        desk.page.context.close()
    (req,) = httpx.get(f"{ops.url}/open311/v2/requests/{rid}.json", headers=citizen, timeout=10).json()
    assert req["agency_responsible"].startswith("Phòng Cảnh sát giao thông Công an tỉnh")
    phone = as_("unit", ops.url, chromium, width=390, height=844, query="?view=field&lang=en")
    try:
        phone.page.click(f'#field [data-open="{inc_id}"]')
        phone.page.wait_for_selector("#field #inc-h")
        assert "Citizen report: Traffic order and safety" in phone.page.inner_text("#field #inc-h")
        phone.page.fill("#inc-note", "Vehicle moved, lane clear")
        phone.page.click('#field button[data-status="resolved"]')
        phone.page.wait_for_function("window.__viewer.inc.detail?.status === 'resolved'", timeout=10_000)
    finally:
        phone.page.context.close()
    (req,) = httpx.get(f"{ops.url}/open311/v2/requests/{rid}.json", headers=citizen, timeout=10).json()
    assert req["status"] == "closed"
    assert req["status_notes"] == "Đã xử lý xong / Resolved: Vehicle moved, lane clear"


def test_stale_revision_is_reloaded_not_overwritten(chromium: Any, ops: Server) -> None:
    cam = connected_camera(ops, "05977")  # Đông Kinh
    jam(ops, cam["camera_id"], "stale")
    desk = as_("admin", ops.url, chromium, width=1280, height=800)
    try:
        desk.page.wait_for_selector('#f-ward option[value="05977"]', state="attached")
        desk.page.select_option("#f-ward", "05977")
        desk.page.locator("#incident-list [data-open]").first.click()
        desk.page.wait_for_selector("#inc-form")
        inc = desk.state("S.inc.detail")
        desk.page.fill("#inc-note", "Tôi cũng xử lý")
        # another operator moves it on meanwhile: the stream brings the new revision to this page,
        # which redraws it without losing the note being typed
        r = httpx.post(f"{ops.url}/incidents/{inc['incident_id']}/status", json={"status": "in_progress"},
                       headers={**ops.headers, "If-Match": f'"{inc["revision"]}"'}, timeout=10)  # fmt: skip
        assert r.status_code == 200, r.text
        desk.page.wait_for_function("window.__viewer.inc.detail.status === 'in_progress'", timeout=10_000)
        assert "Đang xử lý" in desk.page.inner_text(".incident-detail dl")
        assert desk.page.input_value("#inc-note") == "Tôi cũng xử lý"
        # a click that races the update (sent on the old revision) is refused and reloaded, not merged
        desk.page.evaluate("window.__viewer.inc.detail.revision -= 1")
        desk.page.click('#inc-form button[data-status="resolved"]')
        desk.page.wait_for_function(
            "document.getElementById('inc-msg')?.textContent.includes('Người khác vừa cập nhật')",
            timeout=10_000,
        )
        assert desk.state("S.inc.detail.status") == "in_progress"
        assert desk.page.input_value("#inc-note") == "Tôi cũng xử lý"  # the typed note is kept
        shot(desk, "incidents-stale-1280x800")
    finally:
        desk.page.context.close()
    assert stored(ops, inc["incident_id"])["status"] == "in_progress"


def test_search_camera_table_clustering_and_keyboard(chromium: Any, ops: Server) -> None:
    desk = as_("admin", ops.url, chromium, width=1280, height=800)
    p = desk.page
    try:
        # search ignores diacritics and case
        p.fill("#search", "ky lua")
        p.wait_for_selector("#search-results li[role=option]")
        first = p.inner_text("#search-results li >> nth=0")
        assert "Kỳ Lừa" in first
        assert "Phường" in first
        p.keyboard.press("Enter")
        p.wait_for_function(
            """() => { const c = window.__map.getCenter(); const w = window.__viewer.wards.get('06187');
            return Math.hypot(c.lng - w.position[0], c.lat - w.position[1]) < 0.003; }""",
            timeout=10_000,
        )
        p.fill("#search", "CAU DONG KINH")
        p.wait_for_selector("#search-results li[role=option]")
        assert "Cầu Đông Kinh" in p.inner_text("#search-results")
        p.keyboard.press("Escape")
        # camera clustering at city zoom, and the not-connected cameras hidden by default
        p.evaluate("window.__map.jumpTo({center: [106.7578, 21.8478], zoom: 12.5})")
        p.wait_for_function("window.__viewer.zoom === 12.5")
        p.wait_for_timeout(500)
        clusters = p.evaluate(
            """() => { const l = window.__deck._deck.layerManager.getLayers()
              .find(x => x.id === 'camera-clusters');
            return l ? l.props.data.map(d => [d.count, d.status]) : null; }"""
        )
        connected = desk.state("S.cameras.filter(c => c.status !== 'not_connected').length")
        assert clusters is not None
        assert sum(n for n, _ in clusters) == connected < 238
        assert any(n > 1 for n, _ in clusters)
        assert (
            desk.state("window.__deck._deck.layerManager.getLayers().some(l => l.id === 'cameras')") is False
        )
        # zoomed in: single cameras, hexagons flat
        p.evaluate("window.__map.jumpTo({zoom: 15.5})")
        p.wait_for_function("window.__viewer.zoom === 15.5")
        p.wait_for_timeout(500)
        layers = p.evaluate(
            "() => Object.fromEntries(window.__deck._deck.layerManager.getLayers()"
            ".map(l => [l.id, l.props.extruded ?? null]))"
        )
        assert "cameras" in layers
        assert "camera-clusters" not in layers
        assert layers.get("cells") in (False, None)
        # the camera table: offline first, a row flies to its camera
        p.click("#tab-cameras")
        rows = p.locator("#camera-table tbody tr")
        rows.first.wait_for()
        statuses = [rows.nth(i).locator("td >> nth=1").inner_text() for i in range(min(rows.count(), 40))]
        order = {"mất kết nối": 0, "trực tuyến": 1, "chưa kết nối": 2}
        assert [order[s] for s in statuses] == sorted(order[s] for s in statuses)
        assert "chưa kết nối" not in statuses
        shot(desk, "camera-table-1280x800")
        target = rows.nth(3).get_attribute("data-cam")
        rows.nth(3).locator("button").click()
        p.wait_for_function(f"window.__viewer.selectedCamera === '{target}'", timeout=10_000)
        p.wait_for_function(
            f"""() => {{ const c = window.__map.getCenter();
            const k = window.__viewer.cameras.find(x => x.camera_id === '{target}');
            return Math.hypot(c.lng - k.position[0], c.lat - k.position[1]) < 0.001; }}""",
            timeout=10_000,
        )
        shot(desk, "camera-flown-1280x800")
        # keyboard: after a click on the map, ← pans and never steps time back into replay
        p.mouse.click(640, 400)
        p.keyboard.press("ArrowLeft")
        p.wait_for_timeout(300)
        assert desk.state("S.time.mode") == "live"
        # after using a control, the shortcuts still work (E switches the language)
        p.select_option("#sel-window", "3h")
        p.keyboard.press("e")
        p.wait_for_function("document.documentElement.lang === 'en'")
        p.keyboard.press("e")
        p.wait_for_function("document.documentElement.lang === 'vi'")
        # "/" goes to the search box
        p.mouse.click(640, 400)
        p.keyboard.press("/")
        assert p.evaluate("document.activeElement.id") == "search"
    finally:
        desk.page.context.close()
    assert ARTIFACTS.is_dir()
