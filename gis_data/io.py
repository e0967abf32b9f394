"""The one export module: layers and tables as RFC 7946 GeoJSON, GeoParquet and CSV, with provenance.

Every export of the twin goes through here: the CLI (``twin export``), the layer routes
(``GET /layers/{name}``) and scenario results (``GET /scenarios/{id}/layers/{name}``, compare layers).
So everywhere:

- the formats are named ``geojson``, ``geoparquet`` and ``csv`` (``parquet`` is accepted as an alias
  of ``geoparquet``, the scenario routes' old name);
- GeoJSON is a FeatureCollection in lon/lat (right-hand rule, 6 decimals) with the full provenance
  as the foreign member ``provenance`` and ``source``/``synthetic`` on every feature;
- GeoParquet carries the ``geo`` metadata and the provenance in its key-value metadata, plus the
  ``source``/``synthetic`` columns; a table (no geometry) is plain Parquet with the same metadata;
- CSV writes geometry as WKT in ``geometry_wkt``, adds ``source``/``synthetic``, is UTF-8 with a BOM
  (Excel reads the Vietnamese names), and has no unnamed index column (a meaningful index, such as a
  ward code or an H3 cell, becomes a named column).

`encode` returns the bytes (HTTP answers); `write` writes a file atomically: to a temporary file
beside the target, renamed into place, so a failed export never leaves a partial file.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from twin import provenance
from twin.crs import WGS84
from twin.errors import InputError

Format = Literal["geojson", "geoparquet", "csv"]
FORMATS: tuple[Format, ...] = ("geojson", "geoparquet", "csv")
#: Other accepted names of a format.
ALIASES: dict[str, Format] = {"parquet": "geoparquet"}
COORD_DECIMALS = 6


@dataclass(frozen=True)
class Media:
    """How a format travels: its media type and file suffix."""

    media_type: str
    suffix: str


MEDIA: dict[Format, Media] = {
    "geojson": Media("application/geo+json", ".geojson"),
    "geoparquet": Media("application/vnd.apache.parquet", ".parquet"),
    "csv": Media("text/csv; charset=utf-8", ".csv"),
}


def check_format(fmt: str) -> Format:
    """Return the format `fmt` names (aliases resolved); raise `InputError` naming the known ones."""
    for name in FORMATS:
        if ALIASES.get(fmt, fmt) == name:
            return name
    raise InputError("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}")


def has_geometry(frame: pd.DataFrame) -> bool:
    """Return whether `frame` is a layer (a GeoDataFrame with its geometry column) rather than a table."""
    if not isinstance(frame, gpd.GeoDataFrame):
        return False
    name = frame.active_geometry_name
    return name is not None and name in frame.columns


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it to `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the export the ordinary mode (0666 less the umask).
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _geometries(geoms: Any) -> list[dict[str, Any] | None]:
    """Return RFC 7946 geometry objects (exterior rings counter-clockwise, holes clockwise, coordinates
    rounded to `COORD_DECIMALS`), None for missing or empty geometries. Vectorised in GEOS."""
    arr = np.asarray(geoms, dtype=object)
    if arr.size == 0:
        return []
    absent = shapely.is_missing(arr) | shapely.is_empty(arr)
    oriented = shapely.orient_polygons(arr, exterior_cw=False)
    rounded = shapely.transform(oriented, lambda c: np.round(c, COORD_DECIMALS))  # 2D positions
    texts = shapely.to_geojson(rounded)
    return [None if gone else orjson.loads(t) for gone, t in zip(absent.tolist(), texts, strict=True)]


def _column(values: pd.Series) -> list[Any]:
    """Return a column as JSON-able Python values (NaN and infinities as null), numbers in bulk."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        out: list[Any] = values.tolist()
        return out
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        arr = values.to_numpy(dtype=np.float64)
        floats: list[Any] = arr.tolist()
        if not np.isfinite(arr).all():
            floats = [v if math.isfinite(v) else None for v in floats]
        return floats
    return [_json_value(v) for v in values.tolist()]


def _json_value(v: Any) -> Any:  # noqa: PLR0911  (one branch per JSON-able type)
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, list | tuple | np.ndarray):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, str | int | float | bool):
        return v
    if v is pd.NA or v is pd.NaT:
        return None
    return str(v)


