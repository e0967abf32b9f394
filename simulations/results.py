"""What every simulation run returns, and how a scenario's results are saved and read back.

The scenario runner (jobs, sweeps on Dask) and the briefing only see `RunResult`, so traffic and waste
plug in the same way: each package exposes ``run(params, seed, progress=None) -> RunResult`` in its
``model.py`` (see `Simulation`, and `simulations.registry` for how a scenario binds it).

A scenario's results live in one folder (`save_results`, read with `StoredResult`):

``spec.json``
    The validated spec.
``result.json``
    KPIs (mean, std, 95 % CI and n over the seeds, named ``<kind>.<kpi>``), per-seed KPIs, the layer
    and table index with provenance, and run metadata (parameters, wall times, H3 resolution).
``layers/<kind>.<name>.parquet``, ``tables/<kind>.<name>.parquet``
    GeoParquet layers (numeric columns averaged over seeds when the seeds share the layer's index)
    and tidy tables (first seed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd

from twin import provenance
from twin.errors import TwinError

if TYPE_CHECKING:
    from simulations.scenario import ScenarioSpec

#: Layer and table names are ``<kind>.<name>`` of these characters only (they become file names).
SAFE_NAME = r"^[a-z][a-z0-9_]*\.[a-z0-9_]+$"

#: Progress callback: fraction done in [0, 1] and a short message.
Progress = Callable[[float, str], None]


@dataclass
class RunResult:
    """The outcome of one simulation run.

    Attributes
    ----------
    kind
        "traffic" or "waste".
    params
        The full parameters as a JSON-serialisable dict (frozen pydantic model dumped).
    seed
        The seed the run used; the same params and seed give the same result bit for bit.
    kpis
        Headline figures, flat name → number (e.g. ``mean_trip_time_s``, ``km_driven``).
    tables
        Tidy tables (e.g. ``links_5min``, ``trips``, ``cells_5min``, ``trucks_daily``).
    layers
        GeoDataFrames for maps and exports (provenance ``simulated`` attached).
    meta
        Anything else worth keeping (wall time, versions, network provenance).
    """

    kind: str
    params: dict[str, Any]
    seed: int
    kpis: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class Simulation(Protocol):
    """The callable each simulation package exposes as ``run``."""

    def __call__(self, params: Any, seed: int, progress: Progress | None = None) -> RunResult: ...


class MissingResultError(TwinError):
    """A stored result, layer or table that does not exist."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"no {kind} {name!r}")
        self.kind = kind
        self.name = name


