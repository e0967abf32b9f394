"""The City: layers, provenance, bbox filtering and ward lookup through the model."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis_data.city import build_city
from twin import provenance
from twin.city import ALIASES, LAYERS, City, check_bbox, parse_bbox, resolve_layer
from twin.crs import METRIC, WGS84
from twin.errors import InputError, UnknownLayerError

CITY_BBOX = (106.66, 21.75, 106.90, 21.95)


@pytest.fixture(scope="module")
def city(data_dir: Path) -> City:
    return build_city(data_dir)


def test_build_city_is_memoised_per_arguments(city: City, data_dir: Path) -> None:
    assert build_city(data_dir) is city
    assert build_city(data_dir, res=9) is city
    with pytest.raises(InputError, match="res"):
        build_city(data_dir, res=13)
    with pytest.raises(InputError, match="osm_file"):
        build_city(data_dir, road_source="osm")


def test_a_second_resolution_reuses_the_network(city: City, data_dir: Path) -> None:
    coarse = build_city(data_dir, res=8)
    assert coarse is not city
    assert coarse.res == 8
    assert coarse.network is city.network  # not rebuilt for another resolution
    assert coarse.cameras is city.cameras
    assert build_city(data_dir, res=8) is coarse
    assert len(coarse.cells()) < len(city.cells())


def test_city_fields_and_geography(city: City) -> None:
    assert list(city.core_wards.index) == ["05977", "05983", "05986", "06187"]
    area = shapely.area(gpd.GeoSeries([city.boundary], crs=WGS84).to_crs(METRIC).iloc[0])
    assert area / 1e6 == pytest.approx(176.1, rel=0.01)
    assert city.ward_of([106.7468], [21.8556]).tolist() == ["05986"]
    assert city.contains([106.7578, 105.0], [21.8478, 21.0]).tolist() == [True, False]
    assert city.res == 9
    assert city.network.n_links > 1000
    summary = city.summary()
    assert summary["population"] == 145_497
    assert summary["cameras"] == 238


@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_builds_with_provenance(city: City, name: str) -> None:
    gdf = city.layer(name)
    assert len(gdf) > 0
    assert gdf.crs.to_string() == WGS84
    prov = provenance.of(gdf)
    source, synthetic = city.layer_source(name)
    assert prov["source"] == source
    assert bool(prov.get("synthetic")) == synthetic
    assert not gdf.geometry.isna().any()


def test_layer_info_lists_titles_and_sources(city: City) -> None:
    info = {r["name"]: r for r in city.layer_info()}
    assert list(info) == list(LAYERS)
    assert info["wards_2025"]["source"] == "real"
    assert info["wards_2025"]["synthetic"] is False
    assert info["cameras"]["synthetic"] is True
    assert info["roads"]["source"] == "synthetic"
    assert info["cells"]["source"] == "derived"
    assert info["river"]["title_vi"] == "Sông Kỳ Cùng"


def test_aliases_and_unknown_layers(city: City) -> None:
    assert resolve_layer("wards") == "wards_2025"
    assert len(city.layer("wards")) == 16
    assert set(ALIASES.values()) <= set(LAYERS)
    with pytest.raises(UnknownLayerError, match="known: wards_2025"):
        city.layer("buildings")


def test_bbox_filter_keeps_intersecting_features(city: City) -> None:
    # a small box around the old centre
    box = (106.75, 21.84, 106.765, 21.855)
    cams = city.layer("cameras", bbox=box)
    everything = city.layer("cameras")
    assert 0 < len(cams) < len(everything)
    x, y = cams.geometry.x, cams.geometry.y
    assert ((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])).all()
    assert provenance.of(cams)["source"] == "synthetic"
    cells = city.layer("cells", res=10, bbox=box)
    assert cells.geometry.intersects(shapely.box(*box)).all()
    assert len(city.layer("wards_2025", bbox=CITY_BBOX)) >= 4
    assert len(city.layer("cameras", bbox=(0.0, 0.0, 1.0, 1.0))) == 0


@pytest.mark.parametrize(
    ("bbox", "reason"),
    [
        ((106.9, 21.8, 106.7, 21.9), "west"),
        ((106.7, 21.9, 106.8, 21.8), "south"),
        ((-181.0, 21.8, 106.8, 21.9), "±180"),
        ((106.7, -91.0, 106.8, 21.9), "±90"),
        ((106.7, 21.8, 106.8), "4 numbers"),
        ((106.7, float("nan"), 106.8, 21.9), "finite"),
    ],
)
def test_bad_bbox_is_refused_with_a_reason(bbox: tuple[float, ...], reason: str) -> None:
    with pytest.raises(InputError, match=reason) as err:
        check_bbox(bbox)
    assert err.value.field == "bbox"


def test_parse_bbox() -> None:
    assert parse_bbox("106.7, 21.8,106.8,21.9") == (106.7, 21.8, 106.8, 21.9)
    with pytest.raises(InputError, match="comma-separated"):
        parse_bbox("a,b,c,d")


def test_cells_are_cached_but_callers_get_copies(city: City) -> None:
    a = city.cells(8)
    a["population"] = -1
    b = city.cells(8)
    assert (b["population"] >= 0).all()
    assert np.array_equal(a.index, b.index)
