"""`twin --help` and the light commands must not pay for the heavy stack (geopandas, numba, mesa, ...).

Each command module imports what it needs inside the command; this test keeps it that way. It checks
which modules get imported, not how long that takes (no timed assertion).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("geopandas", "numba", "mesa", "matplotlib", "scipy", "pyvrp", "dask", "shapely", "pandas", "fastapi")


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_loading_the_cli_imports_none_of_the_heavy_stack() -> None:
    loaded = _imported_after("import api.cli")
    assert not [m for m in HEAVY if m in loaded]


def test_help_lists_every_command_group() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    groups = ("data", "layers", "export", "hotspots", "cameras", "simulate", "scenario", "serve", "brief")
    for command in groups:
        assert command in out.stdout
