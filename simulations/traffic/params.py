"""Traffic parameters and planners' scenarios: frozen pydantic models loaded from TOML or JSON.

A scenario file holds the run's parameters (demand, vehicle classes, junctions, routing, horizon)
and the changes to test: closures of links or an area for a time window, changes of lanes, capacity
or speed, one-way conversions, new links (a bridge), demand multipliers (e.g. trucks on QL1A ×2) and
events that attract extra trips (the Kỳ Lừa night market). `Scenario.check` validates the references
against a network, wards and cells and raises `twin.errors.InputError` naming the offending field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulations.documents import input_error, read_document
from twin.errors import InputError

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def clock_s(value: str, field: str) -> int:
    """Return seconds after midnight of a local ``HH:MM`` clock time."""
    m = _HHMM.match(value)
    if not m:
        raise InputError(field, f"must be a local time HH:MM, got {value!r}", hint='e.g. "07:30"')
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60


def _vclock(value: str, field: str) -> int:
    """Return `clock_s` for use inside validators (a ValueError, so pydantic adds the field path)."""
    try:
        return clock_s(value, field)
    except InputError as e:
        raise ValueError(f"{field} {e.reason}") from None


def _check_order(start: str, end: str, what: str) -> None:
    """Refuse a `what` (a time window, a closure, an event) that ends before it starts (a ValueError)."""
    if _vclock(end, "end") <= _vclock(start, "start"):
        raise ValueError(f"{what} ends ({end}) before it starts ({start})")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VehicleClass(_Frozen):
    """A vehicle class: share of vehicles, passenger-car units, free speed and filtering speed.

    ``creep_kmh`` > 0 lets the class filter through queues (lane-free traffic: motorbikes pass
    stopped cars at that speed, see `simulations.traffic.kernel`); 0 keeps it in line.
    """

    share: float = Field(ge=0.0, le=1.0)
    pcu: float = Field(gt=0.0, le=5.0)
    speed_kmh: float = Field(gt=0.0, le=130.0)
    creep_kmh: float = Field(default=0.0, ge=0.0, le=30.0, description="speed through a stopped queue")

    @model_validator(mode="after")
    def _creep(self) -> Self:
        if self.creep_kmh > self.speed_kmh:
            raise ValueError(f"creep_kmh ({self.creep_kmh:g}) cannot exceed speed_kmh ({self.speed_kmh:g})")
        return self


def _default_vehicles() -> dict[str, VehicleClass]:
    # Vietnamese urban mix (TCVN 13592:2022 PCU factors: motorbike 0.3, car 1, bus 2.5, truck 2.5).
    # Motorbikes filter through stopped queues at 10 km/h (an assumption; calibrate with local video).
    return {
        "motorbike": VehicleClass(share=0.85, pcu=0.3, speed_kmh=40.0, creep_kmh=10.0),
        "car": VehicleClass(share=0.11, pcu=1.0, speed_kmh=60.0),
        "bus": VehicleClass(share=0.01, pcu=2.5, speed_kmh=45.0),
        "truck": VehicleClass(share=0.03, pcu=2.5, speed_kmh=50.0),
    }


MODES = ("motorbike", "car", "bus", "truck")

#: Hourly share (%) of the day's vehicle trips by local hour 0..23: a weekday with morning (7–8 h) and
#: evening (17–18 h) peaks, the shape of Vietnamese urban traffic counts.
PROFILES: dict[str, tuple[float, ...]] = {
    "weekday": (
        0.4, 0.2, 0.2, 0.3, 1.2, 3.5, 7.5, 10.5, 8.0, 5.5, 5.0, 5.8,
        5.0, 4.5, 4.8, 5.5, 6.8, 8.5, 6.0, 3.8, 2.8, 1.9, 1.1, 0.7,
    ),
    "flat": tuple([100.0 / 24] * 24),
}  # fmt: skip


class Window(_Frozen):
    """A local time window ``start``–``end`` (HH:MM, same day)."""

    start: str
    end: str

    @model_validator(mode="after")
    def _order(self) -> Self:
        _check_order(self.start, self.end, "time window")
        return self


class LinkSelector(_Frozen):
    """Which links a change applies to: ids, names, a circle around a point, a ward or H3 cells."""

    links: tuple[int, ...] = ()
    names: tuple[str, ...] = ()
    near: tuple[float, float] | None = Field(default=None, description="(lon, lat) of the centre")
    radius_m: float = Field(default=100.0, gt=0.0)
    ward: str | None = None
    cells: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not (self.links or self.names or self.near or self.ward or self.cells):
            raise ValueError("select links by `links`, `names`, `near`, `ward` or `cells`")
        return self


class Closure(LinkSelector):
    """Close the selected links (both directions if selected) during a time window."""

    start: str = "00:00"
    end: str = "23:59"
    reason: str = ""

    @model_validator(mode="after")
    def _order(self) -> Self:
        _check_order(self.start, self.end, "closure")
        return self


class LinkChange(LinkSelector):
    """Change lanes, capacity (PCU/h) or speed (km/h) of the selected links."""

    lanes: int | None = Field(default=None, ge=1, le=8)
    capacity_pcu_h: float | None = None
    speed_kmh: float | None = Field(default=None, gt=0.0, le=130.0)

    @field_validator("capacity_pcu_h")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError(f"capacity must be positive, got {v}")
        return v


class OneWay(LinkSelector):
    """Make the selected streets one-way: keep the links heading within ±60° of `heading_deg`."""

    heading_deg: float = Field(ge=0.0, lt=360.0, description="compass heading of the kept direction")


class NewLink(_Frozen):
    """Add a road between the nodes nearest to two points (a bridge, a bypass)."""

    name: str = ""
    from_lonlat: tuple[float, float]
    to_lonlat: tuple[float, float]
    lanes: int = Field(default=2, ge=1, le=8)
    speed_kmh: float = Field(default=40.0, gt=0.0, le=130.0)
    capacity_pcu_h: float | None = Field(default=None, gt=0.0)
    road_class: str = "secondary"
    bridge: bool = False
    two_way: bool = True


class Event(_Frozen):
    """Extra trips attracted to a place during a time window (a market, a festival)."""

    name: str
    lonlat: tuple[float, float] = Field(description="(lon, lat) of the place")
    start: str
    end: str
    trips: int = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> Self:
        _check_order(self.start, self.end, "event")
        return self


class Demand(_Frozen):
    """Origin–destination demand from per-cell population and attractiveness."""

    trips_per_person_day: float = Field(default=1.6, ge=0.0, description="vehicle trips a day")
    profile: Literal["weekday", "flat"] = "weekday"
    multiplier: float = Field(default=1.0, ge=0.0)
    mean_trip_km: float = Field(default=3.0, gt=0.0, description="gravity decay length")
    through_veh_h: float = Field(default=600.0, ge=0.0, description="through traffic, all corridors")
    through_truck_share: float = Field(default=0.35, ge=0.0, le=1.0)
    corridors: tuple[str, ...] = ("QL1A", "QL4A", "QL4B", "QL1B")
    truck_multiplier: dict[str, float] = Field(default_factory=dict, description="corridor → ×")
    min_trip_m: float = Field(default=400.0, ge=0.0, description="shorter trips walk")
    production: dict[str, float] = Field(
        default_factory=dict,
        description="H3 cell (any resolution up to the cells') → × trips produced by the cells inside it "
        "(a calibrated demand, `simulations.traffic.calibrate`)",
    )
    attraction: dict[str, float] = Field(
        default_factory=dict, description="H3 cell → × attractiveness of the cells inside it"
    )
    hourly: dict[str, float] = Field(
        default_factory=dict, description='local hour "HH" → × the profile\'s trips departing in it'
    )

    @field_validator("production", "attraction", "hourly")
    @classmethod
    def _factors(cls, v: dict[str, float]) -> dict[str, float]:
        for key, x in v.items():
            if not (x >= 0.0 and x < 1e6):  # also refuses NaN
                raise ValueError(f"factor of {key!r} must be a number >= 0, got {x}")
        return v

    @field_validator("hourly")
    @classmethod
    def _hours(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k in v if not re.fullmatch(r"([01]\d|2[0-3])", k)]
        if bad:
            raise ValueError(f"hours must be local hours 00–23, got {bad[:3]}")
        return v


class Junctions(_Frozen):
    """Junction delays: fixed-time signals and turn-dependent crossing times."""

    signal_cycle_s: float = Field(default=60.0, gt=10.0)
    lost_time_s: float = Field(default=8.0, ge=0.0, description="per cycle (amber, all-red)")
    crossing_conflicts: bool = Field(
        default=True,
        description="unsignalised junctions: crossing approach axes time-share the junction",
    )
    straight_s: float = Field(default=1.0, ge=0.0)
    right_s: float = Field(default=2.0, ge=0.0)
    left_s: float = Field(default=4.0, ge=0.0)
    uturn_s: float = Field(default=8.0, ge=0.0)

    @model_validator(mode="after")
    def _lost(self) -> Self:
        if self.lost_time_s >= self.signal_cycle_s / 2:
            raise ValueError("lost_time_s must be shorter than half the signal cycle")
        return self


class Routing(_Frozen):
    """Dynamic routing: refresh period, threshold, smoothing, indifference, spillback avoidance."""

    period_s: float = Field(default=300.0, gt=0.0)
    min_change: float = Field(default=0.05, ge=0.0, description="flow-weighted cost change that refreshes")
    smoothing: float = Field(default=0.5, gt=0.0, le=1.0, description="weight of new observed costs")
    indifference: float = Field(default=0.15, ge=0.0, description="ignored delay, share of link time")
    spill_penalty_s: float = Field(default=60.0, ge=0.0, description="extra cost of a full out-link")


class TrafficParams(_Frozen):
    """Everything one traffic run needs besides the network, cells and seed."""

    name: str = "baseline"
    description: str = ""
    seed: int = 2025
    start: str = "06:00"
    horizon_s: float = Field(default=10_800.0, gt=0.0, le=86_400.0)
    demand_window_s: float | None = Field(default=None, gt=0.0, description="default: horizon - 1 h")
    dt_s: float = Field(default=1.0, gt=0.0, le=10.0)
    step_s: float = Field(default=60.0, gt=0.0, description="mesa step (collection interval)")
    bin_s: float = Field(default=300.0, gt=0.0, description="output interval")
    jam_density_pcu_km: float = Field(default=150.0, gt=0.0, description="per lane")
    teleport_s: float | None = Field(
        default=None,
        gt=0.0,
        description="off by default; as SUMO's time-to-teleport: a vehicle blocked this long at the "
        "head of its link skips the jam along its route (counted in the KPI `teleports`)",
    )
    vehicles: dict[str, VehicleClass] = Field(default_factory=_default_vehicles)
    demand: Demand = Demand()
    junctions: Junctions = Junctions()
    routing: Routing = Routing()
    closures: tuple[Closure, ...] = ()
    link_changes: tuple[LinkChange, ...] = ()
    one_way: tuple[OneWay, ...] = ()
    new_links: tuple[NewLink, ...] = ()
    events: tuple[Event, ...] = ()
    res: int = Field(default=9, ge=7, le=11, description="H3 resolution of the cell outputs")

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        _vclock(v, "start")
        return v

    @field_validator("vehicles")
    @classmethod
    def _vehicles(cls, v: dict[str, VehicleClass]) -> dict[str, VehicleClass]:
        unknown = set(v) - set(MODES)
        if unknown:
            raise ValueError(f"unknown vehicle classes {sorted(unknown)}; use {', '.join(MODES)}")
        total = sum(c.share for c in v.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"vehicle shares must sum to 1, got {total:.4f}")
        return v

    @model_validator(mode="after")
    def _times(self) -> Self:
        if self.demand_window_s is not None and self.demand_window_s > self.horizon_s:
            raise ValueError("demand_window_s cannot exceed horizon_s")
        if self.step_s < self.dt_s or self.bin_s < self.dt_s:
            raise ValueError("step_s and bin_s must be at least dt_s")
        if self.routing.period_s < self.step_s:
            raise ValueError("routing.period_s must be at least step_s")
        t0 = _vclock(self.start, "start")
        t1 = t0 + self.horizon_s
        windows: list[tuple[str, tuple[Closure | Event, ...]]] = [
            ("closures", self.closures),
            ("events", self.events),
        ]
        for kind, items in windows:
            for i, item in enumerate(items):
                a, b = _vclock(item.start, "start"), _vclock(item.end, "end")
                if b <= t0 or a >= t1:
                    raise ValueError(
                        f"{kind}[{i}] window {item.start}–{item.end} lies outside the simulated "
                        f"period {self.start} + {self.horizon_s:g} s"
                    )
        return self

    # -- derived --------------------------------------------------------------------------------
    @property
    def start_s(self) -> int:
        """Local start time in seconds after midnight."""
        return _vclock(self.start, "start")

    @property
    def departure_window_s(self) -> float:
        """Seconds during which trips depart (default: all but the last hour, at least half)."""
        if self.demand_window_s is not None:
            return self.demand_window_s
        return max(self.horizon_s - 3600.0, self.horizon_s / 2)

    def rel_s(self, hhmm: str, field: str) -> float:
        """Return a local clock time as seconds after the simulation start (clipped to the horizon)."""
        return min(max(clock_s(hhmm, field) - self.start_s, 0.0), self.horizon_s)

    # -- I/O ------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "scenario") -> TrafficParams:
        """Validate a dict; raise `InputError` naming the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise input_error(
                e, hint=f"fix it in {where}", root="scenario", brackets=False, model=cls
            ) from None

    @classmethod
    def from_file(cls, path: Path | str) -> TrafficParams:
        """Load parameters from a ``.toml`` or ``.json`` file."""
        data = read_document(path, "scenario")
        return cls.from_dict(data, where=str(path))

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-serialisable dict."""
        return self.model_dump(mode="json")


#: The contract name: a scenario is a full parameter set plus its changes.
Scenario = TrafficParams
Params = TrafficParams
