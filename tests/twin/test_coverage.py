"""Which camera next: lazy greedy maximum coverage against hand-made and brute-force answers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin import coverage
from twin.errors import InputError


def frame(sets: dict[str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(cam, cell) for cam, cells in sets.items() for cell in cells], columns=["camera_id", "cell"]
    )


# X looks greedy-best, but Y + Z together cover everything: greedy gets 5 of 6, the optimum 6.
SETS = {"X": ["c1", "c2", "c3", "c4"], "Y": ["c1", "c2", "c5"], "Z": ["c3", "c4", "c6"]}
UNIT = pd.Series(1.0, index=[f"c{i}" for i in range(1, 7)])


def test_hand_made_instance_greedy_answer() -> None:
    out = coverage.next_cameras(frame(SETS), UNIT, ["X", "Y", "Z"], [], 2)
    assert list(out.columns) == list(coverage.RESULT_COLUMNS)
    assert out["rank"].tolist() == [1, 2]
    assert out["camera_id"].tolist() == ["X", "Y"]  # Y and Z tie at 1: the smaller id wins
    assert out["gain"].tolist() == [4.0, 1.0]
    assert out["cum_weight"].tolist() == [4.0, 5.0]
    np.testing.assert_allclose(out["cum_share"], [4 / 6, 5 / 6])


def test_already_connected_cameras_count_as_covered() -> None:
    out = coverage.next_cameras(frame(SETS), UNIT, ["X", "Y", "Z"], ["Y"], 3)
    # Y is connected: X adds c3, c4 (2), Z adds c3, c4, c6 (3); after Z, X adds nothing
    assert out["camera_id"].tolist() == ["Z", "X"]
    assert out["gain"].tolist() == [3.0, 0.0]
    assert out["cum_weight"].tolist() == [6.0, 6.0]
    assert out["cum_share"].iloc[-1] == 1.0


def test_weights_change_the_choice() -> None:
    w = UNIT.copy()
    w["c5"] = 10.0
    out = coverage.next_cameras(frame(SETS), w, ["X", "Y", "Z"], [], 1)
    assert out["camera_id"].tolist() == ["Y"]
    assert out["gain"].tolist() == [12.0]


def test_count_larger_than_pool_and_zero_gain_tail() -> None:
    sets = {**SETS, "Q": [], "P": ["c99"]}  # P sees a cell without weight; Q has no rows at all
    out = coverage.next_cameras(frame(sets), UNIT, ["X", "Y", "Z", "P", "Q", "X"], [], 10)
    assert out["camera_id"].tolist() == ["X", "Y", "Z", "P", "Q"]
    assert out["gain"].tolist() == [4.0, 1.0, 1.0, 0.0, 0.0]
    assert coverage.next_cameras(frame(SETS), UNIT, ["X"], [], 0).empty


def test_deterministic_under_input_order() -> None:
    rng = np.random.default_rng(0)
    cov = frame({f"LS-CAM-{i:03d}": [f"c{j}" for j in rng.choice(30, 4, replace=False)] for i in range(40)})
    w = pd.Series(1.0, index=[f"c{j}" for j in range(30)])  # many ties
    cams = sorted(cov["camera_id"].unique())
    first = coverage.next_cameras(cov, w, cams, [], 15)
    shuffled = cov.sample(frac=1.0, random_state=3)
    second = coverage.next_cameras(shuffled, w.sample(frac=1.0, random_state=4), cams[::-1], [], 15)
    pd.testing.assert_frame_equal(first, second)


def plain_greedy(sets: dict[str, set[int]], w: list[float], already: set[str], count: int) -> list[str]:
    """Textbook greedy (no heap): re-evaluate every camera each round, ties to the smaller id."""
    covered = set().union(*(sets[c] for c in already)) if already else set()
    pool = sorted(set(sets) - already)
    picked: list[str] = []
    for _ in range(min(count, len(pool))):
        # max() keeps the first of equal keys and pool is sorted: ties go to the smaller id
        best = max(pool, key=lambda c: sum(w[i] for i in sorted(sets[c] - covered)))
        picked.append(best)
        pool.remove(best)
        covered |= sets[best]
    return picked


instances = st.integers(4, 8).flatmap(
    lambda n_cams: st.tuples(
        st.lists(st.sets(st.integers(0, 11), max_size=5), min_size=n_cams, max_size=n_cams),
        st.lists(st.integers(0, 9), min_size=12, max_size=12),
        st.integers(1, 4),
    )
)


@settings(max_examples=60, deadline=None)
@given(instances)
def test_greedy_bound_and_lazy_equals_plain(instance: tuple[list[set[int]], list[int], int]) -> None:
    """Lazy greedy picks what plain greedy picks, and covers at least (1 - 1/e) of the optimum."""
    cell_sets, weights, count = instance
    sets = {f"C{i}": s for i, s in enumerate(cell_sets)}
    w = [float(x) for x in weights]
    cov = frame({c: [f"c{i}" for i in sorted(s)] for c, s in sets.items()})
    ws = pd.Series(w, index=[f"c{i}" for i in range(12)])
    out = coverage.next_cameras(cov, ws, list(sets), [], count)
    k = min(count, len(sets))
    assert out["camera_id"].tolist() == plain_greedy(sets, w, set(), count)
    value = float(out["cum_weight"].iloc[-1])
    optimum = max(
        sum(w[i] for i in set().union(*(sets[c] for c in combo))) for combo in itertools.combinations(sets, k)
    )
    assert value >= (1 - 1 / math.e) * optimum - 1e-9
    assert value == pytest.approx(coverage.covered_weight(cov, ws, out["camera_id"]))
    # gains never increase (submodularity) and add up to the covered weight
    gains = out["gain"].to_numpy()
    assert (np.diff(gains) <= 1e-12).all()
    assert gains.sum() == pytest.approx(value)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((pd.DataFrame({"cam": ["X"]}), UNIT, ["X"], [], 1), "coverage"),
        ((frame(SETS), UNIT * -1, ["X"], [], 1), "weights"),
        ((frame(SETS), UNIT, ["X"], [], -1), "count"),
        ((frame(SETS), [1.0], ["X"], [], 1), "weights"),
    ],
)
def test_rejects_bad_input(args: tuple[object, ...], field: str) -> None:
    with pytest.raises(InputError) as err:
        coverage.next_cameras(*args)  # type: ignore[arg-type]
    assert err.value.field == field


def test_inputs_are_not_mutated() -> None:
    cov = frame(SETS)
    w = pd.Series([1.0, 2.0, 3.0], index=pd.Index([1, 2, 3]))  # non-string index on purpose
    before_cov, before_w = cov.copy(), w.copy()
    coverage.next_cameras(cov, w, ["X", "Y"], [], 2)
    pd.testing.assert_frame_equal(cov, before_cov)
    pd.testing.assert_series_equal(w, before_w)
