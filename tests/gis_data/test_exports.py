"""Exports of the city layers: RFC 7946 GeoJSON, GeoParquet with geo metadata, CSV; atomic writes."""

from __future__ import annotations

import itertools
import json
from io import BytesIO
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from gis_data import io
from gis_data.city import build_city
from twin.city import LAYERS, City
from twin.errors import InputError


@pytest.fixture(scope="module")
def city(data_dir: Path) -> City:
    return build_city(data_dir)


def _signed_area(ring: list[list[float]]) -> float:
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))


def _check_position(pos: Any) -> None:
    assert isinstance(pos, list)
    assert len(pos) in (2, 3)
    lon, lat = pos[0], pos[1]
    # lon/lat order, and in Lạng Sơn
    assert 106.0 < lon < 107.5, pos
    assert 21.0 < lat < 22.5, pos


def _check_polygon(rings: list[Any]) -> None:
    for i, ring in enumerate(rings):
        assert len(ring) >= 4
        assert ring[0] == ring[-1], "rings must be closed"
        for pos in ring:
            _check_position(pos)
        area = _signed_area(ring)
        # right-hand rule: exterior counter-clockwise, holes clockwise
        assert area > 0 if i == 0 else area < 0


def assert_rfc7946(doc: dict[str, Any]) -> None:
    """Fail unless `doc` is an RFC 7946 FeatureCollection (no crs, lon/lat, right-hand rule)."""
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    assert isinstance(doc["features"], list)
    for feat in doc["features"]:
        assert feat["type"] == "Feature"
        assert "crs" not in feat
        assert isinstance(feat["properties"], dict)
        geom = feat["geometry"]
        kind, coords = geom["type"], geom["coordinates"]
        if kind == "Point":
            _check_position(coords)
        elif kind in ("LineString", "MultiPoint"):
            assert len(coords) >= (2 if kind == "LineString" else 1)
            for pos in coords:
                _check_position(pos)
        elif kind == "MultiLineString":
            for line in coords:
                for pos in line:
                    _check_position(pos)
        elif kind == "Polygon":
            _check_polygon(coords)
        elif kind == "MultiPolygon":
            for poly in coords:
                _check_polygon(poly)
        else:
            pytest.fail(f"unexpected geometry type {kind}")


@pytest.mark.parametrize("name", list(LAYERS))
def test_geojson_export_is_rfc7946_with_provenance(city: City, name: str, tmp_path: Path) -> None:
    gdf = city.layer(name)
    path = io.write_geojson(gdf, tmp_path / f"{name}.geojson")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert_rfc7946(doc)
    assert len(doc["features"]) == len(gdf)
    source, synthetic = city.layer_source(name)
    assert doc["provenance"]["source"] == source
    assert {f["properties"]["source"] for f in doc["features"]} == {source}
    assert {f["properties"]["synthetic"] for f in doc["features"]} == {synthetic}


def test_ward_export_carries_old_and_new_codes(city: City, tmp_path: Path) -> None:
    path = io.write_geojson(city.layer("wards_2025"), tmp_path / "wards.geojson")
    doc = json.loads(path.read_text(encoding="utf-8"))
    props = {f["properties"]["code"]: f["properties"] for f in doc["features"]}
    assert props["06187"]["old_codes"] == "05971;06187;06226;06235;06244"
    assert props["06187"]["name"] == "Kỳ Lừa"
    assert props["05986"]["old_names"] == "Phường Tam Thanh;Xã Hoàng Đồng"
    assert props["06187"]["source"] == "real"
    assert props["06187"]["synthetic"] is False
    units = json.loads(io.write_geojson(city.layer("units_pre2025"), tmp_path / "u.geojson").read_text())
    old = {
        f["properties"]["old_code"]: f["properties"] for f in units["features"] if f["properties"]["old_code"]
    }
    assert old["05971"]["new_code"] == "06187"
    assert old["05992"]["new_name"] == "Phường Đông Kinh"


def test_geoparquet_has_geo_metadata_and_provenance(city: City, tmp_path: Path) -> None:
    gdf = city.layer("cells", res=8)
    path = io.write_geoparquet(gdf, tmp_path / "cells.parquet")
    meta = pq.read_schema(path).metadata
    geo = json.loads(meta[b"geo"])
    assert geo["primary_column"] == "geometry"
    assert "Polygon" in geo["columns"]["geometry"]["geometry_types"]
    prov = json.loads(meta[b"provenance"])
    assert prov["source"] == "derived"
    assert prov["synthetic"] is True
    back = gpd.read_parquet(path)
    assert len(back) == len(gdf)
    assert back.crs.to_epsg() == 4326
    assert back["population"].sum() == gdf["population"].sum()
    assert set(back["source"]) == {"derived"}


def test_geoparquet_keeps_camera_timestamps(city: City, tmp_path: Path) -> None:
    path = io.write_geoparquet(city.layer("cameras"), tmp_path / "cameras.parquet")
    back = gpd.read_parquet(path)
    assert str(back["last_seen"].dtype) == "datetime64[ns, UTC]"
    assert back["last_seen"].notna().sum() == 50
    assert set(back["synthetic"]) == {True}


def test_csv_export_has_wkt_and_provenance(city: City, tmp_path: Path) -> None:
    path = io.write_csv(city.layer("wards_2025"), tmp_path / "wards.csv")
    df = pd.read_csv(path, encoding="utf-8-sig", dtype={"code": str})
    assert len(df) == 16
    assert (
        df["geometry_wkt"].str.startswith("MULTIPOLYGON").all()
        or df["geometry_wkt"].str.contains("POLYGON").all()
    )
    assert set(df["source"]) == {"real"}
    assert "Đông Kinh" in set(df["name"])


def test_failed_export_leaves_no_file(city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(io.pq, "write_table", boom)
    target = tmp_path / "out" / "cells.parquet"
    with pytest.raises(OSError, match="disk full"):
        io.write_geoparquet(city.layer("cells"), target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_one_export_module_for_layers_and_tables() -> None:
    gdf = gpd.GeoDataFrame(
        {"truck": [1, 2], "t_s": [np.array([0.0, 60.0]), np.array([5.0])]},
        geometry=[shapely.LineString([(106.75, 21.84), (106.76, 21.85)]), shapely.Point(106.75, 21.84)],
        crs="EPSG:4326",
    )
    doc = json.loads(io.encode(gdf, "geojson", members={"name": "waste.routes"}))
    assert doc["name"] == "waste.routes"
    assert doc["features"][0]["properties"]["t_s"] == [0.0, 60.0]
    assert io.encode(gdf, "parquet") == io.encode(gdf, "geoparquet")
    csv = pd.read_csv(BytesIO(io.encode(gdf, "csv")), encoding="utf-8-sig")
    assert list(csv.columns) == ["truck", "t_s", "geometry_wkt", "source", "synthetic"]
    assert json.loads(csv["t_s"][0]) == [0.0, 60.0]
    table = pd.DataFrame({"flow": [1.0, 2.0]})
    assert pd.read_csv(BytesIO(io.encode(table, "csv")), encoding="utf-8-sig")["flow"].tolist() == [1.0, 2.0]
    with pytest.raises(InputError, match="no geometry"):
        io.encode(table, "geojson")
    with pytest.raises(InputError, match="must be one of geojson, geoparquet, csv"):
        io.check_format("shp")
    assert [io.count_text(n) for n in (0, 1, 2)] == ["0 features", "1 feature", "2 features"]
