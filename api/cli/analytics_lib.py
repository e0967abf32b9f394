"""What `twin hotspots` and `twin cameras next` do: read events, locate them, Gi*, greedy coverage.

Kept apart from `api.cli.analytics` (the typer signatures) so that `twin --help` does not import
geopandas, scipy and the city model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rich.console import Console
from rich.table import Table

from api.cli.base import console, fail
from api.settings import Settings
from gis_data import io
from gis_data.city import build_city
from twin import cameras as cam
from twin import coverage, h3grid, hotspots, provenance
from twin.city import City
from twin.crs import LOCAL_OFFSET, WGS84
from twin.errors import DataError, InputError, OutOfCityError

#: printed tables go to stdout (pipeable); progress and errors go to stderr (`console`)
stdout = Console()

EVENT_SUFFIXES = (".csv", ".geojson", ".json")
#: Column names read as ``lon``, ``lat`` and ``ts``: the API's own exports (``GET /events`` GeoJSON and
#: the CSV of `gis_data.io`) name the event time ``start_time`` and the position ``geometry_wkt``.
_ALIASES = {
    "lng": "lon", "long": "lon", "longitude": "lon", "x": "lon", "latitude": "lat", "y": "lat",
    "start_time": "ts", "time": "ts", "timestamp": "ts",
}  # fmt: skip
_COLUMNS_HINT = (
    "events need lon and lat columns or a geometry_wkt POINT column (CSV) or Point geometries (GeoJSON), "
    "plus ts (or start_time) and category"
)
#: The one time-zone rule: times are stored and computed in UTC (a time without an offset is UTC);
#: people are shown Lạng Sơn time (`twin.crs.LOCAL_OFFSET`, UTC+7, no daylight saving).
SHOWN_OFFSET = pd.Timedelta(LOCAL_OFFSET)


# -- reading events ------------------------------------------------------------------------------
def read_events(path: Path) -> pd.DataFrame:
    """Read events from CSV or GeoJSON into a frame with float ``lon``, ``lat`` (and ``ts``, ``category``).

    Raises
    ------
    DataError
        The file is unreadable, malformed, lacks lon/lat, or has rows without valid coordinates.
    InputError
        The file type is not CSV or GeoJSON.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EVENT_SUFFIXES:
        raise InputError("events", f"{path.name}: must be a .csv, .geojson or .json file", _COLUMNS_HINT)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    frame = _read_csv(path) if suffix == ".csv" else _read_geojson(path)
    frame = frame.rename(columns={c: str(c).strip().lower() for c in frame})
    if "ts" in frame.columns:
        frame = frame.drop(columns=[c for c in frame.columns if _ALIASES.get(c) == "ts"])
    frame = frame.rename(columns={c: _ALIASES.get(str(c), str(c)) for c in frame})
    frame = frame.loc[:, ~frame.columns.duplicated()]
    if ("lon" not in frame.columns or "lat" not in frame.columns) and "geometry_wkt" in frame.columns:
        frame = _points_from_wkt(frame, path)
    missing = [c for c in ("lon", "lat") if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} (have {list(frame.columns)})", _COLUMNS_HINT
        )
    for col in ("lon", "lat"):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = np.flatnonzero(
            values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        )
        if bad.size:
            raise DataError(
                f"{path}: {bad.size} row(s) have no valid {col} (first: row {int(bad[0]) + 1})",
                "give decimal degrees, e.g. lon 106.76, lat 21.85",
            )
        frame[col] = values.astype(np.float64)
    if len(frame) == 0:
        raise DataError(f"{path}: contains no events", _COLUMNS_HINT)
    if "ts" in frame.columns:
        ts = pd.to_datetime(frame["ts"], utc=True, errors="coerce", format="ISO8601")
        bad_ts = np.flatnonzero(ts.isna().to_numpy())
        if bad_ts.size:
            raise DataError(
                f"{path}: {bad_ts.size} row(s) have no valid time (first: row {int(bad_ts[0]) + 1})",
                "give ISO 8601 times, e.g. 2026-11-20T07:30:00Z (a time without an offset is read as UTC)",
            )
        frame["ts"] = ts
    return frame


