"""Incident hotspots: our Gi* on H3 cells against PySAL (esda ``G_Local`` + libpysal weights), same run.

Workload: the H3 cells of the 4 city wards at resolution 10 (the study area), 200,000 synthetic
incidents over 24 h (uniform background + 6 planted clusters), k = 1 rings (the cell and its 6
neighbours, binary weights with the cell itself: Gi*).

* ``hotspots_city_res10``: one Gi* map of the day's counts. Ours: ``twin.hotspots.getis_ord``
  (weights built from H3 rings, analytic z, two-sided p, Benjamini–Hochberg FDR). Peer: the PySAL way
  of doing the same: ``libpysal.weights.W`` from the same ring neighbours, then
  ``esda.G_Local(y, w, transform="B", star=True, permutations=0)`` (analytic, no FDR). Timed from the
  counts to the z-scores, weights included, best of 3, each tool in its own process.
* ``hotspots_24_windows``: 24 hourly maps of the same day. Ours: ``getis_ord_by_window`` (one sparse
  product for all windows); peer: ``G_Local`` per window on one prebuilt ``W``.
* ``hotspots_city_res10_esda_default``: esda with its default inference (999 conditional
  permutations), which is what a PySAL user gets without choosing.
The z-scores of ours and esda are checked equal (max |Δz| reported) and the hot cells compared.

Run: ``python -m bench.run_all hotspots`` (writes ``bench/results/hotspots.json``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.harness import Row, isolated, write_results

RES = 10
EVENTS = 200_000
SEED = 2025
REPEATS = 3


def study_area() -> list[str]:
    """Return the H3 cells of the 4 city wards at `RES` (builds the city model from the cache)."""
    from gis_data.city import build_city  # noqa: PLC0415  (heavy; only the parent needs it)

    city = build_city(None, res=RES)
    return sorted(city.cells(RES).index.astype(str))


def incidents(area: list[str], n: int = EVENTS, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return (cell index into `area`, hour 0–23) of `n` incidents: background plus 6 planted clusters."""
    rng = np.random.default_rng(seed)
    n_bg = int(n * 0.7)
    cells = [rng.integers(0, len(area), n_bg)]
    centres = rng.choice(len(area), 6, replace=False)
    per = (n - n_bg) // 6
    for c in centres:
        # a cluster: the centre and cells near it in the sorted id order (H3 ids of neighbours are close)
        cells.append(np.clip(c + rng.integers(-3, 4, per), 0, len(area) - 1))
    idx = np.concatenate(cells)
    idx = np.concatenate([idx, rng.integers(0, len(area), n - len(idx))])
    hours = rng.integers(0, 24, len(idx))
    return idx, hours


def _best(func: Any) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - t0)
    return best, value


def ours_day(area: list[str], idx: np.ndarray) -> dict[str, Any]:
    """Gi* of the day's counts with our code, weights built each time (cache cleared)."""
    import pandas as pd  # noqa: PLC0415

    from twin import hotspots  # noqa: PLC0415

    counts = pd.Series(np.bincount(idx, minlength=len(area)).astype(float), index=area)

    def once() -> Any:
        hotspots._cached_weights.cache_clear()  # time the weights too, as for esda
        return hotspots.getis_ord(counts, k=1, alpha=0.05, fdr=True, universe=area)

    wall, out = _best(once)
    return {"wall_s": wall, "z": out["gi_z"].to_numpy(), "hot_fdr": int((out["hotspot"] == "hot").sum())}


def _neighbours(area: list[str]) -> dict[int, list[int]]:
    import h3  # noqa: PLC0415

    pos = {c: i for i, c in enumerate(area)}
    return {i: [pos[n] for n in h3.grid_disk(c, 1) if n in pos] for i, c in enumerate(area)}


