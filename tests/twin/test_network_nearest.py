"""RoadNetwork.nearest_node: brute force (few pairs, no scipy) and the k-d tree give the same nodes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from twin import crs, network
from twin.network import RoadNetwork
from twin.provenance import Provenance


def _net(n: int, seed: int) -> RoadNetwork:
    rng = np.random.default_rng(seed)
    nodes = pd.DataFrame(
        {"x": rng.uniform(106.70, 106.82, n), "y": rng.uniform(21.80, 21.90, n)},
        index=pd.RangeIndex(n, name="node_id"),
    )
    prov = Provenance(name="points", source="synthetic", licence="CC0-1.0")
    return RoadNetwork(nodes=nodes, links=pd.DataFrame(), provenance=prov)


@pytest.mark.parametrize("n_query", [1, 300, 5_000])
def test_nearest_node_matches_a_kd_tree(n_query: int, monkeypatch: pytest.MonkeyPatch) -> None:
    net = _net(1_500, n_query)
    rng = np.random.default_rng(7)
    lon = np.concatenate([rng.uniform(106.69, 106.83, n_query), net.nodes["x"].to_numpy()[:50]])
    lat = np.concatenate([rng.uniform(21.79, 21.91, n_query), net.nodes["y"].to_numpy()[:50]])
    xy = crs.local_metres(net.nodes["x"].to_numpy(), net.nodes["y"].to_numpy())
    _, want = cKDTree(xy).query(crs.local_metres(lon, lat))
    brute = net.nearest_node(lon, lat)  # 1 500 nodes x up to 5 050 points: under the brute-force cap
    np.testing.assert_array_equal(brute, want)
    assert brute[-50:].tolist() == list(range(50))  # a node's own position is nearest to itself
    monkeypatch.setattr(network, "_BRUTE_FORCE_PAIRS", 0)  # the k-d tree path
    np.testing.assert_array_equal(net.nearest_node(lon, lat), want)
