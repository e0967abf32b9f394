"""The pydeck path: `to_deck` of any layer and a one-file offline HTML map (`twin export-map`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pydeck
import pytest
import shapely
from typer.testing import CliRunner

from api.cli.base import app
from api.export_map import (
    _RAMP,
    CATEGORY_COLORS,
    SCALE_BAR,
    SCALE_SCRIPT,
    offline_html,
    to_deck,
    write_offline_html,
)
from twin import provenance
from twin.errors import DataError, InputError

EXTERNAL = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)=[\"']?(?:https?:)?//", re.IGNORECASE)


def _points(values: list[float], source: str = "synthetic") -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(
        {"value": values, "status": ["online", "offline", "not_connected"][: len(values)] or None},
        geometry=[shapely.Point(106.75 + 0.01 * i, 21.85) for i in range(len(values))],
        crs="EPSG:4326",
    )
    return provenance.attach(gdf, provenance.Provenance(name="test_points", source=source, licence="MIT"))  # type: ignore[return-value]


def _features(deck: pydeck.Deck) -> list[dict]:
    return deck.layers[0].data["features"]


def test_wards_layer_becomes_a_deck_with_every_ward(wards: gpd.GeoDataFrame) -> None:
    deck = to_deck(wards, color_by="core_city_ward", name="wards_2025")
    feats = _features(deck)
    assert len(feats) == len(wards)
    names = {f["properties"]["name"] for f in feats}
    assert {"Đông Kinh", "Lương Văn Tri", "Tam Thanh", "Kỳ Lừa"} <= names  # diacritics kept
    core = [f["properties"]["_color"] for f in feats if f["properties"]["core_city_ward"]]
    assert core
    assert all(c == CATEGORY_COLORS["True"] for c in core)
    assert deck.map_provider is None
    assert "Lạng Sơn — Phường, xã (2025) / Wards and communes (2025)" in deck.description  # its own titles
    assert "</span>có / yes</div>" in deck.description  # a yes/no column's classes, in words


def test_units_reach_deck_gl_as_strings_not_expressions() -> None:
    """pydeck prefixes plain str kwargs with "@@=" (a JS expression); "@@=pixels" draws garbage."""
    for gdf in (
        _points([1.0, 2.0]),
        _points([1.0]).set_geometry([shapely.LineString([(106.75, 21.85), (106.76, 21.86)])]),
    ):
        layer = json.loads(to_deck(gdf).to_json())["layers"][0]
        assert layer["lineWidthUnits"] == "pixels"
        assert layer["pointRadiusUnits"] == "pixels"
        assert "@@=pixels" not in json.dumps(layer)


def test_every_map_has_a_title_with_time_and_a_legend_of_its_colours() -> None:
    text = to_deck(_points([1.0, 2.0, 3.0]), color_by="status", name="cameras").description
    assert "Lạng Sơn — Camera" in text
    assert "(UTC+7)" in text
    assert 'class="twin-legend"' in text
    assert text.count("twin-swatch") == 3
    for status in ("online", "offline", "not connected"):  # not_connected, in words
        assert f"</span>{status}</div>" in text
    ramp = to_deck(_points([0.0, 5.0, 10.0]), color_by="value").description
    assert ramp.count("twin-swatch") == len(_RAMP)
    assert "twin-legend" in to_deck(_points([1.0])).description  # single colour: one swatch still
    assert "1 đối tượng / 1 feature ·" in to_deck(_points([1.0])).description
    assert "3 đối tượng / 3 features ·" in text
    # counts in each language's number format: 4.343 đối tượng / 4,343 features
    many = to_deck(_points([1.0, 2.0, 3.0]).sample(1234, replace=True, random_state=1)).description
    assert "1.234 đối tượng / 1,234 features ·" in many


def test_numeric_colours_run_from_the_ramp_start_to_its_end() -> None:
    feats = _features(to_deck(_points([0.0, 5.0, 10.0]), color_by="value"))
    colours = [f["properties"]["_color"] for f in feats]
    assert colours[0] == [*map(int, _RAMP[0]), 210]
    assert colours[-1] == [*map(int, _RAMP[-1]), 210]


def test_camera_status_colours_are_the_viewer_ones() -> None:
    feats = _features(to_deck(_points([1.0, 2.0, 3.0]), color_by="status"))
    assert [f["properties"]["_color"] for f in feats] == [
        CATEGORY_COLORS["online"], CATEGORY_COLORS["offline"], CATEGORY_COLORS["not_connected"]
    ]  # fmt: skip


def test_synthetic_layers_say_so_and_real_ones_do_not() -> None:
    assert "synthetic" in to_deck(_points([1.0])).description
    assert "synthetic" not in to_deck(_points([1.0], source="real")).description


def test_extrusion_is_scaled_to_the_tallest_feature() -> None:
    cells = gpd.GeoDataFrame(
        {"population": [10.0, 40.0]},
        geometry=[shapely.box(106.75, 21.84, 106.751, 21.841), shapely.box(106.76, 21.84, 106.761, 21.841)],
        crs="EPSG:4326",
    )
    deck = to_deck(cells, color_by="population", extruded=True)
    heights = [f["properties"]["_height"] for f in _features(deck)]
    assert heights == pytest.approx([375.0, 1500.0])
    assert deck.layers[0].extruded is True


def test_projected_input_is_drawn_in_lon_lat() -> None:
    gdf = _points([1.0, 2.0]).to_crs(32648)
    lon, lat = _features(to_deck(gdf))[0]["geometry"]["coordinates"]
    assert lon == pytest.approx(106.75)
    assert lat == pytest.approx(21.85)


def test_bad_input_is_refused_with_a_hint() -> None:
    with pytest.raises(InputError, match="column 'nope'") as e:
        to_deck(_points([1.0]), color_by="nope")
    assert e.value.hint
    with pytest.raises(InputError, match="city"):
        to_deck("wards_2025")
    with pytest.raises(DataError, match="no CRS"):
        to_deck(gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)]))
    with pytest.raises(DataError, match="no feature"):
        to_deck(gpd.GeoDataFrame({"a": [1]}, geometry=[None], crs="EPSG:4326"))


def test_every_map_has_a_scale_bar_that_follows_the_view() -> None:
    deck = to_deck(_points([1.0, 2.0]))
    assert SCALE_BAR in deck.description
    html = offline_html(deck)
    assert html.count(SCALE_SCRIPT) == 1  # sized by the page's own viewport (tests/e2e check the pixels)
    assert html.index(SCALE_SCRIPT) < html.rindex("</body>")


def test_offline_html_has_no_external_tag_and_inlines_deck(tmp_path: Path) -> None:
    html = offline_html(to_deck(_points([1.0, 2.0])))
    assert EXTERNAL.search(html) is None
    assert len(html) > 1_000_000  # deck.gl is inlined
    out = write_offline_html(to_deck(_points([1.0])), tmp_path / "sub" / "map.html")
    assert out.read_text(encoding="utf-8").count("<html") >= 1
    with pytest.raises(InputError, match=r"\.html"):
        write_offline_html(to_deck(_points([1.0])), tmp_path / "map.png")


def test_cli_writes_a_one_file_map_of_a_city_layer(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "cameras.html"
    r = CliRunner().invoke(app, ["export-map", "cameras", "--html", str(out), "--data-dir", str(data_dir)])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert EXTERNAL.search(html) is None
    assert html.count("LS-CAM-") >= 238
    bad = CliRunner().invoke(app, ["export-map", "nope", "--html", str(out), "--data-dir", str(data_dir)])
    assert bad.exit_code == 2
