"""The planner's workbench in the browser: a bridge closed for a window, run with a baseline, read on the map.

The scenario closes the stand-in's bridge (`tests.e2e.app_factory.BRIDGE`) from 07:20 to 07:40; the
page must draw it closed in those bins (pixels of the closed colour on the bridge), show the
difference scenario − baseline with its sign and unit, and list the KPI deltas exactly as
`twin scenario compare` prints them for the same two runs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from api.cli.base import app
from simulations.results import StoredResult, format_value
from tests.e2e.app_factory import BRIDGE, BRIDGE_NAME
from tests.e2e.conftest import (
    ARTIFACTS,
    LOGIN,
    Page,
    Server,
    _server,
    open_viewer,
    show_difference,
    wait_done,
)  # fmt: skip
from twin import h3grid

CLOSED = (233, 30, 200)  # viewer/src/layers.js CLOSED_COLOR
# The stand-in's bridge links 8 and 9 lie in its second row, third and fourth column (app_factory).
BRIDGE_MID = (106.745 + 0.004 * 2 + 0.0015, 21.838 + 0.004 * 1 + 0.00025)


def _closed_pixels(p: Page, name: str) -> int:
    """Return how many pixels near the bridge's midpoint have the closed colour (drawn, not state)."""
    x, y = p.page.evaluate(
        """([lon, lat]) => { const r = document.getElementById('map').getBoundingClientRect();
        const pt = window.__map.project([lon, lat]); return [pt.x + r.left, pt.y + r.top]; }""",
        list(BRIDGE_MID),
    )
    img = Image.open(p.screenshot(name)).convert("RGB")
    hits = 0
    for dx in range(-25, 26):
        for dy in range(-25, 26):
            px = img.getpixel((int(x) + dx, int(y) + dy))
            assert isinstance(px, tuple)
            if all(abs(int(c) - k) <= 30 for c, k in zip(px, CLOSED, strict=True)):
                hits += 1
    return hits


def _seek(p: Page, b: int) -> None:
    p.page.evaluate(
        "(b) => { const s = document.getElementById('sim-slider'); s.value = String(b);"
        " s.dispatchEvent(new Event('input', {bubbles: true})); }",
        b,
    )


