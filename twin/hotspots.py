"""Find incident hotspots on the H3 grid: counts per cell and time window, Getis-Ord Gi*, FDR.

Gi* (Ord & Getis 1995) compares the events in a cell's k-ring neighbourhood (the cell itself
included, binary weights) with what the whole study area would give it on average. For a study area
of ``n`` cells with counts ``x``, mean ``x̄`` and population standard deviation ``s``, and a
neighbourhood of ``W_i`` cells holding ``L_i`` events::

    z_i = (L_i - W_i x̄) / (s * sqrt((n W_i - W_i²) / (n - 1)))

This is the analytic z-score of esda's ``G_Local(y, w, transform="B", star=True)`` (the tests check
they agree). p-values are two-sided under the normal approximation, which needs a few events per
neighbourhood: below `MIN_EXPECTED_EVENTS` expected ones it overstates significance, and results say
so (provenance ``params.sparse``; aggregate longer windows or coarser cells); with ``fdr=True`` a cell is
flagged only if its Benjamini–Hochberg adjusted p-value is below ``alpha``, which keeps the expected
share of false hotspots among the flagged ones at ``alpha`` despite testing thousands of cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin import h3grid, provenance
from twin.errors import InputError

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = [
    "MIN_EXPECTED_EVENTS",
    "RESULT_COLUMNS",
    "counts_by_window",
    "getis_ord",
    "getis_ord_by_window",
    "gi_star",
    "neighbour_matrix",
    "parse_window",
    "study_area",
]

#: the columns of a `getis_ord` result, in order
RESULT_COLUMNS = ("count", "gi_z", "p_value", "p_fdr", "hotspot")

_MAX_K = 10
#: below this many expected events in a neighbourhood the normal approximation of Gi* overstates
#: significance (the usual rule of thumb for a Poisson count); results are marked ``sparse``
MIN_EXPECTED_EVENTS = 5.0
#: cells × windows tested per block in `getis_ord_by_window` (bounds memory to ~100 MB)
_BLOCK_VALUES = 4_000_000


def _check_cells(cells: Sequence[str], field: str) -> list[str]:
    """Return the cells as a list after checking they are valid ids of one resolution."""
    out = [str(c).lower() for c in cells]
    bad = [c for c in out if not h3grid.is_valid(c)]
    if bad:
        raise InputError(
            field, f"{len(bad)} invalid H3 cell id(s), e.g. {bad[0]!r}", "pass lowercase hex cell ids"
        )
    resolutions = {h3grid.resolution(c) for c in out}
    if len(resolutions) > 1:
        raise InputError(
            field,
            f"cells of several resolutions {sorted(resolutions)}",
            "aggregate the events at one resolution first",
        )
    return out


def study_area(cells: Sequence[str], k: int = 1) -> list[str]:
    """Return the sorted union of the cells and their k-rings: the default study area.

    Parameters
    ----------
    cells
        H3 cell ids (hex strings) of one resolution.
    k
        Ring distance added around every cell.
    """
    area: set[str] = set()
    for c in _check_cells(cells, "cells"):
        area.update(h3grid.grid_disk(c, k))
    return sorted(area)


def neighbour_matrix(cells: Sequence[str], k: int = 1) -> sp.csr_matrix:
    """Return the binary k-ring weights (self included) among `cells`, as a sparse n×n matrix.

    Row ``i`` has a 1 for every cell of `cells` within ``k`` grid steps of ``cells[i]``, itself
    included; neighbours outside `cells` are left out (the study area has an edge).
    """
    pos = {c: i for i, c in enumerate(cells)}
    rows: list[int] = []
    cols: list[int] = []
    for i, c in enumerate(cells):
        for nb in h3grid.grid_disk(c, k):
            j = pos.get(nb)
            if j is not None:
                rows.append(i)
                cols.append(j)
    n = len(cells)
    data = np.ones(len(rows), dtype=np.float64)
    import scipy.sparse as sp  # noqa: PLC0415  (~0.3 s to import: not on the service's start-up path)

    return sp.csr_matrix((data, (rows, cols)), shape=(n, n))


@lru_cache(maxsize=16)
def _cached_weights(cells: tuple[str, ...], k: int) -> sp.csr_matrix:
    # windows, categories and repeated runs on one study area share its weights
    return neighbour_matrix(cells, k)


def gi_star(x: npt.ArrayLike, weights: sp.csr_matrix) -> npt.NDArray[np.float64]:
    """Return the Getis-Ord Gi* z-score of every cell for counts `x` and binary `weights`.

    Cells whose z-score is undefined (all counts equal, or a neighbourhood covering the whole
    study area) get 0.

    Parameters
    ----------
    x
        Count (or weight) per cell, length n; or an m×n array, one study (e.g. time window) a row.
    weights
        Binary n×n weights with the diagonal set (`neighbour_matrix`).
    """
    y = np.asarray(x, dtype=np.float64)
    if y.ndim == 1:
        return np.asarray(gi_star(y[np.newaxis, :], weights)[0], dtype=np.float64)
    m, n = y.shape
    if n < 2:
        return np.zeros((m, n))
    mean = y.mean(axis=1, keepdims=True)
    dev = y - mean
    s = np.sqrt((dev * dev).mean(axis=1, keepdims=True))  # two-pass: exactly ~0 for constant rows
    lag = np.asarray(weights @ y.T).T
    w_i = np.asarray(weights.sum(axis=1), dtype=np.float64).ravel()
    spread = np.sqrt(np.maximum(n * w_i - w_i * w_i, 0.0) / (n - 1))
    denom = s * spread
    # no variance (relative to the mean's rounding) or a neighbourhood covering everything: z = 0
    ok = (s > 1e-9 * np.abs(mean)) & (s > 0) & (spread > 0)
    z = np.zeros((m, n))
    np.divide(lag - w_i * mean, denom, out=z, where=ok)
    return z


def _test(
    x: npt.NDArray[np.float64], area: Sequence[str], k: int, alpha: float, fdr: bool
) -> dict[str, npt.NDArray[Any]]:
    """Return the result columns for counts `x` (m×n, a study per row) over `area`."""
    from scipy import stats  # noqa: PLC0415  (scipy.stats takes ~0.7 s to import)

    z = gi_star(x, _cached_weights(tuple(area), k))
    p = 2.0 * stats.norm.sf(np.abs(z))
    p_fdr = stats.false_discovery_control(p, axis=1, method="bh") if p.size else p
    flagged = (p_fdr if fdr else p) < alpha
    hotspot = np.where(flagged, np.where(z > 0, "hot", "cold"), "none")
    count: npt.NDArray[Any] = x
    if np.array_equal(x, np.round(x)) and (np.abs(x) < 2**53).all():  # whole numbers: event counts
        count = np.round(x).astype(np.int64)
    return {"count": count, "gi_z": z, "p_value": p, "p_fdr": p_fdr, "hotspot": hotspot}


def _check_params(k: int, alpha: float) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= _MAX_K:
        raise InputError("k", f"must be an integer between 1 and {_MAX_K}, got {k!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise InputError("alpha", f"must be between 0 and 1, got {alpha!r}")


def _check_values(counts: pd.Series) -> npt.NDArray[np.float64]:
    values = pd.to_numeric(counts, errors="coerce")
    if values.isna().any():
        raise InputError("counts", "values must be numbers (no NaN)")
    if (values < 0).any():
        raise InputError("counts", "values must be non-negative event counts or weights")
    return values.to_numpy(dtype=np.float64)


def _cell_labels(index: pd.Index) -> list[str]:
    labels = h3grid.to_str(index) if pd.api.types.is_integer_dtype(index) else index
    return [str(c).lower() for c in labels]


def _positions(cells: list[str], area: list[str]) -> npt.NDArray[np.intp]:
    pos = pd.Index(area).get_indexer(pd.Index(cells))
    if (pos < 0).any():
        bad = cells[int(np.flatnonzero(pos < 0)[0])]
        raise InputError(
            "counts",
            f"{int((pos < 0).sum())} value(s) for cells outside the universe, e.g. {bad!r}",
            "pass a universe that contains every cell with events, or drop those events",
        )
    return pos


def getis_ord(
    counts: pd.Series,
    *,
    k: int = 1,
    alpha: float = 0.05,
    fdr: bool = True,
    universe: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return Getis-Ord Gi* hotspots of event counts on the H3 grid.

    Parameters
    ----------
    counts
        Event count or weight per cell, indexed by H3 cell id (hex string, or uint64 as
        `twin.h3grid.count_by_cell` keys them; one resolution). Study-area cells missing count 0.
    k
        Neighbourhood radius in grid steps (1: the cell and its 6 neighbours).
    alpha
        Significance level of the two-sided test.
    fdr
        Flag cells by their Benjamini–Hochberg adjusted p-value (``p_fdr``) instead of the raw one.
    universe
        The study area. Default: the cells of `counts` plus their k-rings. Pass a fixed set (e.g.
        the city's cells) to compare runs, time windows or categories on the same area.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``cell`` (sorted), columns ``count``, ``gi_z``, ``p_value`` (two-sided),
        ``p_fdr`` and ``hotspot`` ("hot", "cold" or "none"), with provenance attached.
    """
    _check_params(k, alpha)
    if not isinstance(counts, pd.Series):
        raise InputError("counts", "must be a pandas Series indexed by H3 cell id")
    values = _check_values(counts)
    labels = _cell_labels(counts.index)
    cells = sorted(set(labels))
    _check_cells(cells, "counts")
    area = _area(cells, k, universe)
    x = np.zeros((1, len(area)))
    np.add.at(x[0], _positions(labels, area), values)
    columns = _test(x, area, int(k), float(alpha), bool(fdr))
    out = pd.DataFrame({c: v[0] for c, v in columns.items()}, index=pd.Index(area, name="cell"))
    expected = float(_expected_events(x, area, int(k))[0]) if area else 0.0
    params = {"k": int(k), "alpha": float(alpha), "fdr": bool(fdr), "cells": len(area)}
    params |= {"expected_events": round(expected, 4), "sparse": expected < MIN_EXPECTED_EVENTS}
    return provenance.attach(out, _provenance(**params))


