"""Skip tests marked ``web`` (they download from Overpass/OSM) unless ``TWIN_WEB_TESTS=1``."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every ``web`` test as skipped when internet tests are not enabled."""
    if os.environ.get("TWIN_WEB_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="needs internet; set TWIN_WEB_TESTS=1 to run")
    for item in items:
        if "web" in item.keywords:
            item.add_marker(skip)