def _points_from_wkt(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Return `frame` with ``lon``/``lat`` from its ``geometry_wkt`` POINTs (the project's CSV exports)."""
    try:
        geoms = shapely.from_wkt(frame["geometry_wkt"].astype(str).to_numpy())
    except shapely.errors.GEOSException as e:
        raise DataError(f"{path}: geometry_wkt is not WKT ({e})", _COLUMNS_HINT) from None
    kinds = shapely.get_type_id(geoms)
    not_points = np.flatnonzero(kinds != 0)
    if not_points.size:
        raise DataError(
            f"{path}: row {int(not_points[0]) + 1} is not a POINT", "events are points: one POINT per event"
        )
    out = frame.copy()
    out["lon"], out["lat"] = shapely.get_x(geoms), shapely.get_y(geoms)
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty", _COLUMNS_HINT) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{path}: not readable CSV ({e})", _COLUMNS_HINT) from None


def _read_geojson(path: Path) -> pd.DataFrame:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not readable GeoJSON ({e})", "check the file is valid JSON") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise DataError(f"{path}: GeoJSON must be a FeatureCollection of Point features")
    features = doc.get("features")
    if not isinstance(features, list):
        raise DataError(f"{path}: the FeatureCollection has no features list")
    rows: list[dict[str, Any]] = []
    for i, feat in enumerate(features):
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        coords = geom.get("coordinates") if isinstance(geom, dict) else None
        if not isinstance(geom, dict) or geom.get("type") != "Point" or not isinstance(coords, list | tuple):
            raise DataError(f"{path}: feature {i} is not a Point", "events are points: one Point per event")
        if len(coords) < 2:
            raise DataError(f"{path}: feature {i} has no [lon, lat] coordinates")
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            raise DataError(f"{path}: feature {i} has properties that are not an object")
        rows.append({**props, "lon": coords[0], "lat": coords[1]})
    return pd.DataFrame(rows)


def locate_events(
    events: pd.DataFrame, city: City, res: int, *, drop_outside: bool, where: str
) -> pd.DataFrame:
    """Return the events inside the city with their H3 ``cell`` (hex string) column added.

    Events outside the 4 city wards raise `OutOfCityError`, unless `drop_outside` (then they are
    dropped, and if none is left that is an error too).
    """
    lon = events["lon"].to_numpy()
    lat = events["lat"].to_numpy()
    swapped = bool(city.contains(lat, lon).mean() > 0.5)
    swap_hint = "lon and lat look swapped: lon is about 106.7, lat about 21.8 here"
    out_of_range = (np.abs(lat) > 90) | (np.abs(lon) > 180)
    if out_of_range.any():
        first = int(np.flatnonzero(out_of_range)[0])
        raise InputError(
            "events",
            f"{where}: {int(out_of_range.sum())} event(s) have lat beyond ±90 or lon beyond ±180 "
            f"(first: row {first + 1}, lon {lon[first]}, lat {lat[first]})",
            swap_hint if swapped else "give decimal degrees (WGS84)",
        )
    inside = city.contains(lon, lat)
    if not inside.all():
        if not drop_outside:
            first = int(np.flatnonzero(~inside)[0])
            raise OutOfCityError(
                "events",
                f"{where}: {int((~inside).sum())} of {len(events)} events lie outside Lạng Sơn city "
                f"(first: row {first + 1}, lon {lon[first]:.5f}, lat {lat[first]:.5f})",
                swap_hint if swapped else "pass --drop-outside to ignore them",
            )
        events = events.loc[inside]
        if events.empty:
            raise OutOfCityError(
                "events", f"{where}: no event lies inside Lạng Sơn city", "check the coordinates"
            )
        console.print(f"[yellow]note[/]: dropped {int((~inside).sum())} events outside the city")
    out = events.copy()
    out["cell"] = h3grid.to_str(h3grid.latlng_to_cells(out["lat"].to_numpy(), out["lon"].to_numpy(), res))
    return out


def _filter_category(events: pd.DataFrame, category: str | None, where: str) -> pd.DataFrame:
    if category is None:
        return events
    if "category" not in events.columns:
        raise DataError(f"{where}: has no category column, so --category cannot select", _COLUMNS_HINT)
    chosen = events.loc[events["category"].astype(str) == category]
    if chosen.empty:
        known = sorted(events["category"].dropna().astype(str).unique())
        raise InputError("category", f"no event of category {category!r}", f"known: {', '.join(known[:12])}")
    return chosen


def _ward_names(city: City, codes: Any) -> list[str]:
    names = city.wards["name"].astype(str) if "name" in city.wards.columns else pd.Series(dtype=str)
    return [names.get(str(c), str(c)) if c else "-" for c in codes]


def _city(data_dir: Path | None, res: int) -> City:
    settings = Settings()
    with console.status("building the city model…"):
        return build_city(
            data_dir or settings.data.dir,
            road_source=settings.road_source,
            osm_file=settings.osm_file,
            seed=settings.seed,
            res=res,
        )


def _resolution(res: int | None) -> int:
    return h3grid.check_resolution(Settings().h3_res if res is None else res, "res")


# -- twin hotspots -------------------------------------------------------------------------------
def hotspot_table(
    events: pd.DataFrame,
    universe: list[str],
    *,
    window: str | None,
    k: int,
    alpha: float,
    fdr: bool,
) -> pd.DataFrame:
    """Return the Gi* table of located events (a ``window`` column first when `window` is given)."""
    if window is None:
        counts = events.groupby("cell").size()
        return hotspots.getis_ord(counts, k=k, alpha=alpha, fdr=fdr, universe=universe)
    if "ts" not in events.columns:
        raise DataError("events: have no ts column, so --window cannot split them", _COLUMNS_HINT)
    per_window = hotspots.counts_by_window(events, window)
    table = hotspots.getis_ord_by_window(per_window, k=k, alpha=alpha, fdr=fdr, universe=universe)
    return table.reset_index(level="window")


def _geodataframe(table: pd.DataFrame, city: City) -> gpd.GeoDataFrame:
    frame = table.copy()
    cells = list(frame.index)
    frame.insert(0, "cell", cells)
    if "window" in frame.columns:
        frame["window"] = pd.DatetimeIndex(frame["window"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    centres = np.array([h3grid.cell_to_latlng(c) for c in cells]).reshape(-1, 2)
    frame["ward_code"] = city.ward_of(centres[:, 1], centres[:, 0]) if cells else []
    polygons = {c: h3grid.cell_to_polygon(c) for c in set(cells)}
    gdf = gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=[polygons[c] for c in cells], crs=WGS84)
    gdf.attrs = dict(table.attrs)
    return gdf


# -- twin hotspots (body) ---
def run_hotspots(  # noqa: PLR0917  (the command's options, passed through)
    events_file: Path,
    res: int | None,
    window: str | None,
    category: str | None,
    fmt: str,
    out: Path | None,
    k: int,
    alpha: float,
    fdr: bool,
    drop_outside: bool,
    top: int,
    data_dir: Path | None,
) -> None:
    if fmt not in ("table", "geojson"):
        raise fail(f"format: must be table or geojson, got {fmt!r}", "use --format table or --format geojson")
    if window is not None:
        hotspots.parse_window(window)
    r = _resolution(res)
    events = _filter_category(read_events(events_file), category, str(events_file))
    city = _city(data_dir, r)
    located = locate_events(events, city, r, drop_outside=drop_outside, where=str(events_file))
    universe = sorted(set(city.cells(r).index.astype(str)) | set(located["cell"]))
    with console.status(f"Gi* over {len(universe)} cells…"):
        table = hotspot_table(located, universe, window=window, k=k, alpha=alpha, fdr=fdr)
    flagged = table.loc[table["hotspot"] != "none"]
    _warn_if_sparse(provenance.of(table).get("params", {}), window)
    n_hot = int((table["hotspot"] == "hot").sum())
    n_cold = int((table["hotspot"] == "cold").sum())
    summary = (
        f"{len(located)} events, {len(universe)} cells at res {r}"
        + (f", {table['window'].nunique()} windows of {window}" if window else "")
        + f": {n_hot} hot, {n_cold} cold (alpha {alpha}, {'FDR' if fdr else 'no FDR'}, k={k})"
    )
    if fmt == "geojson":
        keep = table if window is None else table.loc[(table["count"] > 0) | (table["hotspot"] != "none")]
        gdf = _geodataframe(keep, city)
        if out is None:
            doc = io.to_geojson_dict(gdf, provenance.of(table))
            sys.stdout.write(json.dumps(doc, ensure_ascii=False, allow_nan=False) + "\n")
        else:
            io.write(gdf, out, "geojson")
        console.print(f"[green]ok[/]: {summary}" + (f" → {out}" if out else ""))
        return
    if out is not None:
        gdf = _geodataframe(table, city)
        io.write(gdf, out, "csv")
    shown = flagged.sort_values("gi_z", ascending=False, key=abs).head(max(top, 0))
    grid = Table(
        title=f"Hotspots ({summary})",
        caption="windows start in Vietnam time (UTC+7); times are read and computed in UTC"
        if window
        else None,
    )
    for col in ("window", "cell", "ward", "count", "gi_z", "p_value", "p_fdr", "hotspot"):
        if col != "window" or window:
            grid.add_column(col, no_wrap=True)
    centres = np.array([h3grid.cell_to_latlng(c) for c in shown.index]).reshape(-1, 2)
    codes = city.ward_of(centres[:, 1], centres[:, 0]) if len(shown) else np.array([], dtype=str)
    wards = _ward_names(city, codes)
    for (cell, row), ward in zip(shown.iterrows(), wards, strict=True):
        cells = [str(cell), str(ward), f"{row['count']:g}", f"{row['gi_z']:+.2f}", f"{row['p_value']:.2g}"]
        cells += [f"{row['p_fdr']:.2g}", str(row["hotspot"])]
        if window:
            cells.insert(0, (pd.Timestamp(row["window"]) + SHOWN_OFFSET).strftime("%m-%d %H:%M"))
        grid.add_row(*cells)
    stdout.print(grid)
    if flagged.empty:
        stdout.print("no significant hotspot")
    if out is not None:
        console.print(f"[green]ok[/]: all {len(table)} rows → {out}")


def _warn_if_sparse(params: dict[str, Any], window: str | None) -> None:
    expected = float(params.get("expected_events", hotspots.MIN_EXPECTED_EVENTS))
    sparse = params.get("sparse", False) or params.get("sparse_windows", 0)
    if sparse:
        where = f"{params.get('sparse_windows')} of {params.get('windows')} windows" if window else "the data"
        console.print(
            f"[yellow]warning[/]: few events for the normal approximation in {where} "
            f"(~{expected:.2g} expected per neighbourhood, want ≥ {hotspots.MIN_EXPECTED_EVENTS:g}): "
            "p-values are too small there; use a longer --window, a coarser --res or a larger --k"
        )


# -- twin cameras next (body) ---
def run_cameras_next(  # noqa: PLR0917  (the command's options, passed through)
    count: int,
    events_file: Path | None,
    res: int | None,
    category: str | None,
    drop_outside: bool,
    fmt: str,
    data_dir: Path | None,
) -> None:
    if fmt not in ("table", "csv", "json"):
        raise fail(f"format: must be table, csv or json, got {fmt!r}", "use --format table")
    r = _resolution(res)
    city = _city(data_dir, r)
    if events_file is not None:
        events = _filter_category(read_events(events_file), category, str(events_file))
        located = locate_events(events, city, r, drop_outside=drop_outside, where=str(events_file))
        weights = located.groupby("cell").size().astype(np.float64)
        basis = f"incidents in {events_file.name} ({len(located)} events)"
    else:
        if category is not None:
            raise fail("--category needs --events", "pass the incidents file with --events FILE")
        weights = city.cells(r)["population"].astype(np.float64)
        basis = "resident population per cell (proxy; spread from ward totals)"
    registry = city.cameras
    with console.status("mapping camera coverage…"):
        cov = cam.coverage_cells(registry, r)
    connected = registry.loc[registry["connected"].astype(bool), "camera_id"].astype(str).tolist()
    candidates = registry.loc[~registry["connected"].astype(bool), "camera_id"].astype(str).tolist()
    ranked = coverage.next_cameras(cov, weights, candidates, connected, count)
    info = registry.set_index(registry["camera_id"].astype(str))
    ranked["name"] = info.loc[ranked["camera_id"], "name"].to_numpy() if len(ranked) else []
    ranked["ward_code"] = info.loc[ranked["camera_id"], "ward_code"].to_numpy() if len(ranked) else []
    ranked["kind"] = info.loc[ranked["camera_id"], "kind"].to_numpy() if len(ranked) else []
    base_share = coverage.covered_weight(cov, weights, connected) / max(float(weights.sum()), 1e-300)
    if fmt == "json":
        doc = {
            "weight": basis,
            "res": r,
            "connected": len(connected),
            "connected_share": base_share,
            "synthetic": bool(provenance.of(registry).get("synthetic", True)),
            "cameras": json.loads(ranked.to_json(orient="records", force_ascii=False)),
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        return
    if fmt == "csv":
        ranked.to_csv(sys.stdout, index=False)
        return
    grid = Table(title=f"Next {len(ranked)} cameras to connect — weight: {basis}")
    for col in ("rank", "camera_id", "name", "ward", "kind", "gain", "covered"):
        grid.add_column(col, no_wrap=col != "name")
    for row, ward in zip(ranked.itertuples(index=False), _ward_names(city, ranked["ward_code"]), strict=True):
        grid.add_row(
            str(row.rank),
            str(row.camera_id),
            str(row.name),
            ward,
            str(row.kind),
            f"{row.gain:,.1f}",
            f"{row.cum_share:.1%}",
        )
    stdout.print(grid)
    console.print(
        f"{len(connected)} cameras connected now cover {base_share:.1%} of the weight; "
        f"with these {len(ranked)}: {ranked['cum_share'].iloc[-1] if len(ranked) else base_share:.1%}"
    )
