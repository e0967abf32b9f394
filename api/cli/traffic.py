"""`twin simulate traffic`: run the traffic model on the city and write its outputs.

Output folder layout (``--out``)::

    run.json                 scenario, params, seed, KPIs, network provenance, wall time
    links.geojson/.parquet   links with whole-run flow, speed, queue (speed map layer)
    cells.geojson/.parquet   H3 cells with mean and peak congestion index
    links_5min.csv/.parquet  per link per 5 min: flow, speed, density, queue, travel time
    cells_5min.csv           per H3 cell per 5 min: congestion index
    trips.csv                per trip: depart, arrive, travel time, delay, distance, status
    timeseries.csv           the model's DataCollector variables per mesa step
    speed_map.png, timeseries.png
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from api.cli.base import DataDirOption, OsmFileOption, RoadSourceOption, console, friendly, simulate_app

if TYPE_CHECKING:
    import pandas as pd

    from simulations.results import RunResult


def _write_table(df: pd.DataFrame, path: Path) -> Path:
    """Write a plain table atomically as CSV or Parquet (by suffix), with provenance columns."""
    from gis_data import io
    from twin import provenance

    prov = provenance.of(df)
    frame = df.copy()
    frame["source"] = prov.get("source", "simulated")
    frame["synthetic"] = True
    with io.atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, encoding="utf-8")
    return path


def write_outputs(result: RunResult, out: Path) -> list[Path]:
    """Write the layers, tables, plots and ``run.json`` of a traffic run into `out`."""
    from gis_data import io
    from simulations.traffic import plots

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in ("links", "cells"):
        layer = result.layers[name]
        written.append(io.write_geojson(layer, out / f"{name}.geojson"))
        written.append(io.write_geoparquet(layer, out / f"{name}.parquet"))
    tables = result.tables
    written.append(_write_table(tables["links_5min"], out / "links_5min.parquet"))
    written.append(_write_table(tables["links_5min"], out / "links_5min.csv"))
    written.append(_write_table(tables["cells_5min"], out / "cells_5min.csv"))
    written.append(_write_table(tables["trips"], out / "trips.csv"))
    written.append(_write_table(tables["timeseries"], out / "timeseries.csv"))
    written.append(plots.speed_map(result, out / "speed_map.png"))
    written.append(plots.timeseries(result, out / "timeseries.png"))
    doc: dict[str, Any] = {
        "kind": result.kind,
        "scenario": result.params.get("name"),
        "seed": result.seed,
        "source": "simulated",
        "synthetic": True,
        "params": result.params,
        "kpis": {k: (v if math.isfinite(v) else None) for k, v in result.kpis.items()},
        "meta": result.meta,
        "files": sorted(p.name for p in written),
    }
    with io.atomic_path(out / "run.json") as tmp:
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    written.append(out / "run.json")
    return written


@simulate_app.command("traffic")
@friendly
def traffic(  # noqa: PLR0917  (typer passes options by keyword)
    scenario: Annotated[
        Path | None,
        typer.Option("--scenario", "-s", help="Scenario TOML/JSON (examples/scenarios/traffic_*.toml)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the scenario's seed).")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/traffic"),
    horizon: Annotated[float | None, typer.Option(help="Simulated seconds (overrides the scenario).")] = None,
    multiplier: Annotated[
        float | None, typer.Option(help="Demand multiplier (overrides the scenario).")
    ] = None,
    data_dir: DataDirOption = None,
    road_source: RoadSourceOption = None,
    osm_file: OsmFileOption = None,
) -> None:
    """Simulate mixed traffic on the Lạng Sơn network and write link, cell and trip outputs."""
    from api.settings import Settings
    from gis_data.city import build_city
    from simulations.traffic.model import run
    from simulations.traffic.params import TrafficParams

    params = TrafficParams.from_file(scenario) if scenario else TrafficParams()
    overrides: dict[str, Any] = {}
    if horizon is not None:
        overrides["horizon_s"] = horizon
    if multiplier is not None:
        overrides["demand"] = {**params.demand.model_dump(), "multiplier": multiplier}
    if overrides:
        params = TrafficParams.from_dict({**params.to_dict(), **overrides}, where="command-line options")
    run_seed = params.seed if seed is None else seed
    with console.status("building the city model…"):
        settings = Settings()
        city = build_city(
            data_dir or settings.data.dir,
            road_source=road_source or settings.road_source,
            osm_file=osm_file or settings.osm_file,
            res=params.res,
        )
        cells = city.cells(params.res)
    console.print(
        f"network: {city.network.n_nodes:,} nodes, {city.network.n_links:,} links "
        f"({'synthetic' if city.network.is_synthetic else 'OSM'}); {len(cells):,} cells"
    )
    columns = (
        TextColumn("[bold]traffic[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(params.name, total=1.0)

        def progress(frac: float, msg: str) -> None:
            bar.update(task, completed=frac, description=f"{params.name}: {msg}")

        result = run(params, run_seed, progress, network=city.network, cells=cells, wards=city.wards)
    with console.status("writing outputs…"):
        files = write_outputs(result, out)
    k = result.kpis
    table = Table(title=f"{params.name} — seed {run_seed} (simulated)")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    for key, label, fmt in (
        ("trips", "trips", "{:,.0f}"),
        ("completed_share", "completed", "{:.1%}"),
        ("en_route_at_end", "still on the network at the end", "{:,.0f}"),
        ("not_departed", "never entered the network", "{:,.0f}"),
        ("unroutable", "unroutable", "{:,.0f}"),
        ("total_time_in_system_h", "time in system, all trips (veh-h)", "{:,.0f}"),
        ("total_delay_h", "delay, all trips (veh-h)", "{:,.0f}"),
        ("mean_time_in_system_s", "mean time in system, all trips (min)", "min"),
        ("mean_trip_time_s", "mean trip time, completed trips (min)", "min"),
        ("mean_delay_s", "mean delay, completed trips (min)", "min"),
        ("vehicle_hours", "vehicle-hours on the network", "{:,.0f}"),
        ("vehicle_km", "vehicle-km", "{:,.0f}"),
        ("mean_speed_kmh", "mean speed on the network (km/h)", "{:.1f}"),
        ("wall_s", "wall time (s)", "{:.1f}"),
    ):
        v = k[key]
        table.add_row(label, f"{v / 60:.1f}" if fmt == "min" else fmt.format(v))
    console.print(table)
    console.print(f"[green]ok[/]: {len(files)} files in {out}")
