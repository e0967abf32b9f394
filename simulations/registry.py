"""The simulation kinds a scenario can run: one `SimulationKind` entry per simulation.

An entry says everything the scenario engine needs to know about a simulation: its parameter model,
how a scenario's horizon and a road closure become its parameters, which parameter holds the H3
resolution of its cell outputs, and how it binds to the city model. Adding a simulation is one
`register` call here (and its package); `simulations.scenario` and `simulations.runner` read the
registry and never name a simulation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from simulations.results import Simulation
from simulations.traffic.params import TrafficParams
from simulations.waste.params import WasteParams
from twin.errors import InputError

if TYPE_CHECKING:
    from twin.city import City
    from twin.network import RoadNetwork


@dataclass(frozen=True)
class SimulationKind:
    """One simulation as the scenario engine sees it.

    Attributes
    ----------
    name
        The kind's name: the scenario's ``kind``, its parameter section (``[traffic]``) and the
        prefix of its KPIs, layers and changed parameters (``traffic.demand.multiplier``).
    params
        The frozen pydantic model of its parameters (a section is validated by it).
    horizon
        Horizon in seconds → the section defaults that make the run that long.
    bind
        City model → the simulation callable (``run(params, seed, progress)``) on its network and cells
        at the city's resolution. Imports the model lazily (mesa, PyVRP load with the first run).
    closure
        (a scenario's close change, the network or None) → the closure in this model's parameters
        (None: nothing to add, e.g. a named road when only validating without a network).
    res_field
        The parameter holding the H3 resolution of its cell outputs (set from the city's, i.e.
        ``TWIN_H3_RES``; a scenario may not set it), or None.
    closures_field
        The parameter holding the run's road closures (`simulations.closures.Closure`).
    """

    name: str
    params: type[BaseModel]
    horizon: Callable[[float], dict[str, Any]]
    bind: Callable[[City], Simulation]
    closure: Callable[[Any, RoadNetwork | None], BaseModel | None]
    res_field: str | None = None
    closures_field: str = "closures"


def _bind_traffic(city: City) -> Simulation:
    from functools import partial  # noqa: PLC0415

    from simulations.traffic import model  # noqa: PLC0415  (mesa and numba load with the first run)

    return partial(model.run, network=city.network, cells=city.cells(city.res), wards=city.wards)


def _bind_waste(city: City) -> Simulation:
    from functools import partial  # noqa: PLC0415

    from simulations.waste import model  # noqa: PLC0415  (PyVRP loads with the first run)

    return partial(model.run, network=city.network, cells=city.cells(city.res), wards=city.core_wards)


#: Every simulation kind, by name (in the order a combined scenario runs them).
KINDS: dict[str, SimulationKind] = {}
#: Names of kind combinations a scenario may give as its ``kind`` (e.g. ``both``).
COMBINATIONS: dict[str, tuple[str, ...]] = {}


def register(kind: SimulationKind) -> SimulationKind:
    """Add a simulation kind (a name may be registered once)."""
    if kind.name in KINDS or kind.name in COMBINATIONS:
        raise ValueError(f"simulation kind {kind.name!r} is registered already")
    KINDS[kind.name] = kind
    return kind


def get(name: str) -> SimulationKind:
    """Return a registered kind; raise `InputError` naming the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise InputError("kind", f"unknown simulation {name!r}", hint=f"use {names_hint()}") from None


def expand(kind: str) -> tuple[str, ...]:
    """Return the simulations a scenario ``kind`` runs (one kind, or a combination's kinds)."""
    if kind in KINDS:
        return (kind,)
    if kind in COMBINATIONS:
        return COMBINATIONS[kind]
    raise InputError("kind", f"unknown simulation {kind!r}", hint=f"use {names_hint()}")


def names_hint() -> str:
    """Return the accepted ``kind`` values as text."""
    return " | ".join([*KINDS, *COMBINATIONS])


register(
    SimulationKind(
        name="traffic",
        params=TrafficParams,
        horizon=lambda s: {"horizon_s": s},
        bind=_bind_traffic,
        closure=lambda change, network: change.for_traffic(network),
        res_field="res",
    )
)
register(
    SimulationKind(
        name="waste",
        params=WasteParams,
        # waste runs whole days: the horizon is rounded up
        horizon=lambda s: {"days": max(1, math.ceil(s / 86400.0 - 1e-9))},
        bind=_bind_waste,
        closure=lambda change, network: change.for_waste(network),
    )
)
COMBINATIONS["both"] = ("traffic", "waste")
