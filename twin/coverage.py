"""Plan which cameras to connect next: greedy maximum coverage of incident weight on H3 cells.

Connecting a camera "covers" the H3 cells in its field of view. Given a weight per cell (incidents
seen there, or a proxy such as population), the IOC wants the next cameras that cover the most
weight not already covered. Choosing the best ``n`` is the NP-hard maximum coverage problem; the
greedy rule (each step takes the camera adding the most uncovered weight) is within a factor
``1 - 1/e`` (about 63 %) of the optimum (Nemhauser, Wolsey & Fisher 1978), and the lazy variant
(Minoux 1978) gets the same answer with far fewer gain evaluations: a camera's gain can only shrink
as coverage grows, so a stale gain on a heap is an upper bound that needs refreshing only when it
reaches the top.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from twin.errors import InputError

__all__ = ["RESULT_COLUMNS", "covered_weight", "next_cameras"]

#: the columns of a `next_cameras` result, in order
RESULT_COLUMNS = ("rank", "camera_id", "gain", "cum_weight", "cum_share")


def _check_coverage(coverage: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(coverage, pd.DataFrame) or not {"camera_id", "cell"} <= set(coverage.columns):
        raise InputError(
            "coverage",
            "must be a DataFrame with columns camera_id and cell",
            "build it with twin.cameras.coverage_cells(cameras, res)",
        )
    return coverage[["camera_id", "cell"]].astype(str).drop_duplicates()


def _check_weights(weights: pd.Series) -> pd.Series:
    if not isinstance(weights, pd.Series):
        raise InputError("weights", "must be a pandas Series of weight per H3 cell")
    w = pd.to_numeric(weights, errors="coerce")
    if w.isna().any():
        raise InputError("weights", "values must be numbers (no NaN)")
    if (w < 0).any():
        raise InputError("weights", "values must be non-negative")
    return w.set_axis(w.index.astype(str)).groupby(level=0).sum()  # never mutate the input


def covered_weight(coverage: pd.DataFrame, weights: pd.Series, cameras: Iterable[str]) -> float:
    """Return the total weight of the cells covered by `cameras` (each cell counted once)."""
    cov = _check_coverage(coverage)
    w = _check_weights(weights)
    chosen = set(map(str, cameras))
    cells = cov.loc[cov["camera_id"].isin(chosen), "cell"].unique()
    return float(w.reindex(cells, fill_value=0.0).sum())


def next_cameras(
    coverage: pd.DataFrame,
    weights: pd.Series,
    candidates: Sequence[str],
    already: Sequence[str],
    count: int,
) -> pd.DataFrame:
    """Rank cameras to connect next by the uncovered weight each adds (lazy greedy max coverage).

    Parameters
    ----------
    coverage
        One row per (``camera_id``, ``cell``) the camera sees (`twin.cameras.coverage_cells`).
    weights
        Weight per H3 cell (incident count, population, ...); cells missing weigh 0.
    candidates
        Cameras that could be connected. Duplicates and cameras in `already` are ignored; a
        candidate without coverage rows adds nothing.
    already
        Cameras connected now: their cells count as covered from the start.
    count
        How many cameras to rank. The result has ``min(count, candidates)`` rows; once no camera
        adds weight, the rest follow with gain 0 in ``camera_id`` order.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank`` (1, 2, ...), ``camera_id``, ``gain`` (weight the camera adds given the ones
        ranked before it), ``cum_weight`` (weight covered by `already` plus the ranked cameras up to
        this one) and ``cum_share`` (``cum_weight`` over the total weight). Ties in gain go to the
        smaller ``camera_id``, so the ranking is deterministic.
    """
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        raise InputError("count", f"must be a non-negative integer, got {count!r}")
    cov = _check_coverage(coverage)
    w = _check_weights(weights)
    total = float(w.sum())
    cov = cov.assign(weight=w.reindex(cov["cell"], fill_value=0.0).to_numpy())

    already_set = {str(c) for c in already}
    covered: set[str] = set(cov.loc[cov["camera_id"].isin(already_set), "cell"])
    weight_of = dict(zip(cov["cell"], cov["weight"], strict=True))
    cells_of: dict[str, list[str]] = {
        str(cam): sorted(group["cell"]) for cam, group in cov.groupby("camera_id", sort=False)
    }
    pool = sorted({str(c) for c in candidates} - already_set)

    def gain(cam: str) -> float:
        # summed in a fixed (sorted) cell order so equal gains compare equal every time
        return float(sum(weight_of[c] for c in cells_of.get(cam, ()) if c not in covered))

    cum = float(sum(weight_of[c] for c in covered))
    # heap of (-gain bound, camera_id, round the bound was computed in)
    heap = [(-gain(cam), cam, 0) for cam in pool]
    heapq.heapify(heap)
    rows: list[tuple[int, str, float, float, float]] = []
    n = min(int(count), len(pool))
    while len(rows) < n:
        neg, cam, computed = heapq.heappop(heap)
        if computed != len(rows):
            heapq.heappush(heap, (-gain(cam), cam, len(rows)))
            continue
        g = -neg
        covered.update(cells_of.get(cam, ()))
        cum += g
        rows.append((len(rows) + 1, cam, g, cum, cum / total if total > 0 else 0.0))
    out = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return out.astype(
        {"rank": np.int64, "gain": np.float64, "cum_weight": np.float64, "cum_share": np.float64}
    )