def test_a_closed_bridge_is_drawn_closed_and_the_kpi_table_matches_the_cli(
    chromium: Any, server: Server, tmp_path: Path
) -> None:
    server.require("POST /scenarios", "GET /scenarios/{a}/compare/{b}")
    spec = {
        "schema_version": 1, "name": f"Đóng {BRIDGE_NAME} 07:20–07:40", "kind": "traffic", "seeds": [1, 2, 3],
        "horizon": "1h", "traffic": {"start": "07:00"},
        "changes": [
            {"type": "close", "name": BRIDGE_NAME, "links": list(BRIDGE), "start": "07:20", "end": "07:40"}
        ],
    }  # fmt: skip
    r = httpx.post(
        f"{server.url}/scenarios?with_baseline=true", json=spec, timeout=30, headers=server.headers
    )
    assert r.status_code == 202, r.text
    scenario, baseline = r.json()["id"], r.json()["baseline_id"]
    wait_done(server, baseline)
    wait_done(server, scenario)

    p = open_viewer(chromium, server.url)
    try:
        p.page.focus("#sel-run")
        p.page.wait_for_function(f"!!document.querySelector('#sel-run option[value=\"{scenario}\"]')")
        # A named run: its title and seeds, not an opaque id alone.
        label = p.page.inner_text(f'#sel-run option[value="{scenario}"]')
        assert spec["name"] in label
        assert "3" in label
        p.page.select_option("#sel-run", scenario)
        p.page.wait_for_function("window.__viewer.scenario.mode === 'series'")
        # The live layers step aside while a run is shown.
        assert (
            p.page.evaluate("window.__deck?.props?.layers?.some?.(l => l.id === 'events') ?? false") is False
        )
        p.page.evaluate(f"window.__map.jumpTo({{center: [{BRIDGE_MID[0]}, {BRIDGE_MID[1]}], zoom: 16.5}})")
        p.page.wait_for_timeout(300)
        # 07:25 (bin 5) lies in the closure: the bridge is drawn in the closed colour …
        _seek(p, 5)
        assert p.page.inner_text("#sim-label").endswith("07:25")
        p.page.wait_for_timeout(300)
        during = _closed_pixels(p, "planner-bridge-closed-0725")
        # … and at 07:05 (bin 1), before it, it is not.
        _seek(p, 1)
        p.page.wait_for_timeout(300)
        before = _closed_pixels(p, "planner-bridge-open-0705")
        assert during > 40, during
        assert before == 0, before

        # The difference map: scenario − baseline; the bridge carries fewer vehicles, in "veh".
        values = show_difference(p, baseline, "volume_veh_delta")
        assert values
        assert all(v < 0 for v in values)  # only the bridge lost traffic: the sign of scenario − baseline
        assert p.state("S.compare.doc.a.id") == baseline
        assert p.state("S.compare.doc.b.id") == scenario
        legend = p.page.inner_text("#layer-list")
        assert "veh" in legend
        assert format_value(-max(abs(v) for v in values), signed=True) in legend

        # The KPI table beside the map is the CLI's comparison of the same two runs.
        rows = p.page.eval_on_selector_all(
            "#kpi-table tbody tr",
            "trs => trs.map(tr => ({kpi: tr.dataset.kpi, delta: Number(tr.dataset.delta),"
            " text: tr.querySelector('td.delta').textContent, unit: tr.dataset.unit}))",
        )
        assert rows
        out = tmp_path / "cmp"
        state = server.env["TWIN_STATE_DIR"]
        res = CliRunner().invoke(app, ["scenario", "compare", baseline, scenario, "--out", str(out),
                                       "--state-dir", state])  # fmt: skip
        assert res.exit_code == 0, res.output
        cli = pd.read_csv(out / "kpis.csv").set_index("kpi")
        planning = cli[cli["group"] == "planning"]
        assert sorted(r["kpi"] for r in rows) == sorted(planning.index)
        for row in rows:
            expected = planning.loc[row["kpi"]]
            assert row["delta"] == pytest.approx(float(expected["delta"]))
            # the same figure as the CLI's table prints (both format with `format_value`)
            assert row["text"] == format_value(expected["delta"], str(expected["unit"]), signed=True)
            assert row["unit"] == str(expected["unit"])
        delay = next(r for r in rows if r["kpi"] == "traffic.mean_delay_s")
        assert delay["delta"] > 0
        assert "Holm" in p.page.inner_text("#kpi-table")
        ARTIFACTS.mkdir(exist_ok=True)
        p.screenshot("planner-kpi-table")
    finally:
        p.page.context.close()


# ------------------------------------------------------------------ authored on the map, real model

#: The bridge the planner clicks (a real bridge name of the synthetic network, gis_data/roads_synthetic.py).
REAL_BRIDGE = "Cầu Đông Kinh"
#: Raw ids of result layers and metrics that must never be what a planner reads.
RAW_ID = re.compile(r"\b(?:traffic|waste)\.[a-z_]+\b|\b[a-z]+_(?:delta|veh|kmh)\b")


@pytest.fixture(scope="module")
def real(browser_ok: None, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Server]:
    """The plain app (`api.app:create_app`): scenario jobs run the real traffic model in its workers."""
    before = dict(LOGIN)
    srv = _server(tmp_path_factory.mktemp("e2e-real"), data_dir, factory="api.app:create_app")
    LOGIN.clear()
    LOGIN.update(before)  # the session server's key stays the default sign-in of the other tests
    srv.start()
    yield srv
    srv.stop()


def _bridge_mid(srv: Server) -> tuple[float, float]:
    roads = httpx.get(f"{srv.url}/layers/roads", headers=srv.headers, timeout=60).json()
    coords = [c for f in roads["features"] if f["properties"]["name"] == REAL_BRIDGE
              for c in f["geometry"]["coordinates"]]  # fmt: skip
    assert coords, "the network has the bridge"
    return sum(c[0] for c in coords) / len(coords), sum(c[1] for c in coords) / len(coords)


