"""End to end: `twin simulate traffic` on the Lạng Sơn city, baseline-like and with a closure."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
from typer.testing import CliRunner

from api.cli import app

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"


def test_simulate_traffic_writes_outputs_for_a_closure(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "night_market"
    result = CliRunner().invoke(
        app,
        [
            "simulate", "traffic", "--scenario", str(EXAMPLES / "traffic_ky_lua_night_market.toml"),
            "--seed", "7", "--horizon", "5400", "--multiplier", "0.25", "--out", str(out),
            "--data-dir", str(data_dir),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 7
    assert run["scenario"] == "ky_lua_night_market"
    assert run["synthetic"] is True
    assert run["params"]["closures"][0]["start"] == "18:00"
    assert run["kpis"]["trips"] > 1000
    assert 0.5 < run["kpis"]["completed_share"] <= 1.0
    links = gpd.read_file(out / "links.geojson")
    assert links["closed_any"].sum() > 0
    assert (links["source"] == "simulated").all()
    # the closed streets carry nothing once the closure starts (18:00 = 3600 s after the 17:00 start)
    closed = set(links.index[links["closed_any"]])
    per_5min = pd.read_parquet(out / "links_5min.parquet")
    after = per_5min[(per_5min["t_start_s"] >= 3600) & per_5min["link_id"].isin(closed)]
    assert after["inflow_veh"].sum() == 0
    trips = pd.read_csv(out / "trips.csv")
    assert {"travel_time_s", "delay_s", "distance_m", "completed", "status"} <= set(trips.columns)
    assert (trips["kind"] == "event").any()
    cells = gpd.read_file(out / "cells.geojson")
    assert cells["peak_congestion_index"].min() >= 1.0
    for png in ("speed_map.png", "timeseries.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_bad_scenario_fails_with_the_field_named(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[closures]]\nward = "00000"\nstart = "06:30"\nend = "07:00"\n')
    result = CliRunner().invoke(
        app,
        ["simulate", "traffic", "--scenario", str(bad), "--data-dir", str(data_dir), "--out", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "closures[0].ward" in result.output
    assert "unknown ward" in result.output
