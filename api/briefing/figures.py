"""The briefing's maps and charts, drawn with matplotlib from our own layers (no basemap tiles).

Maps show the 2025 wards (names with diacritics), the neighbouring communes, the Kỳ Cùng river and
H3 hexagons; they are plotted in lon/lat with the aspect corrected for the latitude. Text uses a
font with Vietnamese diacritics (`font_files`).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import pandas as pd
from matplotlib import dates as mdates
from matplotlib import font_manager, patheffects
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, ScalarFormatter
from shapely import box as _box

from api.briefing.collect import Facts
from api.briefing.text import Lang, category, num, t
from api.schemas import categories
from twin import h3grid
from twin.city import City
from twin.crs import LOCAL_OFFSET, metres_per_degree, plot_aspect
from twin.errors import DataError

#: Fonts with Vietnamese diacritics, best first: Debian's Noto Sans, DejaVu, matplotlib's own DejaVu.
_CANDIDATES = (
    (
        "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    ),
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
)
DPI = 150


def font_files() -> tuple[Path, Path]:
    """Return (regular, bold) TTF files of a font that has the Vietnamese letters.

    Debian's fonts-noto-core first; matplotlib ships DejaVu Sans (which has them too) as the last
    resort, so the briefing never needs a font of its own.
    """
    for regular, bold in _CANDIDATES:
        if Path(regular).is_file() and Path(bold).is_file():
            return Path(regular), Path(bold)
    data = Path(mpl.get_data_path()) / "fonts" / "ttf"
    fallback = (data / "DejaVuSans.ttf", data / "DejaVuSans-Bold.ttf")
    if not fallback[0].is_file():
        raise DataError("no font with Vietnamese letters found", hint="apt-get install fonts-noto-core")
    return fallback


def italic_files(regular: Path) -> tuple[Path, Path] | None:
    """Return the italic and bold italic of `regular`'s family when installed, else None.

    Decree 30/2020/NĐ-CP sets the place and date line and "Nơi nhận" in italics: a real italic face,
    not a slanted regular one.
    """
    stem = regular.stem.removesuffix("-Regular")
    for it, bold_it in (("-Italic", "-BoldItalic"), ("-Oblique", "-BoldOblique")):
        pair = regular.with_name(f"{stem}{it}.ttf"), regular.with_name(f"{stem}{bold_it}.ttf")
        if pair[0].is_file() and pair[1].is_file():
            return pair
    return None


def _use_font() -> None:
    regular, bold = font_files()
    for f in (regular, bold):
        font_manager.fontManager.addfont(str(f))
    name = font_manager.FontProperties(fname=str(regular)).get_name()
    mpl.rcParams["font.family"] = [name, "DejaVu Sans"]
    mpl.rcParams["font.size"] = 9


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    # The object API (no pyplot): no global state, safe in threads, no display needed.
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def _tick_digits(axis: Axis) -> int:
    """Return the decimals the axis's tick step needs (0.05 apart: 2; 20 apart: 0)."""
    locs = sorted(float(v) for v in axis.get_majorticklocs())
    steps = [b - a for a, b in itertools.pairwise(locs) if b > a]
    return max(0, -math.floor(math.log10(min(steps)) + 1e-9)) if steps else 0


def _local_numbers(fig: Figure, lang: Lang) -> None:
    """Write every numeric tick label in the language's format (Vietnamese 0,2 and 1.000)."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if isinstance(axis.get_major_formatter(), ScalarFormatter):
                axis.set_major_formatter(
                    FuncFormatter(lambda v, _pos, a=axis: num(v, lang, _tick_digits(a)).replace("-", "−"))
                )


def _save(fig: Figure, path: Path, lang: Lang) -> Path:
    _local_numbers(fig, lang)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    return path


def _base_map(ax: Axes, city: City, lang: Lang, pad: float = 0.01) -> None:
    core = city.core_wards
    others = city.wards[~city.wards.index.isin(core.index)]
    others.plot(ax=ax, facecolor="#f3f3f0", edgecolor="#c8c8c8", linewidth=0.5)
    core.plot(ax=ax, facecolor="#fbfbf7", edgecolor="#555555", linewidth=0.8)
    if len(city.river):
        city.river.plot(ax=ax, color="#5b9bd5", linewidth=1.6)
    minx, miny, maxx, maxy = core.total_bounds
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect(plot_aspect((miny + maxy) / 2))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for side in ax.spines.values():
        side.set_visible(False)


def _zoom(ax: Axes, bounds: tuple[float, float, float, float], city: City, pad: float = 0.02) -> None:
    """Frame the map on `bounds` (padded), never beyond the city's wards."""
    minx, miny, maxx, maxy = bounds
    cx0, cy0, cx1, cy1 = city.core_wards.total_bounds
    ax.set_xlim(max(minx - pad, cx0 - 0.01), min(maxx + pad, cx1 + 0.01))
    ax.set_ylim(max(miny - pad, cy0 - 0.01), min(maxy + pad, cy1 + 0.01))


