"""twin.h3grid's vectorised entry points: latlng_to_cells (validation, round trips) and count_by_cell."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from twin import h3grid
from twin.errors import InputError

LANG_SON_BBOX = (106.68, 21.78, 106.85, 21.92)  # lon/lat


def test_latlng_to_cells_matches_scalar_api() -> None:
    rng = np.random.default_rng(3)
    lat = rng.uniform(21.78, 21.92, 500)
    lng = rng.uniform(106.68, 106.85, 500)
    for res in range(h3grid.MIN_RES, h3grid.MAX_RES + 1):
        cells = h3grid.latlng_to_cells(lat, lng, res)
        assert cells.dtype == np.uint64
        want = [h3.latlng_to_cell(float(a), float(b), res) for a, b in zip(lat, lng, strict=True)]
        strs = h3grid.to_str(cells)
        assert strs == want
        assert all(h3grid.resolution(c) == res for c in strs)
        np.testing.assert_array_equal(h3grid.to_int(strs), cells)


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(-80, 80, allow_nan=False),
    lng=st.floats(-170, 170, allow_nan=False),
    res=st.integers(h3grid.MIN_RES, h3grid.MAX_RES),
)
def test_point_cell_boundary_contains_point(lat: float, lng: float, res: int) -> None:
    """point → cell → boundary polygon contains the point (planar lon/lat; away from poles and the
    antimeridian, where a lon/lat polygon does not represent a spherical cell)."""
    cell = h3grid.to_str(h3grid.latlng_to_cells([lat], [lng], res))[0]
    poly = h3grid.cell_to_polygon(cell)
    # edges are great-circle arcs drawn as straight lon/lat segments: allow ~1 mm of slack
    assert poly.distance(shapely.Point(lng, lat)) < 1e-8


@settings(max_examples=100, deadline=None)
@given(
    lat=st.floats(LANG_SON_BBOX[1], LANG_SON_BBOX[3]),
    lng=st.floats(LANG_SON_BBOX[0], LANG_SON_BBOX[2]),
    res=st.integers(h3grid.MIN_RES, h3grid.MAX_RES),
)
def test_cell_centre_maps_back_to_cell(lat: float, lng: float, res: int) -> None:
    cell = h3grid.to_str(h3grid.latlng_to_cells([lat], [lng], res))[0]
    clat, clng = h3grid.cell_to_latlng(cell)
    assert h3grid.to_str(h3grid.latlng_to_cells([clat], [clng], res)) == [cell]


@pytest.mark.parametrize(
    ("lat", "lng", "field"),
    [
        ([np.nan], [106.7], "lat/lng"),
        ([21.8], [np.inf], "lat/lng"),
        ([91.0], [106.7], "lat/lng"),
        ([21.8], [181.0], "lat/lng"),
        ([21.8, 21.9], [106.7], "lng"),
    ],
)
def test_latlng_to_cells_rejects_bad_points(lat: list[float], lng: list[float], field: str) -> None:
    with pytest.raises(InputError) as err:
        h3grid.latlng_to_cells(lat, lng, 9)
    assert err.value.field == field


@pytest.mark.parametrize("res", [6, 12, -1, 9.0, True])
def test_latlng_to_cells_rejects_bad_resolution(res: object) -> None:
    with pytest.raises(InputError, match="res"):
        h3grid.latlng_to_cells([21.85], [106.75], res)  # type: ignore[arg-type]


def test_count_by_cell_known_answer() -> None:
    a, b = h3grid.latlng_to_cells([21.8556, 21.8470], [106.7468, 106.7600], 9)
    cells = np.array([a, b, a, a, b], dtype=np.uint64)
    s = h3grid.count_by_cell(cells)
    assert s.name == "count"
    assert s.index.name == "cell"
    assert s.to_dict() == {"8941512eb93ffff": 2, "8941512ebafffff": 3}
    assert list(s.index) == sorted(s.index, key=lambda c: int(c, 16))


def test_count_by_cell_with_key_and_weights() -> None:
    a, b = h3grid.latlng_to_cells([21.8556, 21.8470], [106.7468, 106.7600], 9)
    cells = np.array([a, b, a, a, b], dtype=np.uint64)
    cat = np.array(["flood", "accident", "accident", "flood", "accident"])
    s = h3grid.count_by_cell(cells, cat, key_name="category")
    assert s.index.names == ["cell", "category"]
    assert s.to_dict() == {
        ("8941512eb93ffff", "accident"): 2,
        ("8941512ebafffff", "accident"): 1,
        ("8941512ebafffff", "flood"): 2,
    }
    w = h3grid.count_by_cell(cells, weights=[1.0, 2.0, 0.5, 0.0, 0.25])
    assert w.name == "weight"
    assert w.to_dict() == {"8941512eb93ffff": 2.25, "8941512ebafffff": 1.5}


def test_count_by_cell_time_buckets_keep_timezone() -> None:
    a = h3grid.latlng_to_cells([21.8556], [106.7468], 9)[0]
    ts = pd.DatetimeIndex(["2025-07-01T08:10Z", "2025-07-01T08:50Z", "2025-07-01T09:05Z"]).floor("1h")
    s = h3grid.count_by_cell(np.full(3, a, dtype=np.uint64), ts, key_name="window")
    assert s.index.get_level_values("window").tz is not None
    assert s.tolist() == [2, 1]


def test_count_by_cell_rejects_mismatched_lengths_and_bad_dtype() -> None:
    cells = h3grid.latlng_to_cells([21.85, 21.86], [106.75, 106.76], 9)
    with pytest.raises(InputError, match="weights"):
        h3grid.count_by_cell(cells, weights=[1.0])
    with pytest.raises(InputError, match="key"):
        h3grid.count_by_cell(cells, ["a"])
    with pytest.raises(InputError, match="cells"):
        h3grid.count_by_cell(np.array([-1, 2]))
    with pytest.raises(InputError, match="cells"):
        h3grid.count_by_cell(np.array([1.5]))


@settings(max_examples=50, deadline=None)
@given(
    idx=st.lists(st.integers(0, 7), min_size=0, max_size=200),
    keys=st.lists(st.sampled_from(["a", "b", "c"]), min_size=200, max_size=200),
)
def test_count_by_cell_agrees_with_groupby(idx: list[int], keys: list[str]) -> None:
    pool = h3grid.latlng_to_cells(np.linspace(21.80, 21.90, 8), np.linspace(106.70, 106.80, 8), 9)
    cells = pool[np.asarray(idx, dtype=np.int64)]
    k = np.asarray(keys[: len(idx)])
    s = h3grid.count_by_cell(cells, k, key_name="k")
    assert int(s.sum()) == len(idx)
    frame = pd.DataFrame({"cell": h3grid.to_str(cells), "k": k})
    want = frame.groupby(["cell", "k"]).size() if len(idx) else pd.Series(dtype=np.int64)
    assert s.to_dict() == {key: int(v) for key, v in want.items()}


@pytest.mark.parametrize("n", [0, 1, h3grid.SMALL_BATCH, h3grid.SMALL_BATCH + 1, 3 * h3grid.SMALL_BATCH])
def test_small_batches_and_the_kernel_give_h3s_cells(n: int) -> None:
    """Up to SMALL_BATCH points are answered by h3 itself, above by the numba kernel: same cells."""
    rng = np.random.default_rng(n)
    lat = rng.uniform(-85, 85, n)
    lng = rng.uniform(-180, 180, n)
    for res in (h3grid.MIN_RES, h3grid.DEFAULT_RES, h3grid.MAX_RES):
        cells = h3grid.latlng_to_cells(lat, lng, res)
        assert cells.dtype == np.uint64
        assert cells.shape == (n,)
        want = [h3.latlng_to_cell(float(a), float(b), res) for a, b in zip(lat, lng, strict=True)]
        assert h3grid.to_str(cells) == want


def test_cells_to_parents_matches_scalar_api() -> None:
    rng = np.random.default_rng(5)
    fine = h3grid.latlng_to_cells(rng.uniform(21.78, 21.92, 300), rng.uniform(106.68, 106.85, 300), 11)
    for res in range(0, 12):
        parents = h3grid.cells_to_parents(fine, res)
        assert parents.dtype == np.uint64
        want = [h3.cell_to_parent(c, res) for c in h3grid.to_str(fine)]
        assert h3grid.to_str(parents) == want
        np.testing.assert_array_equal(h3grid.resolutions(parents), res)
    assert h3grid.cells_to_parents(np.array([], dtype=np.uint64), 7).size == 0


def test_cells_to_parents_refuses_a_finer_resolution() -> None:
    cell = h3grid.latlng_to_cells([21.85], [106.76], 8)
    with pytest.raises(InputError) as err:
        h3grid.cells_to_parents(cell, 9)
    assert err.value.field == "res"
    with pytest.raises(InputError):
        h3grid.cells_to_parents(cell, 16)


def test_one_cell_converts_both_ways() -> None:
    cell = int(h3grid.latlng_to_cells([21.85], [106.76], 9)[0])
    text = h3grid.hex_of(cell)
    assert text == h3.latlng_to_cell(21.85, 106.76, 9)
    assert h3grid.hex_of(np.uint64(cell)) == text
    assert h3grid.int_of(text) == cell
    assert h3grid.hex_of(None) is None
    with pytest.raises(InputError):
        h3grid.int_of("not-a-cell")


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(-85, 85, allow_nan=False),
    lng=st.floats(-180, 180, allow_nan=False),
    res=st.integers(h3grid.MIN_RES, h3grid.MAX_RES),
    pentagon=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_descendants_at_res_11_form_one_integer_range(
    lat: float, lng: float, res: int, pentagon: bool, seed: int
) -> None:
    """The lead of issue 20: a cell's res-11 descendants are exactly the res-11 cells inside
    `descendant_range` (so one index on the fine cell answers every coarser cell by a range scan)."""
    fine = h3grid.MAX_RES
    cell = sorted(h3.get_pentagons(res))[seed % 12] if pentagon else h3.latlng_to_cell(lat, lng, res)
    c = h3grid.int_of(cell)
    lo, hi = h3grid.descendant_range(c, fine)
    children = {h3grid.int_of(x) for x in h3.cell_to_children(cell, fine)}
    assert min(children) == lo  # the centre child: every digit below `res` 0
    assert max(children) <= hi
    # the neighbours' descendants all fall outside
    for n in h3.grid_disk(cell, 1):
        if n != cell:
            outside = [h3grid.int_of(x) for x in h3.cell_to_children(n, fine)]
            assert not any(lo <= x <= hi for x in outside), n
    # every valid res-11 id inside the range is a descendant (random probes, then all the children)
    rng = np.random.default_rng(seed)
    probes = [int(x) for x in rng.integers(lo, hi + 1, 4000, dtype=np.uint64)]
    valid = [p for p in probes if h3.is_valid_cell(h3grid.hex_of(p))]
    assert all(h3.cell_to_parent(h3grid.hex_of(p), res) == cell for p in valid)
    assert set(valid) <= children
    # and the range at the cell's own resolution is the cell alone
    assert h3grid.descendant_range(c, res) == (c, c)


def test_descendant_range_refuses_a_coarser_resolution() -> None:
    c = h3grid.int_of(h3.latlng_to_cell(21.85, 106.76, 9))
    with pytest.raises(InputError):
        h3grid.descendant_range(c, 8)
