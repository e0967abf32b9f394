"""Load the cached datasets into validated (Geo)DataFrames with provenance attached."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gis_data.catalog import DATASETS, Dataset
from gis_data.fetch import path_of
from twin import provenance
from twin.crs import WGS84
from twin.errors import DataError


def read_geojson(path: Path, ds: Dataset | None = None) -> gpd.GeoDataFrame:
    """Read a GeoJSON file and validate it against `ds` (CRS, geometry type, columns)."""
    try:
        with path.open("rb") as f:
            doc = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not readable GeoJSON ({e})", hint="fetch it again") from e
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise DataError(f"{path}: GeoJSON must be a FeatureCollection")
    crs_name = (((doc.get("crs") or {}).get("properties") or {}).get("name")) or WGS84
    if "CRS84" not in crs_name and "4326" not in crs_name:
        raise DataError(f"{path}: CRS must be WGS84 (EPSG:4326), found {crs_name}")
    try:
        gdf = gpd.GeoDataFrame.from_features(doc["features"], crs=WGS84)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{path}: malformed GeoJSON features ({e})") from e
    if ds is not None:
        validate(gdf, ds, str(path))
    return gdf


def validate(gdf: gpd.GeoDataFrame, ds: Dataset, where: str) -> None:
    """Raise `DataError` if `gdf` breaks the contract of `ds`."""
    missing = [c for c in ds.columns if c not in gdf.columns]
    if missing:
        raise DataError(f"{where}: missing columns {missing}")
    if ds.geometry is not None:
        if gdf.geometry.isna().any() or gdf.geometry.is_empty.any():
            raise DataError(f"{where}: features without geometry")
        allowed = {ds.geometry, ds.geometry.removeprefix("Multi"), "Multi" + ds.geometry}
        bad = set(gdf.geom_type) - allowed
        if bad:
            raise DataError(f"{where}: geometry must be {ds.geometry}, found {sorted(bad)}")
        minx, miny, maxx, maxy = gdf.total_bounds
        if not (minx > 100 and maxx < 110 and miny > 18 and maxy < 25):
            raise DataError(f"{where}: coordinates are not lon/lat in northern Vietnam")


def _load(name: str, cache_dir: Path | None) -> tuple[Dataset, Path]:
    ds = DATASETS[name]
    return ds, path_of(name, cache_dir)


def wards_2025(cache_dir: Path | None = None) -> gpd.GeoDataFrame:
    """Return the 2025 wards and neighbouring communes, indexed by 5-digit ``code``."""
    ds, path = _load("wards_2025", cache_dir)
    gdf = read_geojson(path, ds)
    gdf["code"] = gdf["code"].astype(str).str.zfill(5)
    gdf = gdf.set_index("code", drop=False).rename_axis(None)
    return provenance.attach(gdf, ds.provenance())  # type: ignore[return-value]


def units_pre2025(cache_dir: Path | None = None) -> gpd.GeoDataFrame:
    """Return the pre-2025 units with 2009 census population and, where known, their GSO codes.

    Columns added from the old→new mapping: ``old_code`` (GSO code) and ``new_code`` (2025 ward).
    """
    ds, path = _load("units_pre2025", cache_dir)
    gdf = read_geojson(path, ds)
    mapping = ward_mapping(cache_dir)
    by_name = mapping.drop_duplicates("old_name").set_index("old_name")
    gdf["old_code"] = gdf["name_vi"].map(by_name["old_code"])
    gdf["new_code"] = gdf["name_vi"].map(by_name["new_code"])
    # Names repeat across districts (e.g. "Xã Hoàng Văn Thụ"); keep the join only where the district agrees.
    district = gdf["name_vi"].map(by_name["old_district"])
    wrong = district.notna() & (district != gdf["district_vi"])
    gdf.loc[wrong, ["old_code", "new_code"]] = None
    return provenance.attach(gdf, ds.provenance())  # type: ignore[return-value]


def ward_mapping(cache_dir: Path | None = None) -> pd.DataFrame:
    """Return the old unit code → new ward code table (codes as 5-digit strings)."""
    ds, path = _load("ward_mapping_2025", cache_dir)
    try:
        df = pd.read_csv(path, dtype={"old_code": str, "new_code": str})
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable CSV ({e})", hint="run `twin data fetch`") from e
    validate(df, ds, str(path))  # type: ignore[arg-type]
    return provenance.attach(df, ds.provenance())


def places(cache_dir: Path | None = None) -> pd.DataFrame:
    """Return the sourced reference points (rows without coordinates are kept, lat/lon NaN)."""
    ds, path = _load("places", cache_dir)
    df = pd.read_csv(path)
    validate(df, ds, str(path))  # type: ignore[arg-type]
    return provenance.attach(df, ds.provenance())
