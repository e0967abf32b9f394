"""Live counts per H3 cell × category over sliding windows, kept in memory in one-minute buckets.

Each created event adds one to its (fine cell, category) in the bucket of its start minute. A window
query sums the buckets that overlap [now − window, now] and maps fine cells to their parent at the
requested resolution. Events older than the horizon (24 h) are dropped; on start the counts are rebuilt
from the store. The window edge is exact to the bucket (one minute).
"""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from twin import h3grid
from twin.errors import InputError

BUCKET_S = 60
HORIZON = timedelta(hours=24)
_WINDOW = re.compile(r"^(\d{1,4})(m|h)$")
WINDOWS_HELP = "a duration such as 5m, 15m, 1h or 24h (at most 24h)"


def parse_window(text: str) -> timedelta:
    """Return the duration of a window such as ``15m`` or ``1h``; at most 24 h."""
    m = _WINDOW.match(text.strip())
    if not m:
        raise InputError("window", f"must be {WINDOWS_HELP}, got {text!r}")
    n, unit = int(m.group(1)), m.group(2)
    td = timedelta(minutes=n) if unit == "m" else timedelta(hours=n)
    if td <= timedelta(0) or td > HORIZON:
        raise InputError("window", f"must be {WINDOWS_HELP}, got {text!r}")
    return td


class LiveCounts:
    """Sliding-window event counts per cell and category.

    Parameters
    ----------
    res
        The resolution of the cells added (the store resolution); queries may ask for coarser ones.
    """

    def __init__(self, res: int) -> None:
        self.res = h3grid.check_resolution(res)
        self._buckets: dict[int, Counter[tuple[int, str]]] = defaultdict(Counter)
        self._synthetic: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._parents: dict[tuple[int, int], str] = {}
        self.total = 0

    @staticmethod
    def _bucket(t: datetime) -> int:
        return int(t.timestamp()) // BUCKET_S

    def add(self, items: Iterable[tuple[datetime, int, str, bool]], now: datetime) -> None:
        """Count events given as (start time, fine cell, category, synthetic)."""
        oldest = self._bucket(now - HORIZON)
        with self._lock:
            for t, cell, category, synthetic in items:
                b = self._bucket(t)
                if b < oldest:
                    continue
                self._buckets[b][(cell, category)] += 1
                if synthetic:
                    self._synthetic[b] += 1
                self.total += 1
            self._prune(oldest)

    def _prune(self, oldest: int) -> None:
        for b in [b for b in self._buckets if b < oldest]:
            n = sum(self._buckets.pop(b).values())
            self._synthetic.pop(b, None)
            self.total -= n

    def _parent(self, cell: int, res: int) -> str:
        key = (cell, res)
        hexid = self._parents.get(key)
        if hexid is None:
            parent = cell if res == self.res else int(h3grid.cells_to_parents([cell], res)[0])
            hexid = h3grid.hex_of(parent)
            if len(self._parents) > 500_000:
                self._parents.clear()
            self._parents[key] = hexid
        return hexid

    def counts(
        self, *, res: int, window: timedelta, now: datetime, category: str | None = None
    ) -> tuple[dict[str, Counter[str]], int]:
        """Return {cell hex: Counter(category → count)} within the window, and the synthetic count.

        Parameters
        ----------
        res
            Resolution of the returned cells (at most the service resolution).
        window
            How far back from `now`.
        now
            The window's end.
        category
            Count only this category (all when None).
        """
        res = h3grid.check_resolution(res, "res")
        if res > self.res:
            raise InputError("res", f"must be at most the service resolution {self.res}, got {res}")
        first = self._bucket(now - window)
        last = self._bucket(now)
        out: dict[str, Counter[str]] = defaultdict(Counter)
        synthetic = 0
        with self._lock:
            for b, counter in self._buckets.items():
                if b < first or b > last:
                    continue
                synthetic += self._synthetic.get(b, 0)
                for (cell, cat), n in counter.items():
                    if category is not None and cat != category:
                        continue
                    out[self._parent(cell, res)][cat] += n
        return dict(out), synthetic
