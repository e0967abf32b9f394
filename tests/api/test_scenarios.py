"""Scenario jobs through HTTP: submit, progress, cancel, results, downloads, quota, comparisons."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.keys import parse_key
from api.services.jobs import JobManager
from api.settings import DataSettings, JobSettings, Settings
from simulations.results import Progress, RunResult
from simulations.scenario import ScenarioSpec
from tests.support.auth import key_headers
from twin import provenance

STEP_S = 0.05


def toy_work(
    spec: ScenarioSpec, progress: Progress, data_dir: Path | None, res: int
) -> dict[str, list[RunResult]]:
    """A fast stand-in for the models: one step per seed, KPIs known in closed form.

    ``x = 10 × traffic.demand.multiplier + seed``; the links layer's volume is 100·(i+1)·multiplier.
    """
    params = spec.resolve()
    out: dict[str, list[RunResult]] = {}
    n = len(spec.seeds) * len(spec.kinds)
    i = 0
    for kind in spec.kinds:
        mult = float(params["traffic"].demand.multiplier) if kind == "traffic" else 1.0  # type: ignore[attr-defined]
        out[kind] = []
        for seed in spec.seeds:
            time.sleep(STEP_S)
            i += 1
            progress(i / n, f"{kind} seed {seed}")
            lines = [
                shapely.LineString([(106.74 + 0.02 * j, 21.84), (106.7405 + 0.02 * j, 21.8405)])
                for j in range(3)
            ]
            layer = gpd.GeoDataFrame(
                {"name": ["QL1A", "Cầu Kỳ Lừa", ""],
                 "volume_veh": [100.0 * (j + 1) * mult for j in range(3)]},
                geometry=lines, crs="EPSG:4326",
            )  # fmt: skip
            provenance.attach(
                layer, provenance.Provenance(name="toy_links", source="simulated", licence="MIT")
            )
            table = pd.DataFrame({"t": [0, 300], "flow": [1.0, 2.0]})
            out[kind].append(
                RunResult(kind, {"multiplier": mult}, seed, {"x": 10 * mult + seed, "wall_s": 0.1},
                          tables={"flows": table}, layers={"links": layer})
            )  # fmt: skip
    return out


def _spec(
    name: str = "Đóng cầu Kỳ Lừa", seeds: int | list[int] = 2, multiplier: float = 1.0
) -> dict[str, Any]:
    return {
        "schema_version": 1, "name": name, "kind": "traffic", "seeds": seeds, "horizon": "1h",
        "changes": [{"type": "set", "param": "traffic.demand.multiplier", "value": multiplier}],
    }  # fmt: skip


@pytest.fixture
def client(tmp_path: Path, data_dir: Path) -> Iterator[TestClient]:
    """The app with a job manager that runs `toy_work` (1 job at a time, 1 waiting)."""
    settings = Settings(state_dir=tmp_path / "state", data=DataSettings(dir=data_dir))
    app = create_app(settings)
    manager = JobManager(
        settings.state_dir, data_dir=data_dir, work=toy_work,
        settings=JobSettings(max_concurrent=1, max_queued=1), poll_s=0.02,
    )  # fmt: skip
    app.state.scenario_jobs = manager
    with TestClient(app) as c:
        c.headers.update(key_headers(app, "planner"))  # planners run scenarios
        yield c
    manager.close()


def wait_for(client: TestClient, job_id: str, states: set[str], limit_s: float = 90.0) -> dict[str, Any]:
    """Poll a job until it reaches one of `states` (a safety limit, not a timing assertion)."""
    deadline = time.monotonic() + limit_s
    while True:
        body: dict[str, Any] = client.get(f"/scenarios/{job_id}").json()
        if body["status"] in states:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} stuck in {body['status']}: {body}")
        time.sleep(0.05)


def test_job_lifecycle_submit_progress_results_downloads(client: TestClient) -> None:
    r = client.post("/scenarios", json=_spec(seeds=[1, 2, 3], multiplier=1.5))
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.headers["location"] == f"/scenarios/{job_id}"
    assert r.json()["status"] in ("queued", "running")
    seen = {r.json()["progress"]}
    deadline = time.monotonic() + 90
    while (body := client.get(f"/scenarios/{job_id}").json())["status"] != "done":
        assert body["status"] in ("queued", "running"), body
        seen.add(body["progress"])
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert body["progress"] == 100.0
    assert body["error"] is None
    # x = 10 × 1.5 + seed, seeds 1..3 → mean 17, 95 % CI 17 ± t(0.975, 2)·1/√3
    kpi = body["kpis"]["traffic.x"]
    assert kpi["mean"] == pytest.approx(17.0)
    assert kpi["n"] == 3
    assert kpi["ci_high"] - 17.0 == pytest.approx(4.302652729 / 3**0.5)
    assert "traffic.wall_s" not in body["kpis"]  # machine timings are not scenario KPIs
    assert [r["seed"] for r in body["runs"]] == [1, 2, 3]
    assert [lay["name"] for lay in body["layers"]] == ["traffic.links"]
    assert body["layers"][0]["provenance"]["synthetic"] is True
    assert body["spec"]["name"] == "Đóng cầu Kỳ Lừa"
    listed = client.get("/scenarios").json()["scenarios"]
    assert [j["id"] for j in listed] == [job_id]

    geo = client.get(f"/scenarios/{job_id}/layers/traffic.links?format=geojson")
    assert geo.status_code == 200
    assert geo.headers["content-type"].startswith("application/geo+json")
    doc = geo.json()
    assert doc["type"] == "FeatureCollection"
    assert doc["provenance"]["source"] == "simulated"
    assert [f["properties"]["volume_veh"] for f in doc["features"]] == [150.0, 300.0, 450.0]
    assert doc["features"][1]["properties"]["name"] == "Cầu Kỳ Lừa"
    pq = client.get(f"/scenarios/{job_id}/layers/traffic.links?format=parquet")
    gdf = gpd.read_parquet(io.BytesIO(pq.content))
    assert gdf.crs.to_epsg() == 4326
    assert gdf["volume_veh"].tolist() == [150.0, 300.0, 450.0]
    csv = client.get(f"/scenarios/{job_id}/layers/traffic.links?format=csv")
    frame = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
    assert frame["geometry_wkt"].str.startswith("LINESTRING").all()
    assert not any(c.startswith("Unnamed") for c in frame.columns)
    assert set(frame["source"]) == {"simulated"}
    assert "attachment" in csv.headers["content-disposition"]
    table = client.get(f"/scenarios/{job_id}/tables/traffic.flows?format=csv")
    assert pd.read_csv(io.BytesIO(table.content), encoding="utf-8-sig")["flow"].tolist() == [1.0, 2.0]
    assert client.get(f"/scenarios/{job_id}/layers/traffic.nope").status_code == 404


def test_cancel_a_running_job_and_the_queue_quota(client: TestClient) -> None:
    slow = client.post("/scenarios", json=_spec("chậm", seeds=400)).json()["id"]
    body = wait_for(client, slow, {"running"})
    assert body["status"] == "running"
    queued = client.post("/scenarios", json=_spec("chờ"))
    assert queued.status_code == 202
    assert queued.json()["status"] == "queued"
    refused = client.post("/scenarios", json=_spec("quá tải"))
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.json()["error"] == "quota_exceeded"
    cancelled = client.post(f"/scenarios/{slow}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(f"/scenarios/{slow}").json()["progress"] < 100
    # the queued job now runs to the end; cancelling a finished job changes nothing
    done = wait_for(client, queued.json()["id"], {"done", "failed"})
    assert done["status"] == "done"
    assert client.post(f"/scenarios/{done['id']}/cancel").json()["status"] == "done"
    again = client.get(f"/scenarios/{slow}/layers/traffic.links")
    assert again.status_code == 422  # results of a cancelled job do not exist
    assert "cancelled" in again.json()["detail"][0]["reason"]


def test_bad_requests_name_the_field(client: TestClient) -> None:
    bad = _spec()
    bad["changes"][0]["param"] = "traffic.demand.nope"
    r = client.post("/scenarios", json=bad)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "changes[0].param"
    r = client.post("/scenarios", json={**_spec(), "seeds": [1, 1]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "seeds"
    r = client.post("/scenarios", json={**_spec(), "base": "../../etc/passwd"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "base"
    r = client.post("/scenarios", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert client.post("/scenarios", json=[1, 2]).status_code == 422
    assert client.get("/scenarios/nope").status_code == 404
    assert client.post("/scenarios/nope/cancel").status_code == 404
    assert client.get("/scenarios/../../etc/passwd").status_code == 404
    assert client.get("/scenarios/abc/layers/..%2Fjobs").status_code in (404, 422)


def test_toml_body_and_compare_known_answers(client: TestClient) -> None:
    toml = (
        'name = "Tăng 20 %"\nkind = "traffic"\nseeds = [1, 2]\n'
        '[[changes]]\ntype = "set"\nparam = "traffic.demand.multiplier"\nvalue = 1.2\n'
    )
    r = client.post(
        "/scenarios?with_baseline=true", content=toml.encode(), headers={"content-type": "application/toml"}
    )
    assert r.status_code == 202, r.text
    b, a = r.json()["id"], r.json()["baseline_id"]
    assert r.json()["compare_url"] == f"/scenarios/{a}/compare/{b}"
    assert client.get(f"/scenarios/{a}").json()["spec"]["changes"] == []
    wait_for(client, b, {"done"})
    wait_for(client, a, {"done"})
    same = client.get(f"/scenarios/{a}/compare/{a}").json()
    assert all(k["delta"] == 0 for k in same["kpis"])
    assert not any(k["significant"] for k in same["kpis"])
    diff = client.get(f"/scenarios/{a}/compare/{b}?res=8").json()
    x = next(k for k in diff["kpis"] if k["kpi"] == "traffic.x")
    # the baseline keeps the default multiplier 1.0: x = 10 + seed → 11.5; with 1.2: 13.5
    assert (x["a"], x["b"]) == (pytest.approx(11.5), pytest.approx(13.5))
    assert x["delta"] == pytest.approx(2.0)
    # paired over the same seeds: the difference is exactly 2 for each seed, hence significant
    assert x["test"] == "paired"
    assert x["significant"] is True
    assert (x["delta_ci_low"], x["delta_ci_high"]) == (pytest.approx(2.0), pytest.approx(2.0))
    assert [lay["name"] for lay in diff["layers"]] == ["traffic.links"]
    layer = client.get(diff["layers"][0]["urls"]["geojson"]).json()
    assert layer["provenance"]["source"] == "derived"
    deltas = sorted(f["properties"]["volume_veh_delta"] for f in layer["features"])
    assert deltas == pytest.approx([20.0, 40.0, 60.0])  # 0.2 × (100, 200, 300)
    self_layer = client.get(f"/scenarios/{a}/compare/{a}/layers/traffic.links?res=9").json()
    assert all(f["properties"]["volume_veh_delta"] == 0 for f in self_layer["features"])
    assert client.get(f"/scenarios/{a}/compare/nope").status_code == 404


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/scenarios", "/scenarios/{job_id}", "/scenarios/{job_id}/cancel",
              "/scenarios/{job_id}/layers/{name}", "/scenarios/{a}/compare/{b}"):  # fmt: skip
        assert p in paths
    body = paths["/scenarios"]["post"]["requestBody"]["content"]
    assert "application/toml" in body
    assert json.dumps(body["application/json"]["schema"]).count("schema_version") >= 1


def test_a_real_traffic_job_runs_in_a_worker_process(tmp_path: Path, data_dir: Path) -> None:
    """The production path: the default work (city + traffic model) in a forked worker process."""
    settings = Settings(state_dir=tmp_path / "state", data=DataSettings(dir=data_dir), replay=False)
    with TestClient(create_app(settings)) as c:
        c.headers.update(key_headers(c.app, "planner"))
        spec = {"name": "Giờ cao điểm 10 phút", "kind": "traffic", "seeds": [3],
                "traffic": {"start": "07:00", "horizon_s": 600}}  # fmt: skip
        job_id = c.post("/scenarios", json=spec).json()["id"]
        body = wait_for(c, job_id, {"done", "failed"}, limit_s=300)
        assert body["status"] == "done", body["error"]
        assert body["kpis"]["traffic.trips"]["mean"] > 0
        assert body["kpis"]["traffic.trips"]["n"] == 1
        assert {"traffic.links", "traffic.cells"} <= {lay["name"] for lay in body["layers"]}
        doc = c.get(f"/scenarios/{job_id}/layers/traffic.cells").json()
        assert doc["features"]
        assert doc["provenance"]["synthetic"] is True


def test_who_submitted_and_cancelled_a_job_is_the_callers_key(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    planner = parse_key(client.headers["X-API-Key"])
    assert planner is not None
    with caplog.at_level("INFO", logger="twin.audit"):
        job = client.post("/scenarios", json=_spec("ai gửi")).json()["id"]
        assert client.post(f"/scenarios/{job}/cancel").status_code == 200
    assert f"scenario job {job} submitted by key {planner.key_id} (planner)" in caplog.messages
    assert f"scenario job {job} cancelled by key {planner.key_id} (planner)" in caplog.messages
