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
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from twin import h3grid, provenance
from twin.crs import METRIC, WGS84
from twin.errors import TwinError
from twin.numbers import finite_or_none as _num

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
        """Return the KPI deltas other − self: self the baseline, other the scenario (`compare_kpis`)."""
        return compare_kpis(self.kpis, other.kpis, runs_a=self.seed_table(), runs_b=other.seed_table())


# -- what the figures mean: units, labels, groups --------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """What a KPI or a layer column measures, for people reading a table or a legend.

    Attributes
    ----------
    unit
        SI-style unit ("km", "veh·h", "km/h", "t"); "" for a pure number such as an index.
    en, vi
        Labels in English and Vietnamese.
    group
        ``planning`` (what a planner decides on), ``input`` (figures the scenario sets, such as the
        number of trucks) or ``diagnostic`` (how the run went: wall time, route refreshes, balance
        checks). Only planning figures enter the multiple-comparison correction.
    along
        The value adds up along a line (a route's km): a line's value is spread over the H3 cells it
        crosses in proportion to its length in each.
    """

    unit: str
    en: str
    vi: str
    group: str = "planning"
    along: bool = False


_M = Metric
#: KPIs of the simulations (``<kind>.`` stripped) and the layer columns worth comparing. A layer column
#: not listed here (ids such as ``node`` or ``day``, flags, text) never enters a difference layer.
METRICS: dict[str, Metric] = {
    # traffic KPIs
    "trips": _M("trips", "Trips", "Số chuyến đi"),
    "completed": _M("trips", "Trips completed", "Chuyến đi hoàn thành"),
    "completed_share": _M("%", "Share of trips completed", "Tỷ lệ chuyến đi hoàn thành"),
    "not_arrived_share": _M("%", "Share of trips not arrived", "Tỷ lệ chuyến đi chưa đến nơi"),
    "unroutable": _M("trips", "Trips with no route", "Chuyến đi không có đường"),
    "en_route_at_end": _M("veh", "Vehicles still on the road at the end", "Xe còn trên đường lúc kết thúc"),
    "not_departed": _M("veh", "Vehicles that never entered the network", "Xe chưa vào được mạng lưới"),
    "waiting_to_enter_at_end": _M(
        "veh", "Vehicles waiting to enter at the end", "Xe chờ vào đường lúc kết thúc"
    ),
    "total_time_in_system_h": _M("veh·h", "Total time in system", "Tổng thời gian trong hệ thống"),
    "mean_time_in_system_s": _M("s", "Mean time in system per trip", "Thời gian trung bình trong hệ thống"),
    "vehicle_hours": _M("veh·h", "Vehicle-hours on the network", "Xe·giờ trên mạng lưới"),
    "departure_delay_h": _M("veh·h", "Waiting to enter the network", "Thời gian chờ vào mạng lưới"),
    "total_delay_h": _M("veh·h", "Total delay", "Tổng thời gian trễ"),
    "vehicle_km": _M("veh·km", "Vehicle-km driven", "Xe·km đã chạy"),
    "mean_speed_kmh": _M("km/h", "Mean speed", "Tốc độ trung bình"),
    "mean_trip_time_s": _M(
        "s", "Mean trip time (completed trips)", "Thời gian chuyến đi trung bình (đã hoàn thành)"
    ),
    "median_trip_time_s": _M(
        "s", "Median trip time (completed trips)", "Trung vị thời gian chuyến đi (đã hoàn thành)"
    ),
    "p95_trip_time_s": _M(
        "s", "95th percentile trip time (completed)", "Phân vị 95 thời gian chuyến đi (đã hoàn thành)"
    ),
    "mean_delay_s": _M("s", "Mean delay per completed trip", "Độ trễ trung bình mỗi chuyến hoàn thành"),
    "mean_distance_km": _M("km", "Mean trip distance (completed)", "Quãng đường trung bình (đã hoàn thành)"),
    "max_queue_veh": _M("veh", "Longest 5-min mean queue", "Hàng đợi dài nhất (trung bình 5 phút)"),
    "route_refreshes": _M("", "Route table refreshes", "Số lần cập nhật bảng lộ trình", "diagnostic"),
    "teleports": _M("veh", "Teleports over jams", "Số lần dịch chuyển qua ùn tắc", "diagnostic"),
    "gridlock": _M("", "Gridlock at the end (1 = yes)", "Tắc nghẽn hoàn toàn lúc kết thúc (1 = có)"),
    "gridlock_since_s": _M("s", "Gridlock since", "Tắc nghẽn hoàn toàn từ"),
    "spillback_cycles": _M("", "Spillback cycles at the end", "Vòng ùn tắc lan ngược lúc kết thúc"),
    "links_in_spillback_cycles": _M("links", "Links in spillback cycles", "Đoạn đường trong vòng ùn tắc"),
    "vehicles_locked_at_end": _M(
        "veh", "Vehicles locked in gridlock at the end", "Xe bị kẹt cứng lúc kết thúc"
    ),
    "heads_blocked_by_full_link_at_end": _M(
        "links", "Queue heads blocked by a full road", "Đầu hàng đợi bị chặn bởi đường đầy", "diagnostic"
    ),
    "heads_held_by_junction_conflict_at_end": _M(
        "links", "Queue heads held at junction crossings", "Đầu hàng đợi chờ qua giao lộ", "diagnostic"
    ),
    "heads_at_red_signal_at_end": _M(
        "links", "Queue heads at a red signal", "Đầu hàng đợi chờ đèn đỏ", "diagnostic"
    ),
    "heads_with_no_open_way_at_end": _M(
        "links", "Queue heads with no open way", "Đầu hàng đợi không còn đường mở", "diagnostic"
    ),
    "wall_s": _M("s", "Wall time of the run", "Thời gian chạy thực", "diagnostic"),
    "vehicle_seconds_per_wall_s": _M(
        "veh·s/s", "Simulated vehicle-seconds per second", "Xe·giây mô phỏng mỗi giây", "diagnostic"
    ),
    # waste KPIs
    "days": _M("days", "Days simulated", "Số ngày mô phỏng", "input"),
    "points": _M("points", "Collection points", "Điểm thu gom", "input"),
    "containers": _M("bins", "Containers", "Thùng rác", "input"),
    "trucks": _M("trucks", "Trucks", "Xe thu gom", "input"),
    "km_driven": _M("km", "Truck-km driven", "Quãng đường xe rác đã chạy"),
    "truck_hours": _M("h", "Truck-hours", "Giờ xe chạy"),
    "overtime_hours": _M("h", "Overtime", "Giờ làm thêm"),
    "fuel_l": _M("L", "Fuel", "Nhiên liệu"),
    "co2_t": _M("t CO₂", "CO₂ emitted", "Phát thải CO₂"),
    "tonnes_generated": _M("t", "Waste generated", "Rác phát sinh"),
    "tonnes_collected": _M("t", "Waste collected", "Rác đã thu gom"),
    "tonnes_delivered": _M("t", "Waste delivered to disposal", "Rác đã chở đến bãi"),
    "tonnes_overflow": _M("t", "Waste overflowing bins", "Rác tràn thùng"),
    "overflow_share": _M("%", "Share of waste overflowing", "Tỷ lệ rác tràn"),
    "overflow_bin_hours": _M("bin·h", "Bin-hours full", "Thùng·giờ bị đầy"),
    "visits": _M("visits", "Collection visits", "Lượt thu gom"),
    "trips_to_disposal": _M("trips", "Trips to disposal", "Chuyến chở đến bãi"),
    "extra_trips": _M("trips", "Extra trips to disposal", "Chuyến chở thêm"),
    "mean_fill_at_collection": _M("%", "Mean fill at collection", "Mức đầy trung bình khi thu gom"),
    "load_utilisation": _M("%", "Truck load used", "Tỷ lệ tải xe sử dụng"),
    "time_utilisation": _M("%", "Shift time used", "Tỷ lệ thời gian ca sử dụng"),
    "km_per_tonne": _M("km/t", "Truck-km per tonne collected", "Km xe mỗi tấn thu gom"),
    "unreachable_visits": _M("visits", "Visits cut off by closures", "Lượt thu gom bị chặn do cấm đường"),
    "tonnes_initial": _M("t", "Waste in bins at the start", "Rác trong thùng lúc bắt đầu", "input"),
    "mass_balance_error_kg": _M("kg", "Mass balance error", "Sai số cân bằng khối lượng", "diagnostic"),
    # layer columns: traffic.links, traffic.cells
    "volume_veh": _M("veh", "Vehicles through", "Lượt xe qua"),
    "peak_flow_veh_h": _M("veh/h", "Peak 5-min flow", "Lưu lượng đỉnh (5 phút)"),
    "min_speed_kmh": _M("km/h", "Lowest 5-min speed", "Tốc độ thấp nhất (5 phút)"),
    "speed_ratio": _M("%", "Speed / free-flow speed", "Tốc độ / tốc độ tự do"),
    "mean_congestion_index": _M("", "Congestion index (1 = free flow)", "Chỉ số ùn tắc (1 = thông thoáng)"),
    "peak_congestion_index": _M("", "Peak congestion index", "Chỉ số ùn tắc đỉnh"),
    # layer columns: waste.routes, waste.points, waste.cells
    "km": _M("km", "Truck-km", "Km xe rác", along=True),
    "fill": _M("%", "Bin fill at the end", "Mức đầy thùng lúc kết thúc"),
    "fill_now": _M("%", "Bin fill at the end", "Mức đầy thùng lúc kết thúc"),
    "content_kg": _M("kg", "Waste in bins at the end", "Rác trong thùng lúc kết thúc"),
    "generated_kg": _M("kg", "Waste generated", "Rác phát sinh"),
    "collected_kg": _M("kg", "Waste collected", "Rác đã thu gom"),
    "overflow_kg": _M("kg", "Waste overflowing", "Rác tràn"),
    "overflow_hours": _M("bin·h", "Hours full", "Số giờ thùng đầy"),
}


def metric(name: str) -> Metric:
    """Return what KPI or column `name` measures (``<kind>.`` prefixes and ``_delta`` suffixes stripped).

    A name not in `METRICS` gets its unit from its suffix (``_s``, ``_h``, ``_km``, ``_kmh``, ``_kg``…)
    and its name as label; performance figures (`is_performance`) are diagnostics.
    """
    base = name.split(".", 1)[1] if "." in name else name
    base = base.removesuffix("_delta")
    if base in METRICS:
        return METRICS[base]
    unit = next((u for suffix, u in _SUFFIX_UNITS if base.endswith(suffix)), "")
    label = base.replace("_", " ")
    return Metric(unit, label, label, "diagnostic" if is_performance(base) else "planning")


_SUFFIX_UNITS = (("_kmh", "km/h"), ("_veh_h", "veh/h"), ("_veh", "veh"), ("_km", "km"), ("_kg", "kg"),
                 ("_share", "%"), ("_s", "s"), ("_h", "h"), ("_l", "L"), ("_t", "t"))  # fmt: skip


def percent_unit(unit: str) -> bool:
    """Return whether values of `unit` are fractions shown as percentages (0.25 → 25 %)."""
    return unit == "%"


def format_value(v: Any, unit: str = "", *, signed: bool = False) -> str:
    """Format a figure for a table in fixed notation (never ``1e+05``), fractions as percentages.

    Four significant digits below 1,000, whole numbers with thousands separators above; NaN and
    None are "–". `signed` adds "+" to positive values (for differences).
    """
    f = _num(v)
    if f is None:
        return "–"
    if percent_unit(unit):
        f *= 100.0
    sign = "+" if signed else ""
    if f == 0:
        return "0"
    mag = abs(f)
    decimals = 0 if mag >= 1000 else min(6, max(0, 3 - int(np.floor(np.log10(mag)))))
    text = f"{f:{sign},.{decimals}f}"
    if decimals and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# -- paired differences of two runs: the one home of the statistics --------------------------------
#: Confidence level of every interval (means over seeds, paired differences).
CONFIDENCE = 0.95
#: The multiple-comparison correction applied to the p-values of the planning KPIs.
CORRECTION = "holm"
CORRECTION_LABEL = {
    "en": "Holm–Bonferroni correction over the planning KPIs (family-wise error 5 %)",
    "vi": "Hiệu chỉnh Holm–Bonferroni trên các chỉ số quy hoạch (sai số toàn họ 5 %)",
}


def mean_ci(values: Iterable[float], level: float = CONFIDENCE) -> tuple[int, float, float, float, float]:
    """Return (n, mean, std, ci_low, ci_high) of finite `values` with a Student-t interval.

    With fewer than two values the interval (and the std) is NaN; with zero values everything but
    n is NaN.
    """
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return n, mean, math.nan, math.nan, math.nan
    std = float(x.std(ddof=1))
    from scipy import stats  # noqa: PLC0415  (scipy.stats takes ~0.8 s to import: not at service start-up)

    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return n, mean, std, mean - half, mean + half


@dataclass(frozen=True)
class PairedDifference:
    """The difference b − a of one KPI over common seeds (common random numbers).

    ``p_value`` is the two-sided paired t-test; a constant non-zero difference (zero spread) has
    p = 0, no difference at all p = 1; with fewer than two pairs it is NaN.
    """

    n: int
    mean: float
    ci_low: float
    ci_high: float
    p_value: float


def paired_difference(a: npt.ArrayLike, b: npt.ArrayLike) -> PairedDifference:
    """Return the paired difference b − a of per-seed values (same seeds, same order)."""
    va = np.asarray(a, dtype=np.float64)
    d = np.asarray(b, dtype=np.float64) - va
    n, dm, dsd, dlo, dhi = mean_ci(d.tolist())
    tol = 1e-9 * max(1.0, float(np.nanmax(np.abs(va))) if np.isfinite(va).any() else 1.0)
    if n < 2:
        p = math.nan
    elif dsd <= tol:
        p = 1.0 if abs(dm) <= tol else 0.0
        dlo = dhi = dm
    else:
        from scipy import stats  # noqa: PLC0415  (slow to import)

        p = float(2 * stats.t.sf(abs(dm) / (dsd / math.sqrt(n)), n - 1))
    return PairedDifference(n, dm, dlo, dhi, p)


def holm(p_values: Sequence[float]) -> list[float]:
    """Return Holm's step-down adjusted p-values (NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, math.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    if m:
        order = idx[np.argsort(p[idx], kind="stable")]
        adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
        out[order] = adj
    return [float(x) for x in out]


def compare_kpis(
    a: Mapping[str, Mapping[str, Any]],
    b: Mapping[str, Mapping[str, Any]],
    *,
    runs_a: pd.DataFrame | None = None,
    runs_b: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the KPI deltas b − a of two aggregated results (``name → {mean, std, n, ...}``).

    Read b as the scenario and a as its baseline: ``delta`` is scenario − baseline. When per-seed
    KPI tables are given (index seed, one column per KPI) and the two share at least two seeds, the
    difference is *paired* over the common seeds (common random numbers: the same seed draws the
    same demand, so the difference isolates the change) and ``delta_ci_low``/``delta_ci_high`` is
    the 95 % interval of the paired difference; otherwise a Welch t-test over the two sets of seeds.

    The p-values of the planning KPIs are adjusted with Holm's method (``p_adjusted``; the method
    is in ``correction`` and in ``attrs["correction"]``); ``significant`` is p_adjusted < 0.05. Input
    and diagnostic figures (``group``) are listed but never called significant. Columns also carry
    the ``unit`` and the labels ``label_en``/``label_vi``. KPIs present on one side only are listed
    with NaN on the other.
    """
    common: list[Any] = []
    if runs_a is not None and runs_b is not None:
        common = sorted(set(runs_a.index) & set(runs_b.index))
    rows = []
    for k in sorted(set(a) | set(b)):
        ra, rb = a.get(k, {}), b.get(k, {})
        ma, mb = _f(ra.get("mean")), _f(rb.get("mean"))
        delta = mb - ma
        pct = 100.0 * delta / abs(ma) if ma and math.isfinite(ma) else math.nan
        dlo = dhi = math.nan
        n_pairs = 0
        if len(common) >= 2 and runs_a is not None and runs_b is not None and k in runs_a and k in runs_b:
            pd_ = paired_difference(
                runs_a.loc[common, k].to_numpy(dtype=np.float64),
                runs_b.loc[common, k].to_numpy(dtype=np.float64),
            )
            p, dlo, dhi, n_pairs, test = pd_.p_value, pd_.ci_low, pd_.ci_high, pd_.n, "paired"
        else:
            sa, sb = (_f(ra.get("std")), int(ra.get("n") or 0)), (_f(rb.get("std")), int(rb.get("n") or 0))
            p = _welch_p((ma, *sa), (mb, *sb))
            test = "none" if math.isnan(p) else "welch"
            tol = 1e-9 * max(1.0, abs(ma) if math.isfinite(ma) else 1.0)
            if math.isnan(p) and math.isfinite(delta) and _no_spread(ra, rb):
                # ≥ 2 seeds a side with zero spread: a deterministic difference
                p = 0.0 if abs(delta) > tol else 1.0
        m = metric(k)
        rows.append(
            {"kpi": k, "label_en": m.en, "label_vi": m.vi, "unit": m.unit, "group": m.group,
             "a": ma, "b": mb, "delta": delta, "delta_pct": pct,
             "a_ci_low": _f(ra.get("ci_low")), "a_ci_high": _f(ra.get("ci_high")),
             "b_ci_low": _f(rb.get("ci_low")), "b_ci_high": _f(rb.get("ci_high")),
             "delta_ci_low": dlo, "delta_ci_high": dhi, "test": test, "n_pairs": n_pairs, "p_value": p}
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=COMPARE_COLUMNS[:-3])
    planning = (frame["group"] == "planning").to_numpy() if len(frame) else np.zeros(0, bool)
    adjusted = np.full(len(frame), math.nan)
    if planning.any():
        adjusted[planning] = holm(frame.loc[planning, "p_value"].tolist())
    frame["p_adjusted"] = adjusted
    frame["significant"] = planning & (np.nan_to_num(adjusted, nan=1.0) < 1 - CONFIDENCE)
    frame["correction"] = CORRECTION
    frame.attrs["correction"] = CORRECTION
    return frame


#: Columns of `compare_kpis`, in order.
COMPARE_COLUMNS = [
    "kpi", "label_en", "label_vi", "unit", "group", "a", "b", "delta", "delta_pct", "a_ci_low", "a_ci_high",
    "b_ci_low", "b_ci_high", "delta_ci_low", "delta_ci_high", "test", "n_pairs", "p_value", "p_adjusted",
    "significant", "correction",
]  # fmt: skip


def _f(v: Any) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _no_spread(ra: Mapping[str, Any], rb: Mapping[str, Any]) -> bool:
    # At least two seeds on each side and zero spread on both: a deterministic difference.
    if int(ra.get("n") or 0) < 2 or int(rb.get("n") or 0) < 2:
        return False
    return _f(ra.get("std")) == 0 and _f(rb.get("std")) == 0


def _welch_p(a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    (ma, sa, na), (mb, sb, nb) = a, b
    if na < 2 or nb < 2 or not all(math.isfinite(x) for x in (ma, sa, mb, sb)):
        return math.nan
    va, vb = sa * sa / na, sb * sb / nb
    if va + vb == 0:
        return math.nan
    t = (mb - ma) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / ((va * va) / (na - 1) + (vb * vb) / (nb - 1))
    from scipy import stats  # noqa: PLC0415  (slow to import)

    return float(2 * stats.t.sf(abs(t), dof))


# -- difference layers ---------------------------------------------------------------------------
#: Name parts (between underscores) of columns whose values add up when features share an H3 cell.
EXTENSIVE = frozenset(
    {"count", "flow", "veh", "vehicles", "trips", "kg", "tonnes", "volume", "km", "pcu", "overflow", "hours"}
)
#: Name parts that mark a column as intensive (averaged) even if it also names an extensive unit.
INTENSIVE = frozenset(
    {"mean", "avg", "median", "min", "max", "ratio", "share", "index", "rate", "speed", "pct", "fill"}
)


def is_extensive(column: str) -> bool:
    """Return whether a column adds up over features (counts, flows, masses, distances)."""
    parts = set(column.lower().split("_"))
    return bool(parts & EXTENSIVE) and not parts & INTENSIVE


def compared_columns(layer: pd.DataFrame) -> list[str]:
    """Return the numeric columns of `layer` a difference layer compares: those `METRICS` describes."""
    geom = layer.geometry.name if isinstance(layer, gpd.GeoDataFrame) else None
    return [
        c for c in layer.columns
        if c != geom and c in METRICS and pd.api.types.is_numeric_dtype(layer[c])
        and not pd.api.types.is_bool_dtype(layer[c])
    ]  # fmt: skip


#: Spacing of the points a line is sampled at to find the H3 cells it crosses, as a share of the
#: cell's edge length.
_SAMPLES_PER_EDGE = 8


def _line_samples(
    geoms: np.ndarray[Any, Any], res: int
) -> tuple[np.ndarray[Any, Any], list[str], np.ndarray[Any, Any]]:
    """Sample lines evenly along their length: (feature index, cell, share of the line) per sample."""
    lengths = gpd.GeoSeries(geoms, crs=WGS84).to_crs(METRIC).length.to_numpy()
    mid = shapely.line_interpolate_point(geoms[0], 0.5, normalized=True)
    here = h3grid.to_str(h3grid.latlng_to_cells([mid.y], [mid.x], res))[0]
    edge_m = math.sqrt(2.0 * h3grid.cell_area_km2(here) * 1e6 / (3.0 * math.sqrt(3.0)))
    step = edge_m / _SAMPLES_PER_EDGE
    n = np.maximum(1, np.ceil(np.nan_to_num(lengths) / step)).astype(np.int64)
    owner = np.repeat(np.arange(len(geoms)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    frac = (np.arange(owner.size) - start + 0.5) / n[owner]
    pts = shapely.line_interpolate_point(geoms[owner], frac, normalized=True)
    cells = h3grid.to_str(h3grid.latlng_to_cells(shapely.get_y(pts), shapely.get_x(pts), res))
    return owner, cells, 1.0 / n[owner]


def to_cells(layer: gpd.GeoDataFrame, res: int) -> pd.DataFrame:
    """Aggregate a layer's compared columns (`compared_columns`) to H3 cells at `res` (index ``cell``).

    A feature belongs to the cell of its ``cell`` column when it has one at `res`, else to the cell
    of its representative point (a line's midpoint, a polygon's inner point). Columns that add up
    along a line (`Metric.along`: a route's km) are spread over every cell the line crosses, in
    proportion to its length there. Extensive columns (`is_extensive`: counts, flows, masses,
    distances) are summed; the others averaged. The count of features per cell is ``n_features``.
    """
    res = h3grid.check_resolution(res)
    num = compared_columns(layer)
    if len(layer) == 0:
        return pd.DataFrame(columns=["n_features", *num], index=pd.Index([], name="cell"))
    if "cell" in layer.columns and h3grid.is_valid(str(layer["cell"].iloc[0])):
        cells = [h3grid.cell_to_parent(str(c), res) if h3grid.resolution(str(c)) > res else str(c)
                 for c in layer["cell"]]  # fmt: skip
        geoms = None
    else:
        geoms = layer.geometry.to_numpy()
        pts = shapely.point_on_surface(geoms)
        lines = shapely.get_type_id(geoms) == 1  # LineString: its midpoint instead
        if lines.any():
            pts[lines] = shapely.line_interpolate_point(geoms[lines], 0.5, normalized=True)
        cells = h3grid.to_str(h3grid.latlng_to_cells(shapely.get_y(pts), shapely.get_x(pts), res))
    along = [c for c in num if METRICS[c].along]
    point = [c for c in num if c not in along]
    df = pd.DataFrame({c: layer[c].to_numpy(dtype=np.float64) for c in point})
    df["cell"] = cells
    df["n_features"] = 1.0
    agg: dict[str, str] = {c: ("sum" if is_extensive(c) else "mean") for c in point}
    agg["n_features"] = "sum"
    out = df.groupby("cell", sort=True).agg(agg)
    if along:
        if geoms is not None and (shapely.get_type_id(geoms) == 1).all():
            owner, sample_cells, share = _line_samples(geoms, res)
            spread = pd.DataFrame({c: layer[c].to_numpy(dtype=np.float64)[owner] * share for c in along})
            spread["cell"] = sample_cells
        else:
            spread = pd.DataFrame({c: layer[c].to_numpy(dtype=np.float64) for c in along})
            spread["cell"] = cells
        sums = spread.groupby("cell", sort=True).sum()
        out = out.join(sums, how="outer")
        out["n_features"] = out["n_features"].fillna(0.0)
    return out[["n_features", *num]] if len(out.columns) else out


def cell_difference(
    a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, res: int, name: str = "", *, runs: tuple[str, str] | None = None
) -> gpd.GeoDataFrame:
    """Return the H3 difference layer b − a of two layers (b the scenario, a its baseline).

    Both are aggregated with `to_cells` (only unit-bearing measures, `METRICS`; ids never); cells
    present on one side only count as zero for summed columns and stay NaN for averaged ones.
    Columns: ``cell``, and for each compared column ``<col>_a``, ``<col>_b``, ``<col>_delta``;
    geometry is the cell polygon. The provenance (derived from both, `runs` the two run ids) says
    which is which and the unit of each column (``units``).
    """
    ca, cb = to_cells(a, res), to_cells(b, res)
    cols = [c for c in ca.columns if c in cb.columns]
    cells = sorted(set(ca.index) | set(cb.index))
    ca, cb = ca.reindex(cells), cb.reindex(cells)
    out = pd.DataFrame({"cell": cells})
    units: dict[str, str] = {}
    labels: dict[str, dict[str, str]] = {}
    for c in cols:
        va, vb = ca[c].to_numpy(), cb[c].to_numpy()
        if c == "n_features" or is_extensive(c) or (c in METRICS and METRICS[c].along):
            va, vb = np.nan_to_num(va), np.nan_to_num(vb)
        out[f"{c}_a"] = va
        out[f"{c}_b"] = vb
        out[f"{c}_delta"] = vb - va
        m = METRICS.get(c, Metric("features", "Features", "Số đối tượng"))
        units[f"{c}_delta"] = m.unit
        labels[f"{c}_delta"] = {"en": m.en, "vi": m.vi}
    gdf = gpd.GeoDataFrame(out, geometry=h3grid.cells_to_polygons(cells), crs=WGS84)
    pa, pb = provenance.of(a), provenance.of(b)
    label = f"{name} " if name else ""
    prov = provenance.Provenance(
        name=f"difference:{name}" if name else "difference",
        source="derived",
        licence="MIT",
        description=f"H3 res {res} difference scenario − baseline (b − a) of two runs' {label}layer",
        synthetic=bool(pa.get("synthetic", True) or pb.get("synthetic", True)),
        inputs=(str(pa.get("name", "a")), str(pb.get("name", "b"))),
        params={"res": res, "order": "b − a (scenario − baseline)", "units": units, "labels": labels,
                **({"a": runs[0], "b": runs[1]} if runs else {})},
    )  # fmt: skip
    return provenance.attach(gdf, prov)  # type: ignore[return-value]


def comparison_document(frame: pd.DataFrame, a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Return a `compare_kpis` table as the JSON the API answers and the CLI prints (NaN → None).

    `a` and `b` describe the baseline and the scenario (id, name, title…). ``kpis`` lists every KPI
    with its group; ``planning`` names the planning KPIs in order; the correction is named.
    """
    rows = [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return {
        "a": dict(a),
        "b": dict(b),
        "order": "b − a",
        "meaning": {"en": "scenario − baseline", "vi": "kịch bản − hiện trạng"},
        "confidence": CONFIDENCE,
        "correction": {"method": CORRECTION, **CORRECTION_LABEL},
        "kpis": rows,
    }


def _clean(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    return v
