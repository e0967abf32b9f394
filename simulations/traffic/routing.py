"""Route in bulk: least-cost tables to every destination, one Dijkstra per unique destination.

The router runs scipy.sparse.csgraph's Dijkstra on the reversed graph from each unique destination
node (batched), which yields ``dist[d, x]``, the least cost from any node x to destination d; the
kernel then sends each vehicle, at each junction, down the out-link minimising turn time + link
cost + ``dist``. This is one Dijkstra per unique destination instead of one per vehicle, it
re-routes every vehicle on the network at once when the tables are refreshed, and it needs no
stored paths.

Ties and herding. On a street grid many paths tie. Breaking ties with a per-link cost jitter (the
textbook trick) is harmful: every origin then prefers the same slightly cheaper links, flow
concentrates and spatial queues gridlock (measured on the 40×40 reference grid with 100k trips: 35 %
of trips completed instead of 100 %). Here ties are broken per vehicle and per junction: turn times
make going straight the cheaper of equal paths (fewer turns, as drivers do), and exact ties are
drawn at random. Herding after a refresh is damped by (1) refreshing only when flow-weighted costs
moved by more than ``routing.min_change``, (2) ignoring delays under ``routing.indifference`` of a
link's time, and (3) blending new observations into the previous costs with weight
``routing.smoothing`` (a method-of-successive-averages step), so the whole demand does not jump to
yesterday's empty road at once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse import csgraph

I8 = npt.NDArray[np.int64]
F8 = npt.NDArray[np.float64]

#: Destinations per Dijkstra call (bounds the float64 result to batch × nodes).
BATCH = 256


class Router:
    """Least-cost tables on a directed link graph.

    Parameters
    ----------
    u, v
        Upstream and downstream node of each link.
    n_nodes
        Number of nodes.
    """

    def __init__(self, u: I8, v: I8, n_nodes: int) -> None:
        self.u = np.ascontiguousarray(u, dtype=np.int64)
        self.v = np.ascontiguousarray(v, dtype=np.int64)
        self.n_nodes = int(n_nodes)
        order = np.argsort(self.u, kind="stable")
        #: out-links of node x: ``adj_link[adj_ptr[x]:adj_ptr[x + 1]]``
        self.adj_ptr = np.searchsorted(self.u[order], np.arange(self.n_nodes + 1)).astype(np.int64)
        self.adj_link = order.astype(np.int64)
        self.calls = 0

    def reversed_matrix(self, cost: F8, closed: npt.NDArray[np.bool_] | None = None) -> sparse.csr_matrix:
        """Return the reversed graph (v → u) weighted by `cost`, parallel links keeping the cheapest."""
        usable = np.isfinite(cost) & (cost > 0)
        if closed is not None:
            usable &= ~closed
        a, b, w = self.v[usable], self.u[usable], cost[usable]
        order = np.lexsort((w, b, a))
        a, b, w = a[order], b[order], w[order]
        first = np.ones(len(a), dtype=bool)
        first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
        return sparse.csr_matrix((w[first], (a[first], b[first])), shape=(self.n_nodes, self.n_nodes))

    def to_destinations(
        self,
        dests: I8,
        cost: F8,
        *,
        closed: npt.NDArray[np.bool_] | None = None,
        out: npt.NDArray[np.float32] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Return ``dist[i, x]``: the least cost (s) from node x to node ``dests[i]`` (inf if none).

        Parameters
        ----------
        dests
            Destination node ids (unique).
        cost
            Link cost in seconds; non-positive or non-finite links are not used.
        closed
            Links that may not be used.
        out
            Array of shape (len(dests), n_nodes) to fill in place.
        """
        dests = np.asarray(dests, dtype=np.int64)
        mat = self.reversed_matrix(cost, closed)
        if out is None:
            out = np.empty((len(dests), self.n_nodes), dtype=np.float32)
        for b0 in range(0, len(dests), BATCH):
            out[b0 : b0 + BATCH] = csgraph.dijkstra(mat, indices=dests[b0 : b0 + BATCH])
        self.calls += 1
        return out

    def path(self, origin: int, dest_row: int, dist: npt.NDArray[np.float32], cost: F8) -> list[int]:
        """Return the links of a least-cost path from `origin` along the table row (for inspection)."""
        node = int(origin)
        links: list[int] = []
        guard = 0
        while np.isfinite(dist[dest_row, node]) and dist[dest_row, node] > 0 and guard < self.n_nodes:
            out = self.adj_link[self.adj_ptr[node] : self.adj_ptr[node + 1]]
            if not len(out):
                break
            best = out[np.argmin(cost[out] + dist[dest_row, self.v[out]])]
            links.append(int(best))
            node = int(self.v[best])
            guard += 1
        return links
