"""The H3 model: cells of the 4 wards, population spread, road length, cameras and coverage."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gis_data.city import build_city
from twin import h3grid, provenance
from twin.city import City
from twin.crs import WGS84
from twin.errors import InputError
from twin.grid import CELL_COLUMNS, _largest_remainder, build_cells, street_length_by_cell
from twin.network import RoadNetwork
from twin.provenance import Provenance
from twin.wards import CITY_WARD_CODES, core_wards


@pytest.fixture(scope="module")
def city(data_dir: Path) -> City:
    return build_city(data_dir)


@pytest.fixture(scope="module")
def cells(city: City) -> gpd.GeoDataFrame:
    return city.cells(9)


def line_network(points: list[tuple[float, float]]) -> RoadNetwork:
    """Two nodes joined both ways by one street following `points` (lon, lat)."""
    a, b = points[0], points[-1]
    nodes = gpd.GeoDataFrame(
        {"x": [a[0], b[0]], "y": [a[1], b[1]], "signal": [False, False]},
        geometry=[shapely.Point(a), shapely.Point(b)],
        crs=WGS84,
        index=pd.RangeIndex(2, name="node_id"),
    )
    line = shapely.LineString(points)
    links = gpd.GeoDataFrame(
        {
            "u": [0, 1],
            "v": [1, 0],
            "length_m": [1000.0, 1000.0],
            "lanes": [1, 1],
            "speed_kmh": [40.0, 40.0],
            "capacity_pcu_h": [1500.0, 1500.0],
            "road_class": ["secondary", "secondary"],
            "oneway": [False, False],
            "bridge": [False, False],
            "name": ["", ""],
        },
        geometry=[line, line.reverse()],
        crs=WGS84,
        index=pd.RangeIndex(2, name="link_id"),
    )
    return RoadNetwork.from_frames(
        nodes, links, Provenance(name="line", source="synthetic", licence="CC0-1.0")
    )


def test_cells_schema_and_provenance(cells: gpd.GeoDataFrame) -> None:
    assert set(CELL_COLUMNS) <= set(cells.columns)
    assert "unit_code" in cells.columns
    assert cells.index.name == "cell"
    assert cells.index.is_unique
    assert all(h3grid.is_valid(c) and h3grid.resolution(c) == 9 for c in cells.index[:200])
    assert cells.crs.to_string() == WGS84
    assert 1400 < len(cells) < 1800  # ~176 km² / 0.105 km² per res-9 cell
    prov = provenance.of(cells)
    assert prov["source"] == "derived"
    assert prov["synthetic"] is True  # built on the synthetic network and cameras
    assert prov["params"]["res"] == 9


@pytest.mark.parametrize("res", [7, 8, 9])
def test_per_ward_population_sums_equal_official_totals(city: City, res: int) -> None:
    cells = city.cells(res)
    official = core_wards(city.wards)["population"]
    sums = cells.groupby("ward_code")["population"].sum()
    assert sums.to_dict() == {str(k): int(v) for k, v in official.items()}
    assert (cells["population"] >= 0).all()
    assert pd.api.types.is_integer_dtype(cells["population"])


@pytest.mark.parametrize("res", [8, 9, 10])
def test_each_pre2025_unit_keeps_its_2009_share_of_its_ward(city: City, res: int) -> None:
    cells = city.cells(res)
    units = city.units[city.units["new_code"].isin(CITY_WARD_CODES)].set_index("old_code")
    ward_pop = core_wards(city.wards)["population"]
    share = units["population_2009"] / units.groupby("new_code")["population_2009"].transform("sum")
    expected = share * ward_pop.reindex(units["new_code"]).to_numpy()
    got = cells.groupby("unit_code")["population"].sum()
    assert set(got.index) == set(units.index)  # every cell has a unit; all 13 units hold cells
    assert (got - expected.reindex(got.index)).abs().max() <= 1.0
    # a unit's cells lie in the 2025 ward the unit was merged into
    assert (cells["ward_code"] == units["new_code"].reindex(cells["unit_code"]).to_numpy()).all()


def test_every_cell_of_a_ward_lies_inside_the_city(cells: gpd.GeoDataFrame, city: City) -> None:
    assert set(cells["ward_code"]) == set(CITY_WARD_CODES)
    assert (city.ward_of(cells["lon"], cells["lat"]) == cells["ward_code"].to_numpy()).all()
    # cell polygons hug the boundary: nearly all of each cell's area is inside the city
    polys = cells.geometry.to_numpy()
    inside = shapely.area(shapely.intersection(polys, city.boundary)) / shapely.area(polys)
    assert np.median(inside) == pytest.approx(1.0)
    assert (inside > 0.3).all()


def test_population_concentrates_in_the_old_urban_core(cells: gpd.GeoDataFrame, city: City) -> None:
    units = city.units
    phuong = units[units["in_city_pre2025"] & units["name_vi"].str.startswith("Phường")]
    core = shapely.union_all(phuong.geometry.to_numpy())
    in_core = shapely.contains_xy(core, cells["lon"].to_numpy(), cells["lat"].to_numpy())
    dens_core = cells.loc[in_core, "population"].sum() / cells.loc[in_core, "area_km2"].sum()
    dens_rest = cells.loc[~in_core, "population"].sum() / cells.loc[~in_core, "area_km2"].sum()
    assert dens_core > 5 * dens_rest
    # the rural floor: rural cells without streets still get people where their ward has any
    assert (cells.loc[cells["road_km"] == 0, "population"] >= 0).all()
    assert cells.loc[~in_core, "population"].gt(0).mean() > 0.8


def test_road_km_counts_each_street_once_known_answer() -> None:
    # a 1 km north–south street, stored as two directed links, counts 1 km in total
    lat0 = 21.8478
    dlat = 1000.0 / 111_320.0
    net = line_network([(106.7578, lat0), (106.7578, lat0 + dlat / 2), (106.7578, lat0 + dlat)])
    for res in (8, 9, 10):
        km = street_length_by_cell(net, res)
        assert km.sum() == pytest.approx(1.0, rel=2e-3)
        assert len(km) >= {8: 1, 9: 3, 10: 8}[res]


def test_road_km_matches_network_length(cells: gpd.GeoDataFrame, city: City) -> None:
    total = street_length_by_cell(city.network, 9).sum()
    assert cells["road_km"].sum() <= total + 1e-6
    assert cells["road_km"].sum() > 0.95 * total  # the network lies inside the wards
    assert (cells["major_road_km"] <= cells["road_km"] + 1e-9).all()


def test_cameras_and_coverage_columns(cells: gpd.GeoDataFrame, city: City) -> None:
    cams = city.cameras
    assert cells["cameras"].sum() == len(cams)
    assert cells["cameras_connected"].sum() == int(cams["connected"].sum())
    connected_cells = set(cells.index[cells["cameras_connected"] > 0])
    covered = set(cells.index[cells["covered"]])
    assert connected_cells <= covered
    cov = city.coverage(9)
    seen = set(cov.loc[cov["camera_id"].isin(cams.loc[cams["connected"], "camera_id"]), "cell"])
    assert covered == seen & set(cells.index)


def test_attractiveness_proxy(cells: gpd.GeoDataFrame) -> None:
    a = cells["attractiveness"]
    assert a.mean() == pytest.approx(1.0, abs=1e-4)
    assert (a > 0).all()
    # the top decile sits closer to the centre than the rest
    d = np.hypot(cells["lon"] - 106.75778, cells["lat"] - 21.84778)
    top = a >= a.quantile(0.9)
    assert d[top].median() < 0.5 * d[~top].median()


def test_invalid_resolution_is_refused(city: City) -> None:
    with pytest.raises(InputError, match="res"):
        city.cells(12)
    with pytest.raises(InputError, match="res"):
        build_cells(city.wards, city.network, res=6)


@settings(max_examples=80, deadline=None)
@given(
    lon=st.floats(106.68, 106.88),
    lat=st.floats(21.76, 21.93),
    res=st.integers(h3grid.MIN_RES, h3grid.MAX_RES),
)
def test_point_to_cell_to_boundary_contains_point(lon: float, lat: float, res: int) -> None:
    cell = h3grid.to_str(h3grid.latlng_to_cells([lat], [lon], res))[0]
    poly = h3grid.cell_to_polygon(cell)
    assert poly.buffer(1e-9).contains(shapely.Point(lon, lat))
    assert h3grid.resolution(cell) == res


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(0, 5000, allow_nan=False), min_size=1, max_size=60),
    groups=st.lists(st.integers(-3, 3), min_size=60, max_size=60),
)
def test_largest_remainder_keeps_group_sums(values: list[float], groups: list[int]) -> None:
    v = np.asarray(values)
    g = np.asarray(groups[: len(v)], dtype=np.int64)
    out = _largest_remainder(v, g)
    assert (np.abs(out - v) < 1.0).all()  # each value moves by less than one
    sums = pd.Series(v).groupby(g).sum()
    assert (pd.Series(out).groupby(g).sum() == sums.round().astype(np.int64)).all()
    # explicit targets (floor or ceil of each group sum) are met exactly
    target = np.floor(sums).astype(np.int64)
    assert (pd.Series(_largest_remainder(v, g, target)).groupby(g).sum() == target).all()
