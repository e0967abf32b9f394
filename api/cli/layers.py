"""`twin layers list` and `twin export LAYER`: the city model's layers on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from api.cli.base import DataDirOption, app, console, fail, friendly, layers_app
from api.settings import Settings
from twin.errors import InputError
from twin.resolution import check_resolution


def _network_source(road_source: Literal["synthetic", "osm"]) -> tuple[str, bool]:
    return ("synthetic", True) if road_source == "synthetic" else ("real", False)


@layers_app.command("list")
@friendly
def list_layers(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the layers: name, Vietnamese and English titles, source and whether it is synthetic."""
    from twin.city import layer_records

    settings = Settings()
    records = layer_records(*_network_source(settings.road_source))
    if as_json:
        sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"Layers of the Lạng Sơn twin (roads: {settings.road_source})")
    for col in ("name", "title_vi", "title_en", "source", "synthetic"):
        table.add_column(col)
    for r in records:
        table.add_row(r["name"], r["title_vi"], r["title_en"], r["source"], "yes" if r["synthetic"] else "no")
    console.print(table)


@app.command("export")
@friendly
def export(  # noqa: PLR0917  (typer maps each CLI option to a parameter)
    layer: Annotated[str, typer.Argument(help="Layer name (see `twin layers list`; `wards` works too).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="geojson, geoparquet (alias parquet) or csv.")
    ] = "geojson",
    res: Annotated[int | None, typer.Option(help="H3 resolution of the cells layer (7–11).")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file (default ./LAYER.EXT).")
    ] = None,
    bbox: Annotated[
        str | None, typer.Option(help="west,south,east,north: keep features that intersect it.")
    ] = None,
    data_dir: DataDirOption = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the synthetic network and cameras.")] = None,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Write the file and exit 0 even if no feature is left.")
    ] = False,
) -> None:
    """Export a layer as RFC 7946 GeoJSON, GeoParquet or CSV, with provenance, atomically."""
    from gis_data import io
    from gis_data.city import build_city
    from twin import provenance
    from twin.city import parse_bbox, resolve_layer

    try:
        kind = io.check_format(fmt)
    except InputError as e:
        raise fail(str(e), "use --format geojson") from None
    key = resolve_layer(layer)
    settings = Settings()
    r = check_resolution(settings.h3_res if res is None else res, "res")
    box = parse_bbox(bbox) if bbox is not None else None
    target = out if out is not None else Path(f"{key}{io.MEDIA[kind].suffix}")
    if target.is_dir():
        raise fail(f"out: {target} is a folder", "give a file path, e.g. --out wards.geojson")
    with console.status("building the city model…"):
        city = build_city(
            data_dir or settings.data.dir,
            road_source=settings.road_source,
            osm_file=settings.osm_file,
            seed=settings.seed if seed is None else seed,
            res=settings.h3_res,
        )
        gdf = city.layer(key, res=r, bbox=box)
    if len(gdf) == 0:
        where = " inside --bbox" if box is not None else ""
        console.print(f"[yellow]warning[/]: {key} has no feature{where}: the export would be empty")
        if not allow_empty:
            raise fail(f"{key}: nothing written", "widen --bbox, or pass --allow-empty to write it anyway")
    with console.status(f"writing {io.count_text(len(gdf))}…"):
        path = io.write(gdf, target, kind)
    prov = provenance.of(gdf)
    console.print(
        f"[green]ok[/]: {key} → {path} ({io.count_text(len(gdf))}, {kind}, source: {prov.get('source', '?')}"
        + (", synthetic" if prov.get("synthetic") else "")
        + ")"
    )
