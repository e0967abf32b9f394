"""The numba port of latLngToCell against the h3 library: bit-identical at every resolution."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import h3
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from twin import _h3kernel

ALL_RES = range(16)


def reference(lat: np.ndarray, lng: np.ndarray, res: int) -> np.ndarray:
    """Cells from the h3 library, one scalar call per point."""
    return np.array(
        [h3.str_to_int(h3.latlng_to_cell(float(a), float(b), res)) for a, b in zip(lat, lng, strict=True)],
        dtype=np.uint64,
    )


def ours(lat: np.ndarray, lng: np.ndarray, res: int) -> np.ndarray:
    return _h3kernel.latlng_to_cells(
        np.ascontiguousarray(lat, dtype=np.float64), np.ascontiguousarray(lng, dtype=np.float64), res
    )


def assert_same(lat: np.ndarray, lng: np.ndarray, res: int) -> None:
    got, want = ours(lat, lng, res), reference(lat, lng, res)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [
        (float(lat[i]), float(lng[i]), res, format(int(got[i]), "x"), format(int(want[i]), "x"))
        for i in bad[:5]
    ]


@pytest.mark.parametrize(
    ("lat", "lng", "res", "cell"),
    [
        (21.8556, 106.7468, 0, "8041fffffffffff"),  # Tam Thanh cave, Lạng Sơn
        (21.8556, 106.7468, 7, "8741512ebffffff"),
        (21.8556, 106.7468, 9, "8941512ebafffff"),
        (21.8556, 106.7468, 11, "8b41512eb32dfff"),
        (21.8556, 106.7468, 15, "8f41512eb32da62"),
        (21.8585, 106.7610, 9, "8941512ebcfffff"),  # near Kỳ Lừa market (approximate position)
        (21.8470, 106.7600, 9, "8941512eb93ffff"),  # near Lạng Sơn station (approximate position)
        (90.0, 0.0, 9, "890326233abffff"),  # north pole
        (-90.0, 0.0, 9, "89f29380e0fffff"),  # south pole
        (0.0, 180.0, 9, "897eb57221bffff"),  # antimeridian, both signs give one cell
        (0.0, -180.0, 9, "897eb57221bffff"),
        (0.0, 0.0, 0, "8075fffffffffff"),
        (64.7, 10.5, 5, "85080003fffffff"),  # next to the pentagon of base cell 4
    ],
)
def test_literal_cells(lat: float, lng: float, res: int, cell: str) -> None:
    got = ours(np.array([lat]), np.array([lng]), res)
    assert format(int(got[0]), "x") == cell


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    points=st.lists(
        st.tuples(
            st.floats(-90, 90, allow_nan=False, allow_infinity=False),
            st.floats(-180, 180, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=40,
    ),
    res=st.integers(0, 15),
)
@example(points=[(90.0, 0.0), (-90.0, 123.0), (0.0, 180.0), (0.0, -180.0), (-0.0, -0.0)], res=15)
@example(points=[(89.99999999, 179.99999999), (-89.99999999, -179.99999999)], res=0)
def test_equals_h3_anywhere(points: list[tuple[float, float]], res: int) -> None:
    arr = np.array(points, dtype=np.float64)
    assert_same(arr[:, 0], arr[:, 1], res)


@pytest.mark.parametrize("res", ALL_RES)
def test_equals_h3_random_worldwide(res: int) -> None:
    """Uniform on the sphere, plus a band hugging the antimeridian and both polar caps."""
    rng = np.random.default_rng(1000 + res)
    n = 4000
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lng = rng.uniform(-180, 180, n)
    lat = np.concatenate(
        [lat, rng.uniform(-90, 90, 500), rng.uniform(89.9, 90, 250), rng.uniform(-90, -89.9, 250)]
    )
    lng = np.concatenate(
        [lng, 180 - rng.uniform(0, 1e-3, 250), -180 + rng.uniform(0, 1e-3, 250), rng.uniform(-180, 180, 500)]
    )
    assert_same(lat, lng, res)


@pytest.mark.parametrize("res", ALL_RES)
def test_equals_h3_at_pentagons_and_base_cell_edges(res: int) -> None:
    """Pentagon centres and vertices, base-cell vertices (face edges), nudged by tiny offsets."""
    pts: list[tuple[float, float]] = []
    for p in h3.get_pentagons(min(res, 15)):
        pts.append(h3.cell_to_latlng(p))
        pts.extend(h3.cell_to_boundary(p))
    for c in h3.get_res0_cells():
        pts.extend(h3.cell_to_boundary(c))
    base = np.array(pts)
    rng = np.random.default_rng(res)
    jitter = rng.normal(0, 1e-7, (len(base) * 4, 2))
    nudged = np.repeat(base, 4, axis=0) + jitter
    all_pts = np.vstack([base, nudged])
    all_pts[:, 0] = np.clip(all_pts[:, 0], -90, 90)
    assert_same(all_pts[:, 0], all_pts[:, 1], res)


def test_parallel_and_serial_kernels_agree() -> None:
    """Above the threshold the prange kernel runs; it must give the serial answer."""
    rng = np.random.default_rng(7)
    n = _h3kernel.PARALLEL_THRESHOLD + 123
    lat = rng.uniform(21.78, 21.92, n)
    lng = rng.uniform(106.68, 106.85, n)
    par = _h3kernel.latlng_to_cells(lat, lng, 9)
    ser = np.concatenate(
        [_h3kernel.latlng_to_cells(lat[i : i + 5000], lng[i : i + 5000], 9) for i in range(0, n, 5000)]
    )
    np.testing.assert_array_equal(par, ser)
    idx = rng.choice(n, 2000, replace=False)
    np.testing.assert_array_equal(par[idx], reference(lat[idx], lng[idx], 9))


def test_non_finite_gives_null_cell() -> None:
    got = ours(np.array([np.nan, 10.0]), np.array([0.0, np.inf]), 9)
    assert got.tolist() == [0, 0]


def test_empty_input() -> None:
    assert ours(np.array([]), np.array([]), 9).shape == (0,)


def test_concurrent_callers_get_correct_cells() -> None:
    """Threads calling at once (as API workers do): one runs the parallel kernel, the rest serial."""
    rng = np.random.default_rng(8)
    n = _h3kernel.PARALLEL_THRESHOLD + 1000
    batches = [(rng.uniform(21.78, 21.92, n), rng.uniform(106.68, 106.85, n)) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda b: _h3kernel.latlng_to_cells(b[0], b[1], 9), batches))
    for (lat, lng), got in zip(batches, results, strict=True):
        idx = rng.choice(n, 500, replace=False)
        np.testing.assert_array_equal(got[idx], reference(lat[idx], lng[idx], 9))
