"""`twin simulate waste`: run the waste-collection model on the city and write its outputs.

Output folder layout (``--out``)::

    run.json            params, seed, KPIs, sites, network provenance (one run per policy)
    routes.geojson      per truck per day LineStrings along the links, timestamps for playback
    points.geojson      collection points with final fill and KPIs
    cells.geojson       per-cell KPIs;  wards.csv: per-ward KPIs
    daily.csv, trucks_daily.csv, visits.csv, plans.csv, fill_daily.csv (each bin, each day)
    daily.png, points.png
    comparison.csv / comparison.md / comparison.png   with --compare-policy
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from api.cli.base import (
    DataDirOption,
    OldCacheDirOption,
    OsmFileOption,
    RoadSourceOption,
    console,
    friendly,
    renamed,
    simulate_app,
)
from twin.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from simulations.results import RunResult
    from simulations.waste.params import WasteParams

PolicyName = Literal["fixed", "sensor", "hybrid"]


def load_params(
    scenario: Path | None,
    *,
    days: int | None,
    policy: PolicyName | None,
    threshold: float | None,
    trucks: int | None,
    solver_time: float | None,
) -> tuple[str, WasteParams]:
    """Return the scenario name and its parameters with the command-line overrides applied."""
    from simulations.waste.params import Scenario, WasteParams

    sc = Scenario.from_file(scenario) if scenario else Scenario(name="default")
    data = sc.params.to_dict()
    if days is not None:
        data["days"] = days
    if policy is not None:
        data["policy"]["kind"] = policy
    if threshold is not None:
        data["policy"]["threshold"] = threshold
    if trucks is not None:
        data["fleet"]["trucks"] = trucks
    if solver_time is not None:
        data["solver_time_s"] = solver_time
    return sc.name, WasteParams.from_dict(data)


def write_run(result: RunResult, out: Path, name: str) -> None:
    """Write one run's layers, tables, plots and run.json into `out`."""
    from gis_data import io
    from simulations.waste import plots

    out.mkdir(parents=True, exist_ok=True)
    for layer in ("routes", "points", "cells"):
        io.write_geojson(result.layers[layer], out / f"{layer}.geojson")
    for table in ("daily", "trucks_daily", "visits", "wards", "plans", "fill_daily"):
        result.tables[table].to_csv(out / f"{table}.csv", index=table in ("wards",))
    doc = {
        "kind": result.kind,
        "scenario": name,
        "seed": result.seed,
        "params": result.params,
        "kpis": result.kpis,
        "meta": result.meta,
        "source": "simulated",
        "synthetic": True,
    }
    (out / "run.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
    _save(plots.daily_figure({result.params["policy"]["kind"]: result}), out / "daily.png")
    _save(plots.points_figure(result), out / "points.png")


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=110)


def _kpi_table(runs: dict[str, RunResult]) -> Table:
    table = Table(title="Waste collection KPIs (simulated)")
    table.add_column("KPI")
    for label in runs:
        table.add_column(label, justify="right")
    keys = [
        "tonnes_generated", "tonnes_collected", "tonnes_overflow", "overflow_bin_hours", "visits",
        "km_driven", "truck_hours", "overtime_hours", "fuel_l", "co2_t", "mean_fill_at_collection",
        "load_utilisation", "time_utilisation", "km_per_tonne",
    ]  # fmt: skip
    for k in keys:
        table.add_row(k, *(f"{r.kpis[k]:,.3g}" for r in runs.values()))
    return table


