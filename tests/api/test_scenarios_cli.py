"""`twin scenario run|compare|sweep|list` end to end on the real traffic model (short horizon)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli.base import app
from api.services.scenarios import stored_result
from api.store import default_dsn, open_store
from simulations import results

SPEC = """
schema_version = 1
name = "Đóng cầu Đông Kinh (kiểm thử)"
kind = "traffic"
seeds = [1]
[traffic]
start = "07:00"
horizon_s = 2400
[[changes]]
type = "close"
road = "Cầu Đông Kinh"
"""


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state folder and the test data cache, through the environment the CLI reads."""
    monkeypatch.setenv("TWIN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TWIN_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COLUMNS", "160")
    return tmp_path


def test_closing_a_bridge_raises_delay_and_empties_it(env: Path) -> None:
    spec = env / "bridge.toml"
    spec.write_text(SPEC, encoding="utf-8")
    cli = CliRunner()
    r = cli.invoke(app, ["scenario", "run", str(spec), "--with-baseline"])
    assert r.exit_code == 0, r.output
    assert "traffic.mean_delay_s" in r.output
    store = open_store(default_dsn(env / "state"))
    jobs = store.list_jobs()
    assert [j.status for j in jobs] == ["done", "done"]
    closure, base = jobs  # newest first: the scenario ran after its baseline
    assert r.output.strip().splitlines()[-1] == closure.id
    assert base.name.endswith("baseline")
    ra, rb = stored_result(store, env / "state", base.id), stored_result(store, env / "state", closure.id)
    store.close()
    kpis = ra.compare(rb).set_index("kpi")
    # Known answer: closing a bridge on the river crossing raises the mean delay and trip time.
    assert kpis.loc["traffic.mean_delay_s", "delta"] > 0
    assert kpis.loc["traffic.mean_trip_time_s", "delta"] > 0
    assert kpis.loc["traffic.trips", "delta"] == 0  # same seed, same demand
    links = rb.layer("traffic.links")
    closed = links[links["closed_any"]]
    assert len(closed) >= 2
    assert (closed["name"] == "Cầu Đông Kinh").all()
    assert (closed["volume_veh"] == 0).all()  # nothing crosses a closed bridge
    assert ra.layer("traffic.links").loc[closed.index, "volume_veh"].sum() > 0  # it carried traffic before
    # Closed in every bin of its window, and no speed there (not the free-flow speed).
    t5 = rb.table("traffic.links_5min")
    during = t5[t5["link_id"].isin(closed.index) & t5["closed"]]
    assert len(during) > 0
    assert (during["state"] == "closed").all()
    assert during["speed_kmh"].isna().all()
    # The H3 difference layer shows the drop in the bridge's cell.
    diff = results.cell_difference(ra.layer("traffic.links"), links, 9, "traffic.links")
    cells = results.to_cells(closed, 9).index
    assert diff.set_index("cell").loc[cells, "volume_veh_delta"].sum() < 0

    # A scenario against itself: zero deltas.
    same = ra.compare(ra)
    assert (same["delta"].fillna(0) == 0).all()

    out = env / "cmp"
    r = cli.invoke(app, ["scenario", "compare", base.id, closure.id, "--out", str(out), "--res", "8"])
    assert r.exit_code == 0, r.output
    assert (out / "kpis.csv").is_file()
    assert "Holm" in r.output  # the multiple-comparison correction is named
    csv = pd.read_csv(out / "kpis.csv").set_index("kpi")
    delay = kpis.loc["traffic.mean_delay_s", "delta"]
    assert csv.loc["traffic.mean_delay_s", "delta"] == pytest.approx(delay)
    assert csv.loc["traffic.mean_delay_s", "unit"] == "s"
    assert set(csv["correction"]) == {"holm"}
    doc = json.loads((out / "traffic.links_diff_r8.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert doc["provenance"]["source"] == "derived"
    assert any(f["properties"]["volume_veh_delta"] < 0 for f in doc["features"])

    r = cli.invoke(app, ["scenario", "list"])
    assert r.exit_code == 0
    assert closure.id in r.output

    r = cli.invoke(app, ["scenario", "compare", base.id, "nope"])
    assert r.exit_code == 2
    assert "not found" in r.output


def test_sweep_demand_on_the_real_model(env: Path) -> None:
    spec = env / "sweep.toml"
    spec.write_text(SPEC.replace("horizon_s = 2400", "horizon_s = 1200"), encoding="utf-8")
    out = env / "sweep"
    r = CliRunner().invoke(
        app,
        ["scenario", "sweep", str(spec), "--param", "traffic.demand.multiplier=0.5,1.0", "--seeds", "1",
         "--executor", "serial", "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = pd.read_csv(out / "summary.csv")
    trips = summary[summary["kpi"] == "trips"].set_index("demand.multiplier")["mean"]
    # Known answer: halving the demand multiplier halves the local trips (through traffic stays).
    assert trips.loc[0.5] < 0.75 * trips.loc[1.0]
    bad = CliRunner().invoke(app, ["scenario", "sweep", str(spec), "--param", "waste.days=1,2"])
    assert bad.exit_code == 2
    assert "param" in bad.output
