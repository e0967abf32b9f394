"""Shared fixtures: a data cache filled from the team mirror, and the loaded real layers."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from api.cli.data import fetch_data
from api.settings import Settings
from gis_data import load


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data cache fetched from the mirror (``TWIN_DATA_MIRROR``) once per test session."""
    cache = tmp_path_factory.mktemp("data")
    fetch_data(Settings(), cache_dir=cache)
    return cache


@pytest.fixture(scope="session")
def wards(data_dir: Path) -> gpd.GeoDataFrame:
    """The 2025 wards and neighbouring communes."""
    return load.wards_2025(data_dir)


@pytest.fixture(scope="session")
def units(data_dir: Path) -> gpd.GeoDataFrame:
    """The pre-2025 units with 2009 census population."""
    return load.units_pre2025(data_dir)
