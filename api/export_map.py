"""One-file offline maps of any layer for notebooks and briefings, through pydeck.

`to_deck` turns a GeoDataFrame (or a layer of the city model, by name) into a `pydeck.Deck` with
colours, tooltips and a caption (title, export time, provenance, legend and a scale bar);
`write_offline_html` writes it as one HTML file that opens without any network: pydeck's bundled
deck.gl is inlined (``offline=True``), the leftover CDN tags pydeck still emits (Mapbox GL,
Bootstrap, Font Awesome, MapLibre and widget CSS) are removed, and a small script keeps the scale bar
true as the view moves.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck

from api.briefing.text import local, num
from twin import provenance
from twin.city import LAYERS, City
from twin.crs import EARTH_RADIUS_M, WGS84
from twin.errors import DataError, InputError

#: Centre of the old city (lon, lat) and a zoom that frames the 4 wards.
CITY_VIEW = (106.7578, 21.8478, 11.5)

#: Colours (RGBA) of categorical values the twin uses.
CATEGORY_COLORS: dict[str, list[int]] = {
    "online": [0, 200, 83, 255],
    "offline": [229, 57, 53, 255],
    "not_connected": [144, 164, 174, 255],
    "trunk": [232, 89, 12, 255],
    "primary": [245, 159, 0, 255],
    "secondary": [252, 196, 25, 255],
    "tertiary": [206, 212, 218, 255],
    "residential": [173, 181, 189, 255],
    "service": [134, 142, 150, 255],
    "True": [77, 171, 247, 200],
    "False": [92, 112, 128, 120],
}
_PALETTE = [[0, 184, 212], [255, 214, 0], [213, 0, 249], [118, 255, 3], [255, 109, 0], [41, 121, 255],
            [255, 23, 68], [0, 230, 118]]  # fmt: skip
#: Yellow → dark red ramp for numeric columns.
_RAMP = np.array(
    [[255, 255, 178], [254, 217, 118], [254, 178, 76], [253, 141, 60], [240, 59, 32], [189, 0, 38]]
)
#: The column each known layer is coloured by unless told otherwise.
DEFAULT_COLOR_BY = {
    "cameras": "status",
    "roads": "road_class",
    "wards_2025": "core_city_ward",
    "cells": "population",
    "camera_coverage": "camera_id",
}
#: External tags pydeck 0.9 leaves in an ``offline=True`` page (any <script src> / <link href> that is
#: not inline). Removing them is safe: the inlined bundle carries deck.gl, and map_provider=None needs
#: no base-map library.
_EXTERNAL_TAG = re.compile(
    r"<script\b[^>]*\bsrc=[\"']?(?:https?:)?//[^>]*>\s*</script>|<link\b[^>]*\bhref=[\"']?(?:https?:)?//[^>]*>",
    re.IGNORECASE,
)


def _jsonable(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy whose non-geometry columns serialise to JSON (datetimes as ISO strings)."""
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[col] = s.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(s.notna(), None)
        elif s.dtype == object:
            out[col] = s.map(lambda v: v if v is None or isinstance(v, str | int | float | bool) else str(v))
    return out


