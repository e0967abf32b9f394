"""Small cities for the waste tests: a grid network and populated H3 cells built on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulations.waste.params import WasteParams
from tests.support.gridnet import grid_network
from twin import h3grid
from twin.network import RoadNetwork


def make_cells(net: RoadNetwork, seed: int = 1, max_pop: int = 800) -> pd.DataFrame:
    """Return the res-9 cells under the network's nodes with random population and attractiveness."""
    x = net.nodes["x"].to_numpy()
    y = net.nodes["y"].to_numpy()
    cells = sorted(set(h3grid.to_str(h3grid.latlng_to_cells(y, x, 9))))
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "population": rng.integers(0, max_pop, len(cells)).astype(float),
            "attractiveness": rng.random(len(cells)),
            "ward_code": np.where(np.arange(len(cells)) % 2 == 0, "05977", "05983"),
        },
        index=pd.Index(cells, name="cell"),
    )


@pytest.fixture(scope="session")
def net() -> RoadNetwork:
    """A 12×12 residential grid, 200 m blocks, 30 km/h."""
    return grid_network(12, 12, spacing_m=200.0, speed_kmh=30.0, road_class="residential")


@pytest.fixture(scope="session")
def cells(net: RoadNetwork) -> pd.DataFrame:
    """Populated cells on `net` (about 22,000 people)."""
    return make_cells(net)


def small_params(**changes: object) -> WasteParams:
    """Return quick parameters for model tests: 4 days, 2 trucks, a short solver budget."""
    base: dict[str, object] = {
        "days": 4,
        "fleet": {"trucks": 2, "capacity_kg": 3000.0},
        "solver_time_s": 0.3,
    }
    base.update(changes)
    return WasteParams.from_dict(base)