def _labels(ax: Axes, city: City) -> None:
    ax.set_xlabel("")  # geopandas labels geographic axes on every plot; a map needs none
    ax.set_ylabel("")
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for _, w in city.core_wards.iterrows():
        p = w.geometry.intersection(_box(x0, y0, x1, y1)).representative_point()
        if p.is_empty:
            continue
        ax.annotate(
            str(w["name"]),
            (p.x, p.y),
            ha="center",
            fontsize=10,
            fontweight="bold",
            color="#222222",
            path_effects=halo,
        )


#: Bar lengths a scale bar may take (metres): 1, 2 or 5 × a power of ten.
_NICE = [m * 10**e for e in range(0, 6) for m in (1, 2, 5)]


def nice_length(max_m: float) -> float:
    """Return the longest of 1, 2, 5 × 10ⁿ metres not above `max_m` (at least 1 m)."""
    fits = [v for v in _NICE if v <= max_m]
    return float(fits[-1] if fits else 1)


def scale_label(metres: float, lang: Lang) -> str:
    """Return a scale bar's label: "500 m", "2 km" (Vietnamese numbers with a decimal comma)."""
    if metres >= 1000:
        km = metres / 1000
        text = f"{km:g}"
        return f"{text.replace('.', ',') if lang == 'vi' else text} km"
    return f"{metres:g} m"


def scale_bar(ax: Axes, lang: Lang) -> float:
    """Draw a scale bar in the lower right of a lon/lat map (about a fifth of its width); return metres."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    lat = (y0 + y1) / 2
    m_per_deg = float(metres_per_degree(lat)[0])
    length = nice_length(0.22 * (x1 - x0) * m_per_deg)
    width = length / m_per_deg
    right, bottom = x1 - 0.04 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    left = right - width
    tick = 0.012 * (y1 - y0)
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    ax.plot([left, right], [bottom, bottom], color="#111111", linewidth=2.5, solid_capstyle="butt",
            zorder=8, path_effects=halo)  # fmt: skip
    for x in (left, right):
        ax.plot([x, x], [bottom - tick, bottom + tick], color="#111111", linewidth=1.2, zorder=8)
    ax.annotate(
        scale_label(length, lang), ((left + right) / 2, bottom + 1.8 * tick), ha="center", va="bottom",
        fontsize=8, zorder=8, path_effects=halo,
    )  # fmt: skip
    return length


def _hexes(counts: pd.Series) -> gpd.GeoDataFrame:
    cells = [str(c) for c in counts.index]
    return gpd.GeoDataFrame(
        {"value": counts.to_numpy(dtype=float)}, geometry=h3grid.cells_to_polygons(cells), crs="EPSG:4326"
    )


def events_map(facts: Facts, city: City, lang: Lang, path: Path) -> Path:
    """Draw events per H3 cell, hotspots outlined, and the cameras, over the wards."""
    _use_font()
    fig, ax = _figure(7.2, 6.4)
    _base_map(ax, city, lang)
    handles: list[Line2D] = []
    if len(facts.cell_counts):
        hexes = _hexes(facts.cell_counts)
        hexes.plot(
            ax=ax,
            column="value",
            cmap="YlOrRd",
            linewidth=0,
            alpha=0.85,
            legend=True,
            legend_kwds={"label": t("legend_count", lang), "shrink": 0.6},
        )
        if len(facts.hot):
            _hexes(facts.hot["count"]).boundary.plot(ax=ax, color="#000000", linewidth=1.2)
            handles.append(Line2D([], [], color="#000000", linewidth=1.2, label=t("legend_hot", lang)))
    if len(facts.cell_counts):
        _zoom(ax, _hexes(facts.cell_counts).total_bounds, city)
    cams = facts.cameras
    on = cams[cams["connected"].astype(bool)]
    off = cams[~cams["connected"].astype(bool)]
    ax.scatter(off.geometry.x, off.geometry.y, s=4, color="#9a9a9a", zorder=3)
    ax.scatter(on.geometry.x, on.geometry.y, s=10, color="#1b7f3b", zorder=4)
    handles += [
        Line2D(
            [], [], marker="o", linestyle="", color="#1b7f3b", markersize=4, label=t("legend_cam_on", lang)
        ),
        Line2D(
            [], [], marker="o", linestyle="", color="#9a9a9a", markersize=3, label=t("legend_cam_off", lang)
        ),
        Line2D([], [], color="#5b9bd5", linewidth=1.6, label=t("river", lang)),
    ]
    _labels(ax, city)
    scale_bar(ax, lang)
    ax.legend(handles=handles, loc="lower left", fontsize=7, frameon=True)
    ax.set_title(t("map_events", lang), fontsize=11)
    return _save(fig, path, lang)


def scenario_map(facts: Facts, city: City, lang: Lang, path: Path) -> Path | None:
    """Draw the scenario's H3 difference layer (b − a) and the closed roads; None without one."""
    sc = facts.scenario
    if sc is None or sc.diff is None or sc.diff_column is None:
        return None
    _use_font()
    fig, ax = _figure(7.2, 6.4)
    _base_map(ax, city, lang)
    d = sc.diff[sc.diff[sc.diff_column].abs() > 1e-12]
    if len(d):
        lim = float(d[sc.diff_column].abs().max())
        d.plot(
            ax=ax,
            column=sc.diff_column,
            cmap="RdBu_r",
            norm=TwoSlopeNorm(0.0, -lim, lim),
            linewidth=0,
            alpha=0.9,
            legend=True,
            legend_kwds={"label": t("legend_delta", lang), "shrink": 0.6},
        )
    handles = [Line2D([], [], color="#5b9bd5", linewidth=1.6, label=t("river", lang))]
    if sc.closed is not None and len(sc.closed):
        sc.closed.plot(ax=ax, color="#000000", linewidth=2.5, zorder=5)
        handles.append(Line2D([], [], color="#000000", linewidth=2.5, label=t("legend_closed", lang)))
    _labels(ax, city)
    scale_bar(ax, lang)
    ax.legend(handles=handles, loc="lower left", fontsize=7)
    ax.set_title(f"{t('map_scenario', lang)}\n{sc.name_b}", fontsize=10)
    return _save(fig, path, lang)


