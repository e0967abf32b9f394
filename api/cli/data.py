"""`twin data fetch|info`: fill and inspect the data cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.base import DataDirOption, OldCacheDirOption, console, data_app, friendly, renamed
from api.settings import Settings
from gis_data import fetch as fetch_mod
from gis_data.catalog import DATASETS, Dataset


def fetch_data(
    settings: Settings,
    *,
    cache_dir: Path | None = None,
    mirror: Path | None = None,
    force: bool = False,
    progress: Callable[[Dataset, str], None] | None = None,
) -> dict[str, Path]:
    """Fill the data cache the settings name (or `cache_dir`) from the settings' mirror or URL.

    An explicit `mirror` wins over ``settings.data.mirror`` (``TWIN_DATA_MIRROR``, by default the team
    mirror next to the checkout); ``settings.data.url`` (``TWIN_DATA_URL``) is used without one.
    """
    return fetch_mod.fetch(
        cache_dir=cache_dir or settings.data.dir,
        mirror=mirror or settings.data.mirror,
        base_url=settings.data.url,
        force=force,
        progress=progress,
    )


@data_app.command("fetch")
@friendly
def fetch(
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Mirror folder with the prepared files "
            "(default $TWIN_DATA_MIRROR or ../shared/data/langson).",
        ),
    ] = None,
    data_dir: DataDirOption = None,
    cache_dir: OldCacheDirOption = None,
    force: Annotated[bool, typer.Option(help="Fetch again even if cached.")] = False,
) -> None:
    """Fill the data cache from a mirror folder or $TWIN_DATA_URL, verifying SHA-256 checksums."""

    def report(ds: Dataset, status: str) -> None:
        console.print(f"  {status:>10}  {ds.name} ({ds.filename})")

    settings = Settings()
    dest = renamed(data_dir, cache_dir, "--cache-dir", "--data-dir") or settings.data.dir
    with console.status("fetching datasets…"):
        paths = fetch_data(settings, cache_dir=dest, mirror=from_dir, force=force, progress=report)
    console.print(f"[green]ok[/]: {len(paths)} datasets in {dest}")


@data_app.command("info")
@friendly
def info(data_dir: DataDirOption = None, cache_dir: OldCacheDirOption = None) -> None:
    """List the catalog: name, kind (real/synthetic), licence, CRS, and whether it is cached."""
    cache = renamed(data_dir, cache_dir, "--cache-dir", "--data-dir") or Settings().data.dir
    table = Table(title=f"Data catalog (cache: {cache})")
    for col in ("name", "kind", "licence", "crs", "cached", "source"):
        table.add_column(col)
    for ds in DATASETS.values():
        cached = "yes" if fetch_mod.is_cached(ds, cache) else "no"
        table.add_row(ds.name, ds.kind, ds.licence, ds.crs or "-", cached, ds.source_url)
    console.print(table)
