"""The traffic model's agents: the vehicle fleet (struct of arrays), origin zones and route guidance.

Vehicles are too many to be Python objects stepped one by one, so the fleet is a struct of arrays
that the numba kernel advances (`simulations.traffic.kernel`); mesa agents hold the decisions made
above the tick: each `OriginZone` owns the trips that start at one network node and reports on them,
and the `RouteGuidance` agent decides when network travel times have changed enough to refresh the
route tables every vehicle steers by, and how strongly new observations count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa
import numpy as np
import numpy.typing as npt

from . import kernel as kn

if TYPE_CHECKING:
    from .model import TrafficModel

I8 = npt.NDArray[np.int64]
F8 = npt.NDArray[np.float64]


@dataclass
class Fleet:
    """Per-vehicle state (one vehicle per trip), advanced in place by the kernel.

    The state touched at every move lives row-wise in ``hot`` (columns `kernel.V_*`) so that moving
    a vehicle reads one or two cache lines; the rest are plain column arrays.
    """

    hot: F8
    depart: F8
    origin: I8
    dest: I8
    mode: npt.NDArray[np.int8]
    state: npt.NDArray[np.int8]
    arrive: F8
    dep_order: I8

    @classmethod
    def create(
        cls,
        *,
        depart: F8,
        pcu: F8,
        vmax: F8,
        origin: I8,
        dest: I8,
        row: I8,
        mode: npt.NDArray[np.int8],
        creep: F8 | None = None,
    ) -> Fleet:
        """Return a fleet of vehicles that have not departed yet."""
        n = len(depart)
        hot = np.zeros((n, kn.N_VCOLS))
        hot[:, kn.V_NEXT] = -1
        hot[:, kn.V_PCU] = pcu
        hot[:, kn.V_VMAX] = vmax
        hot[:, kn.V_ROW] = row
        hot[:, kn.V_DEST] = dest
        hot[:, kn.V_T0] = np.nan
        hot[:, kn.V_PREV] = -1
        hot[:, kn.V_CREEP] = 0.0 if creep is None else creep
        return cls(
            hot=hot,
            depart=np.ascontiguousarray(depart, dtype=np.float64),
            origin=np.ascontiguousarray(origin, dtype=np.int64),
            dest=np.ascontiguousarray(dest, dtype=np.int64),
            mode=np.ascontiguousarray(mode, dtype=np.int8),
            state=np.full(n, kn.PENDING, dtype=np.int8),
            arrive=np.full(n, np.nan),
            dep_order=np.argsort(depart, kind="stable").astype(np.int64),
        )

    def __len__(self) -> int:
        return len(self.depart)

    @property
    def pcu(self) -> F8:
        """Passenger-car units of each vehicle."""
        return self.hot[:, kn.V_PCU]

    @property
    def vmax(self) -> F8:
        """Free speed of each vehicle (m/s)."""
        return self.hot[:, kn.V_VMAX]

    @property
    def row(self) -> I8:
        """Row of each vehicle's destination in the route tables."""
        return self.hot[:, kn.V_ROW].astype(np.int64)

    @property
    def ready(self) -> F8:
        """Time each vehicle can leave its link."""
        return self.hot[:, kn.V_READY]

    @property
    def dist(self) -> F8:
        """Metres driven (whole links left)."""
        return self.hot[:, kn.V_DIST]

    @property
    def entered(self) -> F8:
        """Time each vehicle entered the network (NaN if it has not)."""
        return self.hot[:, kn.V_T0]

    @property
    def ff(self) -> F8:
        """Free-flow time of the links entered, at the vehicle's own free speed."""
        return self.hot[:, kn.V_FF]


class OriginZone(mesa.Agent):  # type: ignore[misc]
    """The trips that start at one network node; reports how its travellers fare."""

    def __init__(self, model: TrafficModel, node: int, vehicles: I8) -> None:
        super().__init__(model)
        self.node = int(node)
        self.vehicles = vehicles

    @property
    def departed(self) -> int:
        """Vehicles of this zone that have left home (waiting, driving or arrived)."""
        st = self.model.fleet.state[self.vehicles]
        return int(((st != kn.PENDING) & (st != kn.UNROUTABLE)).sum())

    @property
    def arrived(self) -> int:
        """Vehicles of this zone that have arrived."""
        return int((self.model.fleet.state[self.vehicles] == kn.ARRIVED).sum())

    @property
    def mean_trip_time_s(self) -> float:
        """Mean travel time of this zone's arrived vehicles (NaN if none)."""
        f = self.model.fleet
        done = self.vehicles[f.state[self.vehicles] == kn.ARRIVED]
        return float(np.mean(f.arrive[done] - f.depart[done])) if len(done) else float("nan")


class RouteGuidance(mesa.Agent):  # type: ignore[misc]
    """Decide each routing period whether travel times changed enough to refresh the route tables."""

    def __init__(self, model: TrafficModel) -> None:
        super().__init__(model)
        self.refreshes = 0
        self.last_change = 0.0

    def step(self) -> None:
        """Refresh when flow-weighted link costs moved by more than ``routing.min_change``.

        New costs are blended into the ones in use with weight ``routing.smoothing``.
        """
        model: TrafficModel = self.model
        cost, change = model.current_costs()
        self.last_change = change
        if change <= model.params.routing.min_change:
            return
        alpha = model.params.routing.smoothing
        model.refresh_routes((1.0 - alpha) * model.cost_used + alpha * cost)
        self.refreshes += 1