def _expected_events(x: npt.NDArray[np.float64], area: Sequence[str], k: int) -> npt.NDArray[np.float64]:
    """Return, per row of `x`, the mean number of events expected in a cell's neighbourhood."""
    weights = _cached_weights(tuple(area), k)
    mean_size = float(weights.sum()) / max(len(area), 1)
    return np.asarray(x.mean(axis=1) * mean_size, dtype=np.float64)


def _area(cells: list[str], k: int, universe: Sequence[str] | None) -> list[str]:
    """Return the study area: `universe` (checked), or the cells plus their k-rings."""
    if universe is None:
        return study_area(cells, k) if cells else []
    area = sorted(set(_check_cells([str(c) for c in universe], "universe")))
    if area and cells and h3grid.resolution(area[0]) != h3grid.resolution(cells[0]):
        raise InputError("universe", "must have the same resolution as the counts")
    return area


def parse_window(window: str | pd.Timedelta) -> pd.Timedelta:
    """Return a fixed time window ("15min", "1h", "1D", ...) as a Timedelta."""
    try:
        td = pd.Timedelta(window)
    except (TypeError, ValueError):
        raise InputError("window", f"{window!r} is not a time span", "use e.g. 15min, 1h, 6h or 1D") from None
    if pd.isna(td) or td <= pd.Timedelta(0):
        raise InputError("window", f"must be a positive time span, got {window!r}")
    return td


