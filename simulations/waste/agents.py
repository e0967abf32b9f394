"""Mesa agents of the waste model: collection points (bins) and trucks driving their routes in time.

Bins are thin agents over the model's numpy state (fill, overflow) so that the hourly fill update
stays vectorised; each agent reads its own slot. Trucks execute a planned sequence of stops event by
event inside each hourly step: drive the fastest road path, lift the waste, unload at the disposal
site when full (an unplanned extra trip if the real fill exceeds what was planned), and return to the
depot. Every leg is logged with its departure and arrival time for the route playback.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from simulations.waste.model import WasteModel
    from simulations.waste.routing import TravelData

DEPOT = 0
DISPOSAL = 1


class BinAgent(mesa.Agent):  # type: ignore[misc]
    """A collection point: containers at a road node, filled hourly by the model."""

    def __init__(self, model: WasteModel, point: int) -> None:
        super().__init__(model)
        self.point = point

    @property
    def waste(self) -> WasteModel:
        """The model, typed."""
        return self.model  # type: ignore[no-any-return]

    @property
    def content_kg(self) -> float:
        """Waste in the containers now (kg)."""
        return float(self.waste.content_kg[self.point])

    @property
    def fill(self) -> float:
        """Fill level as a share of capacity (0..1)."""
        return float(self.waste.content_kg[self.point] / self.waste.capacity_kg[self.point])


@dataclass
class Leg:
    """One drive between two locations."""

    day: int
    truck: int
    frm: int
    to: int
    depart_s: float
    arrive_s: float
    distance_m: float
    travel_key: tuple[int, ...]


@dataclass
class Visit:
    """One lift at a collection point."""

    day: int
    truck: int
    point: int
    time_s: float
    lifted_kg: float
    fill_before: float
    part: int


class TruckAgent(mesa.Agent):  # type: ignore[misc]
    """A collection truck with a crew, a capacity in kg and litres, and a day's plan of stops."""

    def __init__(self, model: WasteModel, truck: int) -> None:
        super().__init__(model)
        self.truck = truck
        self.plan: deque[int] = deque()
        self.loc = DEPOT
        self.clock = 0.0
        self.shift_start = 0.0
        self.load_kg = 0.0
        self.load_l = 0.0
        self.active = False
        self.day = -1
        self.travel: TravelData | None = None
        self.travel_key: tuple[int, ...] = ()
        self.reset_day_stats()

    @property
    def waste(self) -> WasteModel:
        """The model, typed."""
        return self.model  # type: ignore[no-any-return]

    def reset_day_stats(self) -> None:
        """Zero the per-day counters."""
        self.km = 0.0
        self.drive_s = 0.0
        self.service_s = 0.0
        self.trips = 0
        self.extra_trips = 0
        self.lifted_kg = 0.0
        self.visits = 0
        self.worked_s = 0.0
        self.unload_loads: list[float] = []
        self.peak_load_kg = 0.0
        self.peak_load_l = 0.0

    def start_day(
        self, day: int, route: list[int], t_start: float, travel: TravelData, key: tuple[int, ...]
    ) -> None:
        """Take a route (location indices from the depot to the last unloading) starting at `t_start`."""
        if route[0] != DEPOT:
            raise ValueError("a route starts at the depot")
        self.day = day
        self.plan = deque([*route[1:], DEPOT])
        self.loc = DEPOT
        self.clock = t_start
        self.shift_start = t_start
        self.travel = travel
        self.travel_key = key
        self.active = True
        self.reset_day_stats()

    def step(self) -> None:
        """Carry out the stops whose arrival falls before the end of the model's current hour."""
        m = self.waste
        t_end = m.t_end_of_step
        while self.active and self.plan:
            nxt = self.plan[0]
            assert self.travel is not None
            dt = float(self.travel.duration_s[self.loc, nxt])
            if self.clock + dt >= t_end:
                return
            dist = float(self.travel.distance_m[self.loc, nxt])
            m.legs.append(
                Leg(self.day, self.truck, self.loc, nxt, self.clock, self.clock + dt, dist, self.travel_key)
            )
            self.clock += dt
            self.drive_s += dt
            self.km += dist / 1000.0
            self.loc = nxt
            self.plan.popleft()
            if nxt == DEPOT:
                self.active = False
                self.worked_s = self.clock - self.shift_start
                m.truck_day_done(self)
            elif nxt == DISPOSAL:
                self._unload()
            else:
                self._lift(nxt - 2)

    def _unload(self) -> None:
        m = self.waste
        if self.load_kg > 0:
            self.trips += 1
            self.unload_loads.append(self.load_kg)
        m.delivered_kg += self.load_kg
        self.load_kg = 0.0
        self.load_l = 0.0
        self.clock += m.params.fleet.disposal_service_s
        self.service_s += m.params.fleet.disposal_service_s

    def _lift(self, point: int) -> None:
        m = self.waste
        fleet = m.params.fleet
        density = m.params.bins.density_kg_m3
        content = float(m.content_kg[point])
        free = min(fleet.capacity_kg - self.load_kg, (fleet.capacity_l - self.load_l) * density / 1000.0)
        lift = min(content, max(free, 0.0))
        part = m.visit_parts.get((self.day, point), 0)
        m.visit_parts[(self.day, point)] = part + 1
        m.visits.append(
            Visit(self.day, self.truck, point, self.clock, lift, content / m.capacity_kg[point], part)
        )
        m.content_kg[point] -= lift
        m.collected_kg += lift
        m.point_collected_kg[point] += lift
        if part == 0:
            m.point_visits[point] += 1
            self.visits += 1
        self.load_kg += lift
        self.load_l += lift / density * 1000.0
        self.lifted_kg += lift
        self.peak_load_kg = max(self.peak_load_kg, self.load_kg)
        self.peak_load_l = max(self.peak_load_l, self.load_l)
        service = float(m.containers[point]) * fleet.service_s_per_container
        self.clock += service
        self.service_s += service
        if content - lift > 1e-6:
            # the body is full: unload and come back for the rest (an unplanned trip)
            self.extra_trips += 1
            self.plan.appendleft(point + 2)
            self.plan.appendleft(DISPOSAL)
