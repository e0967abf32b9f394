"""Getis-Ord Gi* hotspots: planted hotspots are found, uniform noise is not, esda agrees."""

from __future__ import annotations

import esda
import libpysal
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin import h3grid, hotspots, provenance
from twin.errors import InputError

CENTRE = h3grid.to_str(h3grid.latlng_to_cells([21.8556], [106.7468], 9))[0]  # Tam Thanh cave
AREA = sorted(h3grid.grid_disk(CENTRE, 10))  # 331 cells, about 35 km²
SMALL = sorted(h3grid.grid_disk(CENTRE, 3))  # 37 cells


def uniform_counts(rng: np.random.Generator, n_events: int, area: list[str] = AREA) -> pd.Series:
    """Scatter events uniformly over the area's cells (equal-area cells: uniform in space)."""
    idx = rng.integers(0, len(area), n_events)
    return pd.Series(np.bincount(idx, minlength=len(area)), index=area)


def test_known_answer_single_cluster() -> None:
    """7 cells, all neighbours of each other's centre: hand-computed z of the centre cell."""
    cells = sorted(h3grid.grid_disk(CENTRE, 1))
    counts = pd.Series(0, index=cells)
    counts[CENTRE] = 10
    out = hotspots.getis_ord(counts, universe=cells, fdr=False)
    # n=7, x̄=10/7, s²=100/7-(10/7)²; centre: W=7 covers everything -> undefined -> 0
    assert out.loc[CENTRE, "gi_z"] == 0.0
    assert out.loc[CENTRE, "p_value"] == 1.0
    # a ring cell sees itself, the centre and 2 ring neighbours: W=4, L=10
    n, w, lag = 7, 4, 10.0
    mean = 10 / 7
    s = np.sqrt(100 / 7 - mean**2)
    z = (lag - w * mean) / (s * np.sqrt((n * w - w * w) / (n - 1)))
    ring = [c for c in cells if c != CENTRE]
    np.testing.assert_allclose(out.loc[ring, "gi_z"], z)


def test_planted_hotspot_is_found() -> None:
    rng = np.random.default_rng(42)
    counts = uniform_counts(rng, 3 * len(AREA))
    cluster = [CENTRE, *h3grid.grid_disk(CENTRE, 1)[:2]]
    for c in set(cluster):
        counts[c] += 25
    out = hotspots.getis_ord(counts, k=1, alpha=0.05, fdr=True)
    hot = set(out.index[out["hotspot"] == "hot"])
    assert set(cluster) <= hot
    # nothing far from the plant is hot: every hot cell is within 2 steps of the centre
    near = set(h3grid.grid_disk(CENTRE, 2))
    assert hot <= near
    assert list(out.columns) == list(hotspots.RESULT_COLUMNS)
    assert out["count"].dtype == np.int64
    assert out["count"].sum() == counts.sum()
    assert (out["p_fdr"] >= out["p_value"] - 1e-15).all()


def test_planted_coldspot_is_found() -> None:
    rng = np.random.default_rng(5)
    counts = pd.Series(rng.poisson(30, len(AREA)), index=AREA)
    hole = h3grid.grid_disk(CENTRE, 1)
    counts[hole] = 0
    out = hotspots.getis_ord(counts, universe=AREA)
    assert out.loc[CENTRE, "hotspot"] == "cold"
    assert (out["hotspot"] != "hot").all()


def test_uniform_noise_flags_no_more_than_nominal_rate() -> None:
    """Under the null (events uniform in space) the share of flagged cells stays at alpha.

    The test is two-sided at alpha = 0.05, so cells flagged hot or cold should be about 5 % and hot
    ones about 2.5 %. Counts are Poisson, whose right tail is heavier than the normal one: with ~10
    events a cell the hot share comes out near 2.8-3 %. We allow 30 % relative tolerance on the hot
    share (one tail, where the skew bites) and 15 % on the two-sided share; averaged over 100 seeds
    and 331 cells (correlated through shared neighbours) the sampling error is about 0.3 points.
    With FDR control the chance that any cell at all is flagged hot stays near alpha/2 per map.
    """
    alpha = 0.05
    hot_share, flagged_share, any_hot_fdr = [], [], 0
    for seed in range(100):
        counts = uniform_counts(np.random.default_rng(seed), 10 * len(AREA))
        raw = hotspots.getis_ord(counts, alpha=alpha, fdr=False, universe=AREA)
        hot_share.append((raw["hotspot"] == "hot").mean())
        flagged_share.append((raw["hotspot"] != "none").mean())
        # p_fdr is always computed; fdr=True only changes which p-value flags a cell
        any_hot_fdr += bool(((raw["p_fdr"] < alpha) & (raw["gi_z"] > 0)).any())
    assert np.mean(hot_share) <= alpha / 2 * 1.3
    assert np.mean(flagged_share) <= alpha * 1.15
    assert any_hot_fdr / 100 <= 0.10


