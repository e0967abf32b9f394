"""Fixtures of the gateway tests: one real twin (uvicorn on loopback) per module, a broker per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.settings import DataSettings, LiveSettings, Settings
from tests.api.test_events_support import ThreadServer, city, connected  # noqa: F401  (fixtures)
from tests.support.mosquitto import Broker, mosquitto, mosquitto_bin
from twin.city import City


@pytest.fixture(scope="module")
def twin(city: City, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[ThreadServer]:  # noqa: F811
    """A real twin on loopback (its own SQLite store), serving HTTP from a thread."""
    state = tmp_path_factory.mktemp("twin")
    settings = Settings(state_dir=state, data=DataSettings(dir=data_dir), replay=False)
    app = create_app(settings)
    app.state.city = city
    app.state.live_settings = LiveSettings(tick_s=3600)
    srv = ThreadServer(app).start()
    yield srv
    srv.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto on a free loopback port with a temp config."""
    if mosquitto_bin() is None:
        pytest.fail("mosquitto is not installed: run scripts/setup-system.sh")
    with mosquitto(tmp_path / "mosquitto") as b:
        yield b
