"""Cameras: registry schema, the synthetic registry, field-of-view sectors and coverage cells."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis_data.cameras_synthetic import synthetic_cameras
from gis_data.city import build_city
from twin import h3grid, provenance
from twin.cameras import CAMERA_COLUMNS, CAMERA_KINDS, coverage_cells, fov_sectors, validate
from twin.city import City
from twin.crs import METRIC, WGS84
from twin.errors import DataError

AS_OF = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def city(data_dir: Path) -> City:
    return build_city(data_dir)


@pytest.fixture(scope="module")
def registry(city: City) -> gpd.GeoDataFrame:
    return city.cameras


def one_camera(
    heading: float, fov: float, range_m: float, lon: float = 106.7578, lat: float = 21.8478
) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "camera_id": ["LS-CAM-001"],
            "name": ["Ngã tư thử nghiệm"],
            "ward_code": ["05977"],
            "kind": ["intersection"],
            "heading_deg": [heading],
            "fov_deg": [fov],
            "range_m": [range_m],
            "connected": [True],
            "status": ["online"],
            "last_seen": pd.Series([pd.Timestamp(AS_OF)], dtype="datetime64[ns, UTC]"),
        },
        geometry=[shapely.Point(lon, lat)],
        crs=WGS84,
    )


def test_registry_has_238_sites_50_connected_inside_the_city(registry: gpd.GeoDataFrame, city: City) -> None:
    assert len(registry) == 238
    assert int(registry["connected"].sum()) == 50
    assert registry["camera_id"].is_unique
    assert registry["camera_id"].iloc[0] == "LS-CAM-001"
    assert registry["camera_id"].iloc[-1] == "LS-CAM-238"
    lon, lat = registry.geometry.x.to_numpy(), registry.geometry.y.to_numpy()
    assert (city.ward_of(lon, lat) == registry["ward_code"].to_numpy()).all()
    assert (registry["ward_code"] != "").all()
    assert list(registry.columns[: len(CAMERA_COLUMNS)]) == list(CAMERA_COLUMNS)


def test_registry_status_kinds_names_and_provenance(registry: gpd.GeoDataFrame) -> None:
    connected = registry["connected"].to_numpy()
    assert set(registry.loc[~connected, "status"]) == {"not_connected"}
    assert set(registry.loc[connected, "status"]) <= {"online", "offline"}
    assert registry.loc[~connected, "last_seen"].isna().all()
    assert registry.loc[connected, "last_seen"].notna().all()
    assert str(registry["last_seen"].dtype) == "datetime64[ns, UTC]"
    kinds = registry["kind"].value_counts()
    assert set(kinds.index) <= set(CAMERA_KINDS)
    assert {"intersection", "market", "school", "corridor", "public_square"} <= set(kinds.index)
    assert kinds["intersection"] == kinds.max()
    # Vietnamese names, with diacritics, unique
    assert registry["name"].is_unique
    assert registry["name"].str.contains("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]").mean() > 0.9
    prov = provenance.of(registry)
    assert prov["source"] == "synthetic"
    assert prov["synthetic"] is True
    assert prov["params"]["n_connected"] == 50
    validate(registry)


def test_registry_favours_dense_old_core(registry: gpd.GeoDataFrame, city: City) -> None:
    # the 5 pre-2025 phường (~10 km² of 176 km²) hold most people: they get far more than their area share
    units = city.units
    phuong = units[units["in_city_pre2025"] & units["name_vi"].str.startswith("Phường")]
    core = shapely.union_all(phuong.geometry.to_numpy())
    inside = shapely.contains_xy(core, registry.geometry.x.to_numpy(), registry.geometry.y.to_numpy())
    area_share = shapely.area(gpd.GeoSeries([core], crs=WGS84).to_crs(METRIC).iloc[0]) / 176.1e6
    assert inside.mean() > 4 * area_share


def test_registry_is_deterministic_by_seed(city: City) -> None:
    a = synthetic_cameras(city.wards, city.network, units=city.units, seed=7, as_of=AS_OF)
    b = synthetic_cameras(city.wards, city.network, units=city.units, seed=7, as_of=AS_OF)
    c = synthetic_cameras(city.wards, city.network, units=city.units, seed=8, as_of=AS_OF)
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    assert not a.geometry.geom_equals(c.geometry).all()
    assert (a.loc[a["status"] == "online", "last_seen"] <= pd.Timestamp(AS_OF)).all()


def test_validate_rejects_broken_registries(registry: gpd.GeoDataFrame) -> None:
    dup = registry.copy()
    dup.loc[1, "camera_id"] = dup.loc[0, "camera_id"]
    with pytest.raises(DataError, match="duplicate"):
        validate(dup)
    bad = registry.copy()
    bad.loc[0, "status"] = "broken"
    with pytest.raises(DataError, match="status"):
        validate(bad)
    inconsistent = registry.copy()
    inconsistent.loc[inconsistent["connected"], "status"] = "not_connected"
    with pytest.raises(DataError, match="not_connected"):
        validate(inconsistent)
    with pytest.raises(DataError, match="EPSG:4326"):
        validate(registry.to_crs(METRIC))
    with pytest.raises(DataError, match="columns"):
        validate(registry.drop(columns=["fov_deg"]))


def test_sector_geometry_known_answers() -> None:
    quarter = fov_sectors(one_camera(heading=0, fov=90, range_m=100)).iloc[0]
    metric = gpd.GeoSeries([quarter], crs=WGS84).to_crs(METRIC).iloc[0]
    assert metric.area == pytest.approx(np.pi * 100**2 / 4, rel=0.01)
    assert quarter.exterior.is_ccw
    # 60 m north is inside a north-looking camera's view, 60 m south and 60 m east are not
    cam = gpd.GeoSeries([shapely.Point(106.7578, 21.8478)], crs=WGS84).to_crs(METRIC).iloc[0]
    probes = gpd.GeoSeries(
        [
            shapely.Point(cam.x, cam.y + 60),
            shapely.Point(cam.x, cam.y - 60),
            shapely.Point(cam.x + 60, cam.y),
        ],
        crs=METRIC,
    ).to_crs(WGS84)
    assert quarter.contains(probes).tolist() == [True, False, False]
    dome = fov_sectors(one_camera(heading=123, fov=360, range_m=70)).iloc[0]
    dome_m = gpd.GeoSeries([dome], crs=WGS84).to_crs(METRIC).iloc[0]
    assert dome_m.area == pytest.approx(np.pi * 70**2, rel=0.01)
    assert dome_m.centroid.distance(cam) < 1.0


def test_coverage_includes_own_cell_and_cells_whose_centre_is_in_view() -> None:
    cams = one_camera(heading=45, fov=120, range_m=400)
    cov = coverage_cells(cams, 10)
    own = h3grid.to_str(h3grid.latlng_to_cells([21.8478], [106.7578], 10))[0]
    assert own in set(cov["cell"])
    sector = fov_sectors(cams).iloc[0]
    others = cov.loc[cov["cell"] != own, "cell"]
    assert len(others) >= 5
    for cell in others:
        lat, lng = h3grid.cell_to_latlng(cell)
        assert sector.contains(shapely.Point(lng, lat))
    assert list(cov.columns) == ["camera_id", "cell"]
    assert not cov.duplicated().any()


@settings(max_examples=25, deadline=None)
@given(
    heading=st.floats(0, 359.9),
    fov=st.floats(10, 360),
    range_m=st.floats(20, 500),
    res=st.integers(9, 11),
)
def test_coverage_cells_property(heading: float, fov: float, range_m: float, res: int) -> None:
    cams = one_camera(heading, fov, range_m)
    cov = coverage_cells(cams, res)
    sector = fov_sectors(cams).iloc[0]
    own = h3grid.to_str(h3grid.latlng_to_cells([21.8478], [106.7578], res))[0]
    assert own in set(cov["cell"])
    centres = [h3grid.cell_to_latlng(c) for c in cov["cell"] if c != own]
    assert all(sector.buffer(1e-9).contains(shapely.Point(lng, lat)) for lat, lng in centres)
    assert {h3grid.resolution(c) for c in cov["cell"]} == {res}


def test_registry_coverage_has_every_camera(registry: gpd.GeoDataFrame) -> None:
    cov = coverage_cells(registry, 9)
    assert set(cov["camera_id"]) == set(registry["camera_id"])
