"""Street names on the map say where they come from (issue 17): a name the synthetic network made up is
drawn with a star, and the roads legend says what the star means, in both languages; a real or
descriptive name is drawn as it is."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import Page, Server, open_viewer

pytestmark = pytest.mark.browser

DRAWN_LABELS = """() => { const l = window.__deck._deck.layerManager.getLayers()
    .find((x) => x.id === 'place-labels');
  return l ? l.props.data.map((d) => [d.name, d.source ?? '', l.props.getText(d)]) : null; }"""


@pytest.mark.parametrize(("lang", "legend"), [("en", "Name* = synthetic street name"),
                                               ("vi", "Tên* = tên đường giả định")])  # fmt: skip
def test_synthetic_street_names_carry_their_mark(
    chromium: Any, server: Server, lang: str, legend: str
) -> None:
    p: Page = open_viewer(chromium, server.url, query=f"?lang={lang}")
    try:
        p.page.wait_for_function("window.__viewer.placeLabels.some((d) => d.source === 'synthetic')",
                                 timeout=60_000)  # fmt: skip
        street = p.state("S.placeLabels.find((d) => d.source === 'synthetic' && d.kind === 'street')")
        lon, lat = street["position"]
        p.page.evaluate(f"window.__map.jumpTo({{center: [{lon}, {lat}], zoom: 16}})")
        p.page.wait_for_function("window.__viewer.drawnLayerIds.includes('place-labels')", timeout=30_000)
        drawn = p.page.evaluate(DRAWN_LABELS)
        assert drawn, "no street labels drawn at zoom 16"
        by_name = {name: (source, text) for name, source, text in drawn}
        assert by_name[street["name"]] == ("synthetic", f"{street['name']}*")
        others = [(n, t) for n, (s, t) in by_name.items() if s != "synthetic"]
        assert others, "the labels hold no real or descriptive name to compare with"
        assert all(t == n for n, t in others)
        assert legend in p.page.inner_text("#layer-list")
        # the label is drawn: pixels of the label colour (230, 236, 240; brighter than any road's) in a band
        # over the label's point (drawn 12 px above it); the street labels once drew nothing at all
        p.page.wait_for_timeout(1500)
        x, y = p.page.evaluate(
            f"""(() => {{ const r = document.getElementById('map').getBoundingClientRect();
            const pt = window.__map.project([{lon}, {lat}]); return [pt.x + r.left, pt.y + r.top]; }})()"""
        )
        shot = Image.open(p.screenshot(f"street-labels-{lang}")).convert("RGB")
        band = np.asarray(shot.crop((int(x - 110), int(y - 24), int(x + 110), int(y))), dtype=np.int16)
        label_px = int(((band[..., 0] >= 222) & (band[..., 1] >= 228) & (band[..., 2] >= 232)).sum())
        assert label_px >= 15, f"no label drawn at {street['name']!r} ({label_px} label pixels)"
    finally:
        p.page.context.close()
