"""Collection routes with PyVRP on shortest-path travel matrices over the road network.

`travel_data` runs one Dijkstra (scipy.sparse.csgraph) per distinct location node on the truck
travel-time graph (closed links removed) and accumulates the driven distance along the same fastest
paths, so distance and time matrices describe the same paths; the predecessor trees give the route
geometry later. `solve` hands a `VrpInstance` to PyVRP (multi-trip: a truck that fills up unloads at
the disposal site and goes on; shift limits with penalised overtime) and returns a `Plan`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion
from scipy import sparse
from scipy.sparse import csgraph

from twin.errors import TwinError
from twin.network import RoadNetwork

#: PyVRP works on integers: distances in metres, durations in seconds, loads in kg and litres.
_BIG = np.iinfo(np.int32).max


class RoutingInfeasible(TwinError):  # noqa: N818  (reads as a verdict, like pyvrp's terms)
    """A routing problem has no feasible solution; `reason` says which constraint fails."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(f"routing infeasible: {reason}", hint)
        self.reason = reason


@dataclass(frozen=True)
class TravelData:
    """Shortest-path matrices between location nodes, with the trees to rebuild the paths.

    Attributes
    ----------
    nodes
        Network node of each location (length L; repeats allowed).
    distance_m, duration_s
        L×L driven distance (m) and time (s) along the fastest path; `_BIG` where unreachable.
    pred
        For each distinct source node, the predecessor tree (-9999 at the root / unreachable).
    source_row
        Location index → row of `pred`.
    link_of
        Sparse n×n matrix: (u, v) → 1 + id of the link a truck takes from u to v.
    link_time_s
        Truck travel time on each link (inf on closed links).
    """

    nodes: npt.NDArray[np.int64]
    distance_m: npt.NDArray[np.int64]
    duration_s: npt.NDArray[np.int64]
    pred: npt.NDArray[np.int32]
    source_row: npt.NDArray[np.int64]
    link_of: sparse.csr_matrix
    link_time_s: npt.NDArray[np.float64]

    def reachable(self, i: int, j: int) -> bool:
        """Return whether location j can be reached from location i."""
        return bool(self.distance_m[i, j] < _BIG)

    def path_nodes(self, i: int, j: int) -> list[int]:
        """Return the network nodes of the fastest path from location i to location j."""
        row = self.pred[self.source_row[i]]
        src, node = int(self.nodes[i]), int(self.nodes[j])
        out = [node]
        while node != src:
            node = int(row[node])
            if node < 0:
                raise RoutingInfeasible(f"no road path from location {i} to location {j}")
            out.append(node)
        return out[::-1]

    def path_links(self, i: int, j: int) -> list[int]:
        """Return the link ids of the fastest path from location i to location j."""
        nodes = self.path_nodes(i, j)
        return [int(self.link_of[a, b]) - 1 for a, b in itertools.pairwise(nodes)]