def test_matches_esda_g_local_star() -> None:
    """Our analytic Gi* equals esda's G_Local(star=True, binary) on the same k-ring neighbours."""
    rng = np.random.default_rng(11)
    counts = pd.Series(rng.poisson(3, len(AREA)), index=AREA)
    for k in (1, 2):
        out = hotspots.getis_ord(counts, k=k, fdr=False, universe=AREA)
        w_mat = hotspots.neighbour_matrix(AREA, k)
        neighbours = {i: [int(j) for j in w_mat[i].indices] for i in range(len(AREA))}
        w = libpysal.weights.W(neighbours, silence_warnings=True)
        g = esda.G_Local(out["count"].to_numpy(dtype=float), w, transform="B", star=True, permutations=0)
        np.testing.assert_allclose(out["gi_z"].to_numpy(), g.Zs, rtol=1e-10, atol=1e-12)
        # esda's p_norm is one-tailed in |z|; ours is two-sided
        np.testing.assert_allclose(out["p_value"].to_numpy(), 2 * g.p_norm, rtol=1e-10, atol=1e-14)


def test_fdr_is_benjamini_hochberg() -> None:
    rng = np.random.default_rng(2)
    counts = uniform_counts(rng, 2000)
    counts[CENTRE] += 40
    out = hotspots.getis_ord(counts, fdr=True, universe=AREA)
    p = out["p_value"].to_numpy()
    m = p.size
    order = np.argsort(p)
    adj = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    want = np.empty(m)
    want[order] = np.minimum(adj, 1.0)
    np.testing.assert_allclose(out["p_fdr"].to_numpy(), want, rtol=1e-12)


def test_default_study_area_is_cells_plus_k_ring() -> None:
    counts = pd.Series({CENTRE: 5})
    out = hotspots.getis_ord(counts, k=2)
    assert set(out.index) == set(h3grid.grid_disk(CENTRE, 2))
    assert out.loc[CENTRE, "count"] == 5
    assert out["count"].sum() == 5
    prov = provenance.of(out)
    assert prov["source"] == "derived"
    assert prov["params"]["k"] == 2