def _screen(p: Page, lonlat: tuple[float, float]) -> tuple[float, float]:
    x, y = p.page.evaluate(
        """([lon, lat]) => { const r = document.getElementById('map').getBoundingClientRect();
        const pt = window.__map.project([lon, lat]); return [pt.x + r.left, pt.y + r.top]; }""",
        list(lonlat),
    )
    return float(x), float(y)


def _magenta_near(p: Page, xy: tuple[float, float], name: str, r: int = 20) -> int:
    img = Image.open(p.screenshot(name)).convert("RGB")
    hits = 0
    for dx in range(-r, r + 1):
        for dy in range(-r, r + 1):
            px = img.getpixel((int(xy[0]) + dx, int(xy[1]) + dy))
            assert isinstance(px, tuple)
            hits += all(abs(int(c) - k) <= 30 for c, k in zip(px, CLOSED, strict=True))
    return hits


def _seek_to(p: Page, hhmm: str) -> None:
    labels = p.state("S.scenario.times.map(b => S.scenario.fmt(b))")
    _seek(p, labels.index(hhmm))
    assert p.page.inner_text("#sim-label").endswith(hhmm)
    p.page.wait_for_timeout(400)


def _download(p: Page, path: Path) -> dict[str, Any]:
    with p.page.expect_download() as dl:
        p.page.click("#au-download")
    dl.value.save_as(str(path))
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _cli(*args: str) -> str:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return str(res.output)


#: What the page says, in each language (the desk in Vietnamese, the wall in English).
SAYS = {
    "vi": {"valid": "Hợp lệ", "one_change": "1 thay đổi", "closes": "đóng 2 đoạn đường",
           "left": "Hiện trạng", "right": "Kịch bản", "diff": "kịch bản − hiện trạng"},
    "en": {"valid": "Valid", "one_change": "1 change(s)", "closes": "2 links closed",
           "left": "Baseline", "right": "Scenario", "diff": "scenario − baseline"},
}  # fmt: skip


