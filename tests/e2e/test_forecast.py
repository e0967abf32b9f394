"""The next-hour forecast in the browser (issue 14): the hidden truth's counts (synthetic) go in through
POST /counts; the viewer's "next hour" panel shows the forecast against both baselines with the
backtest error, and the forecast layer is drawn where the server's forecast links are."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from gis_data.city import build_city
from tests.e2e.conftest import Page, Server, open_viewer
from tests.support.counts import truth_items

pytestmark = pytest.mark.browser

#: Yesterday 07:00–09:00 local (00:00–02:00 UTC), and the same hours a week before.
DAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def counted(server: Server, data_dir: Path) -> None:
    """Post the hidden truth's counts of DAY and of a week before (synthetic) through the API."""
    server.require("POST /counts", "GET /forecast")
    items = truth_items(build_city(data_dir), DAY)
    for i in range(0, len(items), 500):
        r = httpx.post(f"{server.url}/counts", json={"counts": items[i : i + 500]}, timeout=120,
                       headers=server.headers)  # fmt: skip
        assert r.status_code == 200, r.text


def test_next_hour_panel_and_forecast_layer(chromium: Any, server: Server, counted: None) -> None:
    doc = httpx.get(f"{server.url}/forecast", timeout=900, headers=server.headers).json()  # made once
    p: Page = open_viewer(chromium, server.url, query="?lang=en")
    try:
        p.page.wait_for_function("window.__viewer.forecast.doc !== null", timeout=300_000)
        assert p.state("S.forecast.doc.made_at") == doc["made_at"]
        panel = p.page.locator("#forecast-panel")
        text = panel.inner_text()
        assert "Next hour" in text
        for words in ("As now", "Last week", "Backtest error"):
            assert words in text
        # the panel's figures are the server's: the +60 row's forecast, persistence and errors
        row = panel.locator('tr[data-h="60"]')
        tot = doc["counted_totals_veh_h"]["60"]
        assert row.locator('[data-m="nowcast"]').inner_text().replace(",", "") == str(round(tot["nowcast"]))
        assert row.locator('[data-m="persistence"]').inner_text().replace(",", "") == str(
            round(tot["persistence"])
        )
        err = doc["backtest"]["errors"]["60"]["nowcast"]["mae_pct"]
        assert row.locator('[data-e="nowcast"]').inner_text() == f"{err:.0f}"
        # the layer is drawn: the counted link with the largest forecast is picked under its midpoint
        feats = [f for f in doc["links"]["features"] if f["properties"]["counted"]]
        best = max(feats, key=lambda f: f["properties"].get("flow_60_veh_h") or 0)
        (x0, y0), (x1, y1) = best["geometry"]["coordinates"][0], best["geometry"]["coordinates"][-1]
        lon, lat = (x0 + x1) / 2, (y0 + y1) / 2
        p.page.evaluate(f"window.__map.jumpTo({{center: [{lon}, {lat}], zoom: 17}})")
        p.page.wait_for_function("window.__viewer.zoom === 17")
        p.page.wait_for_timeout(800)
        assert "forecast" in p.state("S.drawnLayerIds")
        picked = p.page.evaluate(
            """([lon, lat]) => { const pt = window.__map.project([lon, lat]);
            return window.__deck.pickMultipleObjects({x: pt.x, y: pt.y, radius: 4, depth: 10,
              layerIds: ['forecast']}).map(o => o.object.properties.link_id); }""",
            [lon, lat],
        )
        assert best["properties"]["link_id"] in picked
        # the horizon buttons switch what the layer shows; the toggle hides it
        panel.locator('[data-fc-h="15"]').click()
        assert p.state("S.forecast.horizon") == 15
        panel.locator("[data-fc-toggle]").uncheck()
        p.page.wait_for_function("!window.__viewer.drawnLayerIds.includes('forecast')")
    finally:
        p.page.context.close()


@pytest.mark.parametrize(
    ("lang", "words"), [("en", "Forecast unavailable"), ("vi", "Dự báo tạm thời không có")]
)
def test_forecast_panel_failure_reads_as_words_not_server_text(
    chromium: Any, server: Server, lang: str, words: str
) -> None:
    """A forecast the server cannot make (503 with its own detail) shows the panel's words in the page's
    language, never the server's message or status code, on the wall screen."""
    server.require("GET /forecast")
    p: Page = open_viewer(chromium, server.url, width=1920, height=1080, query=f"?lang={lang}")
    try:
        detail = "Traceback: forecast worker boom"
        p.page.route(
            lambda url: urlparse(url).path == "/forecast",
            lambda route: route.fulfill(status=503, content_type="application/json",
                                        body=json.dumps({"detail": detail}), headers={"Retry-After": "5"}),
        )  # fmt: skip
        p.page.reload()
        p.page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=60_000)
        p.page.wait_for_function("window.__viewer.forecast.loads >= 1", timeout=120_000)
        panel = p.page.locator("#forecast-panel")
        panel.wait_for(state="visible", timeout=30_000)
        text = panel.inner_text()
        assert words in text
        assert "boom" not in text
        assert "503" not in text
        assert "Traceback" not in p.page.locator("body").inner_text()
    finally:
        p.page.context.close()
