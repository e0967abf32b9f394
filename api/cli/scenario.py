"""`twin scenario run|validate|sweep|compare|list`: planners' scenarios from the command line, with progress.

Runs are recorded in the same store as the API's jobs (``$TWIN_STORE_DSN``, default the SQLite file
under ``$TWIN_STATE_DIR``) and their results under ``$TWIN_STATE_DIR/scenarios/``, so a scenario run
here can be compared, downloaded or viewed through the service, and the other way round. Runs use
the service's H3 resolution (``TWIN_H3_RES``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.base import console, fail, friendly, scenario_app
from api.settings import Settings
from twin.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from api.store import Store
    from simulations.results import Progress as ProgressFn
    from simulations.results import StoredResult

StateDir = Annotated[Path | None, typer.Option(help="Where jobs and results live (default $TWIN_STATE_DIR).")]
DataDir = Annotated[Path | None, typer.Option(help="Data cache (default $TWIN_DATA_DIR).")]
StoreDsn = Annotated[str | None, typer.Option(help="Store of the jobs (default $TWIN_STORE_DSN).")]


@contextmanager
def _store(state_dir: Path, store_dsn: str | None) -> Iterator[Store]:
    """Open the store the jobs live in (the service's) and close it afterwards."""
    from api.store import default_dsn, open_store

    settings = Settings()
    from api.services.scenarios import adopt_legacy_jobs

    store = open_store(store_dsn or settings.store_dsn or default_dsn(state_dir), res=settings.h3_res)
    try:
        adopt_legacy_jobs(store, state_dir)
        yield store
    finally:
        store.close()


def _result(store: Store, state_dir: Path, job_id: str) -> StoredResult:
    from api.services.scenarios import stored_result

    return stored_result(store, state_dir, job_id)


@contextmanager
def _progress(label: str) -> Iterator[ProgressFn]:
    """Show a progress bar on stderr; yield the (fraction, message) callback that drives it."""
    bar = Progress(
        TextColumn("[bold]{task.fields[label]}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    )
    with bar:
        task = bar.add_task("", total=1.0, label=label)

        def update(fraction: float, message: str) -> None:
            bar.update(task, completed=min(max(fraction, 0.0), 1.0), description=message[:60])

        yield update


def _fmt(v: Any, unit: str = "") -> str:
    from simulations.results import format_value

    if isinstance(v, bool) or not isinstance(v, int | float):
        return "–" if v is None else str(v)
    return format_value(v, unit)


def _kpi_table(title: str, kpis: dict[str, dict[str, Any]]) -> Table:
    from simulations.results import metric

    table = Table(title=title)
    table.add_column("KPI", overflow="fold", min_width=24)
    for col in ("unit", "mean", "95 % CI", "seeds"):
        table.add_column(col, justify="right")
    for name, k in sorted(kpis.items(), key=lambda kv: (metric(kv[0]).group != "planning", kv[0])):
        m = metric(name)
        ci = "–" if k.get("ci_low") is None else f"{_fmt(k['ci_low'], m.unit)} – {_fmt(k['ci_high'], m.unit)}"
        label = f"{m.vi} / {m.en} [dim]({name}{', ' + m.group if m.group != 'planning' else ''})[/]"
        table.add_row(label, m.unit, _fmt(k.get("mean"), m.unit), ci, str(k.get("n", "")))
    return table


def _compare_table(title: str, frame: pd.DataFrame) -> list[Table]:
    """Return the KPI deltas as tables: planning KPIs, then inputs and run diagnostics apart."""
    from simulations.results import CORRECTION_LABEL, format_value

    tables = []
    for group, caption in (("planning", f"p: {CORRECTION_LABEL['en']} / {CORRECTION_LABEL['vi']}"),
                           ("input", None), ("diagnostic", None)):  # fmt: skip
        part = frame[frame["group"] == group]
        if part.empty:
            continue
        name = {"planning": title, "input": "inputs / đầu vào", "diagnostic": "run diagnostics / chẩn đoán"}
        table = Table(title=name[group], caption=caption)
        table.add_column("KPI", overflow="fold", min_width=24)
        for col in ("unit", "baseline (A)", "scenario (B)", "B − A", "95 % CI of B − A", "%", "p (Holm)", ""):
            table.add_column(col, justify="right")
        for r in part.itertuples(index=False):
            u = str(r.unit)
            lo, hi = (
                format_value(r.delta_ci_low, u, signed=True),
                format_value(r.delta_ci_high, u, signed=True),
            )
            ci = "–" if lo == "–" else f"{lo} … {hi}"
            table.add_row(
                f"{r.label_vi} / {r.label_en} [dim]({r.kpi})[/]", "% pts" if u == "%" else u,
                format_value(r.a, u), format_value(r.b, u), format_value(r.delta, u, signed=True), ci,
                format_value(r.delta_pct, "", signed=True), format_value(r.p_adjusted),
                "significant" if r.significant else "",
            )  # fmt: skip
        tables.append(table)
    return tables


@scenario_app.command("run")
@friendly
def run(
    file: Annotated[
        Path, typer.Argument(help="Scenario spec (.toml or .json).", exists=True, dir_okay=False)
    ],
    with_baseline: Annotated[
        bool, typer.Option("--with-baseline", help="Also run the scenario without its changes, and compare.")
    ] = False,
    state_dir: StateDir = None,
    data_dir: DataDir = None,
    store_dsn: StoreDsn = None,
) -> None:
    """Run a scenario (every simulation × every seed), store its results and print its KPIs."""
    from api.services.jobs import run_here
    from simulations.scenario import ScenarioSpec, mode_split_notes

    spec = ScenarioSpec.from_file(file)  # validated once; runs as it is
    for note in mode_split_notes(spec):
        console.print(f"note: {note}")
    settings = Settings()
    state = state_dir or settings.state_dir
    data = data_dir or settings.data.dir
    with _store(state, store_dsn) as store:
        ids: list[str] = []
        for s in [spec.without_changes(), spec] if with_baseline else [spec]:
            with _progress(s.name[:30]) as update:
                job = run_here(store, state, s, data_dir=data, res=settings.h3_res, progress=update)
            if job.status != "done":
                first = (job.error or "").splitlines()[0] if job.error else ""
                raise fail(f"scenario {s.name!r} {job.status}: {first}")
            ids.append(job.id)
        result = _result(store, state, ids[-1])
        console.print(_kpi_table(f"{spec.name} — job {ids[-1]}", result.kpis))
        console.print(f"layers: {', '.join(result.layer_names) or '–'}")
        if with_baseline:
            base = _result(store, state, ids[0])
            for t in _compare_table(f"scenario {ids[-1]} − baseline {ids[0]}", base.compare(result)):
                console.print(t)
    typer.echo(ids[-1])


@scenario_app.command("validate")
@friendly
def validate(
    file: Annotated[Path, typer.Argument(help="Scenario spec (.toml or .json).", dir_okay=False)],
    data_dir: DataDir = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Check the file only, not its roads against the city network.")
    ] = False,
) -> None:
    """Check a scenario file as a run would (same messages as the API), without running it.

    Road names, link ids and areas are checked against the city network unless --offline.
    """
    from api.services import scenarios
    from simulations.scenario import ScenarioSpec

    spec = ScenarioSpec.from_file(file)
    settings = Settings()
    checked = scenarios.check(spec, data_dir or settings.data.dir, settings.h3_res, offline=offline)
    for label, ids in checked.closures:
        console.print(f"closure {label!r}: {len(ids)} links")
    for note in checked.notes:
        console.print(f"note: {note}")
    console.print(f"[green]valid[/]{checked.summary().removeprefix('valid')}")


@scenario_app.command("sweep")
@friendly
def sweep(
    file: Annotated[
        Path, typer.Argument(help="Scenario spec (.toml or .json).", exists=True, dir_okay=False)
    ],
    *,
    param: Annotated[
        list[str],
        typer.Option(
            "--param", "-p", help="NAME=V1,V2,... with NAME like traffic.demand.multiplier (repeatable)."
        ),
    ],
    seeds: Annotated[int, typer.Option(min=1, max=1000, help="Seeds per combination (1..N).")] = 3,
    executor: Annotated[str, typer.Option(help="dask (default) or serial.")] = "dask",
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (default: a LocalCluster, $TWIN_JOBS_SCHEDULER)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Local Dask workers (default: one per core).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for runs.csv and summary.csv.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Sweep parameters × seeds of one simulation on Dask and print each KPI's mean and 95 % CI."""
    from api.services import scenarios
    from simulations import runner
    from simulations.scenario import ScenarioSpec

    spec = ScenarioSpec.from_file(file)
    grid = parse_grid(param)
    kinds = {name.split(".", 1)[0] for name in grid}
    if len(kinds) != 1 or not kinds <= set(spec.kinds):
        raise InputError("param", f"swept names must all start with one of {', '.join(spec.kinds)}.")
    kind = kinds.pop()
    local = {name.split(".", 1)[1]: values for name, values in grid.items()}
    settings = Settings()
    data = data_dir or settings.data.dir
    city = scenarios.city_for(spec, data, settings.h3_res)
    params = spec.resolve(city.network, res=city.res)[kind]
    sim = scenarios.CitySimulation(kind, data, spec.city.road_source, spec.city.seed, city.res)
    address = scheduler or settings.jobs.scheduler
    ex = runner.make_executor(executor, address, workers)
    n = math.prod(len(v) for v in local.values()) * seeds
    console.print(f"sweep: {n} runs of {kind} on {executor}{f' at {address}' if address else ''}")
    try:
        with _progress(f"sweep {spec.name[:20]}") as update:
            res = runner.sweep(
                sim, params, grid=local, seeds=range(1, seeds + 1), executor=ex, progress=update
            )
    finally:
        if isinstance(ex, runner.DaskExecutor):
            ex.close()
    table = Table(
        title=f"{spec.name}: {kind} sweep ({res.meta['wall_s']:.1f} s, {res.meta['failed']} failed)"
    )
    for col in [*local, "KPI", "mean", "95 % CI", "n"]:
        table.add_column(col, justify="right")
    for r in res.summary.to_dict(orient="records"):
        ci = f"{_fmt(r['ci_low'])} – {_fmt(r['ci_high'])}"
        table.add_row(*[_fmt(r[k]) for k in local], str(r["kpi"]), _fmt(r["mean"]), ci, str(r["n"]))
    console.print(table)
    for err in res.failed["error"].head(3):
        console.print(f"[red]failed run:[/] {err}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        res.runs.to_csv(out / "runs.csv", index=False)
        res.summary.to_csv(out / "summary.csv", index=False)
        console.print(f"[green]wrote[/] {out / 'runs.csv'} and {out / 'summary.csv'}")


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """Parse ``NAME=V1,V2,...`` options into a sweep grid (values typed by `runner.parse_value`)."""
    from simulations import runner

    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name or "." not in name:
            raise InputError(
                "param", f"{item!r} is not NAME=V1,V2,... with NAME like traffic.demand.multiplier"
            )
        vals = [runner.parse_value(v) for v in values.split(",") if v.strip()]
        if not vals:
            raise InputError("param", f"{name} has no values")
        if name in grid:
            raise InputError("param", f"{name} is given twice")
        grid[name] = vals
    if not grid:
        raise InputError("param", "give at least one --param NAME=V1,V2")
    return grid


@scenario_app.command("compare")
@friendly
def compare(  # noqa: PLR0917  (typer maps each CLI option to a parameter)
    a: Annotated[str, typer.Argument(help="Job id of the baseline A (the reference).")],
    b: Annotated[str, typer.Argument(help="Job id of the scenario B (differences are B − A).")],
    res: Annotated[
        int | None,
        typer.Option(min=7, max=11, help="H3 resolution of the difference layers (default $TWIN_H3_RES)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for kpis.csv and <layer>_diff.geojson.")] = None,
    state_dir: StateDir = None,
    store_dsn: StoreDsn = None,
) -> None:
    """Compare two finished runs: KPI deltas scenario − baseline (B − A) with the 95 % interval of the
    paired difference and Holm-adjusted p-values, and H3 difference layers (B − A)."""
    from gis_data import io
    from simulations import results

    settings = Settings()
    state = state_dir or settings.state_dir
    r = settings.h3_res if res is None else res
    with _store(state, store_dsn) as store:
        ra, rb = _result(store, state, a), _result(store, state, b)
    table = ra.compare(rb)
    for t in _compare_table(f"{rb.doc.get('name')} ({b}) − {ra.doc.get('name')} ({a})", table):
        console.print(t)
    common = sorted(set(ra.layer_names) & set(rb.layer_names))
    if out is None:
        console.print(f"difference layers (use --out): {', '.join(common) or '–'}")
        return
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "kpis.csv", index=False)
    with _progress("difference layers") as update:
        for i, name in enumerate(common):
            update(i / max(len(common), 1), name)
            diff = results.cell_difference(ra.layer(name), rb.layer(name), r, name, runs=(a, b))
            io.write(diff, out / f"{name}_diff_r{r}{io.MEDIA['geojson'].suffix}", "geojson")
        update(1.0, "done")
    console.print(f"[green]wrote[/] {len(common)} difference layers and kpis.csv to {out}")


@scenario_app.command("list")
@friendly
def list_runs(
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
    state_dir: StateDir = None,
    store_dsn: StoreDsn = None,
) -> None:
    """List scenario jobs (API and CLI runs) with status and progress."""
    settings = Settings()
    with _store(state_dir or settings.state_dir, store_dsn) as store:
        jobs = store.list_jobs(limit=limit)
    table = Table(title="Scenario jobs")
    for col in ("id", "name", "kind", "status", "progress", "created (UTC)"):
        table.add_column(col)
    for j in jobs:
        table.add_row(
            j.id, j.name, j.kind, j.status, f"{100 * j.progress:.0f} %", f"{j.created_at:%Y-%m-%d %H:%M}"
        )
    console.print(table)
