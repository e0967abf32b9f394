"""One-file maps open from file:// on an air-gapped machine, draw their layer and show a legend.

Each map is written by `twin export-map` (points, lines, polygons, 3D), opened in Chromium and
checked on the screen: the layer's bounding box, projected by the page's own deck.gl viewport, holds
drawn (non-background) pixels, the legend, title and a scale bar whose drawn length matches its label
are visible, and no request leaves the file.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from api.cli.base import app
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

W, H = 1000, 700
#: The lengths a scale bar may show (metres).
NICE = {k * 10**e for e in range(6) for k in (1, 2, 5)}
#: The lon/lat bounds of the features the page's deck.gl layer actually holds.
BOUNDS_JS = """() => {
  let b = [180, 90, -180, -90];
  const walk = (c) => {
    if (typeof c[0] === 'number') {
      b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
    } else c.forEach(walk);
  };
  deckInstance.props.layers[0].props.data.features.forEach((f) => walk(f.geometry.coordinates));
  return b;
}"""


def open_file(chromium: Any, path: Path) -> tuple[Any, list[str]]:
    ctx = chromium.new_context(viewport={"width": W, "height": H})
    page = ctx.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    return page, requests


def leaks(requests: list[str]) -> list[str]:
    return [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]


def _bbox_px(page: Any, bounds: list[float]) -> tuple[int, int, int, int]:
    """Return the screen box (x0, y0, x1, y1) of lon/lat `bounds` in the page's deck.gl viewport."""
    west, south, east, north = bounds
    pts = page.evaluate(
        """(c) => { const vp = deckInstance.getViewports()[0];
                    return c.map(p => vp.project(p)); }""",
        [[west, south], [west, north], [east, south], [east, north]],
    )
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (max(0, int(min(xs))), max(0, int(min(ys))), min(W, int(max(xs)) + 1), min(H, int(max(ys)) + 1))


def _check_scale_bar(page: Any) -> None:
    """The scale bar is drawn, and its length on screen is the distance its label says."""
    page.wait_for_function(
        "() => { const b = document.querySelector('.twin-scale-bar'); return b && b.offsetWidth > 10; }",
        timeout=10_000,
    )
    label = page.locator(".twin-scale-label").inner_text()
    m = re.fullmatch(r"(\d+(?:,\d+)?) (m|km)", label)
    assert m, label
    metres = float(m.group(1).replace(",", ".")) * (1000 if m.group(2) == "km" else 1)
    assert metres in NICE, label
    # metres per pixel at the view's centre, measured here from the page's own deck.gl viewport
    mpp = page.evaluate(
        """() => { const vp = deckInstance.getViewports()[0], R = 6371008.8, r = Math.PI / 180;
                   const cx = vp.width / 2, cy = vp.height / 2;
                   const a = vp.unproject([cx - 200, cy]), b = vp.unproject([cx + 200, cy]);
                   const h = Math.sin((b[1] - a[1]) * r / 2) ** 2 + Math.cos(a[1] * r) * Math.cos(b[1] * r)
                             * Math.sin((b[0] - a[0]) * r / 2) ** 2;
                   return 2 * R * Math.asin(Math.sqrt(h)) / 400; }"""
    )
    box = page.locator(".twin-scale-bar").bounding_box()
    drawn_m = (box["width"] - 2) * mpp  # less the 1-px border each side
    assert drawn_m == pytest.approx(metres, rel=0.03), (label, box["width"], mpp)
    # drawn: the bar's pixels on the screenshot are dark
    png = np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("L"), dtype=np.int16)
    x0, y0 = int(box["x"]) + 2, int(box["y"]) + 2
    bar = png[y0 : int(box["y"] + box["height"]) - 1, x0 : int(box["x"] + box["width"]) - 2]
    assert bar.size
    assert float((bar < 80).mean()) > 0.9


@pytest.mark.parametrize(
    ("layer", "args", "min_ink"),
    [
        ("cameras", [], 0.002),  # 5-px dots
        ("roads", [], 0.01),  # 2.5-px lines
        ("wards_2025", [], 0.3),  # filled polygons
        ("cells", ["--3d"], 0.05),  # extruded hexagons
    ],
)
def test_exported_map_draws_its_layer_with_a_legend(
    chromium: Any, data_dir: Path, tmp_path: Path, layer: str, args: list[str], min_ink: float
) -> None:
    out = tmp_path / f"{layer}.html"
    r = CliRunner().invoke(app, ["export-map", layer, "--html", str(out), "--data-dir", str(data_dir), *args])
    assert r.exit_code == 0, r.output
    page, requests = open_file(chromium, out)
    try:
        page.wait_for_selector("canvas", state="attached", timeout=90_000)  # 4 MB of inlined JS
        page.wait_for_function(
            "() => typeof deckInstance !== 'undefined' && deckInstance.isInitialized", timeout=60_000
        )
        page.wait_for_timeout(1500)  # let deck.gl draw its first frames
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"export-map-{layer}.png"))
        assert leaks(requests) == []
        # The legend and a title with the export time are on screen.
        legend = page.locator(".twin-legend")
        assert legend.is_visible()
        assert legend.locator(".twin-swatch").count() >= 1
        assert "Lạng Sơn" in page.locator(".twin-title").inner_text()
        assert "UTC+7" in page.locator(".twin-time").inner_text()
        _check_scale_bar(page)
        # Drawn pixels inside the layer's extent, on the canvas only (the caption is hidden for this).
        page.evaluate(
            "() => { document.querySelector('.twin-legend').parentElement.style.display = 'none'; }"
        )
        png = page.screenshot()
        canvas = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
        bg = canvas[H - 1, W - 1]
        bounds = page.evaluate(BOUNDS_JS)
        x0, y0, x1, y1 = _bbox_px(page, bounds)
        assert x1 - x0 > 20, (x0, x1)
        assert y1 - y0 > 20, (y0, y1)
        box = canvas[y0:y1, x0:x1]
        ink = float((np.abs(box - bg).sum(axis=2) > 40).mean())
        assert ink >= min_ink, f"{layer}: only {ink:.4f} of the layer's box is drawn (see the screenshot)"
    finally:
        page.context.close()
