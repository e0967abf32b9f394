"""One-file maps open from file:// on an air-gapped machine: no request leaves the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

from api.export_map import to_deck, write_offline_html
from tests.e2e.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def open_file(chromium: Any, path: Path) -> tuple[Any, list[str]]:
    ctx = chromium.new_context(viewport={"width": 1000, "height": 700})
    page = ctx.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    return page, requests


def leaks(requests: list[str]) -> list[str]:
    return [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]


def test_pydeck_export_draws_offline(chromium: Any, wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = write_offline_html(
        to_deck(wards, color_by="core_city_ward", name="wards_2025"), tmp_path / "w.html"
    )
    page, requests = open_file(chromium, path)
    try:
        page.wait_for_selector("canvas", state="attached", timeout=90_000)  # 4 MB of inlined JS
        page.wait_for_timeout(1000)  # let deck.gl draw its first frames before the screenshot
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "export-map-pydeck.png"))
        assert leaks(requests) == []
    finally:
        page.context.close()
