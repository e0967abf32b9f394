"""The road network: one graph type for OSM-imported and synthetic networks.

A `RoadNetwork` is a directed graph held as two GeoDataFrames in EPSG:4326:

* ``nodes``: index ``node_id`` (0..n-1, contiguous), columns ``x``, ``y`` (lon, lat), ``signal``
  (bool: a signalised junction), ``geometry`` (Point).
* ``links``: index ``link_id`` (0..m-1, contiguous), columns ``u``, ``v`` (node ids), ``length_m``,
  ``lanes`` (int >= 1), ``speed_kmh`` (free-flow speed limit), ``capacity_pcu_h`` (whole link, all
  lanes), ``road_class`` (one of `ROAD_CLASSES`), ``oneway`` (bool: no reverse link exists),
  ``bridge`` (bool), ``name`` (str, may be empty), ``geometry`` (LineString from u to v).

A two-way street is two links. Array views (`arrays`) feed the vectorised simulation kernels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.crs import WGS84, local_metres
from twin.errors import DataError
from twin.provenance import Provenance

if TYPE_CHECKING:
    from scipy import sparse

#: Road classes, most important first, with default lanes, speed (km/h) and capacity per lane (PCU/h).
ROAD_CLASSES: dict[str, tuple[int, float, float]] = {
    "trunk": (2, 60.0, 1800.0),  # national roads (QL1A, QL4A, QL4B, QL1B)
    "primary": (2, 50.0, 1700.0),
    "secondary": (1, 40.0, 1500.0),
    "tertiary": (1, 35.0, 1300.0),
    "residential": (1, 25.0, 900.0),
    "service": (1, 20.0, 600.0),
}

NODE_COLUMNS = ("x", "y", "signal")
LINK_COLUMNS = (
    "u",
    "v",
    "length_m",
    "lanes",
    "speed_kmh",
    "capacity_pcu_h",
    "road_class",
    "oneway",
    "bridge",
    "name",
)


@dataclass(frozen=True)
class LinkArrays:
    """Numpy views of the link table, for vectorised kernels (all of length m)."""

    u: npt.NDArray[np.int64]
    v: npt.NDArray[np.int64]
    length_m: npt.NDArray[np.float64]
    lanes: npt.NDArray[np.int64]
    speed_ms: npt.NDArray[np.float64]
    capacity_pcu_s: npt.NDArray[np.float64]
    free_time_s: npt.NDArray[np.float64]


@dataclass(frozen=True)
class RoadNetwork:
    """A directed road graph with its provenance. Build with `RoadNetwork.from_frames`."""

    nodes: gpd.GeoDataFrame
    links: gpd.GeoDataFrame
    provenance: Provenance
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_frames(
        cls,
        nodes: gpd.GeoDataFrame,
        links: gpd.GeoDataFrame,
        provenance: Provenance,
        meta: dict[str, Any] | None = None,
    ) -> RoadNetwork:
        """Validate the two tables and return a network (inputs are copied, never mutated)."""
        net = cls(nodes.copy(), links.copy(), provenance, dict(meta or {}))
        net.validate()
        return net

    # -- contract -------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise `DataError` if the tables break the contract in the module docstring."""
        for label, frame, cols in (
            ("nodes", self.nodes, NODE_COLUMNS),
            ("links", self.links, LINK_COLUMNS),
        ):
            missing = [c for c in cols if c not in frame.columns]
            if missing:
                raise DataError(f"road network {label} lack columns {missing}")
            if frame.crs is None or frame.crs.to_string() != WGS84:
                raise DataError(f"road network {label} must be in {WGS84}, got {frame.crs}")
            if not np.array_equal(frame.index.to_numpy(), np.arange(len(frame))):
                raise DataError(f"road network {label} index must be 0..n-1")
        n = len(self.nodes)
        u = self.links["u"].to_numpy()
        v = self.links["v"].to_numpy()
        if len(u) and (u.min() < 0 or v.min() < 0 or u.max() >= n or v.max() >= n):
            raise DataError("road network links refer to nodes that do not exist")
        if (self.links["length_m"] <= 0).any():
            raise DataError("road network has links of zero or negative length")
        if (self.links["lanes"] < 1).any() or (self.links["capacity_pcu_h"] <= 0).any():
            raise DataError("road network has links with no lanes or no capacity")
        bad = set(self.links["road_class"]) - set(ROAD_CLASSES)
        if bad:
            raise DataError(f"road network has unknown road classes {sorted(bad)}")

    # -- views ----------------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.nodes)

    @property
    def n_links(self) -> int:
        """Number of directed links."""
        return len(self.links)

    @property
    def is_synthetic(self) -> bool:
        """Whether the network was generated rather than imported from real data."""
        return self.provenance.synthetic

    def arrays(self) -> LinkArrays:
        """Return numpy arrays of the link attributes in SI units."""
        links = self.links
        speed = links["speed_kmh"].to_numpy(dtype=np.float64) / 3.6
        length = links["length_m"].to_numpy(dtype=np.float64)
        return LinkArrays(
            u=links["u"].to_numpy(dtype=np.int64),
            v=links["v"].to_numpy(dtype=np.int64),
            length_m=length,
            lanes=links["lanes"].to_numpy(dtype=np.int64),
            speed_ms=speed,
            capacity_pcu_s=links["capacity_pcu_h"].to_numpy(dtype=np.float64) / 3600.0,
            free_time_s=length / speed,
        )

    def csr(self, weight: npt.NDArray[np.float64] | None = None) -> sparse.csr_matrix:
        """Return the graph as a sparse n×n matrix weighted by `weight` (default free-flow time).

        Parallel links keep the smallest weight.
        """
        a = self.arrays()
        w = a.free_time_s if weight is None else np.asarray(weight, dtype=np.float64)
        order = np.lexsort((w, a.v, a.u))
        u, v, w = a.u[order], a.v[order], w[order]
        first = np.ones(len(u), dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        from scipy import sparse  # noqa: PLC0415  (scipy is slow to import; loading a city needs none)

        return sparse.csr_matrix((w[first], (u[first], v[first])), shape=(self.n_nodes,) * 2)

    def strongly_connected_fraction(self) -> float:
        """Return the share of nodes in the largest strongly connected component."""
        if self.n_nodes == 0:
            return 0.0
        from scipy.sparse import csgraph  # noqa: PLC0415  (scipy is slow to import)

        _, labels = csgraph.connected_components(self.csr(), directed=True, connection="strong")
        return float(np.bincount(labels).max() / self.n_nodes)

    def largest_scc(self) -> RoadNetwork:
        """Return the sub-network on the largest strongly connected component (ids renumbered)."""
        from scipy.sparse import csgraph  # noqa: PLC0415  (scipy is slow to import)

        _, labels = csgraph.connected_components(self.csr(), directed=True, connection="strong")
        keep = labels == np.bincount(labels).argmax()
        return self.subgraph(np.flatnonzero(keep))

    def subgraph(self, node_ids: npt.ArrayLike) -> RoadNetwork:
        """Return the network induced by `node_ids`, renumbered 0..k-1 (old ids in ``orig_id``)."""
        ids = np.unique(np.asarray(node_ids, dtype=np.int64))
        remap = np.full(self.n_nodes, -1, dtype=np.int64)
        remap[ids] = np.arange(len(ids))
        nodes = self.nodes.iloc[ids].copy()
        nodes["orig_id"] = ids
        nodes.index = pd.RangeIndex(len(ids), name="node_id")
        u = remap[self.links["u"].to_numpy()]
        v = remap[self.links["v"].to_numpy()]
        mask = (u >= 0) & (v >= 0)
        links = self.links.loc[mask].copy()
        links["orig_id"] = links.index.to_numpy()
        links["u"] = u[mask]
        links["v"] = v[mask]
        links.index = pd.RangeIndex(int(mask.sum()), name="link_id")
        return RoadNetwork.from_frames(nodes, links, self.provenance, self.meta)

    def nearest_node(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Return the id of the node nearest to each (lon, lat), measured in metres.

        Few queries × nodes (the camera registry, built at every service start) are answered by brute
        force, without scipy (~0.6 s to import); more by a k-d tree. Both give the same nodes.
        """
        xy = local_metres(self.nodes["x"].to_numpy(), self.nodes["y"].to_numpy())
        q = local_metres(lon, lat)
        if len(xy) and len(q) * len(xy) <= _BRUTE_FORCE_PAIRS:
            return _nearest_brute(xy, q)
        from scipy.spatial import cKDTree  # noqa: PLC0415  (scipy.spatial is slow to import)

        _, idx = cKDTree(xy).query(q)
        return np.asarray(idx, dtype=np.int64)

    def summary(self) -> dict[str, Any]:
        """Return counts and totals that describe the network."""
        km = self.links.groupby("road_class")["length_m"].sum() / 1000.0
        return {
            "source": self.provenance.source,
            "synthetic": self.is_synthetic,
            "nodes": self.n_nodes,
            "links": self.n_links,
            "km_by_class": {str(k): round(float(x), 2) for k, x in km.items()},
            "bridges": int(self.links["bridge"].sum()),
            "signals": int(self.nodes["signal"].sum()),
            "scc_fraction": round(self.strongly_connected_fraction(), 4),
        }


#: Up to this many (query, node) pairs `RoadNetwork.nearest_node` compares all distances itself.
_BRUTE_FORCE_PAIRS = 4_000_000


def _nearest_brute(xy: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Return the index of the row of `xy` nearest to each row of `q` (ties: the lowest index)."""
    d2 = (q[:, None, 0] - xy[None, :, 0]) ** 2 + (q[:, None, 1] - xy[None, :, 1]) ** 2
    return np.asarray(d2.argmin(axis=1), dtype=np.int64)
