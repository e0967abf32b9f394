"""Wards of both vintages: point → ward lookup, official figures, and the exported ward tables."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis_data import load
from twin import provenance
from twin.crs import METRIC
from twin.errors import DataError, InputError
from twin.wards import (
    CITY_WARD_CODES,
    WardIndex,
    city_boundary,
    core_wards,
    unit_of,
    units_layer,
    ward_of,
    wards_layer,
)

TAM_THANH_CAVE = (106.7468, 21.8556)  # lon, lat


def test_tam_thanh_cave_lies_in_tam_thanh_ward(wards: gpd.GeoDataFrame) -> None:
    assert ward_of(wards, [TAM_THANH_CAVE[0]], [TAM_THANH_CAVE[1]]).tolist() == ["05986"]
    assert wards.loc["05986", "name"] == "Tam Thanh"


def test_label_points_of_places_csv_fall_in_their_wards(wards: gpd.GeoDataFrame) -> None:
    # derived label points from places.csv (representative points of each ward polygon)
    points = {
        "05977": (106.775133, 21.809838),
        "05983": (106.731909, 21.827267),
        "05986": (106.742984, 21.88512),
        "06187": (106.833763, 21.840732),
    }
    lon = [p[0] for p in points.values()]
    lat = [p[1] for p in points.values()]
    assert ward_of(wards, lon, lat).tolist() == list(points)


def test_points_outside_and_non_finite_get_empty_codes(wards: gpd.GeoDataFrame) -> None:
    # Hà Nội, a point in the neighbouring commune Đồng Đăng (06184), NaN
    dong_dang = wards.loc["06184"].geometry.representative_point()
    lon = [105.85, dong_dang.x, np.nan]
    lat = [21.03, dong_dang.y, 21.85]
    assert ward_of(wards, lon, lat).tolist() == ["", "", ""]
    # with the neighbouring communes included, the Đồng Đăng point finds its commune
    assert ward_of(wards, lon, lat, core_only=False).tolist() == ["", "06184", ""]


def test_city_ward_areas_match_official_figures_within_one_percent(wards: gpd.GeoDataFrame) -> None:
    core = core_wards(wards)
    area = core.to_crs(METRIC).area / 1e6
    rel = (area - core["area_km2_official"]).abs() / core["area_km2_official"]
    assert (rel < 0.01).all(), rel.to_dict()
    assert core["population"].sum() == pytest.approx(145_500, rel=0.01)
    assert shapely.area(
        gpd.GeoSeries([city_boundary(wards)], crs=wards.crs).to_crs(METRIC).iloc[0]
    ) / 1e6 == pytest.approx(175.5, rel=0.01)


@settings(max_examples=60, deadline=None)
@given(
    lon=st.lists(st.floats(106.62, 106.92), min_size=1, max_size=40),
    lat=st.lists(st.floats(21.74, 21.95), min_size=1, max_size=40),
)
def test_vectorised_lookup_agrees_with_shapely_point_in_polygon(
    wards: gpd.GeoDataFrame, lon: list[float], lat: list[float]
) -> None:
    n = min(len(lon), len(lat))
    x, y = np.array(lon[:n]), np.array(lat[:n])
    got = ward_of(wards, x, y, core_only=False)
    for xi, yi, code in zip(x, y, got, strict=True):
        pt = shapely.Point(xi, yi)
        containing = [c for c, g in zip(wards.index, wards.geometry, strict=True) if g.intersects(pt)]
        assert code == (containing[0] if containing else "")


def test_ward_index_rejects_bad_input(wards: gpd.GeoDataFrame) -> None:
    with pytest.raises(DataError, match="EPSG:4326"):
        WardIndex(wards.to_crs(METRIC))
    with pytest.raises(InputError, match="lat"):
        WardIndex(wards).lookup([106.7, 106.8], [21.8])
    with pytest.raises(DataError, match="city wards"):
        core_wards(wards.drop(index="05986"))


def test_ward_layer_carries_old_codes_names_and_provenance(wards: gpd.GeoDataFrame, data_dir: Path) -> None:
    mapping = load.ward_mapping(data_dir)
    layer = wards_layer(wards, mapping)
    ky_lua = layer.loc["06187"]
    assert ky_lua["name"] == "Kỳ Lừa"
    assert ky_lua["name_en"] == "Ky Lua"
    assert ky_lua["old_codes"].split(";") == ["05971", "06187", "06226", "06235", "06244"]
    assert "Phường Hoàng Văn Thụ" in ky_lua["old_names"]
    assert layer.loc["05983", "old_codes"] == "05983;05989"
    # neighbouring communes are outside the mapping: no old codes, not core
    commune = layer[~layer["core_city_ward"]].iloc[0]
    assert commune["old_codes"] == ""
    assert int(layer["core_city_ward"].sum()) == 4
    prov = provenance.of(layer)
    assert prov["source"] == "real"
    assert prov["name"] == "wards_2025"
    assert layer.loc[list(CITY_WARD_CODES), "population"].sum() == 145_497


def test_units_layer_carries_old_and_new_codes(units: gpd.GeoDataFrame, data_dir: Path) -> None:
    mapping = load.ward_mapping(data_dir)
    layer = units_layer(units, mapping)
    hvt = layer[(layer["name"] == "Phường Hoàng Văn Thụ")].iloc[0]
    assert (hvt["old_code"], hvt["new_code"], hvt["new_name"]) == ("05971", "06187", "Phường Kỳ Lừa")
    # the 8 pre-2025 city units all map to one of the 4 new wards
    city = layer[layer["in_city_pre2025"]]
    assert len(city) == 8
    assert set(city["new_code"]) == set(CITY_WARD_CODES)
    # a unit outside the reform keeps empty codes rather than a wrong join
    assert (layer.loc[layer["new_code"] == "", "new_name"] == "").all()
    assert isinstance(layer, gpd.GeoDataFrame)
    assert provenance.of(layer)["source"] == "real"
    assert pd.api.types.is_integer_dtype(layer["population_2009"])


def test_pre2025_lookup_tam_thanh_cave(units: gpd.GeoDataFrame) -> None:
    lon, lat = [TAM_THANH_CAVE[0]], [TAM_THANH_CAVE[1]]
    assert unit_of(units, lon, lat).tolist() == ["05974"]
    assert unit_of(units, lon, lat, field="name_vi").tolist() == ["Phường Tam Thanh"]
    assert unit_of(units, lon, lat, field="new_code").tolist() == ["05986"]
    assert unit_of(units, [105.85], [21.03]).tolist() == [""]
    with pytest.raises(InputError, match="field"):
        unit_of(units, lon, lat, field="nope")


def test_both_vintages_agree_inside_the_city(wards: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> None:
    # the 2025 wards are mergers of pre-2025 units: old unit → new code matches the 2025 lookup,
    # up to the generalisation of the 2009 polygons near edges
    rng = np.random.default_rng(3)
    lon = rng.uniform(106.66, 106.90, 20_000)
    lat = rng.uniform(21.75, 21.95, 20_000)
    new = ward_of(wards, lon, lat)
    via_old = unit_of(units, lon, lat, field="new_code")
    both = (new != "") & (via_old != "")
    assert both.sum() > 5_000
    assert (new[both] == via_old[both]).mean() > 0.97
