"""Schemathesis against the scenario routes, and raw bodies an OpenAPI generator cannot send."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.services.jobs import JobManager
from api.settings import DataSettings, JobSettings, Settings
from tests.api.test_scenarios import toy_work
from tests.support import toml_body  # noqa: F401  (registers the TOML body serializer)
from tests.support.auth import key_headers


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[TestClient]:
    """A client of the app with a toy job manager (no simulation runs)."""
    state = tmp_path_factory.mktemp("state")
    application = create_app(Settings(state_dir=state, data=DataSettings(dir=data_dir), replay=False))
    manager = JobManager(state, data_dir=data_dir, work=toy_work,
                         settings=JobSettings(max_concurrent=1, max_queued=3))  # fmt: skip
    application.state.scenario_jobs = manager
    with TestClient(application) as c:
        c.headers.update(key_headers(application, "planner"))
        yield c
    manager.close()


def test_scenario_routes_never_answer_5xx(client: TestClient) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=r"^/scenarios")
    tested = []
    for result in schema.get_all_operations():
        op = result.ok()
        tested.append(op.label)

        @given(case=op.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)  # fmt: skip
        def run(case: Any) -> None:
            key = client.headers["X-API-Key"]
            case.call_and_validate(
                checks=[not_a_server_error], headers={"X-API-Key": key, "Authorization": f"Bearer {key}"}
            )

        run()
    assert len(tested) >= 7, tested


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.sampled_from(
            [
                b'{"name": "x", "kind": "waste", "horizon": NaN}',
                b'{"name": "x", "kind": "traffic", "seeds": Infinity}',
                b'{"name": "x", "kind": "waste", "waste": {"days": -Infinity}}',
                b"[]",
                b"null",
                b'"x"',
                b"{}",
                b'{"name": "x", "kind": "traffic", "changes": [{"type": "set", '
                b'"param": "traffic.demand.multiplier", "value": NaN}]}',
            ]
        ),
    ),
    ctype=st.sampled_from(["application/json", "application/toml", "text/plain"]),
)
def test_raw_bodies_are_4xx(client: TestClient, body: bytes, ctype: str) -> None:
    r = client.post("/scenarios", content=body, headers={"content-type": ctype})
    assert r.status_code in (202, 400, 422, 429), r.text
    if b"NaN" in body or b"Infinity" in body:
        assert r.status_code in (400, 422)
