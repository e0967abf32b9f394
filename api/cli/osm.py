"""`twin data import-osm` and `twin data roads`: import OSM roads; build, inspect and plot the network."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.base import DataDirOption, OldCacheDirOption, console, data_app, friendly, renamed
from twin.errors import InputError

if TYPE_CHECKING:
    from twin.network import RoadNetwork


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
    from gis_data import osm, roads

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
    _print_summary(net, f"{file.name} → {target} ({fmt}, source real, ODbL)")


@data_app.command("roads")
@friendly
def roads_cmd(  # noqa: PLR0917  (typer maps each CLI option to a parameter)
    source: Annotated[
        str, typer.Option(help="synthetic (generated) or osm (needs --osm-file).")
    ] = "synthetic",
    osm_file: Annotated[Path | None, typer.Option(help="The .osm.pbf extract for --source osm.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the synthetic generator (default $TWIN_SEED).")
    ] = None,
    data_dir: DataDirOption = None,
    cache_dir: OldCacheDirOption = None,
    out: Annotated[Path | None, typer.Option(help="Also write nodes + links to this folder.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="geoparquet or geojson (with --out).")] = "geoparquet",
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the network by road class to this PNG.")
    ] = None,
) -> None:
    """Build (or load from the cache) the city's road network and print its size by road class."""
    from api.settings import Settings
    from gis_data import load, roads

    settings = Settings()
    cache_dir = renamed(data_dir, cache_dir, "--cache-dir", "--data-dir") or settings.data.dir
    seed = settings.seed if seed is None else seed

    if source not in ("synthetic", "osm"):
        raise InputError("--source", f"must be synthetic or osm, got {source!r}")
    if fmt not in ("geoparquet", "geojson"):
        raise InputError("--format", f"must be geoparquet or geojson, got {fmt!r}")
    with console.status("building the road network…"):
        wards = load.wards_2025(cache_dir)
        units = load.units_pre2025(cache_dir)
        net = roads.build_network(
            wards,
            units,
            source="osm" if source == "osm" else "synthetic",
            seed=seed,
            osm_file=osm_file,
            cache_dir=cache_dir,
        )
        if out is not None:
            roads.write_network(net, out, fmt="geojson" if fmt == "geojson" else "geoparquet")
        if plot is not None:
            roads.plot_network(net, plot, river_gdf=roads.river(wards))
    label = "SYNTHETIC, generated" if net.is_synthetic else "real, OpenStreetMap (ODbL)"
    _print_summary(net, f"Lạng Sơn road network ({label}; seed {seed})" if net.is_synthetic else label)
    for path in (out, plot):
        if path is not None:
            console.print(f"wrote {path}")


def _print_summary(net: RoadNetwork, title: str) -> None:
    summary = net.summary()
    table = Table(title=title)
    links = net.links
    # a two-way street is two links: count its length once for the street length
    street_m = links["length_m"].where(links["oneway"], links["length_m"] / 2.0)
    street_km = street_m.groupby(links["road_class"]).sum() / 1000.0
    table.add_column("road class")
    table.add_column("link km", justify="right")
    table.add_column("street km", justify="right")
    for cls, km in summary["km_by_class"].items():
        table.add_row(cls, f"{km:.2f}", f"{street_km[cls]:.2f}")
    console.print(table)
    console.print(
        f"[green]ok[/]: {summary['nodes']} nodes, {summary['links']} links, "
        f"{summary['bridges']} bridge links, "
        f"{summary['signals']} signals, strongly connected share {summary['scc_fraction']:.3f}"
    )
