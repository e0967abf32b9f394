"""Real scenario runs end to end: waste routes download in every format; runs use TWIN_H3_RES."""

from __future__ import annotations

import io
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli.base import app as cli_app
from api.settings import Settings
from tests.api.test_scenarios import wait_for
from tests.support.auth import key_headers
from twin import h3grid

WASTE = """
schema_version = 1
name = "Thu gom rác 1 ngày (kiểm thử)"
kind = "waste"
seeds = [1]
[waste]
days = 1
solver_time_s = 0.34
fleet.trucks = 8
"""


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state folder and the test data cache, through the environment the CLI and app read."""
    monkeypatch.setenv("TWIN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TWIN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TWIN_REPLAY", "false")
    monkeypatch.setenv("COLUMNS", "160")
    return tmp_path


def test_waste_routes_download_as_geojson_geoparquet_and_csv(env: Path) -> None:
    spec = env / "waste.toml"
    spec.write_text(WASTE, encoding="utf-8")
    r = CliRunner().invoke(cli_app, ["scenario", "run", str(spec)])
    assert r.exit_code == 0, r.output
    job_id = r.output.strip().splitlines()[-1]
    settings = Settings(replay=False)
    with TestClient(create_app(settings)) as c:
        c.headers.update(key_headers(c.app, "planner"))
        body = c.get(f"/scenarios/{job_id}").json()
        assert body["status"] == "done"
        routes = next(lay for lay in body["layers"] if lay["name"] == "waste.routes")
        assert set(routes["urls"]) == {"geojson", "geoparquet", "csv"}
        base = f"/scenarios/{job_id}/layers/waste.routes"

        geo = c.get(f"{base}?format=geojson")
        assert geo.status_code == 200, geo.text
        assert geo.headers["content-type"].startswith("application/geo+json")
        doc = geo.json()
        n = len(doc["features"])
        assert n > 0
        assert doc["features"][0]["geometry"]["type"] == "LineString"
        assert doc["provenance"]["synthetic"] is True
        assert doc["provenance"]["scenario"] == "Thu gom rác 1 ngày (kiểm thử)"
        assert doc["features"][0]["properties"]["synthetic"] is True

        for fmt in ("geoparquet", "parquet"):
            pq = c.get(f"{base}?format={fmt}")
            assert pq.status_code == 200, pq.text
            assert 'filename="' in pq.headers["content-disposition"]
            gdf = gpd.read_parquet(io.BytesIO(pq.content))
            assert len(gdf) == n
            assert gdf.crs.to_epsg() == 4326
            assert set(gdf["source"]) == {"simulated"}

        csv = c.get(f"{base}?format=csv")
        assert csv.status_code == 200, csv.text
        frame = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
        assert len(frame) == n
        assert frame["geometry_wkt"].str.startswith("LINESTRING").all()
        assert not [col for col in frame.columns if col.startswith("Unnamed")]
        # Array-valued properties (vertex timestamps) are JSON lists in the CSV, as in the GeoJSON.
        nested = [k for k, v in doc["features"][0]["properties"].items() if isinstance(v, list)]
        for k in nested:
            assert json.loads(frame[k].iloc[0]) == doc["features"][0]["properties"][k]

        bad = c.get(f"{base}?format=shp")
        assert bad.status_code == 422


def test_a_scenario_job_runs_at_twin_h3_res(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_H3_RES", "8")
    with TestClient(create_app(Settings(replay=False))) as c:
        c.headers.update(key_headers(c.app, "planner"))
        spec = {"name": "10 phút ở res 8", "kind": "traffic", "seeds": [3],
                "traffic": {"start": "07:00", "horizon_s": 600}}  # fmt: skip
        job_id = c.post("/scenarios", json=spec).json()["id"]
        body = wait_for(c, job_id, {"done", "failed"}, limit_s=300)
        assert body["status"] == "done", body["error"]
        cells = c.get(f"/scenarios/{job_id}/layers/traffic.cells").json()["features"]
        assert cells
        assert {h3grid.resolution(str(f["id"])) for f in cells} == {8}  # the cell is the feature id
        result = json.loads((env / "state" / "scenarios" / job_id / "result.json").read_text())
        assert result["res"] == 8
        assert result["meta"]["traffic"]["params"]["res"] == 8
        # The resolution is the service's: a scenario may not set it.
        bad = c.post("/scenarios", json={**spec, "traffic": {"res": 10}})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["field"] == "traffic.res"
        bad = c.post("/scenarios", json={**spec, "city": {"res": 10}})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["field"] == "city.res"


def test_jobs_of_the_old_jobs_file_move_into_the_store(tmp_path: Path) -> None:
    import sqlite3  # noqa: PLC0415

    from api.services.scenarios import adopt_legacy_jobs  # noqa: PLC0415
    from api.store import default_dsn, open_store  # noqa: PLC0415

    old = tmp_path / "scenarios" / "jobs.sqlite3"
    old.parent.mkdir(parents=True)
    conn = sqlite3.connect(old)
    conn.execute(
        "CREATE TABLE jobs (id TEXT, name TEXT, kind TEXT, status TEXT, progress REAL, message TEXT, "
        "error TEXT, created_at TEXT, started_at TEXT, finished_at TEXT, spec TEXT, kpis TEXT, "
        "layers TEXT, pid INTEGER)"
    )
    conn.execute(
        "INSERT INTO jobs VALUES ('20250101-000000-aa', 'cũ', 'traffic', 'done', 1, 'done', NULL, "
        "'2025-01-01T00:00:00+00:00', '2025-01-01T00:00:01+00:00', '2025-01-01T00:01:00+00:00', "
        '\'{"name": "cũ"}\', \'{"traffic.trips": {"mean": 5}}\', \'["traffic.links"]\', NULL)'
    )
    conn.execute(
        "INSERT INTO jobs VALUES ('20250101-000001-bb', 'dở', 'waste', 'running', 0.5, 'x', NULL, "
        "'2025-01-01T00:00:02+00:00', NULL, NULL, '{}', '{}', '[]', 123)"
    )
    conn.commit()
    conn.close()
    store = open_store(default_dsn(tmp_path))
    try:
        assert adopt_legacy_jobs(store, tmp_path) == 2
        assert adopt_legacy_jobs(store, tmp_path) == 0
        done = store.get_job("20250101-000000-aa")
        assert done is not None
        assert (done.status, done.name, done.kpis, done.layers) == (
            "done", "cũ", {"traffic.trips": {"mean": 5}}, ["traffic.links"]
        )  # fmt: skip
        stale = store.get_job("20250101-000001-bb")
        assert stale is not None
        assert stale.status == "failed"
        assert not old.exists()
        assert old.with_name("jobs.sqlite3.migrated").exists()
    finally:
        store.close()
