"""`twin hotspots` and `twin cameras next`: incident hotspots and which camera to connect next."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.base import DataDirOption, app, cameras_app, friendly


@app.command("hotspots")
@friendly
def hotspots_command(  # noqa: PLR0917  (typer maps each CLI option to a parameter)
    events_file: Annotated[
        Path,
        typer.Option(
            "--events",
            "-e",
            help="Events: GeoJSON points or CSV (lon/lat or geometry_wkt; ts or start_time, UTC), e.g. the "
            "API's GET /events export or examples/events/sample_events.geojson.",
        ),
    ],
    res: Annotated[int | None, typer.Option(help="H3 resolution (7–11; default $TWIN_H3_RES or 9).")] = None,
    window: Annotated[
        str | None, typer.Option(help="Split by time window (e.g. 1h, 15min, 1D) and test each one.")
    ] = None,
    category: Annotated[str | None, typer.Option(help="Only events of this category.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or geojson.")] = "table",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write here (geojson: the map; table: all rows as CSV)."),
    ] = None,
    k: Annotated[int, typer.Option(help="Neighbourhood radius in grid steps.")] = 1,
    alpha: Annotated[float, typer.Option(help="Significance level (two-sided).")] = 0.05,
    fdr: Annotated[bool, typer.Option("--fdr/--no-fdr", help="Benjamini–Hochberg FDR control.")] = True,
    drop_outside: Annotated[
        bool, typer.Option(help="Ignore events outside the city instead of failing.")
    ] = False,
    top: Annotated[int, typer.Option(help="Rows to print in the table.")] = 20,
    data_dir: DataDirOption = None,
) -> None:
    """Find incident hotspots: Getis-Ord Gi* on H3 cells over the city, with FDR-controlled p-values."""
    from api.cli import analytics_lib

    analytics_lib.run_hotspots(
        events_file=events_file,
        res=res,
        window=window,
        category=category,
        fmt=fmt,
        out=out,
        k=k,
        alpha=alpha,
        fdr=fdr,
        drop_outside=drop_outside,
        top=top,
        data_dir=data_dir,
    )


# -- twin cameras next ---------------------------------------------------------------------------
@cameras_app.command("next")
@friendly
def cameras_next(  # noqa: PLR0917  (typer maps each CLI option to a parameter)
    count: Annotated[int, typer.Option("--count", "-n", help="How many cameras to rank.", min=1)] = 10,
    events_file: Annotated[
        Path | None, typer.Option("--events", "-e", help="Weight cells by these incidents (CSV or GeoJSON).")
    ] = None,
    res: Annotated[int | None, typer.Option(help="H3 resolution (7–11; default $TWIN_H3_RES or 9).")] = None,
    category: Annotated[str | None, typer.Option(help="Only incidents of this category.")] = None,
    drop_outside: Annotated[
        bool, typer.Option(help="Ignore events outside the city instead of failing.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    data_dir: DataDirOption = None,
) -> None:
    """Rank the unconnected cameras by the incident weight their coverage would add (greedy max coverage).

    Without --events every cell weighs its resident population (a proxy for exposure, spread from
    ward totals); with --events it weighs the incidents counted in it.
    """
    from api.cli import analytics_lib

    analytics_lib.run_cameras_next(
        count=count,
        events_file=events_file,
        res=res,
        category=category,
        drop_outside=drop_outside,
        fmt=fmt,
        data_dir=data_dir,
    )