@simulate_app.command("waste")
@friendly
def waste(  # noqa: PLR0917  (typer maps options to parameters)
    scenario: Annotated[Path | None, typer.Option(help="Scenario TOML/JSON (examples/scenarios).")] = None,
    days: Annotated[int | None, typer.Option(help="Days to simulate (overrides the scenario).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the scenario's).")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/waste"),
    policy: Annotated[PolicyName | None, typer.Option(help="Policy (overrides the scenario).")] = None,
    threshold: Annotated[float | None, typer.Option(help="Sensor threshold (0–1).")] = None,
    trucks: Annotated[int | None, typer.Option(help="Number of trucks.")] = None,
    compare_policy: Annotated[
        PolicyName | None, typer.Option(help="Also run this policy and compare over --seeds seeds.")
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, max=100, help="Seeds for the comparison.")] = 5,
    solver_time: Annotated[float | None, typer.Option(help="PyVRP budget per routing (s).")] = None,
    data_dir: DataDirOption = None,
    cache_dir: OldCacheDirOption = None,
    road_source: RoadSourceOption = None,
    osm_file: OsmFileOption = None,
    res: Annotated[
        int | None, typer.Option(help="H3 resolution of the population cells (default $TWIN_H3_RES or 9).")
    ] = None,
) -> None:
    """Simulate waste collection (bins, PyVRP routes, trucks) and write routes, KPIs and plots."""
    import pandas as pd

    from api.settings import Settings
    from gis_data.city import build_city
    from simulations.waste import outputs, plots
    from simulations.waste.model import CityInput, compare_policies, run

    name, params = load_params(
        scenario, days=days, policy=policy, threshold=threshold, trucks=trucks, solver_time=solver_time
    )
    settings = Settings()
    data = renamed(data_dir, cache_dir, "--cache-dir", "--data-dir") or settings.data.dir
    res = settings.h3_res if res is None else res
    seed = params.seed if seed is None else seed
    if seed < 0:
        raise InputError("seed", "must be 0 or more")
    with console.status("building the city model…"):
        city = build_city(
            data,
            road_source=road_source or settings.road_source,
            osm_file=osm_file or settings.osm_file,
            res=res,
        )
        cells = city.cells(res)
        wards = pd.DataFrame(city.core_wards.drop(columns=city.core_wards.geometry.name))
        inputs = CityInput(city.network, cells, wards)
    net_kind = "synthetic" if city.network.is_synthetic else "real (OSM)"
    console.print(
        f"city: {len(cells)} cells, {int(cells['population'].sum()):,} people, "
        f"{city.network.n_links:,} links ({net_kind} network)"
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    a = params.policy.kind
    label_b = "" if compare_policy is None else compare_policy if compare_policy != a else f"{a}_2"
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"{params.policy.kind}", total=1.0)

        def progress(frac: float, msg: str) -> None:
            bar.update(task, completed=frac, description=msg)

        if compare_policy is None:
            result = run(params, seed, progress, network=inputs.network, cells=cells, wards=wards)
            runs: dict[str, RunResult] = {params.policy.kind: result}
        else:
            other = params.with_policy(compare_policy)
            seed_list = [seed + i for i in range(seeds)]
            table, all_runs = compare_policies(inputs, params, other, seed_list, progress)
            runs = {
                f"{params.policy.kind} (seed {seed})": all_runs[0],
                f"{label_b} (seed {seed})": all_runs[1],
            }
    out.mkdir(parents=True, exist_ok=True)
    if compare_policy is None:
        write_run(result, out, name)
    else:
        write_run(all_runs[0], out / a, name)
        write_run(all_runs[1], out / label_b, name)
        table.to_csv(out / "comparison.csv", index=False)
        md = outputs.comparison_markdown(table, a, label_b)
        header = (
            f"# Waste collection: {a} vs {label_b} ({name})\n\n"
            f"{params.days} days, seeds {seed_list[0]}–{seed_list[-1]}, "
            f"{int(all_runs[0].kpis['points'])} collection points, {params.fleet.trucks} trucks. "
            f"Simulated on a {net_kind} road network.\n\n"
        )
        (out / "comparison.md").write_text(header + md + "\n", encoding="utf-8")
        _save(plots.comparison_figure(table, a, label_b), out / "comparison.png")
        _save(plots.daily_figure({a: all_runs[0], label_b: all_runs[1]}), out / "daily.png")
        summary: dict[str, Any] = {
            "scenario": name,
            "policies": [a, label_b],
            "seeds": seed_list,
            "params_a": params.to_dict(),
            "params_b": other.to_dict(),
            "comparison": table.to_dict(orient="records"),
        }
        (out / "run.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
        console.print(md)
    console.print(_kpi_table(runs))
    console.print(f"[green]ok[/]: outputs in {out}")
