"""Matplotlib figures of waste runs: daily series, the policy comparison, and a map of the points.

Figures are built with the object API (`Figure`), never pyplot: no global state, no window; save
them with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simulations.results import RunResult
from twin.crs import plot_aspect

_NOTE = "simulated (synthetic city inputs)"


def daily_figure(runs: Mapping[str, RunResult]) -> Figure:
    """Return a 3-panel figure per day: tonnes collected, km driven, overflow (kg) for each run."""
    fig = Figure(figsize=(9, 8))
    axes = fig.subplots(3, 1, sharex=True)
    for label, r in runs.items():
        d = r.tables["daily"]
        collected = d["collected_kg"].diff().fillna(d["collected_kg"]) / 1000.0
        overflow = d["overflow_kg"].diff().fillna(d["overflow_kg"])
        axes[0].plot(d["day"], collected, marker="o", ms=3, label=label)
        axes[1].plot(d["day"], d["km"], marker="o", ms=3, label=label)
        axes[2].plot(d["day"], overflow, marker="o", ms=3, label=label)
    axes[0].set_ylabel("collected (t/day)")
    axes[1].set_ylabel("truck km/day")
    axes[2].set_ylabel("overflow (kg/day)")
    axes[2].set_xlabel("day")
    axes[0].legend(loc="best")
    axes[0].set_title(f"Waste collection, day by day — {_NOTE}")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def comparison_figure(table: pd.DataFrame, name_a: str, name_b: str) -> Figure:
    """Return a bar chart of the change of b vs a per KPI (%), with the 95 % CI of the difference."""
    t = table[np.isfinite(table["change_pct"])].copy()
    base = t["a_mean"].replace(0, np.nan)
    low = 100.0 * t["diff_low"] / base
    high = 100.0 * t["diff_high"] / base
    y = np.arange(len(t))
    fig = Figure(figsize=(8, 0.4 * len(t) + 1.5))
    ax = fig.subplots()
    colors = [
        "tab:green" if (c < 0) == (b == "lower") else "tab:red"
        for c, b in zip(t["change_pct"], t["better"], strict=True)
    ]
    ax.barh(y, t["change_pct"], color=colors, alpha=0.7)
    ax.errorbar(
        t["change_pct"],
        y,
        xerr=np.vstack((t["change_pct"] - low, high - t["change_pct"])).clip(min=0),
        fmt="none",
        ecolor="black",
        capsize=3,
    )
    ax.set_yticks(y, t["kpi"])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"{name_b} vs {name_a} (%), 95 % CI over {int(t['n_seeds'].iloc[0])} seeds")
    ax.set_title(f"Policy comparison — green is better — {_NOTE}")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def points_figure(result: RunResult) -> Figure:
    """Return a map of the collection points coloured by overflowing hours, with the day-0 routes."""
    pts = result.layers["points"]
    routes = result.layers["routes"]
    fig = Figure(figsize=(8, 8))
    ax = fig.subplots()
    day0 = routes[routes["day"] == routes["day"].min()] if len(routes) else routes
    for geom in day0.geometry:
        xs, ys = geom.xy
        ax.plot(xs, ys, lw=0.6, alpha=0.5, color="tab:blue")
    sc = ax.scatter(
        pts.geometry.x,
        pts.geometry.y,
        c=pts["overflow_hours"],
        s=8 + 4 * pts["containers"],
        cmap="inferno_r",
        edgecolor="grey",
        linewidth=0.3,
    )
    fig.colorbar(sc, ax=ax, label="overflowing hours")
    sites = result.meta["sites"]
    for key, marker, label in (("depot", "s", "depot"), ("disposal", "X", "disposal site")):
        lon, lat = sites[f"{key}_lonlat"]
        ax.scatter([lon], [lat], marker=marker, s=120, color="tab:green", edgecolor="black", label=label)
    ax.legend(loc="lower left")
    ax.set_title(f"Collection points and day-0 routes — {_NOTE}\n{sites['disposal_name']}")
    ax.set_xlabel("lon")
    ax.set_ylabel("lat")
    ax.set_aspect(plot_aspect())
    fig.tight_layout()
    return fig
