"""Hotspots kept current: Getis-Ord Gi* (`twin.hotspots.getis_ord`) on the live counts, cached briefly."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pandas as pd

from twin.hotspots import getis_ord

Key = tuple[int, int, str | None]  # res, window seconds, category


class HotspotCache:
    """Compute Gi* per (res, window, category) at most once every `ttl_s` seconds.

    Parameters
    ----------
    universe
        Returns the study-area cells at a resolution (cells without events count 0).
    ttl_s
        How long a result is served before it is recomputed.
    """

    def __init__(self, universe: Callable[[int], list[str]], ttl_s: float = 5.0) -> None:
        self.universe = universe
        self.ttl_s = ttl_s
        self._cache: dict[Key, tuple[float, pd.DataFrame]] = {}
        self._locks: dict[Key, asyncio.Lock] = {}
        self.computed = 0

    @staticmethod
    def compute(counts: dict[str, Counter[str]], universe: list[str]) -> pd.DataFrame:
        """Return the Gi* table of `counts` over `universe` (plus any counted cell outside it)."""
        cells = sorted(set(universe) | set(counts))
        series = pd.Series(
            [float(sum(counts[c].values())) if c in counts else 0.0 for c in cells],
            index=pd.Index(cells, name="cell"),
            dtype="float64",
        )
        table: pd.DataFrame = getis_ord(series, k=1, alpha=0.05, fdr=True, universe=cells)
        return table

    async def get(
        self, key: Key, counts_of: Callable[[], dict[str, Counter[str]]]
    ) -> tuple[pd.DataFrame, float]:
        """Return (Gi* table, computed-at monotonic time), recomputing in a worker thread if stale."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            hit = self._cache.get(key)
            if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
                return hit[1], hit[0]
            counts = counts_of()
            universe = self.universe(key[0])
            table = await asyncio.to_thread(self.compute, counts, universe)
            stamp = time.monotonic()
            self._cache[key] = (stamp, table)
            self.computed += 1
            return table, stamp

    def stats(self) -> dict[str, Any]:
        """Return cache counters."""
        return {"cached": len(self._cache), "computed": self.computed, "ttl_s": self.ttl_s}