def _color(code: object) -> str:
    """Return the category's colour from the category table (grey for a code it does not know)."""
    row = categories.table().get(str(code))
    return row.color if row is not None else "#9e9e9e"


def category_chart(facts: Facts, lang: Lang, path: Path) -> Path | None:
    """Draw a horizontal bar chart of events by category."""
    if facts.by_category.empty:
        return None
    _use_font()
    s = facts.by_category.sort_values()
    fig, ax = _figure(6.0, 0.35 * len(s) + 1.0)
    ax.barh([category(c, lang) for c in s.index], s.to_numpy(), color=[_color(c) for c in s.index])
    for y, v in enumerate(s.to_numpy()):
        ax.text(v, y, f" {int(v)}", va="center", fontsize=8)
    ax.set_title(t("chart_categories", lang), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path, lang)


def days_chart(facts: Facts, lang: Lang, path: Path) -> Path | None:
    """Draw events per local day (per hour when the data span under two days), stacked by category."""
    if facts.events.empty:
        return None
    _use_font()
    at = pd.to_datetime(facts.events["time"], utc=True) + pd.Timedelta(LOCAL_OFFSET)
    hourly = facts.observed.span < pd.Timedelta(days=2)
    # string bins ("2026-11-20 07" / "2026-11-20") sort in time order and plot as plain categories
    ev = facts.events.assign(bin=at.dt.strftime("%Y-%m-%d %H" if hourly else "%Y-%m-%d"))
    table = pd.crosstab(ev["bin"], ev["category"]).sort_index()
    colors = [_color(c) for c in table.columns]
    table.columns = [category(c, lang) for c in table.columns]
    fig, ax = _figure(6.4, 2.8)
    table.plot(kind="bar", stacked=True, ax=ax, color=colors, width=0.8)
    ax.set_xlabel("")
    step = max(1, len(table) // 8)
    ticks = list(range(0, len(table), step))
    labels = [f"{b[11:13]}:00" if hourly else f"{b[8:10]}/{b[5:7]}" for b in table.index[ticks]]
    ax.set_xticks(ticks, labels=labels, rotation=0)
    ax.legend(fontsize=6, ncols=4, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.set_title(t("chart_hours" if hourly else "chart_days", lang), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, path, lang)


def camera_chart(facts: Facts, lang: Lang, path: Path) -> Path | None:
    """Draw the number of connected cameras online over the period."""
    h = facts.camera_history
    if h.empty:
        return None
    _use_font()
    at = pd.to_datetime(h["at"], utc=True) + pd.Timedelta(LOCAL_OFFSET)
    fig, ax = _figure(6.4, 2.4)
    ax.plot(at, h["online"], color="#1b7f3b", linewidth=1.2, label=t("cameras_online", lang))
    ax.plot(
        at, h["connected"], color="#888888", linewidth=0.8, linestyle="--", label=t("cameras_connected", lang)
    )
    ax.set_ylim(0, max(1, int(h["connected"].max())) * 1.1)
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    ax.set_title(t("chart_cameras", lang), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))  # type: ignore[no-untyped-call]
    short = at.max() - at.min() < pd.Timedelta(days=2)  # hours of one or two days, else days
    day = "%d/%m" if lang == "vi" else "%d %b"
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M" if short else day))  # type: ignore[no-untyped-call]
    return _save(fig, path, lang)