def to_geojson_dict(
    gdf: gpd.GeoDataFrame, prov: dict[str, Any] | None = None, members: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return `gdf` as an RFC 7946 FeatureCollection dict (lon/lat, right-hand rule, no crs).

    Each feature gets ``source`` and ``synthetic`` properties; the collection carries the full
    provenance (`prov`, default the layer's own) as the foreign member ``provenance``, and `members`
    (e.g. ``name``, the scenario id) as further foreign members.
    """
    if gdf.crs is not None and gdf.crs.to_string() != WGS84:
        gdf = gdf.to_crs(WGS84)
    prov = prov if prov is not None else provenance.of(gdf)
    source = prov.get("source", "unknown")
    synthetic = bool(prov.get("synthetic", False))
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    columns = {str(c): _column(gdf[c]) for c in cols}
    geometries = _geometries(gdf.geometry.to_numpy())
    ids = _column(gdf.index.to_series())
    features = []
    for i, (idx, geom) in enumerate(zip(ids, geometries, strict=True)):
        props = {name: values[i] for name, values in columns.items()}
        props.setdefault("source", source)
        props.setdefault("synthetic", synthetic)
        features.append({"type": "Feature", "id": idx, "geometry": geom, "properties": props})
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    for key, value in (members or {}).items():
        out[key] = _json_value(value)
    if prov:
        out["provenance"] = _json_value(prov)
    return out


def _with_provenance_columns(frame: pd.DataFrame, prov: dict[str, Any]) -> pd.DataFrame:
    out = frame.copy()
    out.attrs = {}
    out["source"] = prov.get("source", "unknown")
    out["synthetic"] = bool(prov.get("synthetic", False))
    return out


def to_parquet_table(frame: pd.DataFrame, prov: dict[str, Any] | None = None) -> pa.Table:
    """Return `frame` as an Arrow table: GeoParquet (``geo`` metadata) for a layer, plain for a table,
    with the provenance in the key-value metadata and as ``source``/``synthetic`` columns."""
    prov = prov if prov is not None else provenance.of(frame)
    if has_geometry(frame):
        gdf = cast(gpd.GeoDataFrame, frame)
        gdf = gdf.to_crs(WGS84) if gdf.crs is not None else gdf
        # GeoDataFrame.to_parquet writes the "geo" metadata; read it back as a table to add ours.
        buf = io.BytesIO()
        _with_provenance_columns(gdf, prov).to_parquet(buf, index=True)
        table = pq.read_table(pa.BufferReader(buf.getvalue()))
    else:
        table = pa.Table.from_pandas(_with_provenance_columns(frame, prov), preserve_index=None)
    meta = dict(table.schema.metadata or {})
    meta[b"provenance"] = json.dumps(_json_value(prov), ensure_ascii=False).encode()
    return table.replace_schema_metadata(meta)


def to_csv_frame(frame: pd.DataFrame, prov: dict[str, Any] | None = None) -> pd.DataFrame:
    """Return the CSV view of `frame`: geometry as ``geometry_wkt`` (lon/lat), provenance columns, and
    the index as a named column unless it is a plain row number (no unnamed index column)."""
    prov = prov if prov is not None else provenance.of(frame)
    if has_geometry(frame):
        gdf = cast(gpd.GeoDataFrame, frame)
        if gdf.crs is not None and gdf.crs.to_string() != WGS84:
            gdf = gdf.to_crs(WGS84)
        geom = gdf.geometry.name
        out = pd.DataFrame(gdf.drop(columns=geom))
        out["geometry_wkt"] = shapely.to_wkt(gdf.geometry.to_numpy(), rounding_precision=COORD_DECIMALS)
    else:
        out = pd.DataFrame(frame)
    out = _with_provenance_columns(out, prov)
    for col in out.columns:
        if out[col].dtype == object and out[col].map(_is_nested).any():
            out[col] = out[col].map(lambda v: json.dumps(_json_value(v), ensure_ascii=False))
    if isinstance(out.index, pd.RangeIndex) and out.index.name is None:
        return out.reset_index(drop=True)
    name = str(out.index.name or ("id" if "id" not in out.columns else "index"))
    if name in out.columns:
        return out.reset_index(drop=True)
    out.index = out.index.rename(name)
    return out.reset_index()


def _is_nested(v: Any) -> bool:
    return isinstance(v, list | tuple | dict | np.ndarray)


def encode(
    frame: pd.DataFrame,
    fmt: str,
    *,
    prov: dict[str, Any] | None = None,
    members: dict[str, Any] | None = None,
) -> bytes:
    """Return a layer or table in format `fmt` (an alias is fine) as bytes.

    `prov` is the provenance (default: the frame's own, `twin.provenance.of`); `members` are extra
    GeoJSON foreign members (e.g. ``name``, ``scenario``). A table (no geometry) has no GeoJSON.
    """
    name = check_format(fmt)
    if name == "geojson":
        if not has_geometry(frame):
            raise InputError("format", "a table has no geometry: ask for csv or geoparquet")
        doc = to_geojson_dict(cast(gpd.GeoDataFrame, frame), prov, members)
        return orjson.dumps(doc)
    if name == "geoparquet":
        buf = pa.BufferOutputStream()
        pq.write_table(to_parquet_table(frame, prov), buf, compression="snappy")
        return bytes(buf.getvalue().to_pybytes())
    return to_csv_frame(frame, prov).to_csv(index=False).encode("utf-8-sig")


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write `gdf` as RFC 7946 GeoJSON to `path` atomically and return the path."""
    return write(gdf, path, "geojson")


def write_geoparquet(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write `gdf` as GeoParquet (geo metadata + provenance in the key-value metadata)."""
    return write(gdf, path, "geoparquet")


def write_csv(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write `gdf` as CSV with WKT geometry and provenance columns (UTF-8 with BOM for Excel)."""
    return write(gdf, path, "csv")


def write(frame: pd.DataFrame, path: Path, fmt: str, *, prov: dict[str, Any] | None = None) -> Path:
    """Write a layer or table to `path` in format `fmt` (one of `FORMATS` or an alias), atomically."""
    name = check_format(fmt)
    with atomic_path(path) as tmp:
        if name == "geoparquet":
            pq.write_table(to_parquet_table(frame, prov), tmp, compression="snappy")
        else:
            tmp.write_bytes(encode(frame, name, prov=prov))
    return Path(path)


def count_text(n: int, noun: str = "feature") -> str:
    """Return ``"1 feature"``, ``"2 features"``, ``"0 features"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
