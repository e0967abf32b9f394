"""`twin export-map`: write a one-file offline HTML map of any layer of the city model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.base import DataDirOption, app, console, friendly
from api.settings import Settings


@app.command("export-map")
@friendly
def export_map(
    layer: Annotated[
        str, typer.Argument(help="Layer name: wards_2025, roads, cameras, cells, … (twin layers list).")
    ],
    html: Annotated[Path, typer.Option("--html", help="Output HTML file (one file, opens offline).")],
    *,
    res: Annotated[int | None, typer.Option(help="H3 resolution of the cells layer (7–11).")] = None,
    color_by: Annotated[str | None, typer.Option(help="Column that colours the features.")] = None,
    extruded: Annotated[
        bool, typer.Option("--3d/--flat", help="Extrude polygons by the colour column.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Write LAYER as a self-contained HTML map (deck.gl inlined, no request to any server)."""
    from api.export_map import to_deck, write_offline_html
    from gis_data.city import build_city

    settings = Settings()
    with console.status("building the city model…"):
        city = build_city(
            data_dir or settings.data.dir,
            road_source=settings.road_source,
            osm_file=settings.osm_file,
            seed=settings.seed,
            res=settings.h3_res,
        )
    deck = to_deck(layer, city=city, res=res, color_by=color_by, extruded=extruded)
    out = write_offline_html(deck, html)
    size_mb = out.stat().st_size / 1e6
    console.print(f"wrote {out} ({size_mb:.1f} MB, offline: no external requests)")