def travel_data(
    network: RoadNetwork,
    speed_ms: npt.NDArray[np.float64],
    nodes: npt.ArrayLike,
    closed: npt.ArrayLike = (),
) -> TravelData:
    """Return the shortest-path matrices between `nodes` for trucks driving at `speed_ms`.

    Parameters
    ----------
    network
        The road network.
    speed_ms
        Truck speed on each link (m/s).
    nodes
        Network node of each location (depot, disposal site, collection points).
    closed
        Ids of links that trucks may not use.
    """
    a = network.arrays()
    loc = np.asarray(nodes, dtype=np.int64)
    time_s = a.length_m / np.asarray(speed_ms, dtype=np.float64)
    closed_ids = np.asarray(closed, dtype=np.int64)
    time_s[closed_ids] = np.inf
    keep = np.isfinite(time_s)
    ids = np.flatnonzero(keep)
    # parallel links: keep the fastest (lexsort puts it first in each (u, v) group)
    order = ids[np.lexsort((time_s[ids], a.v[ids], a.u[ids]))]
    first = np.ones(order.size, dtype=bool)
    first[1:] = (a.u[order][1:] != a.u[order][:-1]) | (a.v[order][1:] != a.v[order][:-1])
    order = order[first]
    n = network.n_nodes
    graph = sparse.csr_matrix((time_s[order], (a.u[order], a.v[order])), shape=(n, n))
    link_of = sparse.csr_matrix((order + 1.0, (a.u[order], a.v[order])), shape=(n, n))
    length_of = sparse.csr_matrix((a.length_m[order], (a.u[order], a.v[order])), shape=(n, n))

    uniq, source_row = np.unique(loc, return_inverse=True)
    times, pred = csgraph.dijkstra(graph, indices=uniq, return_predecessors=True)
    dists = _tree_lengths(times, pred.astype(np.int32), length_of.indptr, length_of.indices, length_of.data)
    cols = loc
    t = times[source_row][:, cols]
    d = dists[source_row][:, cols]
    ok = np.isfinite(t)
    duration = np.where(ok, np.rint(np.where(ok, t, 0.0)), _BIG).astype(np.int64)
    distance = np.where(ok, np.rint(np.where(ok, d, 0.0)), _BIG).astype(np.int64)
    return TravelData(
        nodes=loc,
        distance_m=distance,
        duration_s=duration,
        pred=pred.astype(np.int32),
        source_row=source_row.astype(np.int64),
        link_of=link_of,
        link_time_s=time_s,
    )


