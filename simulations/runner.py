"""Run simulations once or as sweeps (parameters × seeds), serially or on Dask, and aggregate KPIs.

The runner is generic over any `simulations.results.Simulation` callable: it never imports a
model. A sweep expands a grid of parameter overrides (dotted paths into the parameters model) times
a list of seeds into tasks, runs them on an `Executor` and returns a tidy table of runs plus the
mean and 95 % confidence interval (Student t) of each KPI per parameter combination.

Executors
---------
`SerialExecutor` runs tasks one after the other in this process (the reference for speed-ups).
`DaskExecutor` runs them on a ``distributed`` cluster: a `LocalCluster` of worker *processes* by
default (2 workers × 1 thread: simulations are CPU-bound Python and hold the GIL), or an existing
scheduler given by address (``tcp://host:8786``) for a real cluster. Both report progress task by
task and stop early when a ``cancelled()`` callable returns true.
"""

from __future__ import annotations

import copy
import itertools
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import closing
from dataclasses import KW_ONLY, dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import pandas as pd
from pydantic import BaseModel, ValidationError

from simulations import registry
from simulations.documents import did_you_mean, input_error
from simulations.results import Progress, RunResult, Simulation, mean_ci
from twin.errors import InputError, TwinError

if TYPE_CHECKING:
    from simulations.scenario import ScenarioSpec
    from twin.city import City

T = TypeVar("T")
R = TypeVar("R")

#: Column holding the seed in run tables.
SEED = "seed"


class CancelledError(TwinError):
    """A sweep or run was cancelled before it finished."""


class UnknownParameterError(InputError):
    """A dotted parameter path names no parameter of the model."""


# -- parameter overrides -------------------------------------------------------------------------
def apply_overrides(
    params: Any, overrides: Mapping[str, Any], *, hint: str = "check the swept values"
) -> Any:
    """Return a copy of `params` with dotted-path `overrides` applied (the input is never mutated).

    Parameters
    ----------
    params
        A pydantic model (frozen or not) or a plain mapping.
    overrides
        Dotted path → new value, e.g. ``{"demand.trips": 20000, "closures": ["QL1A"]}``.
    hint
        The hint of a validation error (a sweep's by default; a scenario passes its own).

    Returns
    -------
    Any
        The same type as `params`, re-validated when it is a pydantic model.

    Raises
    ------
    InputError
        If a path does not exist in `params` or a value fails validation (the field is named).
    """
    if not overrides:
        return params
    is_model = isinstance(params, BaseModel)
    data: dict[str, Any] = (
        params.model_dump(mode="python") if is_model else copy.deepcopy(dict(params))  # type: ignore[union-attr]
    )
    for path, value in overrides.items():
        _set_path(data, path, value)
    if not is_model:
        return data
    try:
        return type(params).model_validate(data)
    except ValidationError as e:
        err = input_error(e, hint=hint, model=type(params))
        if err.field == "input":
            raise InputError(next(iter(overrides)), err.reason, err.hint) from None
        raise err from None


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node: Any = data
    for i, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            known = sorted(node) if isinstance(node, dict) else []
            where = ".".join(keys[: i + 1])
            raise UnknownParameterError(
                path,
                f"no parameter {where!r}{did_you_mean(key, known, '.'.join(keys[:i]) + '.' if i else '')}",
                hint=f"known names here: {', '.join(map(str, known))}" if known else None,
            )
        if i == len(keys) - 1:
            node[key] = value
        else:
            node = node[key]


