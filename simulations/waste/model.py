"""The waste-collection model: days × hourly steps, bins filling, trucks collecting on PyVRP routes.

Each hour the bins receive their share of the day's (random) waste and overflow when full; at the
shift start the policy picks the points to collect, PyVRP routes them on the road network (closed
links removed), and the trucks drive the routes over the following hours. A mesa `DataCollector`
records, at the end of each day: waste generated, collected, in bins and overflowed (the mass
balance: initial + generated = collected + in bins + overflowed), km, truck-hours, fuel and CO₂,
overflowing bin-hours and utilisation.

``run(params, seed, progress)`` is the entry point (contract of `simulations.results`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import mesa
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from simulations.closures import SECONDS_PER_DAY, closed_links
from simulations.results import Progress, RunResult
from simulations.waste import outputs
from simulations.waste.agents import DEPOT, DISPOSAL, BinAgent, Leg, TruckAgent, Visit
from simulations.waste.bins import DIURNAL, daily_kg, expected_kg, place_points
from simulations.waste.fleet import main_component, place_sites, truck_speed_ms
from simulations.waste.params import WasteParams
from simulations.waste.routing import Plan, RoutingInfeasible, TravelData, VrpInstance, solve, travel_data
from twin.errors import InputError
from twin.network import RoadNetwork


@dataclass(frozen=True)
class CityInput:
    """What the model needs of the city: the road network and the populated H3 cells.

    Attributes
    ----------
    network
        The road network (`twin.network.RoadNetwork`).
    cells
        Index H3 cell (hex str); columns ``population``, ``attractiveness``, optional ``ward_code``
        (as `twin.city.City.cells` gives them).
    wards
        Optional ward table (index ward code, column ``name``) to name the per-ward KPIs.
    link_speed_kmh
        Optional speed per link (km/h) replacing the speed limits, e.g. congested speeds from a
        traffic run.
    """

    network: RoadNetwork
    cells: pd.DataFrame
    wards: pd.DataFrame | None = None
    link_speed_kmh: npt.NDArray[np.float64] | None = None


class WasteModel(mesa.Model):  # type: ignore[misc]
    """Waste collection over `WasteParams.days` days in hourly steps (see the module docstring)."""

    def __init__(self, city: CityInput, params: WasteParams, seed: int) -> None:
        super().__init__(seed=seed)
        self.params = params
        self.seed_value = seed
        self.network = city.network
        self.wards = city.wards
        for i, closure in enumerate(params.closures):
            if closure.link_ids(city.network).size == 0:
                raise InputError(
                    f"closures.{i}",
                    f"closure {closure.name!r} selects no road link of the network",
                    "check the area's (lon, lat) corners or the link ids",
                )
        allowed = main_component(city.network)
        self.points = place_points(city.cells, city.network, params, allowed)
        n = len(self.points)
        pop = self.points["population"].to_numpy()
        weights = pop if pop.sum() > 0 else np.ones(n)
        centre = (
            float(np.average(self.points.geometry.x, weights=weights)),
            float(np.average(self.points.geometry.y, weights=weights)),
        )
        self.sites = place_sites(city.network, params.fleet, centre, allowed, params.bins.max_snap_m)
        self.speed_ms = truck_speed_ms(city.network, params.fleet, city.link_speed_kmh)
        self.loc_nodes = np.concatenate(
            ([self.sites.depot_node, self.sites.disposal_node], self.points["node"].to_numpy())
        ).astype(np.int64)
        self.travel_cache: dict[tuple[int, ...], TravelData] = {}
        self.capacity_kg = self.points["capacity_kg"].to_numpy(dtype=np.float64)
        self.containers = self.points["containers"].to_numpy(dtype=np.int64)
        self.content_kg = np.zeros(n)
        if params.bins.initial_days > 0:  # draw only when asked: the random stream stays the same
            first = daily_kg(self.points, params.start_date, params, self.rng)
            self.content_kg = np.minimum(first * params.bins.initial_days, self.capacity_kg)
        self.initial_kg = float(self.content_kg.sum())
        self.generated_kg = 0.0
        self.collected_kg = 0.0
        self.delivered_kg = 0.0
        self.overflow_kg = 0.0
        self.point_generated_kg = np.zeros(n)
        self.point_collected_kg = np.zeros(n)
        self.point_overflow_kg = np.zeros(n)
        self.point_full_hours = np.zeros(n)
        self.point_visits = np.zeros(n, dtype=np.int64)
        self.overflow_bin_hours = 0.0
        self.today_kg = np.zeros(n)
        self.hour = 0
        self.t_end_of_step = 3600.0
        self.legs: list[Leg] = []
        self.visits: list[Visit] = []
        self.visit_parts: dict[tuple[int, int], int] = {}
        self.truck_days: list[dict[str, Any]] = []
        self.plans: list[dict[str, Any]] = []
        self.scheduled: list[tuple[int, int]] = []
        self.groups = self._schedule_groups()
        # forecast quantile multiplier of lognormal noise with mean 1 (the sensor policy's margin)
        sigma = math.sqrt(math.log1p(params.bins.noise_cv**2))
        z = float(stats.norm.ppf(params.policy.confidence))
        self._quantile = math.exp(-(sigma**2) / 2.0 + sigma * z)
        self._fixed_plans: dict[tuple[int, tuple[int, ...]], Plan] = {}
        self.unreachable_visits = 0
        for p in range(n):
            BinAgent(self, p)
        self.trucks = [TruckAgent(self, k) for k in range(params.fleet.trucks)]
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "day": lambda m: m.hour // 24 - 1,
                "initial_kg": lambda m: m.initial_kg,
                "generated_kg": lambda m: m.generated_kg,
                "collected_kg": lambda m: m.collected_kg,
                "delivered_kg": lambda m: m.delivered_kg,
                "in_bins_kg": lambda m: float(m.content_kg.sum()),
                "in_trucks_kg": lambda m: float(sum(t.load_kg for t in m.trucks)),
                "overflow_kg": lambda m: m.overflow_kg,
                "overflow_bin_hours": lambda m: m.overflow_bin_hours,
                "mean_fill": lambda m: float(np.mean(m.content_kg / m.capacity_kg)),
                "full_points": lambda m: int((m.content_kg >= m.capacity_kg - 1e-9).sum()),
            },
            agenttype_reporters={BinAgent: {"fill": "fill", "content_kg": "content_kg"}},
        )

    # -- set-up helpers ---------------------------------------------------------------------------
    def _schedule_groups(self) -> npt.NDArray[np.int64]:
        """Split the points into `interval_days` spatially coherent groups (sectors around the depot)."""
        k = self.params.policy.interval_days
        n = len(self.points)
        if k == 1 or n == 0:
            return np.zeros(n, dtype=np.int64)
        x0 = float(self.network.nodes["x"].iloc[self.sites.depot_node])
        y0 = float(self.network.nodes["y"].iloc[self.sites.depot_node])
        ang = np.arctan2(self.points.geometry.y.to_numpy() - y0, self.points.geometry.x.to_numpy() - x0)
        rank = np.argsort(np.argsort(ang, kind="stable"), kind="stable")
        return np.asarray(rank * k // n, dtype=np.int64)

    def travel(self, closed: npt.NDArray[np.int64]) -> tuple[TravelData, tuple[int, ...]]:
        """Return the travel matrices with `closed` links removed (cached per closure set)."""
        key = tuple(int(i) for i in closed)
        if key not in self.travel_cache:
            self.travel_cache[key] = travel_data(self.network, self.speed_ms, self.loc_nodes, closed)
        return self.travel_cache[key], key

    @property
    def day(self) -> int:
        """The current day (0-based)."""
        return self.hour // 24

    def date_of(self, day: int) -> date:
        """Return the calendar date of `day`."""
        return self.params.start_date + timedelta(days=day)

    # -- the day's plan ---------------------------------------------------------------------------
    def select(self, day: int) -> npt.NDArray[np.int64]:
        """Return the points the policy collects on `day`."""
        pol = self.params.policy
        scheduled = self.groups == (day % pol.interval_days)
        if pol.kind == "fixed":
            return np.flatnonzero(scheduled)
        horizon_h = 24.0 + self.params.fleet.shift_hours
        today = expected_kg(self.points, self.date_of(day), self.params)
        tomorrow = expected_kg(self.points, self.date_of(day + 1), self.params)
        predicted = self.content_kg + (today + tomorrow) / 2.0 * horizon_h / 24.0 * self._quantile
        due = predicted >= pol.threshold * self.capacity_kg
        if pol.kind == "hybrid":
            due |= scheduled
        return np.flatnonzero(due)

    def _instance(self, sel: npt.NDArray[np.int64], travel: TravelData, demand_kg: Any) -> VrpInstance:
        fleet = self.params.fleet
        idx = np.concatenate(([DEPOT, DISPOSAL], sel + 2))
        kg = np.ceil(np.minimum(demand_kg, self.capacity_kg[sel])).astype(np.int64)
        litres = np.ceil(kg / self.params.bins.density_kg_m3 * 1000.0).astype(np.int64)
        return VrpInstance(
            distance_m=travel.distance_m[np.ix_(idx, idx)],
            duration_s=travel.duration_s[np.ix_(idx, idx)],
            demand=np.column_stack((kg, litres)),
            capacity=(int(fleet.capacity_kg), int(fleet.capacity_l)),
            service_s=np.rint(self.containers[sel] * fleet.service_s_per_container).astype(np.int64),
            trucks=fleet.trucks,
            shift_s=round(fleet.shift_hours * 3600),
            max_overtime_s=round(fleet.shift_hours * 1800),
            disposal=1,
            disposal_service_s=round(fleet.disposal_service_s),
            return_s=int(travel.duration_s[DISPOSAL, DEPOT]),
        )

    def plan_day(self, day: int) -> None:
        """Choose the day's points, route them with PyVRP and hand the routes to the trucks.

        A link closed at any time of the shift window (shift plus the allowed overtime) is avoided
        for the whole day: routes are planned once, in the morning, as crews are dispatched.
        Points a closure cuts off are skipped that day and counted in ``unreachable_visits``.
        """
        p = self.params
        t0 = day * SECONDS_PER_DAY + p.fleet.shift_start_hour * 3600.0
        closed = closed_links(self.network, p.closures, t0, t0 + p.fleet.shift_hours * 1.5 * 3600.0)
        travel, key = self.travel(closed)
        if not (travel.reachable(DEPOT, DISPOSAL) and travel.reachable(DISPOSAL, DEPOT)):
            raise RoutingInfeasible(
                f"on day {day} the disposal site cannot be reached from the depot by road (or back)",
                "move fleet.disposal onto the connected network or change the closures",
            )
        sel = self.select(day)
        ok = np.array(
            [
                travel.reachable(DEPOT, s + 2)
                and travel.reachable(s + 2, DISPOSAL)
                and travel.reachable(DISPOSAL, s + 2)
                for s in sel
            ],
            dtype=bool,
        )
        self.unreachable_visits += int((~ok).sum())
        sel = sel[ok]
        seed = (self.seed_value * 1_000_003 + day) % (2**31)
        iters = max(200, round(p.solver_time_s * 600))
        if p.policy.kind == "fixed":
            group = int(day % p.policy.interval_days)
            cache_key = (group, key)
            if cache_key not in self._fixed_plans:
                # fixed routes are planned once on the mean demand of the service interval
                mean = self.points["base_kg_day"].to_numpy() * float(np.mean(p.bins.weekday_factors))
                demand = mean[sel] * p.policy.interval_days
                self._fixed_plans[cache_key] = solve(
                    self._instance(sel, travel, demand),
                    seed=seed,
                    iterations=iters,
                )
            plan = self._fixed_plans[cache_key]
        else:
            # sensors report the fill at the shift start; add half a shift of expected waste
            half = expected_kg(self.points, self.date_of(day), p)[sel] * p.fleet.shift_hours / 48.0
            demand = self.content_kg[sel] + half
            plan = solve(
                self._instance(sel, travel, demand),
                seed=seed,
                iterations=iters,
            )
        # routes are in the instance's local indices: map back to model locations
        idx = np.concatenate(([DEPOT, DISPOSAL], sel + 2))
        for k, route in enumerate(plan.routes):
            self.trucks[k].start_day(day, [int(idx[i]) for i in route], t0, travel, key)
        self.scheduled.extend((day, int(s)) for s in sel)
        self.plans.append(
            {
                "day": day,
                "points": int(sel.size),
                "routes": len(plan.routes),
                "planned_km": plan.distance_m / 1000.0,
                "overtime_h": plan.overtime_s / 3600.0,
                "solver_iterations": plan.iterations,
                "solver_s": plan.runtime_s,
            }
        )

    def truck_day_done(self, truck: TruckAgent) -> None:
        """Record a truck's finished day."""
        f = self.params.fleet
        hours = truck.worked_s / 3600.0
        fuel = truck.km * f.fuel_l_per_km + truck.service_s / 3600.0 * f.idle_l_per_h
        self.truck_days.append(
            {
                "day": truck.day,
                "date": self.date_of(truck.day).isoformat(),
                "truck": truck.truck,
                "km": truck.km,
                "hours": hours,
                "overtime_h": max(0.0, hours - f.shift_hours),
                "trips": truck.trips,
                "extra_trips": truck.extra_trips,
                "visits": truck.visits,
                "collected_kg": truck.lifted_kg,
                "peak_load_kg": truck.peak_load_kg,
                "peak_load_l": truck.peak_load_l,
                "mean_load_share": (
                    float(np.mean(truck.unload_loads)) / f.capacity_kg if truck.unload_loads else 0.0
                ),
                "fuel_l": fuel,
                "co2_kg": fuel * f.co2_kg_per_l,
            }
        )

    # -- stepping ---------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance one hour: bins fill, the day is planned at the shift start, trucks drive."""
        p = self.params
        day, h = divmod(self.hour, 24)
        self.t_end_of_step = (self.hour + 1) * 3600.0
        if h == 0:
            self.today_kg = daily_kg(self.points, self.date_of(day), p, self.rng)
        add = self.today_kg * DIURNAL[h]
        self.generated_kg += float(add.sum())
        self.point_generated_kg += add
        self.content_kg += add
        spill = np.maximum(self.content_kg - self.capacity_kg, 0.0)
        self.content_kg -= spill
        self.overflow_kg += float(spill.sum())
        self.point_overflow_kg += spill
        if h == math.floor(p.fleet.shift_start_hour) and day < p.days:
            self.plan_day(day)
        for truck in self.trucks:
            truck.step()
        full = self.content_kg >= self.capacity_kg - 1e-9
        self.point_full_hours += full
        self.overflow_bin_hours += float(full.sum())
        self.hour += 1
        if self.hour % 24 == 0:
            self.datacollector.collect(self)


