"""Schemathesis against the live routes' OpenAPI: no server error, responses as documented.

Bounded: a few generated cases per operation (property tests with NaN/raw bodies live in
``test_events_fuzz.py``, which can send what an OpenAPI generator cannot).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import DataSettings, LiveSettings, Settings
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.support.auth import store_key
from twin.city import City

LIVE_PATHS = r"^/(events|cells|hotspots|stats|cameras|alerts|open311|ngsi-ld)"


@pytest.fixture(scope="module")
def live_app(city: City, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[FastAPI]:
    """The full app with its live service started (lifespan entered) on a fresh store."""
    state = tmp_path_factory.mktemp("st")
    key = store_key(state)  # an admin key, in the store before the service opens it
    app = create_app(Settings(state_dir=state, data=DataSettings(dir=data_dir), replay=False))
    app.state.test_headers = {"X-API-Key": key, "Authorization": f"Bearer {key}"}
    app.state.city = city
    app.state.live_settings = LiveSettings(tick_s=3600)
    # schemathesis starts the app's lifespan itself (once, on its own event loop) on the first call
    yield app
    shutdown_lifespans()  # close the store and stop the live service it started


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_live_api_conforms(live_app: FastAPI) -> None:
    """Every live operation: generated requests never cause a 5xx and answers match the OpenAPI."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", live_app).include(path_regex=LIVE_PATHS)
    tested = []
    for result in schema.get_all_operations():
        op = result.ok()
        tested.append(op.label)

        @given(case=op.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: keep the test bounded in time
        )
        def run(case: Any) -> None:
            case.call_and_validate(checks=CHECKS, headers=live_app.state.test_headers)

        run()
    assert len(tested) >= 15, tested
    assert not any("/stream" in t for t in tested)