def parse_value(text: str) -> Any:
    """Parse one command-line value: int, float, true/false, none, or else the string itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            continue
    return text.strip()


# -- tasks ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """One run of a sweep: a parameter combination (`overrides`) and a seed."""

    index: int
    combo: int
    overrides: dict[str, Any]
    seed: int


def expand(grid: Mapping[str, Sequence[Any]], seeds: Sequence[int]) -> list[Task]:
    """Return the tasks of a sweep: every combination of `grid` values times every seed.

    Combinations vary the last name fastest; an empty grid gives one combination (the base
    parameters). Seeds must be distinct.
    """
    if not seeds:
        raise InputError("seeds", "at least one seed is needed")
    if len(set(seeds)) != len(seeds):
        raise InputError("seeds", f"seeds must be distinct, got {list(seeds)}")
    for name, values in grid.items():
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) == 0:
            raise InputError(name, "a swept parameter needs a non-empty list of values")
    names = list(grid)
    combos = list(itertools.product(*(grid[n] for n in names))) if names else [()]
    tasks: list[Task] = []
    for c, values in enumerate(combos):
        for s in seeds:
            tasks.append(Task(len(tasks), c, dict(zip(names, values, strict=True)), int(s)))
    return tasks


@dataclass
class TaskOutcome:
    """What a worker sends back for one task: KPIs (always), the full result (if asked), or an error."""

    task: Task
    kpis: dict[str, float]
    wall_s: float
    result: RunResult | None = None
    error: str | None = None


@dataclass(frozen=True)
class _TaskRunner:
    """A picklable callable that runs one task on a worker."""

    sim: Simulation
    params: Any
    keep: bool

    def __call__(self, task: Task) -> TaskOutcome:
        t0 = time.perf_counter()
        try:
            p = apply_overrides(self.params, task.overrides)
            res = self.sim(p, task.seed, None)
        except Exception as e:  # noqa: BLE001  (a failed run is reported in the sweep table)
            return TaskOutcome(task, {}, time.perf_counter() - t0, None, f"{type(e).__name__}: {e}")
        kpis = {str(k): float(v) for k, v in res.kpis.items()}
        return TaskOutcome(task, kpis, time.perf_counter() - t0, res if self.keep else None)


# -- executors -----------------------------------------------------------------------------------
class Executor(ABC):
    """Something that maps a function over items, reporting each completion.

    `map` is the one place that orders results and calls ``on_done``; a backend says only how tasks
    run, as `completions` (each task's index and value as it ends).
    """

    name: str

    def map(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        on_done: Callable[[int, R], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[R]:
        """Return ``[fn(x) for x in items]`` in input order; call ``on_done(i, value)`` as each ends.

        Stops with `CancelledError` when `cancelled()` is true (polled between tasks).
        """
        out: dict[int, R] = {}
        with closing(self.completions(fn, items, cancelled or _never)) as done:
            for i, value in done:
                out[i] = value
                if on_done is not None:
                    on_done(i, value)
        return [out[i] for i in range(len(items))]

    @abstractmethod
    def completions(
        self, fn: Callable[[T], R], items: Sequence[T], cancelled: Callable[[], bool]
    ) -> Generator[tuple[int, R]]:
        """Yield ``(index, fn(items[index]))`` as each task ends; raise `CancelledError` on request."""


def _never() -> bool:
    return False


class SerialExecutor(Executor):
    """Run tasks one after the other in this process."""

    name = "serial"

    def completions(
        self, fn: Callable[[T], R], items: Sequence[T], cancelled: Callable[[], bool]
    ) -> Generator[tuple[int, R]]:
        """Run the items in order."""
        for i, item in enumerate(items):
            if cancelled():
                raise CancelledError(f"cancelled after {i} of {len(items)} runs")
            yield i, fn(item)


@dataclass(eq=False)
class DaskExecutor(Executor):
    """Run tasks on Dask ``distributed``: a LocalCluster of processes, or a scheduler by address.

    Parameters
    ----------
    address
        A running scheduler (``tcp://host:8786``); None starts a `LocalCluster` on this machine.
    n_workers
        Local worker processes (default: one per core).
    threads_per_worker
        Threads per local worker (1: simulations hold the GIL).
    processes
        Whether local workers are processes (True) or threads in this process.
    memory_limit
        Memory limit per local worker (Dask's syntax, e.g. ``"4GiB"``; "auto" shares the RAM).
    connect_timeout_s
        How long to try reaching a remote scheduler before giving up.

    The cluster starts on first use (or on ``with``) and is reused until `close`.
    """

    name = "dask"

    address: str | None = None
    _: KW_ONLY
    n_workers: int | None = None
    threads_per_worker: int = 1
    processes: bool = True
    memory_limit: str | float = "auto"
    connect_timeout_s: float = 10.0
    _client: Any = field(default=None, init=False, repr=False)
    _cluster: Any = field(default=None, init=False, repr=False)

    # Dask is imported here, not at module level, because `distributed` takes ~1 s to import and
    # most users of the runner (single runs, the API) never start a cluster.
    def start(self) -> Any:
        """Start (or connect to) the cluster and return the ``distributed.Client``."""
        if self._client is not None:
            return self._client
        from distributed import Client, LocalCluster  # noqa: PLC0415  (slow import, see above)

        if self.address:
            try:
                self._client = Client(self.address, timeout=f"{self.connect_timeout_s}s")  # type: ignore[no-untyped-call]
            except OSError as e:
                raise InputError(
                    "scheduler",
                    f"cannot reach the Dask scheduler at {self.address} ({e})",
                    hint="start it with `dask scheduler` or leave the address empty for a local cluster",
                ) from None
        else:
            n = self.n_workers or max(1, os.cpu_count() or 1)
            self._cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=n,
                threads_per_worker=self.threads_per_worker,
                processes=self.processes,
                memory_limit=self.memory_limit,
                dashboard_address=None,
                silence_logs=40,
            )
            self._client = Client(self._cluster)  # type: ignore[no-untyped-call]
        return self._client

    @property
    def workers(self) -> int:
        """Return the number of workers of the connected cluster."""
        return len(self.start().scheduler_info(n_workers=-1)["workers"])

    def completions(
        self, fn: Callable[[T], R], items: Sequence[T], cancelled: Callable[[], bool]
    ) -> Generator[tuple[int, R]]:
        """Submit every item, yield results as they end; cancel pending ones on request."""
        from distributed import wait  # noqa: PLC0415  (slow import, see `start`)

        client = self.start()
        if not items:
            return
        futures = client.map(fn, list(items), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        n_done = 0
        pending = set(futures)
        try:
            while pending:
                if cancelled():
                    raise CancelledError(f"cancelled after {n_done} of {len(items)} runs")
                try:
                    done, pending = wait(pending, timeout=0.5, return_when="FIRST_COMPLETED")  # type: ignore[no-untyped-call]
                except TimeoutError:  # nothing finished in this half second: poll `cancelled` again
                    continue
                for f in done:
                    value = f.result()
                    n_done += 1
                    yield index[f.key], value
        finally:
            if pending:
                client.cancel(list(pending))

    def close(self) -> None:
        """Close the client and the local cluster (if this executor started one)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def make_executor(kind: str = "dask", address: str | None = None, workers: int | None = None) -> Executor:
    """Return a `SerialExecutor` (``kind="serial"``) or a `DaskExecutor` (``"dask"``)."""
    if kind == "serial":
        return SerialExecutor()
    if kind == "dask":
        return DaskExecutor(address, n_workers=workers)
    raise InputError("executor", f"must be 'serial' or 'dask', got {kind!r}")


# -- results -------------------------------------------------------------------------------------
@dataclass
class SweepResult(Generic[T]):
    """The outcome of a sweep.

    Attributes
    ----------
    runs
        One row per task: ``task``, ``combo``, the swept parameter columns, ``seed``, ``wall_s``,
        ``error`` (None when it ran) and one column per KPI.
    summary
        One row per (combination, KPI): the swept parameters, ``kpi``, ``n``, ``mean``, ``std``,
        ``ci_low``, ``ci_high`` (95 % Student t; NaN with one seed).
    names
        The swept parameter names (dotted paths).
    results
        Full `RunResult`s in task order when the sweep kept them, else empty.
    meta
        Executor name, worker count, wall time, task count.
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    names: list[str]
    results: list[RunResult] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> pd.DataFrame:
        """Return the runs that raised, with their error."""
        return self.runs[self.runs["error"].notna()]


def aggregate(runs: pd.DataFrame, names: Sequence[str], kpis: Sequence[str]) -> pd.DataFrame:
    """Return mean, std and 95 % CI of each KPI per parameter combination (tidy, one row per KPI).

    Runs with an error are left out; ``n`` says how many seeds each figure rests on.
    """
    ok = runs[runs["error"].isna()] if "error" in runs else runs
    rows: list[dict[str, Any]] = []
    groups = ok.groupby("combo", sort=True) if "combo" in ok else [(0, ok)]
    for _, g in groups:
        first = g.iloc[0]
        for k in kpis:
            n, mean, std, lo, hi = mean_ci(g[k].tolist() if k in g else [])
            row = {name: first[name] for name in names}
            row.update(kpi=k, n=n, mean=mean, std=std, ci_low=lo, ci_high=hi)
            rows.append(row)
    cols = [*names, "kpi", "n", "mean", "std", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=cols)


def aggregate_results(results: Sequence[RunResult]) -> pd.DataFrame:
    """Return mean, std and 95 % CI of each KPI over runs of one scenario (e.g. several seeds)."""
    runs = pd.DataFrame([{**r.kpis, SEED: r.seed} for r in results])
    runs["error"] = None
    kpis = sorted({k for r in results for k in r.kpis})
    return aggregate(runs, [], kpis)


# -- entry points --------------------------------------------------------------------------------
def run_one(sim: Simulation, params: Any, seed: int, progress: Progress | None = None) -> RunResult:
    """Run `sim` once and record the wall time in ``meta["wall_s"]`` (the result is otherwise as-is)."""
    t0 = time.perf_counter()
    result = sim(params, seed, progress)
    result.meta.setdefault("wall_s", time.perf_counter() - t0)
    return result


def run_scenario(
    spec: ScenarioSpec, city: City, progress: Progress | None = None
) -> dict[str, list[RunResult]]:
    """Run every simulation of `spec` with every seed on `city`; return the results per kind.

    The spec's parameters are resolved on the city's network and at its H3 resolution (the
    service's ``TWIN_H3_RES``). Progress is reported over the whole scenario (each run an equal share).
    """
    report = progress or (lambda _f, _m: None)
    params = spec.resolve(city.network, res=city.res)
    plan = [(kind, seed) for kind in spec.kinds for seed in spec.seeds]
    out: dict[str, list[RunResult]] = {k: [] for k in spec.kinds}
    sims = {kind: registry.get(kind).bind(city) for kind in spec.kinds}
    for i, (kind, seed) in enumerate(plan):

        def sub(f: float, msg: str, i: int = i, kind: str = kind, seed: int = seed) -> None:
            report((i + min(max(f, 0.0), 1.0)) / len(plan), f"{kind}, seed {seed}: {msg}")

        sub(0.0, "starting")
        out[kind].append(run_one(sims[kind], params[kind], seed, sub))
    return out


def sweep(
    sim: Simulation,
    params: Any,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    seeds: Sequence[int] = (0,),
    executor: Executor | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    keep_results: bool = False,
) -> SweepResult[Any]:
    """Run `sim` over every combination of `grid` × `seeds` and aggregate the KPIs.

    Parameters
    ----------
    sim
        The simulation (``run(params, seed, progress)``); it and `params` must pickle for Dask.
    params
        Base parameters (pydantic model or mapping); each task applies its overrides to a copy.
    grid
        Dotted parameter path → values to sweep (empty: only the seeds vary).
    seeds
        The seeds each combination runs with.
    executor
        Where to run; default `SerialExecutor`. A `DaskExecutor` is left open for reuse.
    progress
        Called with (fraction done, message) after each task.
    cancelled
        Polled between tasks; when it returns true the sweep stops with `CancelledError`.
    keep_results
        Return the full `RunResult`s (tables and layers travel back from the workers) too.

    Returns
    -------
    SweepResult
        The runs table, the aggregated summary and, if asked, the results.
    """
    grid = dict(grid or {})
    tasks = expand(grid, list(seeds))
    # Fail fast on a bad parameter name or value, before any worker starts.
    for combo in {t.combo: t for t in tasks}.values():
        apply_overrides(params, combo.overrides)
    ex: Executor = executor or SerialExecutor()
    done = 0

    def on_done(_i: int, outcome: TaskOutcome) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            tag = ", ".join(f"{k}={v}" for k, v in outcome.task.overrides.items())
            status = "failed" if outcome.error else f"{outcome.wall_s:.1f} s"
            progress(
                done / len(tasks),
                f"run {done}/{len(tasks)} ({tag or 'base'}, seed {outcome.task.seed}): {status}",
            )

    t0 = time.perf_counter()
    outcomes = ex.map(_TaskRunner(sim, params, keep_results), tasks, on_done=on_done, cancelled=cancelled)
    wall = time.perf_counter() - t0
    names = list(grid)
    rows = []
    for o in outcomes:
        rows.append(
            {
                "task": o.task.index,
                "combo": o.task.combo,
                **o.task.overrides,
                SEED: o.task.seed,
                "wall_s": o.wall_s,
                "error": o.error,
                **o.kpis,
            }
        )
    runs = pd.DataFrame(rows)
    kpis = sorted({k for o in outcomes for k in o.kpis})
    summary = aggregate(runs, names, kpis)
    meta = {
        "executor": getattr(ex, "name", type(ex).__name__),
        "tasks": len(tasks),
        "failed": sum(o.error is not None for o in outcomes),
        "wall_s": wall,
        "task_s_total": float(sum(o.wall_s for o in outcomes)),
    }
    results = [o.result for o in outcomes if o.result is not None]
    return SweepResult(runs, summary, names, results, meta)
