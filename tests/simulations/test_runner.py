"""The scenario runner: overrides, task expansion, aggregation with known answers, serial and Dask sweeps."""

from __future__ import annotations

import math
import time
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from simulations import results, runner
from simulations.results import Progress, RunResult
from twin import h3grid
from twin.errors import InputError


class Inner(BaseModel):
    """A nested parameter group."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rate: float = Field(default=1.0, gt=0)


class ToyParams(BaseModel):
    """Parameters of a toy simulation whose KPIs are known in closed form."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    a: float = 1.0
    n: int = 3
    inner: Inner = Inner()
    sleep_s: float = 0.0
    fail_on: int | None = None


def toy_sim(params: ToyParams, seed: int, progress: Progress | None = None) -> RunResult:
    """Return KPIs x = 10·a + seed and y = n·rate; raise when seed == fail_on."""
    if params.fail_on is not None and seed == params.fail_on:
        raise ValueError(f"seed {seed} fails on purpose")
    if params.sleep_s:
        time.sleep(params.sleep_s)
    if progress is not None:
        progress(1.0, "done")
    return RunResult(
        "toy", params.model_dump(), seed, {"x": 10 * params.a + seed, "y": params.n * params.inner.rate}
    )


def test_apply_overrides_returns_a_validated_copy() -> None:
    p = ToyParams()
    q = runner.apply_overrides(p, {"a": 2.5, "inner.rate": 4})
    assert (q.a, q.inner.rate) == (2.5, 4.0)
    assert (p.a, p.inner.rate) == (1.0, 1.0)  # input untouched
    assert runner.apply_overrides({"a": {"b": 1}}, {"a.b": 2}) == {"a": {"b": 2}}


def test_apply_overrides_names_the_bad_field() -> None:
    with pytest.raises(InputError) as e:
        runner.apply_overrides(ToyParams(), {"inner.nope": 1})
    assert e.value.field == "inner.nope"
    assert "rate" in (e.value.hint or "")
    with pytest.raises(InputError) as e:
        runner.apply_overrides(ToyParams(), {"inner.rate": -1})
    assert e.value.field == "inner.rate"
    assert "greater than 0" in e.value.reason


def test_parse_value() -> None:
    assert runner.parse_value("3") == 3
    assert runner.parse_value("2.5") == 2.5
    assert runner.parse_value("true") is True
    assert runner.parse_value("none") is None
    assert runner.parse_value("fixed") == "fixed"


def test_expand_is_the_cartesian_product_times_seeds() -> None:
    tasks = runner.expand({"a": [1, 2], "n": [5, 6, 7]}, [0, 1])
    assert len(tasks) == 12
    assert [t.index for t in tasks] == list(range(12))
    assert {t.combo for t in tasks} == set(range(6))
    assert tasks[0].overrides == {"a": 1, "n": 5}
    assert tasks[0].seed == 0
    assert tasks[-1].overrides == {"a": 2, "n": 7}
    assert tasks[-1].seed == 1
    assert len(runner.expand({}, [4])) == 1
    with pytest.raises(InputError, match="distinct"):
        runner.expand({}, [1, 1])
    with pytest.raises(InputError):
        runner.expand({"a": []}, [1])


def test_mean_ci_known_answer() -> None:
    # values 1..5: mean 3, sd sqrt(2.5); t(0.975, 4) = 2.776445
    n, mean, sd, lo, hi = runner.mean_ci([1, 2, 3, 4, 5])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert (n, mean) == (5, 3.0)
    assert sd == pytest.approx(math.sqrt(2.5))
    assert (lo, hi) == (pytest.approx(3 - half), pytest.approx(3 + half))
    n1, m1, s1, lo1, _ = runner.mean_ci([7.0, float("nan")])
    assert (n1, m1) == (1, 7.0)
    assert math.isnan(s1)
    assert math.isnan(lo1)
    assert runner.mean_ci([])[0] == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=30))
def test_mean_ci_contains_the_mean(values: list[float]) -> None:
    n, mean, sd, lo, hi = runner.mean_ci(values)
    assert n == len(values)
    assert lo <= mean + 1e-6 * (1 + abs(mean))
    assert mean <= hi + 1e-6 * (1 + abs(mean))
    assert sd >= 0


def test_serial_sweep_known_answers_and_progress() -> None:
    seen: list[float] = []
    res = runner.sweep(
        toy_sim, ToyParams(), grid={"a": [1.0, 2.0], "inner.rate": [0.5]}, seeds=[0, 1, 2],
        progress=lambda f, _m: seen.append(f),
    )  # fmt: skip
    assert len(res.runs) == 6
    assert res.meta["failed"] == 0
    assert seen == pytest.approx([i / 6 for i in range(1, 7)])
    x = res.summary[res.summary["kpi"] == "x"].set_index("a")
    assert x.loc[1.0, "mean"] == pytest.approx(11.0)  # 10 + mean(0, 1, 2)
    assert x.loc[2.0, "mean"] == pytest.approx(21.0)
    assert x.loc[1.0, "n"] == 3
    y = res.summary[res.summary["kpi"] == "y"]
    assert (y["mean"] == 1.5).all()
    assert (y["std"] == 0).all()
    assert set(res.runs.columns) >= {"a", "inner.rate", "seed", "x", "y", "wall_s", "error"}


def test_sweep_reports_failed_runs_and_aggregates_the_rest() -> None:
    res = runner.sweep(toy_sim, ToyParams(fail_on=1), seeds=[0, 1, 2])
    assert res.meta["failed"] == 1
    assert "fails on purpose" in res.failed["error"].iloc[0]
    x = res.summary[res.summary["kpi"] == "x"].iloc[0]
    assert x["n"] == 2
    assert x["mean"] == pytest.approx(11.0)


