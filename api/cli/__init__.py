"""The `twin` command line: one typer app, with a module per command group."""

from __future__ import annotations

from api.cli import (
    analytics,  # noqa: F401  (registers commands)
    brief,  # noqa: F401  (registers commands)
    calibrate,  # noqa: F401  (registers commands)
    data,  # noqa: F401  (registers commands)
    export_map,  # noqa: F401  (registers commands)
    gateway,  # noqa: F401  (registers commands)
    keys,  # noqa: F401  (registers commands)
    layers,  # noqa: F401  (registers commands)
    osm,  # noqa: F401  (registers commands)
    purge,  # noqa: F401  (registers commands)
    replay,  # noqa: F401  (registers commands)
    scenario,  # noqa: F401  (registers commands)
    serve,  # noqa: F401  (registers commands)
    traffic,  # noqa: F401  (registers commands)
    waste,  # noqa: F401  (registers commands)
)
from api.cli.base import app


def main() -> None:
    """Run the `twin` CLI."""
    app()