def counts_by_window(
    events: pd.DataFrame,
    window: str | pd.Timedelta = "1h",
    *,
    cell: str = "cell",
    ts: str = "ts",
    weight: str | None = None,
) -> pd.Series:
    """Count events per time window and cell.

    Parameters
    ----------
    events
        One row per event, with a `cell` column (H3 hex id, or uint64) and a `ts` column
        (timestamps; naive ones are taken as UTC).
    window
        Window length; windows are aligned on the UTC epoch (1h: on the hour).
    cell, ts
        Column names.
    weight
        Optional column of event weights to sum instead of counting.

    Returns
    -------
    pandas.Series
        ``count`` (or ``weight``) indexed by (``window`` start, UTC; ``cell``), sorted.
    """
    td = parse_window(window)
    for col in (cell, ts) + ((weight,) if weight else ()):
        if col not in events.columns:
            raise InputError(col, f"column missing from the events (have {list(events.columns)})")
    try:
        times = pd.to_datetime(events[ts], utc=True)
    except (TypeError, ValueError) as e:
        raise InputError(
            ts, f"not readable as timestamps ({e})", "use ISO 8601, e.g. 2025-07-01T08:30Z"
        ) from None
    if times.isna().any():
        raise InputError(ts, f"{int(times.isna().sum())} event(s) have no timestamp")
    raw = events[cell]
    cells = (
        raw.to_numpy(dtype=np.uint64)
        if pd.api.types.is_integer_dtype(raw)
        else h3grid.to_int(raw.astype(str).str.lower())
    )
    buckets = pd.DatetimeIndex(times).floor(td)
    weights = events[weight].to_numpy(dtype=np.float64) if weight else None
    s = h3grid.count_by_cell(cells, buckets, weights=weights, key_name="window")
    return s.swaplevel(0, 1).sort_index()