@pytest.mark.parametrize(
    ("width", "height", "lang"), [(1280, 800, "vi"), (1920, 1080, "en")], ids=["desk-vi", "wall-en"]
)
def test_author_a_bridge_closure_on_the_map_run_it_and_read_it(
    chromium: Any, real: Server, tmp_path: Path, data_dir: Path, width: int, height: int, lang: str
) -> None:
    """Close Cầu Đông Kinh by clicking it, run with the baseline from the page, read the answer."""
    mid = _bridge_mid(real)
    size = f"{width}x{height}"
    says = SAYS[lang]
    p = open_viewer(chromium, real.url, width=width, height=height, key=real.key, query=f"?lang={lang}")
    try:
        # --- author: the planner's tab, pick mode, a click on the bridge
        p.page.wait_for_selector("#tab-author:not([hidden])")
        p.page.click("#tab-author")
        p.page.fill("#au-seeds", "2")
        p.page.click("#au-pick")
        p.page.wait_for_function("!!window.__viewer.author.roads")
        p.page.evaluate(f"window.__map.jumpTo({{center: [{mid[0]}, {mid[1]}], zoom: 16.5}})")
        p.page.wait_for_timeout(300)
        p.page.mouse.click(*_screen(p, mid))
        p.page.wait_for_function("window.__viewer.author.closures.length === 1")
        closure = p.state("S.author.closures[0]")
        assert closure["road"] == REAL_BRIDGE
        p.page.fill('[data-field="closure.0.start"]', "07:10")
        p.page.fill('[data-field="closure.0.end"]', "07:30")
        p.page.wait_for_function("window.__viewer.author.check?.ok && !window.__viewer.author.checking")
        assert p.state("S.author.selected.length") == 2  # the bridge both ways, as the server resolved it
        assert "07:10" in json.dumps(p.state("S.author.check.body.document"))
        status = p.page.inner_text("#au-status")
        assert status.startswith(says["valid"])
        assert says["one_change"] in status  # one change: the closure of the bridge, 2 links
        assert says["closes"] in status
        assert _magenta_near(p, _screen(p, mid), f"planner-author-{size}") > 40  # drawn as chosen

        # --- bad input: the same message as the CLI for the same file, naming the field
        p.page.fill('[data-field="closure.0.end"]', "07:05")
        p.page.wait_for_function("window.__viewer.author.check && !window.__viewer.author.check.ok")
        shown = p.page.inner_text("#au-status")
        assert "changes[0]" in shown
        bad = tmp_path / "bad.json"
        _download(p, bad)
        res = CliRunner().invoke(app, ["scenario", "validate", str(bad), "--data-dir", str(data_dir)])
        assert res.exit_code != 0
        reason = shown.split("changes[0]", 1)[1].split("(")[0].strip(" :")
        assert reason in " ".join(res.output.split()), (reason, res.output)
        p.page.fill('[data-field="closure.0.end"]', "07:30")
        p.page.wait_for_function("window.__viewer.author.check?.ok && !window.__viewer.author.checking")
        for field, value, where, words in (
            ("#au-motorbikePct", "150", "changes[1].value", "between 0 and 1"),
            ("#au-demand", "0", "changes[1].factor", "greater than 0"),
        ):
            p.page.fill(field, value)
            p.page.wait_for_function("window.__viewer.author.check && !window.__viewer.author.check.ok")
            assert where in p.page.inner_text("#au-status")
            assert words in p.page.inner_text("#au-status")
            assert p.page.is_disabled("#au-run")
            p.page.fill(field, {"#au-motorbikePct": "85", "#au-demand": "1"}[field])
            p.page.wait_for_function("window.__viewer.author.check?.ok && !window.__viewer.author.checking")

        # --- the scenario file: downloaded, uploaded again, downloaded again: identical
        first = tmp_path / "page.json"
        doc = _download(p, first)
        assert doc["changes"] == [{"type": "close", "name": closure["name"], "road": REAL_BRIDGE,
                                   "start": "07:10", "end": "07:30"}]  # fmt: skip
        p.page.set_input_files("#au-file", str(first))
        p.page.wait_for_function("!!window.__viewer.author.extra && window.__viewer.author.check?.ok")
        assert _download(p, tmp_path / "again.json") == doc
        assert (tmp_path / "again.json").read_bytes() == first.read_bytes()

        # --- run from the map: progress, then the result opens (scenario shown, compared with its baseline)
        p.page.click("#au-run")
        p.page.wait_for_selector('#au-progress[data-state="running"], #au-progress[data-state="done"]')
        p.page.wait_for_selector('#au-progress[data-state="done"]', timeout=300_000)
        scenario, baseline = p.state("S.author.job.id"), p.state("S.author.job.baseline")
        p.page.wait_for_function(
            "window.__viewer.scenario.mode === 'series' && !!window.__viewer.compare.doc", timeout=120_000
        )
        assert p.state("S.scenario.run") == scenario
        assert p.state("S.compare.doc.a.id") == baseline
        assert p.state("S.compare.doc.b.id") == scenario

        # --- the bridge drawn closed in the window, open before it
        p.page.evaluate("window.__viewer.visible.compare = false")  # the link layer alone, for its pixels
        p.page.evaluate(f"window.__map.jumpTo({{center: [{mid[0]}, {mid[1]}], zoom: 16.5}})")
        _seek_to(p, "07:15")
        during = _magenta_near(p, _screen(p, mid), f"planner-real-closed-0715-{size}")
        _seek_to(p, "07:05")
        before = _magenta_near(p, _screen(p, mid), f"planner-real-open-0705-{size}")
        assert during > 40, during
        assert before == 0, before

        # --- swipe: the baseline left of the bar, the scenario right of it, one clock
        p.page.check("#chk-swipe")
        p.page.wait_for_function("window.__viewer.swipe.on")
        _seek_to(p, "07:15")
        grip = p.page.locator("#swipe-bar .grip").bounding_box()
        assert grip is not None
        bx, by = _screen(p, mid)
        p.page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
        p.page.mouse.down()
        p.page.mouse.move(bx + 120, grip["y"] + grip["height"] / 2, steps=5)
        p.page.mouse.up()
        p.page.wait_for_timeout(400)
        assert _magenta_near(p, (bx, by), f"planner-swipe-baseline-{size}") == 0  # the baseline: open
        p.page.mouse.move(bx + 120, grip["y"] + grip["height"] / 2)
        p.page.mouse.down()
        p.page.mouse.move(bx - 120, grip["y"] + grip["height"] / 2, steps=5)
        p.page.mouse.up()
        p.page.wait_for_timeout(400)
        assert _magenta_near(p, (bx, by), f"planner-swipe-scenario-{size}") > 40  # the scenario: closed
        assert says["left"] in p.page.inner_text("#swipe-bar")
        assert says["right"] in p.page.inner_text("#swipe-bar")
        p.page.uncheck("#chk-swipe")
        p.page.wait_for_function("!window.__viewer.swipe.on")

        # --- the difference: scenario − baseline, negative on the closed bridge's cell, in vehicles
        p.page.evaluate("window.__viewer.visible.compare = true")
        values = show_difference(p, baseline, "volume_veh_delta")
        assert values
        res_h3 = int(p.state("S.compare.doc.res"))
        cell = h3grid.to_str(h3grid.latlng_to_cells([mid[1]], [mid[0]], res_h3))[0]
        at_bridge = p.state(f"S.compare.cells.find(d => d.cell === '{cell}')?.value ?? null")
        assert at_bridge is not None
        assert at_bridge < 0, at_bridge
        legend = p.page.inner_text('#layer-list li[data-layer="compare"]')
        assert "veh" in legend
        assert says["diff"] in legend
        assert format_value(-p.state("S.compare.maxAbs"), signed=True) in legend
        p.page.evaluate(f"window.__map.jumpTo({{center: [{mid[0]}, {mid[1]}], zoom: 14}})")
        p.page.wait_for_timeout(400)
        p.screenshot(f"planner-real-difference-{size}")

        # --- the KPI table beside the map is `twin scenario compare` of the same two runs
        rows = p.page.eval_on_selector_all(
            "#kpi-table tbody tr",
            "trs => trs.map(tr => ({kpi: tr.dataset.kpi, delta: tr.dataset.delta === '' ? null"
            " : Number(tr.dataset.delta),"
            " text: tr.querySelector('td.delta').textContent, unit: tr.dataset.unit}))",
        )
        out = tmp_path / "cmp"
        state = real.env["TWIN_STATE_DIR"]
        _cli("scenario", "compare", baseline, scenario, "--out", str(out), "--state-dir", state)
        cli = pd.read_csv(out / "kpis.csv").set_index("kpi")
        planning = cli[cli["group"] == "planning"]
        assert rows
        assert sorted(r["kpi"] for r in rows) == sorted(planning.index)
        for row in rows:
            expected = planning.loc[row["kpi"]]
            if math.isnan(float(expected["delta"])):  # no value in either run: none shown, as the CLI
                assert row["delta"] is None, row
            else:
                assert row["delta"] == pytest.approx(float(expected["delta"]), rel=1e-9, abs=1e-12)
            assert row["text"] == format_value(expected["delta"], str(expected["unit"]), signed=True)
        assert "Holm" in p.page.inner_text("#kpi-table")

        # --- no raw ids where people read
        text = p.page.evaluate(
            "document.body.innerText + ' '"
            " + [...document.querySelectorAll('option')].map(o => o.textContent).join(' ')"
        )
        assert not RAW_ID.findall(text), RAW_ID.findall(text)
        p.screenshot(f"planner-real-kpis-{size}")

        # --- the page's file run by the CLI gives the same KPIs (same seeds)
        cli_state = tmp_path / "cli-state"
        printed = _cli(
            "scenario", "run", str(first), "--state-dir", str(cli_state), "--data-dir", str(data_dir)
        )
        cli_id = printed.strip().splitlines()[-1]
        mine = StoredResult.open(cli_state / "scenarios" / cli_id).kpis
        page_kpis = httpx.get(f"{real.url}/scenarios/{scenario}", headers=real.headers, timeout=30).json()[
            "kpis"
        ]
        assert StoredResult.open(cli_state / "scenarios" / cli_id).doc["seeds"] == [1, 2]
        assert set(mine) == set(page_kpis)
        for k, v in page_kpis.items():
            if v["mean"] is None:  # a KPI with no value in this run (none in either)
                assert mine[k]["mean"] is None, k
            else:
                assert mine[k]["mean"] == pytest.approx(v["mean"], rel=1e-12, abs=1e-12), k
    finally:
        p.page.context.close()
