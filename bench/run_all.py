"""Run every benchmark module ``bench/bench_*.py`` (each has ``main()``), one after the other.

``python -m bench.run_all [name ...]`` runs a subset, e.g. ``python -m bench.run_all h3 traffic``.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the selected benchmarks; return the number that failed."""
    here = Path(__file__).resolve().parent
    names = sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))
    chosen = argv or names
    failed = 0
    for name in chosen:
        if name not in names:
            print(f"unknown benchmark {name!r}; known: {', '.join(names)}", file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        print(f"== bench {name}", flush=True)
        try:
            importlib.import_module(f"bench.bench_{name}").main()
        except Exception as e:  # noqa: BLE001  (one failing benchmark must not hide the others)
            failed += 1
            print(f"!! bench {name} failed: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"== bench {name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
