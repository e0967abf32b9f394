"""The H3 grid: the only module of the twin that imports `h3`.

Cells are lowercase hex strings outside hot loops and `uint64` inside vectorised kernels; convert at
the edge with `to_str` / `to_int`. Resolution is a setting (default 9, ~0.1 km² a cell); 7–11 allowed.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import overload

import h3
import h3.api.basic_int as h3_int
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from twin import resolution as _resolution
from twin.crs import CITY_POINT
from twin.errors import InputError

# re-exported: the resolution rules live in the light `twin.resolution`
DEFAULT_RES = _resolution.DEFAULT_RES
MIN_RES = _resolution.MIN_RES
MAX_RES = _resolution.MAX_RES
check_resolution = _resolution.check_resolution

CellArray = npt.NDArray[np.uint64]

#: Up to this many points `latlng_to_cells` calls ``h3.latlng_to_cell`` itself (the reference the kernel
#: is tested against, so the answer is the same), which spares the numba kernel (~1 s to import and load
#: from its on-disk cache) for single events and small batches, e.g. in the first requests after a restart.
SMALL_BATCH = 64

_KERNEL_LOCK = threading.Lock()
_KERNEL: list[ModuleType] = []  # the fully imported kernel module, once a caller has imported it


def _kernel() -> ModuleType:
    """Return `twin._h3kernel`, imported on first use (numba is imported with it).

    Set only once the import has finished: a thread that comes in while another one (the background
    warm-up) is importing it waits on the lock instead of getting the half-initialised module.
    """
    if not _KERNEL:
        with _KERNEL_LOCK:
            if not _KERNEL:
                _KERNEL.append(importlib.import_module("twin._h3kernel"))
    return _KERNEL[0]


def warm_kernel() -> None:
    """Import the numba kernel and load its compiled code (from numba's on-disk cache when present).

    The live service calls this in a background thread after start-up, so neither the restart nor the
    first large batch pays for it.
    """
    lon, lat = CITY_POINT
    _kernel().latlng_to_cells(np.full(SMALL_BATCH + 1, lat), np.full(SMALL_BATCH + 1, lon), DEFAULT_RES)


def latlng_to_cells(lat: npt.ArrayLike, lng: npt.ArrayLike, res: int = DEFAULT_RES) -> CellArray:
    """Return the H3 cell (uint64) of each (lat, lng) point in degrees.

    Vectorised (a numba kernel, parallel above 20,000 points) and bit-identical to
    ``h3.latlng_to_cell``. Non-finite or out-of-range coordinates raise `InputError`.
    """
    res = check_resolution(res)
    la = np.ascontiguousarray(lat, dtype=np.float64).ravel()
    ln = np.ascontiguousarray(lng, dtype=np.float64).ravel()
    if la.shape != ln.shape:
        raise InputError("lng", f"has {ln.size} values but lat has {la.size}")
    _check_coords(la, ln)
    if la.size <= SMALL_BATCH:
        return np.fromiter(
            (h3_int.latlng_to_cell(y, x, res) for y, x in zip(la.tolist(), ln.tolist(), strict=True)),
            dtype=np.uint64,
            count=la.size,
        )
    # numba port of H3's latLngToCell, bit-identical to h3.latlng_to_cell (tests/twin/test_h3kernel.py)
    cells: CellArray = _kernel().latlng_to_cells(la, ln, res)
    return cells


def _check_coords(lat: npt.NDArray[np.float64], lng: npt.NDArray[np.float64]) -> None:
    if not (np.isfinite(lat).all() and np.isfinite(lng).all()):
        raise InputError("lat/lng", "coordinates must be finite numbers (no NaN or Infinity)")
    if lat.size and (np.abs(lat).max() > 90 or np.abs(lng).max() > 180):
        raise InputError("lat/lng", "latitude must be within ±90 and longitude within ±180")


def to_str(cells: Iterable[int] | npt.NDArray[np.uint64]) -> list[str]:
    """Convert integer cells to lowercase hex strings."""
    return [format(int(c), "x") for c in cells]


@overload
def hex_of(cell: int | np.integer) -> str: ...
@overload
def hex_of(cell: None) -> None: ...
def hex_of(cell: int | np.integer | None) -> str | None:
    """Return one integer cell as its lowercase hex id (None stays None)."""
    return None if cell is None else format(int(cell), "x")


def int_of(cell: str) -> int:
    """Return one hex cell id as its integer; an invalid id raises `InputError` (see `to_int`)."""
    return int(to_int([cell])[0])


def to_int(cells: Iterable[str]) -> CellArray:
    """Convert hex-string cells to a uint64 array; invalid ids raise `InputError`."""
    out = []
    for c in cells:
        try:
            value = int(c, 16)
        except (TypeError, ValueError):
            raise InputError("cell", f"{c!r} is not an H3 cell id") from None
        if not h3.is_valid_cell(c):
            raise InputError("cell", f"{c!r} is not a valid H3 cell id")
        out.append(value)
    return np.asarray(out, dtype=np.uint64)


def is_valid(cell: str) -> bool:
    """Return whether `cell` is a valid H3 cell id string."""
    try:
        return bool(h3.is_valid_cell(cell))
    except (TypeError, ValueError):
        return False


def resolution(cell: str) -> int:
    """Return the resolution of a cell id string."""
    return int(h3.get_resolution(cell))


def cell_to_polygon(cell: str) -> shapely.Polygon:
    """Return the cell boundary as a shapely Polygon in lon/lat (counter-clockwise)."""
    ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(cell)]
    return shapely.geometry.polygon.orient(shapely.Polygon(ring), sign=1.0)


def cells_to_polygons(cells: Sequence[str]) -> list[shapely.Polygon]:
    """Return a polygon for each cell id string (lon/lat, counter-clockwise), built in one batch."""
    if len(cells) == 0:
        return []
    rings = [h3.cell_to_boundary(c) for c in cells]
    sizes = np.fromiter((len(r) + 1 for r in rings), dtype=np.int64, count=len(rings))
    latlng = np.asarray([p for r in rings for p in (*r, r[0])], dtype=np.float64)
    ring_of = np.repeat(np.arange(len(rings)), sizes)
    polys = shapely.polygons(shapely.linearrings(latlng[:, ::-1], indices=ring_of))
    oriented: npt.NDArray[np.object_] = np.asarray(shapely.orient_polygons(polys), dtype=object)
    return list(oriented)


def cell_to_latlng(cell: str) -> tuple[float, float]:
    """Return the (lat, lng) centre of a cell."""
    lat, lng = h3.cell_to_latlng(cell)
    return float(lat), float(lng)


def grid_disk(cell: str, k: int = 1) -> list[str]:
    """Return the cells within `k` steps of `cell` (itself included)."""
    return list(h3.grid_disk(cell, k))


def cell_to_parent(cell: str, res: int) -> str:
    """Return the ancestor of `cell` at the coarser resolution `res`."""
    return str(h3.cell_to_parent(cell, res))


# H3 index bits (h3Index.h): resolution in bits 52–55, then one 3-bit digit per resolution 1–15; the
# digits finer than a cell's resolution are all 7.
_RES_SHIFT = np.uint64(52)
_RES_MASK = np.uint64(0xF) << _RES_SHIFT


def resolutions(cells: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Return the resolution of each uint64 cell."""
    c = np.asarray(cells, dtype=np.uint64)
    return ((c & _RES_MASK) >> _RES_SHIFT).astype(np.int64)


def cells_to_parents(cells: npt.ArrayLike, res: int) -> CellArray:
    """Return the ancestor at resolution `res` of each uint64 cell (vectorised, as `h3.cell_to_parent`).

    A cell already at `res` is its own parent; a cell coarser than `res` raises `InputError`.
    """
    if isinstance(res, bool) or not isinstance(res, int | np.integer) or not 0 <= int(res) <= 15:
        raise InputError("res", f"must be an H3 resolution 0–15, got {res!r}")
    res = int(res)
    c = np.atleast_1d(np.asarray(cells, dtype=np.uint64))
    if c.size and int(resolutions(c).min()) < res:
        raise InputError("res", f"{res} is finer than a cell of resolution {int(resolutions(c).min())}")
    finer_digits = np.uint64((1 << (3 * (15 - res))) - 1)  # set every digit below `res` to 7
    out: CellArray = (c & ~_RES_MASK) | (np.uint64(res) << _RES_SHIFT) | finer_digits
    return out


def descendant_range(cell: int, res: int) -> tuple[int, int]:
    """Return the inclusive integer bounds of the descendants at the finer-or-equal resolution `res` of
    the int `cell`: every descendant lies in them and no other cell of `res` does (same mode and base
    cell, the resolution field set to `res`; the digits below the cell's own resolution run from all 0
    to all 7, those below `res` stay 7). One index on the fine cell answers coarser cells by range."""
    cell = int(cell)
    own = (cell >> 52) & 0xF
    if isinstance(res, bool) or not isinstance(res, int) or not own <= res <= 15:
        raise InputError("res", f"must be an H3 resolution {own}–15 (the cell is at {own}), got {res!r}")
    below_own = (1 << (3 * (15 - own))) - 1  # the digits of resolutions own+1 … 15
    below_res = (1 << (3 * (15 - res))) - 1  # the digits of resolutions res+1 … 15
    base = (cell & ~(0xF << 52) & ~below_own) | (res << 52)
    return base | below_res, base | below_own


def cell_area_km2(cell: str) -> float:
    """Return the area of a cell in km²."""
    return float(h3.cell_area(cell, unit="km^2"))


def polygon_to_cells(geom: BaseGeometry, res: int = DEFAULT_RES) -> list[str]:
    """Return the cells whose centres lie inside a (Multi)Polygon in lon/lat."""
    res = check_resolution(res)
    if geom.is_empty:
        return []
    return sorted(h3.geo_to_cells(shapely.geometry.mapping(geom), res))


def count_by_cell(
    cells: npt.ArrayLike,
    key: npt.ArrayLike | None = None,
    *,
    weights: npt.ArrayLike | None = None,
    key_name: str = "key",
) -> pd.Series:
    """Count events per cell (optionally per cell and key), or sum their weights.

    ``numpy.unique`` for plain counts (~0.02 s for a million events); ``pandas.factorize`` +
    ``numpy.unique`` on combined codes with a key (~0.2 s with a string key); ``numpy.bincount`` with
    weights.

    Parameters
    ----------
    cells
        uint64 cell ids, one per event (as returned by `latlng_to_cells`).
    key
        Optional second grouping key of the same length: a category, a time bucket (datetime64), ...
        Missing keys (NaN/NaT/None) form their own group.
    weights
        Optional weight per event; the result is then the sum of weights instead of the count.
    key_name
        Name of the second index level when `key` is given.

    Returns
    -------
    pandas.Series
        ``count`` (int64) or ``weight`` (float64), indexed by ``cell`` (hex string), or by
        (``cell``, `key_name`) when `key` is given; sorted by cell id then key; only non-empty groups.
    """
    c = np.asarray(cells)
    if c.dtype != np.uint64:
        if c.size and (c.dtype.kind not in "iu" or (c.dtype.kind == "i" and c.min() < 0)):
            raise InputError("cells", f"must be uint64 H3 ids, got dtype {c.dtype}")
        c = c.astype(np.uint64)
    c = c.ravel()
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != c.shape:
            raise InputError("weights", f"has {w.size} values but there are {c.size} cells")
    name = "count" if w is None else "weight"
    if key is None and w is None:
        # numpy's unique with counts only (no inverse) is the fastest path for plain counts
        uniq_cells, n_events = np.unique(c, return_counts=True)
        index = pd.Index(to_str(uniq_cells), name="cell")
        return pd.Series(n_events.astype(np.int64), index=index, name=name)
    codes, uniq = pd.factorize(c, sort=True)
    if key is None:
        sums = np.bincount(codes, weights=w, minlength=len(uniq))
        keep = np.flatnonzero(sums) if w is not None else np.arange(len(uniq))
        values = sums[keep] if w is not None else sums.astype(np.int64)
        index = pd.Index(to_str(np.asarray(uniq)[keep]), name="cell")
        return pd.Series(values, index=index, name=name)
    # keep pandas keys as they are: a tz-aware DatetimeIndex would become a slow object array
    k = key if isinstance(key, pd.Series | pd.Index) else np.asarray(key).ravel()
    if len(k) != c.size:
        raise InputError(key_name, f"has {len(k)} values but there are {c.size} cells")
    kcodes, kuniq = pd.factorize(k, sort=True, use_na_sentinel=False)
    nk = max(len(kuniq), 1)
    combined = codes.astype(np.int64) * nk + kcodes
    if w is None:
        groups, sums = np.unique(combined, return_counts=True)  # sorted; numpy's fast counting path
    else:
        gcodes, uniq_groups = pd.factorize(combined, sort=True)
        sums = np.bincount(gcodes, weights=w, minlength=len(uniq_groups))
        groups = np.asarray(uniq_groups)
    index = pd.MultiIndex(  # levels + codes: no per-group string building (pandas-stubs too narrow)
        levels=[pd.Index(to_str(np.asarray(uniq))), pd.Index(kuniq)],  # type: ignore[list-item]
        codes=[groups // nk, groups % nk],  # type: ignore[list-item]
        names=["cell", key_name],
        verify_integrity=False,
    )
    values = sums if w is not None else sums.astype(np.int64)
    return pd.Series(values, index=index, name=name)
