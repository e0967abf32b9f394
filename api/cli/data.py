"""`twin data fetch|info`: fill and inspect the data cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.base import console, data_app, friendly
from gis_data import fetch as fetch_mod
from gis_data.catalog import DATASETS, Dataset


@data_app.command("fetch")
@friendly
def fetch(
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from", help="Mirror folder with the prepared files (default ../shared/data/langson)."
        ),
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Data cache (default $TWIN_DATA_DIR).")] = None,
    force: Annotated[bool, typer.Option(help="Fetch again even if cached.")] = False,
) -> None:
    """Fill the data cache from a mirror folder or $TWIN_DATA_URL, verifying SHA-256 checksums."""

    def report(ds: Dataset, status: str) -> None:
        console.print(f"  {status:>10}  {ds.name} ({ds.filename})")

    with console.status("fetching datasets…"):
        paths = fetch_mod.fetch(cache_dir=cache_dir, mirror=from_dir, force=force, progress=report)
    dest = cache_dir or fetch_mod.default_cache_dir()
    console.print(f"[green]ok[/]: {len(paths)} datasets in {dest}")


@data_app.command("info")
@friendly
def info(cache_dir: Annotated[Path | None, typer.Option(help="Data cache.")] = None) -> None:
    """List the catalog: name, kind (real/synthetic), licence, CRS, and whether it is cached."""
    cache = cache_dir or fetch_mod.default_cache_dir()
    table = Table(title=f"Data catalog (cache: {cache})")
    for col in ("name", "kind", "licence", "crs", "cached", "source"):
        table.add_column(col)
    for ds in DATASETS.values():
        cached = "yes" if fetch_mod.is_cached(ds, cache) else "no"
        table.add_row(ds.name, ds.kind, ds.licence, ds.crs or "-", cached, ds.source_url)
    console.print(table)