@numba.njit(cache=True)  # type: ignore[misc]
def _tree_lengths(
    times: npt.NDArray[np.float64],
    pred: npt.NDArray[np.int32],
    indptr: npt.NDArray[np.int32],
    indices: npt.NDArray[np.int32],
    lengths: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:  # pragma: no cover  (compiled)
    """Accumulate link lengths down each shortest-path tree, in order of arrival time."""
    out = np.full(times.shape, np.inf)
    for s in range(times.shape[0]):
        order = np.argsort(times[s])
        for k in range(order.size):
            v = order[k]
            if not np.isfinite(times[s, v]):
                break
            p = pred[s, v]
            if p < 0:
                out[s, v] = 0.0
                continue
            length = 0.0
            for e in range(indptr[p], indptr[p + 1]):
                if indices[e] == v:
                    length = lengths[e]
                    break
            out[s, v] = out[s, p] + length
    return out


@dataclass(frozen=True)
class VrpInstance:
    """A collection problem: location 0 is the depot, `disposal` the unloading site, clients after.

    With ``disposal == 0`` this is a plain CVRP (routes return to the depot, no reloads), which is
    how CVRPLIB instances are posed.

    Attributes
    ----------
    distance_m, duration_s
        L×L integer matrices.
    demand
        C×k integer pickups of the clients (locations ``first_client..``), e.g. kg and litres.
    capacity
        k capacities of one truck in the same units.
    service_s
        Service time at each client (s).
    trucks
        Number of trucks available.
    shift_s
        Shift length (s), from leaving the depot to the end of the last unloading; None: unlimited.
    max_overtime_s
        Overtime a route may take beyond `shift_s` (penalised in the objective).
    disposal
        Location index of the disposal site (0: none, routes end at the depot).
    disposal_service_s
        Time to unload at the disposal site.
    return_s
        Time to drive back from the disposal site to the depot after the last unloading (counted
        in the shift).
    """

    distance_m: npt.NDArray[np.int64]
    duration_s: npt.NDArray[np.int64]
    demand: npt.NDArray[np.int64]
    capacity: tuple[int, ...]
    service_s: npt.NDArray[np.int64]
    trucks: int
    shift_s: int | None = None
    max_overtime_s: int = 0
    disposal: int = 1
    disposal_service_s: int = 0
    return_s: int = 0

    @property
    def first_client(self) -> int:
        """Location index of the first client."""
        return 1 if self.disposal == 0 else 2

    @property
    def n_clients(self) -> int:
        """Number of clients."""
        return int(self.demand.shape[0])

    def check(self) -> None:
        """Raise `RoutingInfeasible` if no plan can exist, naming the reason."""
        if self.trucks < 1:
            raise RoutingInfeasible("the fleet has no truck", "set fleet.trucks to 1 or more")
        big = self.demand.max(axis=0) if self.n_clients else np.zeros(len(self.capacity))
        for k, (d, c) in enumerate(zip(big, self.capacity, strict=True)):
            if d > c:
                raise RoutingInfeasible(
                    f"a client's load {int(d)} exceeds a truck's capacity {c} (dimension {k})",
                    "raise fleet.capacity_kg / capacity_m3 or split the point",
                )
        dist = self.distance_m
        sites = [0] if self.disposal == 0 else [0, self.disposal]
        if self.disposal and (dist[0, self.disposal] >= _BIG or dist[self.disposal, 0] >= _BIG):
            raise RoutingInfeasible(
                "the disposal site cannot be reached from the depot by road (or back)",
                "move fleet.disposal onto the connected road network or lift the closures",
            )
        clients = np.arange(self.first_client, self.first_client + self.n_clients)
        for s in sites:
            bad = clients[(dist[s, clients] >= _BIG) | (dist[clients, s] >= _BIG)]
            if bad.size:
                raise RoutingInfeasible(
                    f"{bad.size} collection point(s) cannot be reached by road to and from "
                    f"{'the depot' if s == 0 else 'the disposal site'} (first: location {int(bad[0])})",
                    "check road closures and that bins lie on the connected network",
                )


@dataclass
class Plan:
    """Routes found for a `VrpInstance`.

    Attributes
    ----------
    routes
        One list of location indices per used truck, from the depot to the last stop (the disposal
        site, or the depot for a CVRP); reload visits to the disposal site appear inside.
    distance_m
        Total distance of the routes (excluding the fixed return from the disposal site).
    duration_s
        Total route duration.
    overtime_s
        Total time beyond the shift.
    feasible
        Whether PyVRP found a solution meeting capacity and shift limits.
    iterations, runtime_s
        Solver effort.
    """

    routes: list[list[int]]
    distance_m: int
    duration_s: int
    overtime_s: int
    feasible: bool
    iterations: int
    runtime_s: float
    reason: str = ""
    meta: dict[str, float] = field(default_factory=dict)


def problem_data(inst: VrpInstance) -> pyvrp.ProblemData:
    """Return the PyVRP `ProblemData` of an instance (matrices passed as numpy, no per-edge loop)."""
    n_loc = inst.distance_m.shape[0]
    locations = [pyvrp.Location(0.0, 0.0, name=str(i)) for i in range(n_loc)]
    depots = [pyvrp.Depot(0, name="depot")]
    if inst.disposal:
        depots.append(pyvrp.Depot(inst.disposal, service_duration=inst.disposal_service_s, name="disposal"))
    clients = [
        pyvrp.Client(
            inst.first_client + i,
            pickup=[int(x) for x in inst.demand[i]],
            service_duration=int(inst.service_s[i]),
        )
        for i in range(inst.n_clients)
    ]
    shift = _BIG if inst.shift_s is None else max(1, inst.shift_s - inst.return_s)
    vehicle = pyvrp.VehicleType(
        num_available=inst.trucks,
        capacity=list(inst.capacity),
        start_depot=0,
        end_depot=1 if inst.disposal else 0,
        shift_duration=shift,
        reload_depots=[1] if inst.disposal else [],
        max_overtime=inst.max_overtime_s if inst.shift_s is not None else 0,
        unit_overtime_cost=10 if inst.shift_s is not None else 0,
        name="truck",
    )
    dist = np.minimum(inst.distance_m, _BIG).astype(np.int64)
    dur = np.minimum(inst.duration_s, _BIG).astype(np.int64)
    matrices: tuple[list[Any], list[Any]] = ([dist], [dur])
    return pyvrp.ProblemData(locations, clients, depots, [vehicle], *matrices)


def nearest_neighbour_start(inst: VrpInstance, data: pyvrp.ProblemData) -> pyvrp.Solution:
    """Return a warm start: each truck takes the nearest unvisited client, unloading when full.

    PyVRP's own start is random; on tiny multi-trip instances its search can stay with a poor trip
    order (e.g. a street with the disposal site at one end), which this start avoids. A truck stops
    taking clients when its shift is used up; any left go to the last truck (the search repairs).
    """
    first = inst.first_client
    left = set(range(inst.n_clients))
    dist, dur = inst.distance_m, inst.duration_s
    cap = np.asarray(inst.capacity, dtype=np.int64)
    shift = np.inf if inst.shift_s is None else inst.shift_s - inst.return_s
    routes: list[pyvrp.Route] = []
    for truck in range(inst.trucks):
        if not left:
            break
        acts: list[pyvrp.Activity] = []
        here, load, clock = 0, np.zeros_like(cap), 0.0
        last = truck == inst.trucks - 1
        while left:
            cand = sorted(left, key=lambda c: (dist[here, first + c], c))
            c = cand[0]
            if ((load + inst.demand[c]) > cap).any():
                if not inst.disposal:
                    if last:
                        load = np.zeros_like(cap)
                    else:
                        break
                else:
                    acts.append(pyvrp.Activity(pyvrp.ActivityType.DEPOT, 1))
                    clock += dur[here, inst.disposal] + inst.disposal_service_s
                    here, load = inst.disposal, np.zeros_like(cap)
                    continue
            step = dur[here, first + c] + inst.service_s[c]
            if clock + step + dur[first + c, inst.disposal] > shift and acts and not last:
                break
            acts.append(pyvrp.Activity(pyvrp.ActivityType.CLIENT, c))
            left.discard(c)
            load = load + inst.demand[c]
            clock += step
            here = first + c
        if acts and acts[-1].is_depot():
            acts.pop()
        if acts:
            routes.append(pyvrp.Route(data, acts, 0))
    return pyvrp.Solution(data, routes)


def solve(
    inst: VrpInstance,
    *,
    seed: int = 0,
    iterations: int = 2000,
    time_limit_s: float | None = None,
) -> Plan:
    """Solve `inst` with PyVRP's iterated local search; return the best plan found.

    The search stops after `iterations`, so a plan depends only on the instance and the seed, never
    on how busy the machine is. `time_limit_s`, when given, also stops it after that wall time (the
    plan then depends on the machine: for interactive use, not for results that must reproduce).

    Raises
    ------
    RoutingInfeasible
        If the instance cannot have a solution (`VrpInstance.check`), or none was found that
        respects capacity and the shift plus the allowed overtime; the reason names the constraint.
    """
    inst.check()
    if inst.n_clients == 0:
        return Plan([], 0, 0, 0, True, 0, 0.0)
    data = problem_data(inst)
    criteria: list[StoppingCriterion] = [MaxIterations(iterations)]
    if time_limit_s is not None:
        criteria.append(MaxRuntime(time_limit_s))
    stop = MultipleCriteria(criteria)
    res = pyvrp.solve(
        data,
        stop=stop,
        seed=seed,
        display=False,
        collect_stats=False,
        initial_solution=nearest_neighbour_start(inst, data),
    )
    best = res.best
    depot_loc = [0, inst.disposal] if inst.disposal else [0]
    routes: list[list[int]] = []
    for route in best.routes():
        stops: list[int] = []
        for act in route.schedule():
            if act.is_depot():
                stops.append(depot_loc[act.idx])
            else:
                stops.append(inst.first_client + act.idx)
        routes.append(stops)
    plan = Plan(
        routes=routes,
        distance_m=int(best.distance()),
        duration_s=int(best.duration()),
        overtime_s=int(best.overtime()),
        feasible=bool(best.is_feasible()),
        iterations=int(res.num_iterations),
        runtime_s=float(res.runtime),
    )
    if not best.is_feasible():
        reasons = []
        if best.has_excess_load():
            reasons.append("truck capacity")
        if best.has_time_warp():
            reasons.append(f"shift length plus {inst.max_overtime_s / 3600:.1f} h overtime")
        if best.num_missing_clients():
            reasons.append(f"{best.num_missing_clients()} points left out")
        plan.reason = f"{inst.trucks} truck(s) cannot collect {inst.n_clients} points within " + (
            " and ".join(reasons) or "the constraints"
        )
        raise RoutingInfeasible(plan.reason, "add trucks, lengthen the shift or collect less often")
    return plan