def test_sweep_rejects_bad_parameters_before_running() -> None:
    with pytest.raises(InputError) as e:
        runner.sweep(toy_sim, ToyParams(), grid={"inner.rate": [1.0, -2.0]}, seeds=[0])
    assert e.value.field == "inner.rate"


def test_serial_sweep_can_be_cancelled() -> None:
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(runner.CancelledError):
        runner.sweep(toy_sim, ToyParams(), seeds=[0, 1, 2, 3], cancelled=cancelled)


def test_dask_sweep_matches_serial() -> None:
    """A small sweep on a 2-process LocalCluster gives the serial answer, in task order."""
    params = ToyParams(sleep_s=0.05)
    grid = {"a": [1.0, 3.0]}
    serial = runner.sweep(toy_sim, params, grid=grid, seeds=[0, 1, 2])
    done: list[str] = []
    with runner.DaskExecutor(n_workers=2) as ex:
        assert ex.workers == 2
        dist = runner.sweep(toy_sim, params, grid=grid, seeds=[0, 1, 2], executor=ex,
                            progress=lambda _f, m: done.append(m), keep_results=True)  # fmt: skip
    assert dist.meta["executor"] == "dask"
    assert len(done) == 6
    cols = ["task", "a", "seed", "x", "y"]
    pd.testing.assert_frame_equal(serial.runs[cols], dist.runs[cols])
    pd.testing.assert_frame_equal(serial.summary, dist.summary)
    assert [r.seed for r in dist.results] == [0, 1, 2, 0, 1, 2]


def test_dask_executor_reports_an_unreachable_scheduler() -> None:
    with pytest.raises(InputError, match="scheduler"):
        runner.DaskExecutor("tcp://127.0.0.1:9", connect_timeout_s=1).start()


def test_make_executor() -> None:
    assert isinstance(runner.make_executor("serial"), runner.SerialExecutor)
    assert isinstance(runner.make_executor("dask"), runner.DaskExecutor)
    with pytest.raises(InputError):
        runner.make_executor("ray")


# -- comparisons --------------------------------------------------------------------------------
def _kpi(mean: float, std: float = 0.0, n: int = 3) -> dict[str, Any]:
    return {"mean": mean, "std": std, "n": n, "ci_low": mean, "ci_high": mean}


def test_compare_kpis_against_itself_is_zero() -> None:
    a = {"x": _kpi(5.0, 1.0), "y": _kpi(0.0)}
    table = results.compare_kpis(a, a)
    assert (table["delta"] == 0).all()
    assert not table["significant"].any()


def test_compare_kpis_known_delta_and_welch() -> None:
    a = {"x": _kpi(10.0, 1.0, 5)}
    b = {"x": _kpi(12.0, 1.0, 5), "z": _kpi(1.0)}
    t = results.compare_kpis(a, b).set_index("kpi")
    assert t.loc["x", "delta"] == 2.0
    assert t.loc["x", "delta_pct"] == pytest.approx(20.0)
    # t = 2 / sqrt(0.4) = 3.162, dof 8 → p ≈ 0.0134
    assert t.loc["x", "p_value"] == pytest.approx(0.01338, abs=2e-4)
    assert t.loc["x", "significant"]
    assert math.isnan(t.loc["z", "a"])


def _links(values: list[float]) -> gpd.GeoDataFrame:
    # Three short links around the Lạng Sơn centre, ~2 km apart (three different res-8 cells).
    lines = [
        shapely.LineString([(106.74 + 0.02 * i, 21.84), (106.7405 + 0.02 * i, 21.8405)]) for i in range(3)
    ]
    return gpd.GeoDataFrame(
        {"u": [0, 1, 2], "volume_veh": values, "mean_speed_kmh": [30.0, 40.0, 50.0]},
        geometry=lines, crs="EPSG:4326",
    )  # fmt: skip


def test_cell_difference_of_a_layer_with_itself_is_zero() -> None:
    a = _links([100.0, 200.0, 300.0])
    diff = results.cell_difference(a, a, 8, "traffic.links")
    assert len(diff) == 3
    assert (diff["volume_veh_delta"] == 0).all()
    assert (diff["mean_speed_kmh_delta"] == 0).all()
    assert "u_delta" not in diff.columns  # ids are not compared
    assert all(h3grid.resolution(c) == 8 for c in diff["cell"])
    assert diff.attrs["provenance"]["source"] == "derived"


def test_cell_difference_known_answer() -> None:
    a, b = _links([100.0, 200.0, 300.0]), _links([100.0, 250.0, 0.0])
    diff = results.cell_difference(a, b, 8).sort_values("volume_veh_a")
    assert diff["volume_veh_delta"].tolist() == [0.0, 50.0, -300.0]
    # every link midpoint lies inside its cell polygon
    for geom, cell in zip(diff.geometry, diff["cell"], strict=True):
        assert geom.contains(shapely.Point(h3grid.cell_to_latlng(cell)[::-1]))


def test_to_cells_sums_extensive_and_averages_intensive() -> None:
    lines = [shapely.LineString([(106.75, 21.85), (106.7501, 21.8501)])] * 2
    g = gpd.GeoDataFrame({"volume_veh": [1.0, 2.0], "mean_speed_kmh": [20.0, 40.0]}, geometry=lines, crs=4326)
    cells = results.to_cells(g, 9)
    assert len(cells) == 1
    row = cells.iloc[0]
    assert (row["volume_veh"], row["mean_speed_kmh"], row["n_features"]) == (3.0, 30.0, 2.0)
    assert np.isfinite(cells.to_numpy()).all()
