"""The viewer's legend follows the category table: one row added to the table is drawn, in its colour
and with its label in both languages, by a served twin in headless Chromium.

The server runs the real app over a copy of ``api/schemas/categories.toml`` with one more
``[[category]]`` (tests/support/categories.py) and nothing else changed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api.schemas import categories
from tests.e2e.conftest import LOGIN, Page, Server, _server, open_viewer
from tests.support.categories import EXTRA_CODE, with_extra_category

LEGEND = 'li[data-layer="events"] .swatches .cat'


@pytest.fixture(scope="module")
def extended(browser_ok: None, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Server]:
    """A twin whose category table has one more row, served on its own port."""
    tmp = tmp_path_factory.mktemp("categories")
    table = with_extra_category(tmp)
    before = dict(LOGIN)
    srv = _server(tmp, data_dir)  # creates this server's admin key (and makes it the one to sign in with)
    srv.env["TWIN_TEST_CATEGORIES"] = str(table)
    srv.factory = "tests.e2e.app_factory:create_app_with_categories"
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        LOGIN.clear()
        LOGIN.update(before)


@pytest.fixture(scope="module")
def page(chromium: Any, extended: Server) -> Iterator[Page]:
    """The viewer of the extended twin."""
    LOGIN["key"] = extended.key
    p = open_viewer(chromium, extended.url)
    yield p
    p.page.context.close()


def _drawn_rgb(p: Page, selector: str) -> tuple[int, int, int]:
    """Return the colour at the centre of the element as the browser drew it (a screenshot's pixel)."""
    png = p.page.locator(selector).screenshot()
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    h, w, _ = img.shape
    r, g, b = img[h // 2, w // 2]
    return int(r), int(g), int(b)


def test_the_legend_draws_every_event_category_of_the_table(page: Page) -> None:
    product = categories.table()
    drawn = page.page.eval_on_selector_all(LEGEND, "els => els.map(e => e.dataset.category)")
    assert drawn == [*product.event_codes, EXTRA_CODE]
    item = f'{LEGEND}[data-category="{EXTRA_CODE}"]'
    assert page.page.inner_text(item).strip() == "▲Sạt lở đất"
    got = _drawn_rgb(page, f"{item} i.dot")
    assert all(abs(a - b) <= 8 for a, b in zip(got, (0x00, 0x89, 0x7B), strict=True)), got
    # The product's rows too: the congestion dot in the table's colour.
    congestion = product.by_code["congestion"].rgb
    got = _drawn_rgb(page, f'{LEGEND}[data-category="congestion"] i.dot')
    assert all(abs(a - b) <= 8 for a, b in zip(got, congestion, strict=True)), got
    # The category filter offers it, and English labels come from the same row.
    options = page.page.eval_on_selector_all("#sel-category option", "els => els.map(e => e.value)")
    assert EXTRA_CODE in options
    page.page.click("#btn-lang")
    page.page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.page.inner_text(item).strip() == "▲Landslide"
    page.screenshot("viewer-legend-added-category")
