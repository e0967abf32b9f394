"""H3 indexing and aggregation: our numba latLngToCell port against h3ronpy and a scalar h3 loop.

* ``h3_index_1m_res9``: 1,000,000 random points in the Lạng Sơn bbox at resolution 9, indexed by
  ``twin.h3grid.latlng_to_cells`` (numba, parallel on the cores available), by h3ronpy's vectorised
  ``coordinates_to_cells`` (Rust, h3o) and by a Python loop over ``h3.latlng_to_cell`` (C, one call a
  point, int API). Throughput in points/s, best of 5 runs after a warm-up call; every tool runs in its
  own spawned process (peak memory is that tool's alone). Our first call (JIT compile from a cold
  numba cache, and loading from a warm cache) is timed separately and excluded from the throughput.
  The cells of all three are checked identical.
* ``h3_index_1m_res9_1thread``: the same with our kernel on one thread, for a per-core comparison.
* ``h3_count_1m``: aggregate 1M events to cells (``twin.h3grid.count_by_cell``) against
  ``numpy.unique(return_counts=True)``; and by (cell, category) against pandas ``groupby().size()``.

Run: ``python -m bench.run_all h3`` (writes ``bench/results/h3.json``).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np

from bench.harness import Row, isolated, write_results

N = 1_000_000
RES = 9
BBOX = (106.68, 21.78, 106.85, 21.92)  # lon/lat, the city and its edge
SEED = 2025
REPEATS = 5


def points(n: int = N, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return (lat, lng) of `n` uniform random points in the Lạng Sơn bbox."""
    rng = np.random.default_rng(seed)
    lng = rng.uniform(BBOX[0], BBOX[2], n)
    lat = rng.uniform(BBOX[1], BBOX[3], n)
    return lat, lng


def _best(func: Any, repeats: int = REPEATS) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - t0)
    return best, value


def _digest(cells: np.ndarray) -> str:
    return format(int(np.bitwise_xor.reduce(cells.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))), "x")


def ours_index(threads: int = 0) -> dict[str, Any]:
    """Index the points with our kernel (0 threads: numba's default, all cores)."""
    import numba  # noqa: PLC0415  (imported in the measured child process)

    from twin import h3grid  # noqa: PLC0415

    if threads:
        numba.set_num_threads(threads)
    lat, lng = points()
    t0 = time.perf_counter()
    h3grid.latlng_to_cells(lat[:10], lng[:10], RES)
    h3grid.latlng_to_cells(lat[:100_000], lng[:100_000], RES)  # the parallel kernel too
    first_call = time.perf_counter() - t0
    wall, cells = _best(lambda: h3grid.latlng_to_cells(lat, lng, RES))
    return {
        "wall": wall,
        "first_call_s": first_call,
        "threads": numba.get_num_threads(),
        "digest": _digest(cells),
    }


def ours_cold_jit() -> dict[str, Any]:
    """Time our first call with an empty numba cache: the JIT compile cost paid once per install."""
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-cold-")
    from twin import h3grid  # noqa: PLC0415  (after NUMBA_CACHE_DIR, so nothing is cached)

    lat, lng = points(100_000)
    t0 = time.perf_counter()
    h3grid.latlng_to_cells(lat[:10], lng[:10], RES)
    h3grid.latlng_to_cells(lat, lng, RES)
    return {"compile_s": time.perf_counter() - t0}


def h3ronpy_index() -> dict[str, Any]:
    """Index the points with h3ronpy's vectorised Rust implementation."""
    from h3ronpy import vector  # noqa: PLC0415

    lat, lng = points()
    vector.coordinates_to_cells(lat[:10], lng[:10], RES)
    wall, cells = _best(lambda: vector.coordinates_to_cells(lat, lng, RES).to_numpy())
    return {"wall": wall, "digest": _digest(np.asarray(cells))}


def h3_loop_index() -> dict[str, Any]:
    """Index the points one at a time with the h3 library (integer API, no string conversion)."""
    import h3.api.basic_int as h3i  # noqa: PLC0415

    lat, lng = points()
    la, ln = lat.tolist(), lng.tolist()

    def run() -> np.ndarray:
        f = h3i.latlng_to_cell
        return np.fromiter((f(a, b, RES) for a, b in zip(la, ln, strict=True)), dtype=np.uint64, count=N)

    wall, cells = _best(run, repeats=1)
    return {"wall": wall, "digest": _digest(cells)}


