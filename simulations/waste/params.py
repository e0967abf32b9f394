"""Parameters of the waste-collection simulation: frozen pydantic models loadable from TOML or JSON.

Defaults, with their sources:

* generation 0.9 kg/person/day: municipal solid waste in Vietnamese provincial cities is about
  0.8–1.0 kg/person/day (DATA.md);
* loose waste density in street bins 250 kg/m³ (wet, food-rich Vietnamese household waste is denser
  than the 100–150 kg/m³ typical in Europe);
* trucks: 12 m³ rear-loading compactors, compaction ratio 2.5, legal payload 6 t, one 8 h shift;
* fuel 0.45 L/km driving (stop-and-go collection duty of a 10–16 t diesel compactor), 2.5 L/h idling
  at stops (engine running for the lift), 2.68 kg CO₂ per litre of diesel (IPCC 2006 default,
  74.1 t CO₂/TJ at 36 MJ/L).

A scenario file holds ``name``, ``description`` and the parameters as sections::

    name = "baseline"
    days = 30
    [fleet]
    trucks = 8
    [policy]
    kind = "fixed"
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulations.closures import Closure
from simulations.documents import input_error, read_document
from twin.errors import InputError

Policy = Literal["fixed", "sensor", "hybrid"]

#: Truck speed caps by road class (km/h): a loaded compactor does not reach car speed limits.
DEFAULT_TRUCK_SPEED_KMH: dict[str, float] = {
    "trunk": 50.0,
    "primary": 40.0,
    "secondary": 35.0,
    "tertiary": 30.0,
    "residential": 20.0,
    "service": 15.0,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Site(_Frozen):
    """A fixed site (depot or disposal) given by its position; snapped to the nearest road node."""

    lon: float = Field(ge=-180.0, le=180.0)
    lat: float = Field(ge=-90.0, le=90.0)
    name: str = ""


class AddedBin(_Frozen):
    """A collection point a planner adds by hand (e.g. a new market)."""

    lon: float = Field(ge=-180.0, le=180.0)
    lat: float = Field(ge=-90.0, le=90.0)
    size_l: int = Field(default=660, gt=0)
    containers: int = Field(default=1, ge=1, le=20)
    population: float = Field(default=0.0, ge=0.0, description="people whose waste goes here")
    market: bool = False
    name: str = ""


class BinParams(_Frozen):
    """How collection points are placed and how fast they fill."""

    generation_kg_per_person_day: float = Field(default=0.9, gt=0.0, le=5.0)
    density_kg_m3: float = Field(default=250.0, gt=10.0, le=1000.0)
    sizes_l: tuple[int, ...] = Field(default=(240, 660), min_length=1)
    #: Containers are sized so that the expected waste between two scheduled visits fills this share.
    design_fill: float = Field(default=0.7, gt=0.05, le=1.0)
    max_containers: int = Field(default=6, ge=1, le=50)
    #: Cells with fewer people get no point of their own; their waste goes to the nearest point.
    min_cell_population: float = Field(default=60.0, ge=0.0)
    #: Share of populated cells, most attractive first, that hold a market point.
    market_share: float = Field(default=0.04, ge=0.0, le=1.0)
    market_factor: float = Field(default=1.8, ge=1.0, le=10.0)
    #: Multipliers of the daily generation, Monday first.
    weekday_factors: tuple[float, float, float, float, float, float, float] = (
        0.97,
        0.96,
        0.97,
        0.98,
        1.0,
        1.05,
        1.07,
    )
    #: Coefficient of variation of the day-to-day lognormal noise of each point.
    noise_cv: float = Field(default=0.25, ge=0.0, le=2.0)
    #: A point farther than this from the nearest road node is off the network (an error).
    max_snap_m: float = Field(default=400.0, gt=0.0)
    #: Days of expected waste the points hold at the start (0: empty; ~0.6 mimics a running service).
    initial_days: float = Field(default=0.0, ge=0.0, le=14.0)
    added: tuple[AddedBin, ...] = ()

    @field_validator("sizes_l")
    @classmethod
    def _positive_sizes(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(s <= 0 for s in v):
            raise ValueError("container sizes are positive numbers of litres")
        return tuple(sorted(v))


class FleetParams(_Frozen):
    """The trucks, their shift, and the depot and disposal site."""

    trucks: int = Field(default=8, gt=0, le=500)
    capacity_kg: float = Field(default=6000.0, gt=0.0)
    capacity_m3: float = Field(default=12.0, gt=0.0)
    compaction: float = Field(default=2.5, ge=1.0, le=6.0)
    shift_hours: float = Field(default=8.0, gt=0.0, le=24.0)
    shift_start_hour: float = Field(default=5.0, ge=0.0, lt=24.0)
    service_s_per_container: float = Field(default=60.0, ge=0.0)
    disposal_service_s: float = Field(default=900.0, ge=0.0)
    #: Trucks drive at min(class cap, speed_factor × speed limit).
    speed_factor: float = Field(default=0.85, gt=0.0, le=1.5)
    truck_speed_kmh: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TRUCK_SPEED_KMH))
    depot: Site | None = None
    disposal: Site | None = None
    #: With no `disposal`, the site is placed this far (road km) from the population centre.
    disposal_distance_km: float = Field(default=8.0, gt=0.0)
    fuel_l_per_km: float = Field(default=0.45, ge=0.0)
    idle_l_per_h: float = Field(default=2.5, ge=0.0)
    co2_kg_per_l: float = Field(default=2.68, ge=0.0)

    @field_validator("truck_speed_kmh")
    @classmethod
    def _positive_speeds(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, s in v.items() if s <= 0]
        if bad:
            raise ValueError(f"speeds must be positive (classes {bad})")
        return v

    @property
    def capacity_l(self) -> float:
        """Loose-waste volume a full body holds (litres), after compaction."""
        return self.capacity_m3 * 1000.0 * self.compaction


class PolicyParams(_Frozen):
    """Which points are collected each day.

    ``fixed``: every point every `interval_days` days on fixed routes planned once.
    ``sensor``: each day, the points whose fill (measured by sensors) is predicted to pass
    `threshold` before the next collection day, on routes re-planned daily. The prediction adds to
    the measured fill the `confidence` quantile of the waste expected until the latest next visit
    (tomorrow's shift end), from the lognormal day-to-day noise of `BinParams.noise_cv`.
    ``hybrid``: the fixed schedule at `interval_days`, plus sensor-triggered visits on off days.
    """

    kind: Policy = "fixed"
    interval_days: int = Field(default=1, ge=1, le=7)
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    confidence: float = Field(default=0.9, ge=0.5, lt=1.0)


class WasteParams(_Frozen):
    """All parameters of a waste-collection run (the seed is given to `run` separately)."""

    days: int = Field(default=7, ge=1, le=366)
    start_date: date = date(2025, 7, 7)
    fleet: FleetParams = FleetParams()
    bins: BinParams = BinParams()
    policy: PolicyParams = PolicyParams()
    #: Weekdays (0 = Monday) on which markets run and market points fill faster.
    market_days: tuple[int, ...] = (5, 6)
    #: Relative population change applied to every cell (0.1 = +10 %).
    population_growth: float = Field(default=0.0, ge=-0.9, le=5.0)
    closures: tuple[Closure, ...] = ()
    #: PyVRP search budget per routing problem, in nominal seconds: it sets the number of iterations
    #: (600 per second, at least 200), never a wall-clock stop, so a seed gives the same plan on any
    #: machine and under any load.
    solver_time_s: float = Field(default=2.0, gt=0.0, le=600.0)
    seed: int = Field(default=2025, ge=0)

    @field_validator("market_days")
    @classmethod
    def _weekdays(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= d <= 6 for d in v):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return tuple(sorted(set(v)))

    @model_validator(mode="after")
    def _truck_holds_a_bin(self) -> Self:
        biggest = max([*self.bins.sizes_l, *(b.size_l for b in self.bins.added)])
        if self.fleet.capacity_l < biggest:
            raise InputError(
                "fleet.capacity_m3",
                f"a truck ({self.fleet.capacity_m3:g} m³ × compaction "
                f"{self.fleet.compaction:g}) holds less than one {biggest} L container",
            )
        if self.fleet.capacity_kg < biggest / 1000.0 * self.bins.density_kg_m3:
            raise InputError(
                "fleet.capacity_kg",
                f"{self.fleet.capacity_kg:g} kg is less than one full {biggest} L "
                f"container ({biggest / 1000.0 * self.bins.density_kg_m3:g} kg)",
            )
        return self

    # -- loading ----------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WasteParams:
        """Validate `data`; raise `InputError` naming the first bad field."""
        return _validate(cls, data)

    @classmethod
    def from_file(cls, path: Path | str) -> WasteParams:
        """Load parameters from a TOML or JSON file (a scenario file's name/description are ignored)."""
        data = read_spec(Path(path))
        data.pop("name", None)
        data.pop("description", None)
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-serialisable dict."""
        return self.model_dump(mode="json")

    def with_policy(self, kind: Policy, **changes: Any) -> WasteParams:
        """Return a validated copy with another policy (and other policy fields changed)."""
        data = self.to_dict()
        data["policy"].update(kind=kind, **changes)
        return WasteParams.from_dict(data)


class Scenario(_Frozen):
    """A named, described set of parameters a planner keeps in a TOML/JSON file."""

    name: str = Field(min_length=1)
    description: str = ""
    params: WasteParams = WasteParams()

    @classmethod
    def from_file(cls, path: Path | str) -> Scenario:
        """Load a scenario file: ``name``, ``description`` and the parameters at top level."""
        path = Path(path)
        data = read_spec(path)
        name = str(data.pop("name", path.stem))
        description = str(data.pop("description", ""))
        return cls(name=name, description=description, params=WasteParams.from_dict(data))


def read_spec(path: Path) -> dict[str, Any]:
    """Read a TOML or JSON file into a dict (`simulations.documents.read_document`)."""
    return read_document(path, "scenario")


def _validate(cls: type[WasteParams], data: dict[str, Any]) -> WasteParams:
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise input_error(e, hint=_HINT, root="params", brackets=False) from None
    except InputError as e:  # a cross-field check names its field itself
        raise InputError(e.field, e.reason, e.hint or _HINT) from None


_HINT = "fix the scenario file (see examples/scenarios/waste_*.toml)"