def esda_day(area: list[str], idx: np.ndarray, permutations: int = 0) -> dict[str, Any]:
    """Gi* of the day's counts with libpysal weights from the same rings and esda.G_Local."""
    import esda  # noqa: PLC0415
    import libpysal  # noqa: PLC0415

    y = np.bincount(idx, minlength=len(area)).astype(float)

    def once() -> Any:
        w = libpysal.weights.W(_neighbours(area), silence_warnings=True)
        return esda.G_Local(y, w, transform="B", star=True, permutations=permutations, seed=SEED)

    if permutations == 0:
        wall, g = _best(once)
    else:  # one run: permutations are slow enough to time once
        t0 = time.perf_counter()
        g = once()
        wall = time.perf_counter() - t0
    return {"wall_s": wall, "z": np.asarray(g.Zs), "hot_raw": int(((2 * g.p_norm) < 0.05).sum())}


def ours_windows(area: list[str], idx: np.ndarray, hours: np.ndarray) -> dict[str, Any]:
    """24 hourly Gi* maps with our code (one sparse product for all windows)."""
    import pandas as pd  # noqa: PLC0415

    from twin import hotspots  # noqa: PLC0415

    ts = pd.Timestamp("2026-11-25", tz="UTC") + pd.to_timedelta(hours, unit="h")
    events = pd.DataFrame({"cell": np.asarray(area)[idx], "ts": ts})

    def once() -> Any:
        hotspots._cached_weights.cache_clear()
        per = hotspots.counts_by_window(events, "1h")
        return hotspots.getis_ord_by_window(per, k=1, alpha=0.05, fdr=True, universe=area)

    wall, out = _best(once)
    return {"wall_s": wall, "rows": len(out)}


def esda_windows(area: list[str], idx: np.ndarray, hours: np.ndarray) -> dict[str, Any]:
    """24 hourly Gi* maps with esda: one W, one G_Local per window."""
    import esda  # noqa: PLC0415
    import libpysal  # noqa: PLC0415

    def once() -> Any:
        w = libpysal.weights.W(_neighbours(area), silence_warnings=True)
        zs = []
        for h in range(24):
            y = np.bincount(idx[hours == h], minlength=len(area)).astype(float)
            zs.append(esda.G_Local(y, w, transform="B", star=True, permutations=0).Zs)
        return zs

    wall, zs = _best(once)
    return {"wall_s": wall, "rows": sum(len(z) for z in zs)}


def main() -> None:
    """Run ours and PySAL on the same study area and incidents; write bench/results/hotspots.json."""
    area = study_area()
    idx, hours = incidents(area)
    workload = f"{len(area):,} H3 res-{RES} cells of the 4 wards, {EVENTS:,} synthetic incidents, k=1"
    print(f"hotspots: {workload}", flush=True)
    ours, _, ours_mem = isolated(ours_day, area, idx)
    peer, _, peer_mem = isolated(esda_day, area, idx)
    dz = float(np.max(np.abs(ours["z"] - peer["z"])))
    print(f"  day: ours {ours['wall_s']:.3f} s, esda {peer['wall_s']:.3f} s, max |dz| {dz:.2e}", flush=True)
    perm, _, perm_mem = isolated(esda_day, area, idx, 999)
    print(f"  esda with 999 permutations: {perm['wall_s']:.2f} s", flush=True)
    ow, _, ow_mem = isolated(ours_windows, area, idx, hours)
    pw, _, pw_mem = isolated(esda_windows, area, idx, hours)
    print(f"  24 windows: ours {ow['wall_s']:.3f} s, esda {pw['wall_s']:.3f} s", flush=True)
    common = {"workload": workload, "max_abs_z_difference": dz}
    rows = [
        Row(
            "hotspots_city_res10",
            ours["wall_s"],
            "esda G_Local (analytic) + libpysal W",
            peer["wall_s"],
            "s",
            "lower",
            ours_mem,
            peer_mem,
            {**common, "hot_cells_ours_fdr": ours["hot_fdr"], "hot_cells_esda_raw_p": peer["hot_raw"]},
        ),
        Row(
            "hotspots_24_windows",
            ow["wall_s"],
            "esda G_Local per window, one W",
            pw["wall_s"],
            "s",
            "lower",
            ow_mem,
            pw_mem,
            {**common, "rows": ow["rows"]},
        ),
        Row(
            "hotspots_city_res10_esda_default",
            ours["wall_s"],
            "esda G_Local (999 permutations, its default)",
            perm["wall_s"],
            "s",
            "lower",
            ours_mem,
            perm_mem,
            common,
        ),
    ]
    path = write_results("hotspots", rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