def run(
    params: WasteParams,
    seed: int,
    progress: Progress | None = None,
    *,
    network: RoadNetwork | None = None,
    cells: pd.DataFrame | None = None,
    wards: pd.DataFrame | None = None,
    link_speed_kmh: npt.ArrayLike | None = None,
) -> RunResult:
    """Run the waste model and return its `RunResult`.

    Parameters
    ----------
    params
        The parameters.
    seed
        The seed (random fill, PyVRP); same params, city and seed give the same result.
    progress
        Called with (fraction done, message) once a day.
    network, cells, wards
        The city: road network, H3 cells with ``population``/``attractiveness``/``ward_code``, and
        optionally the wards (index code, column ``name``) to name the per-ward KPIs. Required
        keywords: the model does not build the city itself (the CLI and the scenario runner pass
        ``gis_data.city.build_city(...)``'s).
    link_speed_kmh
        Optional speed per link (km/h) instead of the speed limits: the traffic model's free-flow
        or congested speeds where available.

    Raises
    ------
    InputError
        If the city is missing or a parameter does not fit it (e.g. a bin off the network).
    RoutingInfeasible
        If a day's collection cannot be routed (the reason names the constraint).
    """
    if network is None or cells is None:
        raise InputError(
            "network" if network is None else "cells",
            "the waste model needs a road network and populated H3 cells",
            "pass network= and cells= (e.g. from gis_data.city.build_city)",
        )
    t_wall = time.perf_counter()
    speeds = None if link_speed_kmh is None else np.asarray(link_speed_kmh, dtype=np.float64)
    model = WasteModel(CityInput(network, cells, wards, speeds), params, seed)
    hours = params.days * 24
    for _ in range(hours):
        model.step()
        if progress is not None and model.hour % 24 == 0:
            progress(model.hour / hours, f"day {model.hour // 24}/{params.days}")
    # run on until every truck is back at the depot (a late shift may end after midnight)
    extra = 0
    while any(t.active for t in model.trucks) and extra < 24:
        model.step()
        extra += 1
    return outputs.assemble(model, time.perf_counter() - t_wall)


def compare_policies(
    city: CityInput,
    params_a: WasteParams,
    params_b: WasteParams,
    seeds: list[int],
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, list[RunResult]]:
    """Run two parameter sets over the same seeds; return the comparison table and the runs.

    The table has, per KPI, the mean and 95 % confidence interval of each policy and of the paired
    difference b − a over seeds (see `outputs.comparison_table`).
    """
    runs: list[RunResult] = []
    total = 2 * len(seeds)
    for i, s in enumerate(seeds):
        for j, prm in enumerate((params_a, params_b)):
            done = (2 * i + j) / total

            def sub(frac: float, msg: str, done: float = done, j: int = j, s: int = s) -> None:
                if progress is not None:
                    progress(done + frac / total, f"{'ab'[j]} seed {s}: {msg}")

            runs.append(
                run(
                    prm,
                    s,
                    sub,
                    network=city.network,
                    cells=city.cells,
                    wards=city.wards,
                    link_speed_kmh=city.link_speed_kmh,
                )
            )
    table = outputs.comparison_table(runs[0::2], runs[1::2])
    return table, runs


__all__ = ["CityInput", "WasteModel", "compare_policies", "run"]