def _mean_layer(layers: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Average the numeric columns that vary across seeds (ids and constants are kept as they are)."""
    first = layers[0]
    if len(layers) == 1 or any(
        not (g.index.equals(first.index) and list(g.columns) == list(first.columns)) for g in layers
    ):
        return first
    out = first.copy()
    for col in first.columns:
        if col == first.geometry.name or not pd.api.types.is_numeric_dtype(first[col]):
            continue
        if pd.api.types.is_bool_dtype(first[col]):
            continue
        stack = np.column_stack([g[col].to_numpy(dtype=np.float64) for g in layers])
        if not np.allclose(stack, stack[:, :1], equal_nan=True):
            out[col] = np.nanmean(stack, axis=1) if np.isfinite(stack).any() else stack[:, 0]
    out.attrs = dict(first.attrs)
    return out


def _layer_provenance(kind: str, name: str, gdf: pd.DataFrame, spec: ScenarioSpec) -> dict[str, Any]:
    prov = provenance.of(gdf)
    if not prov:
        prov = provenance.Provenance(
            name=f"{kind}.{name}",
            source="simulated",
            licence="MIT",
            description=f"{kind} simulation output of scenario {spec.name!r}",
        ).to_dict()
    prov["synthetic"] = (
        True if prov.get("source") in ("synthetic", "simulated") else prov.get("synthetic", True)
    )
    prov["scenario"] = spec.name
    prov["seeds"] = list(spec.seeds)
    return prov


def save_results(
    out_dir: Path, spec: ScenarioSpec, results: dict[str, list[RunResult]], *, res: int | None = None
) -> dict[str, Any]:
    """Write a scenario's results under `out_dir` (see the module docstring); return ``result.json``.

    `res` is the H3 resolution the scenario ran at (recorded as ``res``).
    """
    from simulations import runner  # noqa: PLC0415  (runner imports this module)

    (out_dir / "layers").mkdir(parents=True, exist_ok=True)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    (out_dir / "spec.json").write_text(json.dumps(spec.to_dict(), ensure_ascii=False, indent=2))
    kpis: dict[str, Any] = {}
    runs: list[dict[str, Any]] = []
    layers: dict[str, Any] = {}
    tables: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for kind, rs in results.items():
        if not rs:
            continue
        summary = runner.aggregate_results(rs)
        for row in summary.itertuples(index=False):
            if is_performance(str(row.kpi)):
                continue  # machine-dependent timings go to meta, not to the scenario's KPIs
            kpis[f"{kind}.{row.kpi}"] = {
                "mean": _num(row.mean), "std": _num(row.std), "ci_low": _num(row.ci_low),
                "ci_high": _num(row.ci_high), "n": int(row.n),  # type: ignore[arg-type]
            }  # fmt: skip
        runs.extend(
            {"kind": kind, "seed": r.seed, **{k: _num(v) for k, v in r.kpis.items() if not is_performance(k)}}
            for r in rs
        )
        for name in rs[0].layers:
            gdf = _mean_layer([r.layers[name] for r in rs if name in r.layers])
            key = f"{kind}.{name}"
            out = gpd.GeoDataFrame(gdf).copy()
            out.attrs = {}
            out.to_parquet(out_dir / "layers" / f"{key}.parquet")
            layers[key] = {
                "rows": len(gdf),
                "geometry": sorted(set(gdf.geom_type.dropna())),
                "provenance": _layer_provenance(kind, name, gdf, spec),
            }
        for name, df in rs[0].tables.items():
            key = f"{kind}.{name}"
            t = df.copy()
            t.attrs = {}
            t.to_parquet(out_dir / "tables" / f"{key}.parquet")
            tables[key] = {"rows": len(df), "seed": rs[0].seed}
        meta[kind] = {
            "params": rs[0].params,
            "wall_s": [float(r.meta.get("wall_s", float("nan"))) for r in rs],
            "performance": [{k: _num(v) for k, v in r.kpis.items() if is_performance(k)} for r in rs],
            "meta": _jsonable(rs[0].meta),
        }
    doc = {"name": spec.name, "kind": spec.kind, "seeds": list(spec.seeds), "res": res, "kpis": kpis,
           "runs": runs, "layers": layers, "tables": tables, "meta": meta}  # fmt: skip
    (out_dir / "result.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    return doc


def is_performance(kpi: str) -> bool:
    """Return whether a KPI measures the machine (wall time, speed of the code) rather than the city."""
    return "wall_s" in kpi or kpi.endswith("_per_wall_s")


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


@dataclass
class StoredResult:
    """A finished scenario's results as stored on disk."""

    path: Path
    doc: dict[str, Any]

    @classmethod
    def open(cls, path: Path) -> StoredResult:
        """Read ``result.json`` under `path`."""
        f = path / "result.json"
        if not f.is_file():
            raise MissingResultError("scenario result", path.name)
        return cls(path, json.loads(f.read_text()))

    @property
    def kpis(self) -> dict[str, dict[str, Any]]:
        """KPI name → {mean, std, ci_low, ci_high, n}."""
        return dict(self.doc.get("kpis", {}))

    @property
    def layer_names(self) -> list[str]:
        """Names of the stored layers."""
        return sorted(self.doc.get("layers", {}))

    @property
    def table_names(self) -> list[str]:
        """Names of the stored tables."""
        return sorted(self.doc.get("tables", {}))

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """Return one stored layer with its provenance attached."""
        if name not in self.doc.get("layers", {}):
            raise MissingResultError("layer", name)
        gdf = gpd.read_parquet(self.path / "layers" / f"{name}.parquet")
        gdf.attrs["provenance"] = self.doc["layers"][name].get("provenance", {})
        return gdf

    def table(self, name: str) -> pd.DataFrame:
        """Return one stored table."""
        if name not in self.doc.get("tables", {}):
            raise MissingResultError("table", name)
        return pd.read_parquet(self.path / "tables" / f"{name}.parquet")

    def runs(self) -> pd.DataFrame:
        """Return the per-seed KPI table (one row per kind and seed)."""
        return pd.DataFrame(self.doc.get("runs", []))

    def seed_table(self) -> pd.DataFrame:
        """Return the per-seed KPIs as one row per seed, columns ``<kind>.<kpi>`` (for paired tests)."""
        runs = self.runs()
        if runs.empty:
            return pd.DataFrame()
        parts = []
        for kind, g in runs.groupby("kind"):
            part = g.drop(columns=["kind"]).set_index("seed")
            parts.append(part.add_prefix(f"{kind}."))
        return pd.concat(parts, axis=1)

    def compare(self, other: StoredResult) -> pd.DataFrame:
        """Return the KPI deltas other − self (paired over common seeds, see `runner.compare_kpis`)."""
        from simulations import runner  # noqa: PLC0415  (runner imports this module)

        return runner.compare_kpis(self.kpis, other.kpis, runs_a=self.seed_table(), runs_b=other.seed_table())