def _colors(values: pd.Series) -> list[list[int]]:
    """Return an RGBA colour per value: a ramp for numbers, fixed or palette colours for categories."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        cats = values.astype(str)
        order = {c: i for i, c in enumerate(sorted(set(cats)))}
        return [CATEGORY_COLORS.get(c, [*_PALETTE[order[c] % len(_PALETTE)], 220]) for c in cats]
    x = values.to_numpy(dtype=np.float64)
    finite = np.isfinite(x)
    lo, hi = (np.nanmin(x[finite]), np.nanmax(x[finite])) if finite.any() else (0.0, 1.0)
    t = np.zeros_like(x) if hi <= lo else (np.where(finite, x, lo) - lo) / (hi - lo)
    idx = np.minimum((t * len(_RAMP)).astype(int), len(_RAMP) - 1)
    return [[*map(int, _RAMP[i]), 210] for i in idx]


def _swatch(rgba: Sequence[int]) -> str:
    r, g, b, *a = rgba
    alpha = (a[0] if a else 255) / 255
    return (
        '<span class="twin-swatch" style="display:inline-block;width:12px;height:12px;margin-right:4px;'
        f'vertical-align:middle;border:1px solid #333;background:rgba({r},{g},{b},{alpha:.2f})"></span>'
    )


#: Legend words for yes/no classes (a boolean column is coloured by "True" / "False").
_BOOL_LABELS = {"True": "có / yes", "False": "không / no"}


def _class_label(value: str) -> str:
    """Return a legend class as people read it: yes/no for booleans, words for snake_case codes."""
    return _BOOL_LABELS.get(value, value.replace("_", " "))


def _legend(values: pd.Series | None, color_by: str | None) -> str:
    """Return the HTML legend of the colours `_colors` gives `values` (one swatch per class)."""
    if values is None or color_by is None:
        return f'<div class="twin-legend">{_swatch([0, 188, 212, 200])}đối tượng / feature</div>'
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        cats = sorted(set(values.astype(str)))
        shown = cats[:12]
        colours = _colors(pd.Series(shown))
        rows = "".join(
            f"<div>{_swatch(c)}{html.escape(_class_label(v))}</div>"
            for v, c in zip(shown, colours, strict=True)
        )
        more = f"<div>… +{len(cats) - len(shown)}</div>" if len(cats) > len(shown) else ""
        return f'<div class="twin-legend"><b>{html.escape(color_by)}</b>{rows}{more}</div>'
    x = values.to_numpy(dtype=np.float64)
    finite = x[np.isfinite(x)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    ramp = "".join(_swatch([*map(int, c), 210]) for c in _RAMP)
    return (
        f'<div class="twin-legend"><b>{html.escape(color_by)}</b><div>{lo:,.4g} {ramp} {hi:,.4g}</div></div>'
    )


#: The scale bar's place in the caption; `SCALE_SCRIPT` sizes it to the view (1, 2 or 5 × 10ⁿ m).
SCALE_BAR = (
    '<div class="twin-scale" title="thước tỷ lệ / scale" style="margin-top:6px;font-size:12px">'
    '<div class="twin-scale-bar" style="height:6px;width:0;background:#222;border:1px solid #fff"></div>'
    '<span class="twin-scale-label"></span></div>'
)
#: Keeps the scale bar true as the map moves: metres per pixel measured at the centre of the view
#: (great-circle distance between two points 100 px apart, unprojected by deck.gl's own viewport).
SCALE_SCRIPT = """<script>
(function () {
  var R = @EARTH_RADIUS_M@, rad = Math.PI / 180;
  function nice(m) {
    var p = Math.pow(10, Math.floor(Math.log10(m)));
    var ks = [5, 2, 1];
    for (var i = 0; i < ks.length; i++) { if (ks[i] * p <= m) return ks[i] * p; }
    return p;
  }
  function update() {
    var el = document.querySelector('.twin-scale');
    if (!el || typeof deckInstance === 'undefined' || !deckInstance.isInitialized) return;
    var vp = deckInstance.getViewports()[0];
    if (!vp) return;
    var cx = vp.width / 2, cy = vp.height / 2;
    var a = vp.unproject([cx - 50, cy]), b = vp.unproject([cx + 50, cy]);
    var dlat = (b[1] - a[1]) * rad, dlon = (b[0] - a[0]) * rad;
    var h = Math.pow(Math.sin(dlat / 2), 2) +
      Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.pow(Math.sin(dlon / 2), 2);
    var mpp = 2 * R * Math.asin(Math.sqrt(h)) / 100;
    if (!(mpp > 0)) return;
    var metres = nice(mpp * 120), px = metres / mpp;
    el.querySelector('.twin-scale-bar').style.width = px.toFixed(1) + 'px';
    el.querySelector('.twin-scale-label').textContent =
      metres >= 1000 ? String(metres / 1000).replace('.', ',') + ' km' : metres + ' m';
    el.dataset.metres = String(metres);
    el.dataset.metresPerPixel = String(mpp);
  }
  setInterval(update, 200);
})();
</script>""".replace("@EARTH_RADIUS_M@", repr(EARTH_RADIUS_M))


def _caption(name: str, n: int, prov: dict[str, Any], color_by: str | None, values: pd.Series | None) -> str:
    source = prov.get("source", "unknown")
    synthetic = bool(prov.get("synthetic")) or source in ("synthetic", "simulated")
    flag = " — <b>dữ liệu tổng hợp / synthetic</b>" if synthetic else ""
    licence = prov.get("licence", "")
    by = f" · màu theo / coloured by <code>{html.escape(color_by)}</code>" if color_by else ""
    made = local(datetime.now(UTC), "vi")
    vi, en = LAYERS[name][:2] if name in LAYERS else (name, name)  # a city layer's own titles
    title = vi if vi == en else f"{vi} / {en}"
    return (
        f'<div class="twin-title"><b>Lạng Sơn — {html.escape(title)}</b></div>'
        f'<div class="twin-time">xuất lúc / exported {made} (UTC+7)</div>'
        f"{num(n, 'vi')} đối tượng / {num(n, 'en')} {'feature' if n == 1 else 'features'} · "
        f"nguồn / source: {html.escape(str(source))}{flag}"
        f"{' · ' + html.escape(str(licence)) if licence else ''}{by}"
        f"{_legend(values, color_by)}"
        f"{SCALE_BAR}"
    )


def to_deck(
    data: gpd.GeoDataFrame | str,
    *,
    city: City | None = None,
    res: int | None = None,
    color_by: str | None = None,
    extruded: bool = False,
    elevation_by: str | None = None,
    tooltip_columns: Sequence[str] | None = None,
    name: str | None = None,
) -> pydeck.Deck:
    """Return a pydeck map of a GeoDataFrame or of a city layer given by name.

    Parameters
    ----------
    data
        A GeoDataFrame (any CRS; drawn in EPSG:4326) or the name of a layer of `city`
        (``wards_2025``, ``roads``, ``cameras``, ``cells``…; see `twin.city.LAYERS`).
    city
        The city model, required when `data` is a layer name.
    res
        H3 resolution for the ``cells`` layer (default the city's).
    color_by
        Column that colours the features (numbers on a ramp, categories by palette); default a
        sensible column for known layers, else a single colour.
    extruded
        Extrude polygons by `elevation_by` (3D; e.g. population of the cells).
    elevation_by
        Numeric column for the extrusion height (default `color_by` when numeric).
    tooltip_columns
        Columns shown on hover (default up to 6 non-geometry columns).
    name
        Title of the map (default the layer name).

    Raises
    ------
    InputError
        If a column does not exist, or `data` is a name and no `city` is given.
    DataError
        If the GeoDataFrame has no CRS or no rows with a geometry.
    """
    if isinstance(data, str):
        if city is None:
            raise InputError("city", "is required to draw a layer by name", "pass city=build_city(...)")
        name = name or data
        gdf = city.layer(data, res=res)
        color_by = color_by if color_by is not None else DEFAULT_COLOR_BY.get(data)
    else:
        gdf = data
        name = name or str(provenance.of(gdf).get("name") or "layer")
    if gdf.crs is None:
        raise DataError(f"{name}: the GeoDataFrame has no CRS", "set it with gdf.set_crs(...)")
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.empty:
        raise DataError(f"{name}: no feature with a geometry to draw", "check the layer or its filter")
    prov = provenance.of(gdf)
    gdf = gdf.to_crs(WGS84)
    for col in (color_by, elevation_by, *(tooltip_columns or ())):
        if col is not None and col not in gdf.columns:
            raise InputError(
                "color_by", f"column {col!r} not in the layer", f"use one of {list(gdf.columns)}"
            )
    plain = _jsonable(gdf)
    plain["_color"] = _colors(gdf[color_by]) if color_by else [[0, 188, 212, 200]] * len(gdf)
    height = elevation_by or (color_by if color_by and pd.api.types.is_numeric_dtype(gdf[color_by]) else None)
    if extruded and height:
        h = gdf[height].astype(float).to_numpy()
        top = float(np.nanmax(h)) if np.isfinite(h).any() else 1.0
        plain["_height"] = np.nan_to_num(h / (top or 1.0) * 1500.0).tolist()
    else:
        plain["_height"] = 0.0
    geojson = json.loads(plain.to_json(na="null"))
    kinds = set(gdf.geom_type)
    lines = kinds <= {"LineString", "MultiLineString"}
    layer = pydeck.Layer(
        "GeoJsonLayer",
        data=geojson,
        id=name,
        pickable=True,
        stroked=True,
        filled=not lines,
        extruded=bool(extruded and height),
        get_fill_color="properties._color",
        get_line_color="properties._color" if lines else [20, 30, 40, 180],
        get_elevation="properties._height",
        # pydeck turns a plain str kwarg into a JS expression ("@@=pixels"); String stays a string.
        line_width_units=pydeck.types.String("pixels"),
        get_line_width=2.5 if lines else 1,
        point_radius_units=pydeck.types.String("pixels"),
        get_point_radius=5,
    )
    shown = list(tooltip_columns or [c for c in gdf.columns if c != gdf.geometry.name][:6])
    tooltip = {"html": "<br>".join(f"<b>{c}</b>: {{{c}}}" for c in shown)} if shown else False
    lon, lat, zoom = CITY_VIEW
    west, south, east, north = gdf.total_bounds
    if east - west < 1.0 and north - south < 1.0:  # frame the data when it is local
        lon, lat = (west + east) / 2, (south + north) / 2
        span = max(east - west, north - south, 1e-3)
        zoom = float(np.clip(np.log2(360.0 / span) - 0.6, 3, 17))
    return pydeck.Deck(
        layers=[layer],
        initial_view_state=pydeck.ViewState(
            longitude=lon, latitude=lat, zoom=zoom, pitch=45 if extruded else 0, bearing=0
        ),
        map_provider=None,
        map_style=None,
        tooltip=tooltip,
        description=_caption(name, len(gdf), prov, color_by, gdf[color_by] if color_by else None),
    )


def offline_html(deck: pydeck.Deck) -> str:
    """Return the deck as one self-contained HTML page (deck.gl inlined, no external tag)."""
    html = deck.to_html(as_string=True, offline=True, notebook_display=False)
    if not isinstance(html, str):  # pragma: no cover  (pydeck returns a str with as_string=True)
        raise DataError("pydeck did not return the HTML text", "upgrade pydeck to 0.9 or later")
    html = _EXTERNAL_TAG.sub("", html)
    if "twin-scale-bar" in html and SCALE_SCRIPT not in html:  # the caption is JSON-escaped in the page
        cut = html.rfind("</body>")
        html = html[:cut] + SCALE_SCRIPT + html[cut:] if cut >= 0 else html + SCALE_SCRIPT
    if "charset" not in html[:500]:
        html = html.replace("<head>", '<head><meta charset="utf-8">', 1)
    return html


def write_offline_html(deck: pydeck.Deck, path: Path | str) -> Path:
    """Write `deck` to `path` as one offline HTML file and return the path.

    The page makes no network request: open it by double-click (file://) on an air-gapped machine.
    """
    out = Path(path)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError("path", f"must end in .html, got {out.name!r}", "name the file like map.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(offline_html(deck), encoding="utf-8")
    return out