def getis_ord_by_window(
    counts: pd.Series,
    *,
    k: int = 1,
    alpha: float = 0.05,
    fdr: bool = True,
    universe: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Return `getis_ord` for every window of a `counts_by_window` result, on one study area.

    The study area is `universe`, or else the union over all windows of the cells with events and
    their k-rings, so that windows are compared on the same cells. FDR is applied per window. All
    windows are tested together (one sparse product per block of windows), so a week in 15-minute
    windows takes about a second.

    Returns
    -------
    pandas.DataFrame
        Indexed by (``window``, ``cell``), with the columns of `getis_ord`.
    """
    _check_params(k, alpha)
    if not isinstance(counts, pd.Series) or not isinstance(counts.index, pd.MultiIndex):
        raise InputError("counts", "must be indexed by (window, cell), as counts_by_window returns")
    if counts.index.nlevels != 2:
        raise InputError("counts", "must be indexed by (window, cell), as counts_by_window returns")
    values = _check_values(counts)
    labels = _cell_labels(counts.index.get_level_values(1))
    cells = sorted(set(labels))
    _check_cells(cells, "counts")
    area = _area(cells, k, universe)
    pos = _positions(labels, area)
    wcodes, windows = pd.factorize(counts.index.get_level_values(0), sort=True)
    n = len(area)
    block = max(1, _BLOCK_VALUES // max(n, 1))  # windows per block
    parts: list[pd.DataFrame] = []
    expected: list[npt.NDArray[np.float64]] = []
    for start in range(0, len(windows), block):
        stop = min(start + block, len(windows))
        rows = (wcodes >= start) & (wcodes < stop)
        flat = (wcodes[rows] - start) * n + pos[rows]
        x = np.bincount(flat, weights=values[rows], minlength=(stop - start) * n).astype(np.float64)
        x = x.reshape(-1, n)
        columns = _test(x, area, int(k), float(alpha), bool(fdr))
        expected.append(_expected_events(x, area, int(k)))
        index = pd.MultiIndex.from_product([windows[start:stop], area], names=["window", "cell"])
        parts.append(pd.DataFrame({c: v.ravel() for c, v in columns.items()}, index=index))
    if not parts:
        empty = pd.MultiIndex.from_arrays([[], []], names=["window", "cell"])
        return pd.DataFrame(columns=list(RESULT_COLUMNS), index=empty)
    out = pd.concat(parts) if len(parts) > 1 else parts[0]
    whole = np.array_equal(out["count"], np.round(out["count"])) and (out["count"].abs() < 2**53).all()
    if out["count"].dtype != np.int64 and whole:
        out["count"] = out["count"].round().astype(np.int64)
    params = {"k": int(k), "alpha": float(alpha), "fdr": bool(fdr), "cells": n, "windows": len(windows)}
    per_window = np.concatenate(expected)
    params |= {
        "expected_events": round(float(np.median(per_window)), 4),
        "sparse_windows": int((per_window < MIN_EXPECTED_EVENTS).sum()),
    }
    return provenance.attach(out, _provenance(**params))


def _provenance(**params: object) -> provenance.Provenance:
    fdr = " with Benjamini–Hochberg FDR" if params.get("fdr") else ""
    return provenance.Provenance(
        name="hotspots",
        source="derived",
        licence="as the input events",
        description=f"Getis-Ord Gi* on H3 k-ring neighbourhoods, two-sided normal p-values{fdr}",
        params=dict(params),
    )