def _events() -> tuple[np.ndarray, np.ndarray]:
    from twin import h3grid  # noqa: PLC0415

    lat, lng = points()
    cells = h3grid.latlng_to_cells(lat, lng, RES)
    category = np.random.default_rng(SEED).choice(np.array(["tai_nan", "ngap", "rac", "chay"]), N)
    return cells, category


def ours_count() -> dict[str, Any]:
    """Aggregate 1M events per cell, and per (cell, category), with count_by_cell."""
    import pandas as pd  # noqa: PLC0415

    from twin import h3grid  # noqa: PLC0415

    cells, category = _events()
    # the same inputs as the peer's: the category as a pandas (object) column, built before timing
    key = pd.DataFrame({"cell": cells, "category": category})["category"]
    wall, s = _best(lambda: h3grid.count_by_cell(cells))
    wall_key, sk = _best(lambda: h3grid.count_by_cell(cells, key, key_name="category"))
    return {
        "wall": wall,
        "wall_key": wall_key,
        "groups": len(s),
        "groups_key": len(sk),
        "total": int(s.sum()),
    }


def peer_count() -> dict[str, Any]:
    """Aggregate with numpy.unique (per cell) and pandas groupby (per cell and category)."""
    import pandas as pd  # noqa: PLC0415

    cells, category = _events()
    wall, (u, _) = _best(lambda: np.unique(cells, return_counts=True))
    frame = pd.DataFrame({"cell": cells, "category": category})
    wall_key, g = _best(lambda: frame.groupby(["cell", "category"]).size())
    return {"wall": wall, "wall_key": wall_key, "groups": len(u), "groups_key": len(g)}


def main() -> None:
    """Run every tool in its own process and write bench/results/h3.json."""
    ours, _, ours_mem = isolated(ours_index)
    ours1, _, ours1_mem = isolated(ours_index, 1)
    cold, _, _ = isolated(ours_cold_jit)
    ronpy, _, ronpy_mem = isolated(h3ronpy_index)
    loop, _, loop_mem = isolated(h3_loop_index)
    identical = ours["digest"] == ronpy["digest"] == loop["digest"] == ours1["digest"]
    if not identical:
        raise RuntimeError("the three tools disagree on the cells: the port is not bit-identical")
    rate = {k: N / v["wall"] for k, v in (("ours", ours), ("ours1", ours1), ("ronpy", ronpy), ("loop", loop))}
    common = {
        "points": N,
        "res": RES,
        "identical_cells": identical,
        "jit_compile_s_cold_cache": round(cold["compile_s"], 3),
        "first_call_s_warm_cache": round(ours["first_call_s"], 3),
    }
    rows = [
        Row(
            "h3_index_1m_res9",
            rate["ours"],
            "h3ronpy",
            rate["ronpy"],
            "points/s",
            "higher",
            ours_mem,
            ronpy_mem,
            {**common, "threads": ours["threads"]},
        ),
        Row(
            "h3_index_1m_res9_1thread",
            rate["ours1"],
            "h3ronpy",
            rate["ronpy"],
            "points/s",
            "higher",
            ours1_mem,
            ronpy_mem,
            {**common, "threads": 1},
        ),
        Row(
            "h3_index_1m_res9_vs_scalar",
            rate["ours"],
            "h3 (scalar loop, int API)",
            rate["loop"],
            "points/s",
            "higher",
            ours_mem,
            loop_mem,
            {**common, "threads": ours["threads"]},
        ),
    ]
    count, _, count_mem = isolated(ours_count)
    peer, _, peer_mem = isolated(peer_count)
    if count["groups"] != peer["groups"] or count["groups_key"] != peer["groups_key"]:
        raise RuntimeError("count_by_cell and the peer disagree on the number of groups")
    rows += [
        Row("h3_count_1m", count["wall"], "numpy.unique", peer["wall"], "s", "lower", count_mem, peer_mem,
            {"events": N, "cells": count["groups"]}),
        Row("h3_count_1m_by_category", count["wall_key"], "pandas groupby", peer["wall_key"], "s", "lower",
            count_mem, peer_mem, {"events": N, "groups": count["groups_key"]}),
    ]  # fmt: skip
    path = write_results("h3", rows)
    for r in rows:
        print(f"{r.name}: ours {r.ours:,.4g} vs {r.peer} {r.peer_value:,.4g} {r.unit} (ratio {r.ratio:.2f})")
    print(f"JIT compile (cold cache) {cold['compile_s']:.2f} s", end=", ")
    print(f"first call (warm cache) {ours['first_call_s']:.2f} s")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
