"""Draw a traffic run: a speed map of the links and a time series of the network state (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from simulations.results import RunResult
from twin.crs import plot_aspect
from twin.errors import InputError


def _check(result: RunResult) -> None:
    if result.kind != "traffic" or "links" not in result.layers or "timeseries" not in result.tables:
        raise InputError(
            "result", "is not a traffic run", hint="pass the RunResult of simulations.traffic.run"
        )


def speed_map(result: RunResult, path: Path, *, title: str | None = None) -> Path:
    """Write a map of the links coloured by mean speed / free speed (red = congested) to `path`."""
    _check(result)
    links = result.layers["links"]
    fig = Figure(figsize=(9, 9), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    segs = [np.asarray(g.coords)[:, :2] for g in links.geometry]
    ratio = np.clip(links["speed_ratio"].to_numpy(dtype=float), 0.0, 1.0)
    width = 0.4 + 2.0 * np.sqrt(
        links["volume_veh"].to_numpy(dtype=float) / max(links["volume_veh"].max(), 1.0)
    )
    lc = LineCollection(segs, array=ratio, cmap="RdYlGn", norm=None, linewidths=width)
    lc.set_clim(0.0, 1.0)
    ax.add_collection(lc)
    closed = links["closed_any"].to_numpy(dtype=bool)
    if closed.any():
        ax.add_collection(LineCollection([s for s, c in zip(segs, closed, strict=True) if c], colors="black",
                                         linewidths=3.0, linestyles="dashed", label="closed"))  # fmt: skip
        ax.legend(loc="lower right")
    ax.autoscale()
    ax.set_aspect(plot_aspect(float(np.mean(ax.get_ylim()))))
    cb = fig.colorbar(lc, ax=ax, shrink=0.7)
    cb.set_label("mean speed / free speed")
    k = result.kpis
    ax.set_title(
        title
        or f"{result.params.get('name', 'traffic')} (seed {result.seed}) — simulated\n"
        f"{k['completed_share'] * 100:.0f} % completed, "
        f"mean time in system {k['mean_time_in_system_s'] / 60:.1f} min (all trips), "
        f"mean speed {k['mean_speed_kmh']:.1f} km/h (all on the network)"
    )
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def timeseries(result: RunResult, path: Path) -> Path:
    """Write vehicles on the network, waiting, arrived and mean speed over time to `path`."""
    _check(result)
    ts = result.tables["timeseries"]
    minutes = ts["time_s"].to_numpy(dtype=float) / 60.0
    fig = Figure(figsize=(10, 6), dpi=110)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for col, label in (
        ("on_network", "on the network"),
        ("waiting", "waiting to enter"),
        ("arrived", "arrived"),
    ):
        ax1.plot(minutes, ts[col].to_numpy(dtype=float), label=label)
    ax1.set_ylabel("vehicles")
    ax1.legend(loc="upper left")
    ax1.grid(alpha=0.3)
    ax2.plot(minutes, ts["mean_speed_kmh"].to_numpy(dtype=float), color="tab:red")
    ax2.set_ylabel("space-mean speed (km/h)")
    ax2.set_xlabel(f"minutes after {result.params.get('start', '')} (local time)")
    ax2.grid(alpha=0.3)
    fig.suptitle(f"{result.params.get('name', 'traffic')} (seed {result.seed}) — simulated")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def calibration_scatter(camera_hours: pd.DataFrame, path: Path, *, title: str = "") -> Path:
    """Write observed vs simulated vehicles per camera-hour (fitted and held-out cameras) to `path`.

    `camera_hours` has ``observed``, ``simulated`` and ``set`` ("fitted" / "held_out"), as
    `simulations.traffic.calibrate.Calibration.camera_hours`. The band is GEH < 5.
    """
    fig = Figure(figsize=(6.5, 6.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    top = float(max(camera_hours["observed"].max(), camera_hours["simulated"].max(), 1.0)) * 1.05
    x = np.linspace(0.0, top, 200)
    # GEH = 5 ⇔ (M − C)² = 12.5 (M + C): M = C + 6.25 ± √(6.25² + 25 C)
    half = np.sqrt(39.0625 + 25 * x)
    ax.fill_between(x, np.maximum(x + 6.25 - half, 0), x + 6.25 + half, color="0.9", label="GEH < 5")
    ax.plot([0, top], [0, top], color="0.5", lw=0.8)
    sets = (
        ("fitted", "tab:blue", "fitted cameras / camera dùng để hiệu chỉnh"),
        ("held_out", "tab:orange", "held-out cameras / camera kiểm tra"),
    )
    for name, colour, label in sets:
        sel = camera_hours["set"] == name
        ax.scatter(camera_hours.loc[sel, "observed"], camera_hours.loc[sel, "simulated"], s=14, c=colour,
                   label=label, alpha=0.8)  # fmt: skip
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("observed vehicles per camera-hour / xe đếm được mỗi giờ")
    ax.set_ylabel("simulated / mô phỏng")
    ax.set_title(title or "Traffic counts: observed vs simulated (synthetic)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path)
    return path
