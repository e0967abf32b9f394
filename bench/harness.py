"""The benchmark harness: measure ours and the peer in the same run, write rows in one format.

A result file ``bench/results/<name>.json`` is a list of rows::

    {name, ours, peer, peer_value, ratio, unit, better, peak_mem_mb, date, ...extra}

``ratio`` is ``ours / peer_value`` measured in the same run; ``better`` is "lower" or "higher".
Functions measured with `isolated` run in a fresh spawned process so that peak memory (ru_maxrss)
belongs to that one tool alone.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One compared figure."""

    name: str
    ours: float
    peer: str
    peer_value: float
    unit: str
    better: str  # "lower" or "higher"
    peak_mem_mb: float | None = None
    peer_peak_mem_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """ours / peer_value."""
        return self.ours / self.peer_value if self.peer_value else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Return the row in the harness format."""
        d = asdict(self)
        extra = d.pop("extra")
        d["ratio"] = round(self.ratio, 4)
        d["date"] = datetime.now(UTC).isoformat(timespec="seconds")
        d["machine"] = f"{platform.machine()} {mp.cpu_count()} cores"
        d.update(extra)
        return d


def write_results(name: str, rows: list[Row]) -> Path:
    """Write the rows to ``bench/results/<name>.json`` and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps([r.to_dict() for r in rows], indent=2, ensure_ascii=False) + "\n")
    return path


def _child(func: Callable[..., Any], args: tuple[Any, ...], q: Any) -> None:
    t0 = time.perf_counter()
    try:
        value = func(*args)
        err = None
    except Exception as e:  # noqa: BLE001  (reported to the parent, which re-raises)
        value, err = None, f"{type(e).__name__}: {e}"
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    q.put((value, wall, peak, err))


def isolated(func: Callable[..., Any], *args: Any, timeout: float = 3600) -> tuple[Any, float, float]:
    """Run ``func(*args)`` in a fresh spawned process; return (value, wall_s, peak_mem_mb).

    `func` must be importable (a module-level function) and its value picklable.
    """
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(func, args, q))
    p.start()
    try:
        value, wall, peak, err = q.get(timeout=timeout)
    finally:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    if err:
        raise RuntimeError(f"{getattr(func, '__name__', func)} failed: {err}")
    return value, wall, peak


def table(paths: list[Path] | None = None) -> str:
    """Return every result file's rows as one markdown table."""
    paths = paths or sorted(RESULTS.glob("*.json"))
    lines = [
        "| benchmark | ours | peer | peer value | ratio (ours/peer) | unit | better "
        "| peak MB (ours / peer) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        for r in json.loads(path.read_text()):
            mem = r.get("peak_mem_mb")
            pmem = r.get("peer_peak_mem_mb")
            mem_s = f"{mem:.0f}" if mem is not None else "-"
            mem_s += f" / {pmem:.0f}" if pmem is not None else ""
            lines.append(
                f"| {r['name']} | {r['ours']:.4g} | {r['peer']} | {r['peer_value']:.4g} | "
                f"{r['ratio']:.3g} | {r['unit']} | {r['better']} | {mem_s} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
