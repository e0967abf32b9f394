"""The data catalog, fetch (checksums, atomicity) and loaders, with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from api.cli import base
from api.cli import data as _data  # noqa: F401  (registers the commands)
from gis_data import fetch, load
from gis_data.catalog import DATASETS
from twin import provenance
from twin.crs import METRIC
from twin.errors import DataError


def test_catalog_entries_are_complete() -> None:
    for ds in DATASETS.values():
        assert len(ds.sha256) == 64
        assert ds.kind in ("real", "synthetic")
        assert ds.licence
        assert ds.source_url


def test_wards_areas_match_official_figures(wards: gpd.GeoDataFrame) -> None:
    core = wards[wards["core_city_ward"]]
    assert sorted(core.index) == ["05977", "05983", "05986", "06187"]
    area = core.to_crs(METRIC).area / 1e6
    rel = (area - core["area_km2_official"]).abs() / core["area_km2_official"]
    assert (rel < 0.01).all(), rel.to_dict()
    assert core["population"].sum() == 50436 + 23136 + 30301 + 41624
    assert core.loc["06187", "full_name"] == "Phường Kỳ Lừa"
    assert provenance.of(wards)["source"] == "real"


def test_pre2025_units_carry_old_and_new_codes(units: gpd.GeoDataFrame) -> None:
    city = units[units["in_city_pre2025"]]
    assert len(city) == 8
    assert city["population_2009"].sum() > 70_000
    assert city["old_code"].notna().all()
    row = city[city["name_vi"] == "Phường Hoàng Văn Thụ"].iloc[0]
    assert (row["old_code"], row["new_code"]) == ("05971", "06187")


def test_fetch_rejects_bad_checksum_and_leaves_no_partial_file(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for ds in DATASETS.values():
        (mirror / ds.filename).write_text("not the real file")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch.fetch(cache_dir=cache, mirror=mirror)
    assert list(cache.iterdir()) == []


def test_missing_dataset_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load.wards_2025(tmp_path)
    assert "twin data fetch" in str(err.value)


def test_malformed_geojson_is_a_data_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=r"bad\.geojson"):
        load.read_geojson(bad, DATASETS["wards_2025"])
    wrong_crs = tmp_path / "crs.geojson"
    wrong_crs.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "EPSG:32648"}},
                "features": [],
            }
        )
    )
    with pytest.raises(DataError, match="CRS"):
        load.read_geojson(wrong_crs)


def test_cli_fetch_from_missing_folder_fails_readably(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        base.app, ["data", "fetch", "--from", str(tmp_path / "nope"), "--data-dir", str(tmp_path / "c")]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_cli_fetch_then_info(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(base.app, ["data", "fetch", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "wards_2025.geojson").is_file()
    result = runner.invoke(base.app, ["data", "info", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "wards_2025" in result.output
