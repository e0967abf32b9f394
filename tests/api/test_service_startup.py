"""What the live service's start-up path imports: not numba, scipy or httpx (~1.5 s of a restart).

A kill -9 restart waits for `import api.app` and the lifespan (store, city model from the cache, live
state). The numba H3 kernel is loaded in the background once serving, scipy only when a road network
is generated or a hotspot/simulation runs, httpx only for the in-process replayer. This checks which
modules are imported (no timed assertion), end to end in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gis_data.city import build_city

DEFERRED = ("numba", "scipy", "httpx", "twin._h3kernel")


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_app_defers_numba_scipy_and_httpx() -> None:
    loaded = _imported_after("import api.app")
    assert "fastapi" in loaded
    assert "pandas" in loaded
    assert not [m for m in DEFERRED if m in loaded]


def test_the_lifespan_serves_before_loading_numba_or_scipy(data_dir: Path, tmp_path: Path) -> None:
    """The lifespan up to serving (store, city from the cache, live state rebuilt) needs neither."""
    build_city(data_dir)  # a restart finds the generated road network in the data cache
    code = f"""
import asyncio, os, sys
os.environ.update(TWIN_STATE_DIR={str(tmp_path)!r}, TWIN_DATA_DIR={str(data_dir)!r}, TWIN_AUTH="off",
                  TWIN_REPLAY="false", TWIN_STATUS_LOG_S="0")
import threading
import api.app
from twin import h3grid
warmed = threading.Event()
h3grid.warm_kernel = warmed.set  # the background warm-up, recorded instead of run (it would race the check)
app = api.app.create_app()
seen = []
async def main():
    async with app.router.lifespan_context(app):
        seen.extend(m for m in {list(DEFERRED)!r} if m in sys.modules)
        assert app.state.live is not None, app.state.live_error
        assert await asyncio.to_thread(warmed.wait, 60), "the kernel warm-up was not started"
        cells = h3grid.latlng_to_cells([21.85] * 100, [106.76] * 100, 9)  # over SMALL_BATCH: the kernel
        assert h3grid.to_str(cells[:1]) == ["8941512eb83ffff"] and "numba" in sys.modules
asyncio.run(main())
print("SEEN", ",".join(seen))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen_line = [ln for ln in out.stdout.splitlines() if ln.startswith("SEEN")]
    assert seen_line == ["SEEN "], out.stdout + out.stderr


def test_requests_during_the_kernel_warm_up_get_h3s_cells() -> None:
    """Batches that arrive while the background warm-up is importing the kernel wait for it (no 500)."""
    code = """
import threading, h3, numpy as np
from twin import h3grid
lat, lng = np.linspace(21.80, 21.90, 200), np.linspace(106.70, 106.82, 200)
want = [h3.latlng_to_cell(float(a), float(b), 9) for a, b in zip(lat, lng)]
errors, got = [], []
def call():
    try:
        got.append(h3grid.to_str(h3grid.latlng_to_cells(lat, lng, 9)))
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=h3grid.warm_kernel)] + [threading.Thread(target=call) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
assert len(got) == 8 and all(g == want for g in got)
print("OK")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "OK", out.stderr[-2000:]
