"""The one home of the paired-difference statistics, units and labels, and difference layers."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from simulations import results
from twin import h3grid


def test_paired_difference_known_answer() -> None:
    # differences 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.3027 → half width 4.3027 / sqrt(3) = 2.4841
    d = results.paired_difference([10.0, 20.0, 30.0], [11.0, 22.0, 33.0])
    assert (d.n, d.mean) == (3, pytest.approx(2.0))
    assert (d.ci_low, d.ci_high) == (
        pytest.approx(2.0 - 2.4841, abs=1e-4),
        pytest.approx(2.0 + 2.4841, abs=1e-4),
    )
    # t = 2 / (1 / sqrt 3) = 3.4641, dof 2 → two-sided p = 0.0742
    assert d.p_value == pytest.approx(0.0742, abs=1e-4)
    same = results.paired_difference([1.0, 2.0], [3.0, 4.0])
    assert (same.p_value, same.ci_low, same.ci_high) == (0.0, 2.0, 2.0)  # a constant shift


def test_holm_known_answer() -> None:
    # Holm: sorted p × (m − rank), then running maximum: 0.01·3, 0.03·2, 0.04·1 → 0.03, 0.06, 0.06
    assert results.holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    out = results.holm([0.5, math.nan])
    assert out[0] == 0.5
    assert math.isnan(out[1])


def _kpi(mean: float) -> dict[str, float]:
    return {"mean": mean, "std": 1.0, "n": 3, "ci_low": mean - 1, "ci_high": mean + 1}


def test_compare_kpis_labels_units_groups_and_correction() -> None:
    a = {"traffic.mean_delay_s": _kpi(30.0), "traffic.route_refreshes": _kpi(4.0), "waste.trucks": _kpi(5.0)}
    b = {"traffic.mean_delay_s": _kpi(40.0), "traffic.route_refreshes": _kpi(9.0), "waste.trucks": _kpi(6.0)}
    runs_a = pd.DataFrame({"traffic.mean_delay_s": [29.0, 30.0, 31.0], "traffic.route_refreshes": [4.0, 4, 4],
                           "waste.trucks": [5.0, 5, 5]}, index=[1, 2, 3])  # fmt: skip
    runs_b = runs_a + pd.Series(
        {"traffic.mean_delay_s": 10.0, "traffic.route_refreshes": 5.0, "waste.trucks": 1.0}
    )
    t = results.compare_kpis(a, b, runs_a=runs_a, runs_b=runs_b).set_index("kpi")
    row = t.loc["traffic.mean_delay_s"]
    assert (row["delta"], row["unit"], row["group"], row["test"]) == (10.0, "s", "planning", "paired")
    assert row["label_vi"]
    assert row["label_en"]
    assert row["label_vi"] != row["label_en"]
    assert (row["delta_ci_low"], row["delta_ci_high"]) == (10.0, 10.0)
    assert row["significant"]
    assert row["correction"] == "holm"
    # diagnostics and inputs are listed, never called significant
    assert t.loc["traffic.route_refreshes", "group"] == "diagnostic"
    assert t.loc["waste.trucks", "group"] == "input"
    assert not t.loc["traffic.route_refreshes", "significant"]
    assert not t.loc["waste.trucks", "significant"]


def test_format_value_is_fixed_notation_and_shows_fractions_as_percent() -> None:
    assert results.format_value(32927.04) == "32,927"
    assert results.format_value(0.0000123) == "0.000012"
    assert "e" not in results.format_value(1.5e-7)
    assert "e" not in results.format_value(3.2e12)
    assert results.format_value(0.254, "%") == "25.4"
    assert results.format_value(-2.5, signed=True) == "-2.5"
    assert results.format_value(2.5, signed=True) == "+2.5"
    assert results.format_value(float("nan")) == "–"


def _route(km: float) -> gpd.GeoDataFrame:
    # one ~6.4 km route heading east across several res-8 cells, with ids that must not be compared
    line = shapely.LineString([(106.70, 21.85), (106.76, 21.85)])
    return gpd.GeoDataFrame({"truck": [3], "day": [2], "km": [km]}, geometry=[line], crs="EPSG:4326")


def test_route_km_is_spread_over_the_cells_it_crosses_and_ids_are_not_compared() -> None:
    diff = results.cell_difference(_route(6.0), _route(9.0), 8, "waste.routes", runs=("A", "B"))
    assert "truck_delta" not in diff.columns
    assert "day_delta" not in diff.columns
    assert len(diff) >= 5  # crossed cells, not one
    assert diff["km_delta"].sum() == pytest.approx(3.0)
    assert diff["km_delta"].max() < 1.5
    # every cell the line crosses is one of the cells
    assert all(h3grid.resolution(c) == 8 for c in diff["cell"])
    prov = diff.attrs["provenance"]
    assert prov["params"]["units"]["km_delta"] == "km"
    assert (prov["params"]["a"], prov["params"]["b"]) == ("A", "B")
    assert "scenario − baseline" in prov["description"]
    assert np.isfinite(diff["km_a"]).all()


def test_seed_mean_of_a_layer_keeps_no_value_where_no_seed_has_one() -> None:
    """A link closed for the whole run has no speed in any seed: its mean is NaN (no numpy warning,
    which the test settings turn into an error), the others average over the seeds that have one."""
    geom = [shapely.LineString([(106.75, 21.84), (106.751, 21.841)])] * 3
    a = gpd.GeoDataFrame({"mean_speed_kmh": [30.0, np.nan, np.nan]}, geometry=geom, crs="EPSG:4326")
    b = gpd.GeoDataFrame({"mean_speed_kmh": [40.0, np.nan, 20.0]}, geometry=geom, crs="EPSG:4326")
    out = results._mean_layer([a, b])
    assert out["mean_speed_kmh"].iloc[0] == pytest.approx(35.0)
    assert math.isnan(out["mean_speed_kmh"].iloc[1])
    assert out["mean_speed_kmh"].iloc[2] == pytest.approx(20.0)