def test_uniform_counts_give_zero_z() -> None:
    out = hotspots.getis_ord(pd.Series(4, index=AREA), universe=AREA)
    assert (out["gi_z"] == 0).all()
    assert (out["hotspot"] == "none").all()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 0}, "k"),
        ({"alpha": 1.5}, "alpha"),
        ({"universe": [CENTRE]}, "counts"),  # events outside the universe
    ],
)
def test_rejects_bad_parameters(kwargs: dict[str, object], field: str) -> None:
    counts = pd.Series({CENTRE: 3, AREA[0]: 1})
    with pytest.raises(InputError) as err:
        hotspots.getis_ord(counts, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_rejects_bad_counts() -> None:
    with pytest.raises(InputError, match="non-negative"):
        hotspots.getis_ord(pd.Series({CENTRE: -1}))
    with pytest.raises(InputError, match="invalid H3"):
        hotspots.getis_ord(pd.Series({"not-a-cell": 1}))
    coarse = h3grid.cell_to_parent(CENTRE, 8)
    with pytest.raises(InputError, match="resolution"):
        hotspots.getis_ord(pd.Series({CENTRE: 1, coarse: 1}))


def test_counts_by_window_and_hotspots_per_window() -> None:
    rng = np.random.default_rng(9)
    n = 3000
    cells = np.array(AREA)[rng.integers(0, len(AREA), n)]
    ts = pd.Timestamp("2025-07-01T00:00Z") + pd.to_timedelta(rng.uniform(0, 3 * 3600, n), unit="s")
    events = pd.DataFrame({"cell": cells, "ts": ts})
    # a burst in the second hour at the centre
    burst = pd.DataFrame({"cell": [CENTRE] * 60, "ts": [pd.Timestamp("2025-07-01T01:30Z")] * 60})
    events = pd.concat([events, burst], ignore_index=True)
    counts = hotspots.counts_by_window(events, "1h")
    assert counts.index.names == ["window", "cell"]
    assert counts.sum() == len(events)
    windows = counts.index.get_level_values("window").unique()
    assert list(windows) == list(pd.date_range("2025-07-01T00:00Z", periods=3, freq="1h"))
    result = hotspots.getis_ord_by_window(counts, universe=AREA)
    assert result.index.names == ["window", "cell"]
    assert len(result) == 3 * len(AREA)
    hot_at_centre = result.xs(CENTRE, level="cell")["hotspot"]
    assert hot_at_centre.tolist() == ["none", "hot", "none"]


def test_counts_by_window_rejects_bad_input() -> None:
    events = pd.DataFrame({"cell": [CENTRE], "ts": ["2025-07-01T08:00Z"]})
    with pytest.raises(InputError, match="window"):
        hotspots.counts_by_window(events, "soon")
    with pytest.raises(InputError, match="window"):
        hotspots.counts_by_window(events, "-1h")
    with pytest.raises(InputError, match="when"):
        hotspots.counts_by_window(events, "1h", ts="when")
    with pytest.raises(InputError, match="ts"):
        hotspots.counts_by_window(pd.DataFrame({"cell": [CENTRE], "ts": ["yesterday-ish"]}), "1h")


def test_accepts_integer_cell_ids() -> None:
    cells = h3grid.to_int(AREA[:50])
    counts = pd.Series(np.arange(50), index=pd.Index(cells))
    by_int = hotspots.getis_ord(counts, universe=AREA)
    by_str = hotspots.getis_ord(pd.Series(np.arange(50), index=AREA[:50]), universe=AREA)
    pd.testing.assert_frame_equal(by_int, by_str)


@pytest.mark.parametrize("block_values", [hotspots._BLOCK_VALUES, 2 * len(AREA)])
def test_by_window_equals_one_window_at_a_time(block_values: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectorised per-window test (in blocks of windows) gives getis_ord's answer per window."""
    monkeypatch.setattr(hotspots, "_BLOCK_VALUES", block_values)
    rng = np.random.default_rng(4)
    n = 4000
    events = pd.DataFrame({
        "cell": np.array(AREA)[rng.integers(0, len(AREA), n)],
        "ts": pd.Timestamp("2025-07-01T00:00Z") + pd.to_timedelta(rng.uniform(0, 5 * 3600, n), unit="s"),
    })  # fmt: skip
    counts = hotspots.counts_by_window(events, "1h")
    together = hotspots.getis_ord_by_window(counts, universe=AREA, fdr=True)
    assert provenance.of(together)["params"]["windows"] == 5
    for window, part in counts.groupby(level="window"):
        alone = hotspots.getis_ord(part.droplevel("window"), universe=AREA, fdr=True)
        got = together.xs(window, level="window")
        pd.testing.assert_index_equal(got.index, alone.index)
        np.testing.assert_array_equal(got["count"], alone["count"])
        np.testing.assert_allclose(got["gi_z"], alone["gi_z"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got["p_fdr"], alone["p_fdr"], rtol=1e-10, atol=1e-15)
        assert (got["hotspot"] == alone["hotspot"]).all()


def test_sparse_data_is_marked() -> None:
    """Few events per neighbourhood: the normal approximation is unreliable and the result says so."""
    sparse = hotspots.getis_ord(pd.Series({CENTRE: 1, AREA[0]: 2}), universe=AREA)
    params = provenance.of(sparse)["params"]
    assert params["sparse"] is True
    mean_neighbourhood = hotspots.neighbour_matrix(AREA, 1).sum() / len(AREA)
    assert params["expected_events"] == pytest.approx(3 / len(AREA) * mean_neighbourhood, abs=1e-4)
    dense = hotspots.getis_ord(uniform_counts(np.random.default_rng(1), 5 * len(AREA)), universe=AREA)
    assert provenance.of(dense)["params"]["sparse"] is False


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=len(SMALL), max_size=len(SMALL)),
    scale=st.floats(0.1, 100),
    shift=st.integers(0, 20),
)
def test_gi_star_is_invariant_to_scale_and_shift(counts: list[int], scale: float, shift: int) -> None:
    """z depends on the pattern only: rescaling all counts or adding a constant leaves it unchanged."""
    base = hotspots.getis_ord(pd.Series(counts, index=SMALL, dtype=float), universe=SMALL, fdr=False)
    scaled = hotspots.getis_ord(pd.Series(np.array(counts) * scale + shift, index=SMALL), universe=SMALL)
    np.testing.assert_allclose(scaled["gi_z"], base["gi_z"], rtol=1e-9, atol=1e-9)


def test_neighbour_matrix_is_symmetric_binary_with_self() -> None:
    """k-ring neighbourhoods are mutual; interior cells have 1 + 3k(k+1) neighbours, edge cells fewer."""
    for k in (1, 2):
        w = hotspots.neighbour_matrix(SMALL, k)
        assert (w != w.T).nnz == 0
        assert set(np.unique(w.data)) == {1.0}
        assert (w.diagonal() == 1).all()
        sizes = np.asarray(w.sum(axis=1)).ravel()
        assert sizes.max() == 1 + 3 * k * (k + 1)
        assert sizes[SMALL.index(CENTRE)] == 1 + 3 * k * (k + 1)
