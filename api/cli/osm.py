"""`twin data import-osm`: import an OpenStreetMap ``.osm.pbf`` extract as the twin's road network."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.base import console, data_app, friendly
from gis_data import osm, roads
from twin.errors import InputError


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Parse ``W,S,E,N`` (degrees) into a tuple, or raise `InputError` naming ``--bbox``."""
    parts = [p.strip() for p in text.split(",")]
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise InputError(
            "--bbox",
            f"must be four numbers W,S,E,N in degrees, got {text!r}",
            hint="e.g. 106.70,21.80,106.80,21.90",
        ) from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise InputError("--bbox", f"needs west < east and south < north within ±180/±90, got {text!r}")
    return w, s, e, n


@data_app.command("import-osm")
@friendly
def import_osm(
    file: Annotated[Path, typer.Argument(help="The .osm.pbf extract (e.g. from download.geofabrik.de).")],
    bbox: Annotated[
        str | None,
        typer.Option(help="Keep only roads inside W,S,E,N (degrees), e.g. 106.70,21.80,106.80,21.90."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder for nodes + links (default ./<file name>_roads).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="geoparquet or geojson.")] = "geoparquet",
    all_components: Annotated[
        bool, typer.Option(help="Keep every link, not only the largest strongly connected component.")
    ] = False,
) -> None:
    """Import the drivable roads of an OSM extract and write them (nodes + links) with provenance."""
    if fmt not in ("geoparquet", "geojson"):
        raise InputError("--format", f"must be geoparquet or geojson, got {fmt!r}")
    box = parse_bbox(bbox) if bbox else None
    target = out or Path(f"{file.name.split('.')[0]}_roads")
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("importing", total=None)
        net = osm.read_pbf(
            file,
            bbox=box,
            largest_scc=not all_components,
            progress=lambda msg: bar.update(task, description=msg),
        )
        bar.update(task, description=f"writing {target}")
        roads.write_network(net, target, fmt="geojson" if fmt == "geojson" else "geoparquet")
    summary = net.summary()
    table = Table(title=f"{file.name} → {target} ({fmt}, source {summary['source']}, ODbL)")
    table.add_column("road class")
    table.add_column("km", justify="right")
    for cls, km in summary["km_by_class"].items():
        table.add_row(cls, f"{km:.2f}")
    console.print(table)
    console.print(
        f"[green]ok[/]: {summary['nodes']} nodes, {summary['links']} links, "
        f"{summary['bridges']} bridge links, "
        f"{summary['signals']} signals, strongly connected share {summary['scc_fraction']:.3f}"
    )
