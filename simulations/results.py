"""What every simulation run returns: KPIs, tidy tables and layers, with its parameters and seed.

The scenario runner (jobs, sweeps on Dask) and the briefing only see this type, so traffic and waste
plug in the same way: each package exposes ``run(params, seed, progress=None) -> RunResult`` in its
``model.py`` (see `Simulation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import geopandas as gpd
import pandas as pd

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
