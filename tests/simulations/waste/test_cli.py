"""`twin simulate waste` end to end through the typer CLI: on a small stand-in city and on Lạng Sơn."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import waste as _waste_cli  # noqa: F401  (registers the command)
from api.cli.base import app
from twin.network import RoadNetwork

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"


@pytest.fixture
def small_city(monkeypatch: pytest.MonkeyPatch, net: RoadNetwork, cells: pd.DataFrame) -> None:
    wards = gpd.GeoDataFrame(
        {"name": ["Đông Kinh", "Lương Văn Tri"]}, geometry=[None, None], index=["05977", "05983"]
    )
    city = SimpleNamespace(network=net, cells=lambda res: cells.copy(), core_wards=wards)
    monkeypatch.setattr("gis_data.city.build_city", lambda *a, **k: city)


@pytest.mark.usefixtures("small_city")
def test_single_run_writes_everything(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(
        app,
        ["simulate", "waste", "--scenario", str(EXAMPLES / "waste_sensor.toml"), "--days", "2",
         "--trucks", "2", "--seed", "11", "--solver-time", "0.3", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    for name in ("routes.geojson", "points.geojson", "cells.geojson", "daily.csv", "trucks_daily.csv",
                 "visits.csv", "wards.csv", "run.json", "daily.png", "points.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    doc = json.loads((out / "run.json").read_text())
    assert doc["seed"] == 11
    assert doc["params"]["days"] == 2
    assert doc["params"]["policy"]["kind"] == "sensor"
    assert doc["synthetic"] is True
    routes = json.loads((out / "routes.geojson").read_text())
    feat = routes["features"][0]
    assert feat["geometry"]["type"] == "LineString"
    assert len(feat["properties"]["timestamps"]) == len(feat["geometry"]["coordinates"])
    assert feat["properties"]["source"] == "simulated"
    wards = pd.read_csv(out / "wards.csv", dtype={"ward_code": str})
    assert set(wards["name"]) == {"Đông Kinh", "Lương Văn Tri"}


@pytest.mark.usefixtures("small_city")
def test_compare_policies_over_seeds(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    res = CliRunner().invoke(
        app,
        ["simulate", "waste", "--days", "2", "--trucks", "2", "--solver-time", "0.3",
         "--compare-policy", "sensor", "--seeds", "2", "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["n_seeds"]) == {2}
    assert {"km_driven", "overflow_bin_hours", "tonnes_collected"} <= set(table["kpi"])
    md = (out / "comparison.md").read_text()
    assert "| KPI | fixed | sensor |" in md
    assert (out / "comparison.png").stat().st_size > 0
    assert (out / "fixed" / "routes.geojson").exists()
    assert (out / "sensor" / "routes.geojson").exists()


@pytest.mark.usefixtures("small_city")
def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["simulate", "waste", "--trucks", "0", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "fleet.trucks" in res.output
    assert "Traceback" not in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[fleet]\ncapacity_m3 = 0.1\n")
    res = runner.invoke(app, ["simulate", "waste", "--scenario", str(bad), "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "fleet.capacity_m3" in res.output
    res = runner.invoke(
        app, ["simulate", "waste", "--days", "1", "--trucks", "1", "--out", str(tmp_path),
              "--scenario", str(EXAMPLES / "waste_baseline.toml"), "--solver-time", "0.2"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output  # one truck, overtime allowed: feasible on the small city


def test_lang_son_city_one_day(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "ls"
    res = CliRunner().invoke(
        app,
        ["simulate", "waste", "--days", "1", "--solver-time", "0.5", "--data-dir", str(data_dir),
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "run.json").read_text())
    assert doc["kpis"]["points"] > 100
    assert doc["kpis"]["mass_balance_error_kg"] < 1e-3
    assert doc["meta"]["network"]["synthetic"] is True
    wards = pd.read_csv(out / "wards.csv", dtype={"ward_code": str})
    assert set(wards["ward_code"]) == {"05977", "05983", "05986", "06187"}
    assert wards["population"].sum() == pytest.approx(145_497, rel=0.01)
