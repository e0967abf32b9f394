"""Write layers as RFC 7946 GeoJSON, GeoParquet (with geo metadata) and CSV, atomically, with provenance.

Every writer writes to a temporary file beside the target and renames it into place, so a failed
export never leaves a partial file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyarrow.parquet as pq
import shapely
from geopandas.io.arrow import _geopandas_to_arrow

from twin import provenance
from twin.crs import WGS84
from twin.errors import InputError

Format = Literal["geojson", "geoparquet", "csv"]
FORMATS: tuple[Format, ...] = ("geojson", "geoparquet", "csv")
COORD_DECIMALS = 6


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


def to_geojson_dict(gdf: gpd.GeoDataFrame, prov: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return `gdf` as an RFC 7946 FeatureCollection dict (lon/lat, right-hand rule, no crs).

    Each feature gets ``source`` and ``synthetic`` properties; the collection carries the full
    provenance as the foreign member ``provenance``.
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
    if prov:
        out["provenance"] = _json_value(prov)
    return out


def write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write `gdf` as RFC 7946 GeoJSON to `path` atomically and return the path."""
    doc = to_geojson_dict(gdf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(orjson.dumps(doc))
    return Path(path)


def write_geoparquet(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write `gdf` as GeoParquet (geo metadata + provenance in the key-value metadata)."""
    prov = provenance.of(gdf)
    frame = gdf.to_crs(WGS84) if gdf.crs is not None else gdf
    frame = frame.copy()
    frame["source"] = prov.get("source", "unknown")
    frame["synthetic"] = bool(prov.get("synthetic", False))
    frame.attrs = {}
    # what GeoDataFrame.to_parquet does (the table with its "geo" metadata), plus the provenance in
    # the same key-value metadata, written once (pinned geopandas; tests check both metadata keys)
    table = _geopandas_to_arrow(frame, index=True)
    meta = dict(table.schema.metadata or {})
    meta[b"provenance"] = json.dumps(_json_value(prov), ensure_ascii=False).encode()
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp, compression="snappy")
    return Path(path)


def write_csv(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write `gdf` as CSV with WKT geometry and provenance columns (UTF-8 with BOM for Excel)."""
    prov = provenance.of(gdf)
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if gdf.crs is not None and gdf.crs.to_string() != WGS84:
        gdf = gdf.to_crs(WGS84)
    frame["geometry_wkt"] = shapely.to_wkt(gdf.geometry.to_numpy(), rounding_precision=COORD_DECIMALS)
    frame["source"] = prov.get("source", "unknown")
    frame["synthetic"] = bool(prov.get("synthetic", False))
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=True, encoding="utf-8-sig")
    return Path(path)


WRITERS: dict[str, Callable[[gpd.GeoDataFrame, Path], Path]] = {
    "geojson": write_geojson,
    "geoparquet": write_geoparquet,
    "csv": write_csv,
}


def write(gdf: gpd.GeoDataFrame, path: Path, fmt: str) -> Path:
    """Write `gdf` to `path` in format `fmt` (one of `FORMATS`)."""
    try:
        writer = WRITERS[fmt]
    except KeyError:
        raise InputError("format", f"must be one of {', '.join(FORMATS)}, got {fmt!r}") from None
    return writer(gdf, path)
