"""The planner's workbench in the browser: a bridge closed for a window, run with a baseline, read on the map.

The scenario closes the stand-in's bridge (`tests.e2e.app_factory.BRIDGE`) from 07:20 to 07:40; the
page must draw it closed in those bins (pixels of the closed colour on the bridge), show the
difference scenario − baseline with its sign and unit, and list the KPI deltas exactly as
`twin scenario compare` prints them for the same two runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from api.cli.base import app
from simulations.results import format_value
from tests.e2e.app_factory import BRIDGE, BRIDGE_NAME
from tests.e2e.conftest import ARTIFACTS, Page, Server, open_viewer, show_difference, wait_done

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
