"""Planners' scenario specs: one versioned schema for traffic, waste or both, loaded from TOML/JSON.

A scenario is a *base* (the package defaults, ``base = "baseline"``, or another scenario file it
builds on), parameter sections for the simulations it runs, a list of *changes* (the intervention a
planner studies: close a road, set or scale a parameter), the *seeds* to run, and a *horizon*::

    schema_version = 1
    name = "Đóng cầu Kỳ Lừa giờ cao điểm"
    kind = "both"                 # traffic | waste | both
    base = "baseline"             # or "other_scenario.toml" (relative to this file)
    seeds = [1, 2, 3]             # or a count: seeds = 3  → [1, 2, 3]
    horizon = "2h"                # traffic: simulated time; waste: rounded up to whole days

    [traffic]                     # delegated to simulations.traffic.params.TrafficParams
    [waste]                       # delegated to simulations.waste.params.WasteParams
    fleet.trucks = 8

    [[changes]]
    type = "close"                # close | set | scale
    road = "QL1A"                 # by road name (needs the network), or links = [...], or area = [...]
    start_s = 0

    [[changes]]
    type = "scale"
    param = "waste.fleet.trucks"
    factor = 1.5

Validation errors name the field (``changes[1].param``, ``traffic.demand.trips``) and the reason.
The two parameter sections are validated by the simulations' own frozen models, so a scenario can
never carry a parameter a model does not know.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
import numpy.typing as npt
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulations import registry
from simulations.closures import Closure, links_named
from simulations.documents import did_you_mean, input_error, parse_document, read_document
from simulations.runner import UnknownParameterError, apply_overrides
from simulations.traffic.params import Closure as TrafficClosure
from simulations.traffic.params import clock_s
from twin.crs import local_metres
from twin.errors import InputError
from twin.network import RoadNetwork

#: The schema version this module reads and writes.
SCHEMA_VERSION = 1

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d)?\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str | float | int) -> float:
    """Return a duration in seconds from a number or a text like ``"90min"``, ``"2h"``, ``"7d"``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like '2h' or '7d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif not isinstance(value, str):
        raise ValueError("a duration is a number of seconds or a text like '2h' or '7d'")
    else:
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a duration (use seconds, or e.g. '90min', '2h', '7d')")
        seconds = float(m.group(1)) * _UNIT_S[(m.group(2) or "s").lower()]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("a duration must be a positive, finite number of seconds")
    return seconds


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SetChange(_Frozen):
    """Set one parameter: ``param`` is a dotted path starting with ``traffic.`` or ``waste.``."""

    type: Literal["set"]
    param: str
    value: Any
    label: str = ""


class ScaleChange(_Frozen):
    """Multiply one numeric parameter by ``factor`` (integers are rounded and kept ≥ 1)."""

    type: Literal["scale"]
    param: str
    factor: float = Field(gt=0.0, allow_inf_nan=False)
    label: str = ""


class CloseChange(_Frozen):
    """Close roads: a named road (all its links, or only its bridges), link ids, a circle or an area.

    ``start`` and ``end`` are local clock times (HH:MM) of the first simulated day; left out, the
    road is closed for the whole run. ``applies_to`` says which simulations see the closure (both
    by default: a closed bridge stops cars and garbage trucks alike).
    """

    type: Literal["close"]
    name: str = ""
    road: str | None = Field(default=None, min_length=1)
    bridges_only: bool = False
    links: tuple[Annotated[int, Field(ge=0)], ...] = ()
    near: tuple[float, float] | None = Field(default=None, description="(lon, lat) of the centre")
    radius_m: float = Field(default=100.0, gt=0.0)
    area: tuple[tuple[float, float], ...] | None = None
    start: str | None = None
    end: str | None = None
    applies_to: str = "both"

    @field_validator("applies_to")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        registry.expand(v)  # InputError naming the known kinds
        return v

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.road is None and not self.links and self.area is None and self.near is None:
            raise ValueError("a closure needs `road`, `links`, `near` or `area`")
        if self.bridges_only and self.road is None:
            raise ValueError("bridges_only needs a `road` whose bridges are closed")
        a = clock_s(self.start, "start") if self.start else 0
        b = clock_s(self.end, "end") if self.end else 86_400
        if b <= a:
            raise ValueError(f"the closure ends ({self.end}) before it starts ({self.start})")
        if self.area is not None:
            Closure(name=self.name, area=self.area)  # the shared model checks the ring
        return self

    def label(self) -> str:
        """Return a short text that says what is closed."""
        what = self.road or (f"{len(self.links)} links" if self.links else "an area")
        return self.name or f"close {what}{' (bridges)' if self.bridges_only else ''}"

    def link_ids(self, network: RoadNetwork) -> npt.NDArray[np.int64]:
        """Return the ids of the links of `network` this change closes (sorted, unique).

        Raises
        ------
        InputError
            If the road is not in the network, a link id does not exist, or nothing is selected.
        """
        links = network.links
        m = network.n_links
        bad = [i for i in self.links if i >= m]
        if bad:
            raise InputError("links", f"link {bad[0]} does not exist (the network has {m} links)")
        hit = np.zeros(m, dtype=bool)
        hit[list(self.links)] = True
        if self.road is not None:
            road = links_named(network, self.road, "road")
            if self.bridges_only:
                road &= links["bridge"].to_numpy(dtype=bool)
            if self.area is not None:
                road &= _in_area(network, self.area)
            if not road.any():
                raise InputError(
                    "road",
                    f"road {self.road!r} has no {'bridge' if self.bridges_only else 'link'} in the selection",
                    hint="drop bridges_only or widen the area",
                )
            hit |= road
        elif self.area is not None:
            hit |= _in_area(network, self.area)
        if self.near is not None:
            mid = shapely.line_interpolate_point(links.geometry.to_numpy(), 0.5, normalized=True)
            xy = local_metres(shapely.get_x(mid), shapely.get_y(mid))
            c = local_metres(np.array([self.near[0]]), np.array([self.near[1]]))[0]
            hit |= np.hypot(*(xy - c).T) <= self.radius_m
        ids = np.flatnonzero(hit).astype(np.int64)
        if ids.size == 0:
            raise InputError("area" if self.area is not None else "near", "the closure selects no road link")
        return ids

    def for_traffic(self, network: RoadNetwork | None) -> TrafficClosure | None:
        """Return the traffic model's closure (links resolved on `network`; None if an area needs one)."""
        window = {"start": self.start or "00:00", "end": self.end or "23:59", "reason": self.label()}
        if network is not None:
            return TrafficClosure(links=tuple(int(i) for i in self.link_ids(network)), **window)
        if self.area is not None or self.bridges_only:
            return None  # validation only: areas and bridge filters need the network
        # Validation only: the traffic model resolves names and circles itself.
        names = (self.road,) if self.road else ()
        return TrafficClosure(links=self.links, names=names, near=self.near, radius_m=self.radius_m, **window)

    def for_waste(self, network: RoadNetwork | None) -> Closure | None:
        """Return the waste model's closure (seconds from midnight of day 1); None without a network."""
        start_s = float(clock_s(self.start, "start")) if self.start else 0.0
        end_s = float(clock_s(self.end, "end")) if self.end else None
        if network is None:
            if self.road is None and self.near is None:
                return Closure(
                    name=self.label(), links=self.links, area=self.area, start_s=start_s, end_s=end_s
                )
            return None
        ids = tuple(int(i) for i in self.link_ids(network))
        return Closure(name=self.label(), links=ids, start_s=start_s, end_s=end_s)


def _in_area(network: RoadNetwork, area: tuple[tuple[float, float], ...]) -> npt.NDArray[np.bool_]:
    return np.asarray(
        shapely.intersects(network.links.geometry.to_numpy(), shapely.Polygon(area)), dtype=bool
    )


Change = Annotated[SetChange | ScaleChange | CloseChange, Field(discriminator="type")]


class CityOptions(_Frozen):
    """Which city model the scenario runs on (the defaults are the service's).

    The H3 resolution is not a scenario option: runs use the service's (``TWIN_H3_RES``).
    """

    road_source: Literal["synthetic", "osm"] = "synthetic"
    seed: int = Field(default=2025, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _no_res(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "res" in data:
            raise InputError(
                "city.res",
                "the H3 resolution of scenario runs is the service's, not the scenario's",
                hint="set TWIN_H3_RES (7–11) for the service or the CLI, and leave city.res out",
            )
        return data


class ScenarioSpec(BaseModel):
    """A planner's scenario: base, parameter sections, changes, seeds and horizon (schema version 1).

    ``kind`` is a simulation of `simulations.registry` (``traffic``, ``waste``) or a combination
    (``both``); each simulation it runs may have a parameter section named after it (``[traffic]``),
    kept as a table and validated by the simulation's own model in `resolve`.
    """

    # Sections are the only extra fields (checked in `_sections`): one per registered simulation.
    model_config = ConfigDict(frozen=True, extra="allow")

    schema_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    kind: str = Field(description="a simulation (traffic, waste) or a combination (both)")
    base: str = "baseline"
    seeds: tuple[int, ...] = (1,)
    horizon: float | None = Field(default=None, description="seconds; '2h' and '7d' are accepted")
    city: CityOptions = CityOptions()
    changes: tuple[Change, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        for key, value in data.items():
            if key in cls.model_fields:
                continue
            if key not in registry.KINDS:
                raise InputError(
                    str(key),
                    f"Extra inputs are not permitted: not a field of a scenario"
                    f"{did_you_mean(str(key), [*cls.model_fields, *registry.KINDS])}",
                    hint=f"fields: {', '.join([*cls.model_fields, *registry.KINDS])}",
                )
            if not isinstance(value, Mapping):
                raise InputError(str(key), "must be a table/object of parameters")
        return data

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        names = [*registry.KINDS, *registry.COMBINATIONS]
        if v not in names:
            known = ", ".join(repr(n) for n in names[:-1]) + f" or {names[-1]!r}"
            raise InputError("kind", f"must be {known}, got {v!r}")
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("seeds is a list of integers or a count")
        if isinstance(v, int):
            if not 1 <= v <= 1000:
                raise ValueError("a seed count must be between 1 and 1000")
            return tuple(range(1, v + 1))
        return v

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("at least one seed is needed")
        if len(set(v)) != len(v):
            raise ValueError("seeds must be distinct")
        if any(s < 0 for s in v):
            raise ValueError("seeds are non-negative integers")
        return v

    @field_validator("horizon", mode="before")
    @classmethod
    def _horizon(cls, v: Any) -> Any:
        return None if v is None else parse_duration(v)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for key in self.model_extra or {}:
            if key not in self.kinds:
                raise InputError(
                    "kind", f"a {self.kind} scenario has a [{key}] section", hint="use kind = 'both'"
                )
        for i, ch in enumerate(self.changes):
            if isinstance(ch, SetChange | ScaleChange):
                target = ch.param.split(".", 1)[0]
                if target not in registry.KINDS or "." not in ch.param:
                    prefixes = " or ".join(f"'{k}.'" for k in registry.KINDS)
                    raise InputError(f"changes[{i}].param", f"must start with {prefixes}, got {ch.param!r}")
                if target not in self.kinds:
                    raise InputError(
                        f"changes[{i}].param", f"{target!r} is not simulated in a {self.kind} scenario"
                    )
        return self

    # -- views ------------------------------------------------------------------------------------
    @property
    def kinds(self) -> tuple[str, ...]:
        """Return the simulations this scenario runs."""
        return registry.expand(self.kind)

    def section(self, kind: str) -> dict[str, Any]:
        """Return the parameter section of simulation `kind` as written (empty if the spec has none)."""
        return dict((self.model_extra or {}).get(kind) or {})

    def without_changes(self) -> ScenarioSpec:
        """Return the scenario's baseline: the same base, sections, seeds and horizon, no changes."""
        return self.model_copy(update={"changes": (), "name": f"{self.name} — baseline"})

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-serialisable dict (loadable again with `from_dict`)."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """Return the JSON schema of a spec, with one parameter section per registered simulation."""
        schema = cls.model_json_schema()
        for name, kind in registry.KINDS.items():
            schema["properties"][name] = {
                "type": "object",
                "description": f"{name} parameters ({kind.params.__name__}); see its schema",
            }
        schema["additionalProperties"] = False
        return schema

    # -- loading ----------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioSpec:
        """Validate `data` once; raise `InputError` naming the first bad field and the reason."""
        if not isinstance(data, Mapping):
            raise InputError("scenario", "must be a table/object of fields")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise InputError(
                "schema_version",
                f"version {version!r} is not supported (this twin reads version {SCHEMA_VERSION})",
                hint="upgrade the twin, or rewrite the file in the current schema",
            )
        try:
            spec = cls.model_validate(dict(data))
        except ValidationError as e:
            raise input_error(e, hint=_HINT, model=cls) from None
        spec.resolve()  # validate the sections and changes against the models now
        return spec

    @classmethod
    def from_text(cls, text: str, fmt: Literal["toml", "json"] = "toml") -> ScenarioSpec:
        """Parse a TOML or JSON document and validate it."""
        return cls.from_dict(parse_document(text, fmt, "scenario"))

    @classmethod
    def from_file(cls, path: Path | str) -> ScenarioSpec:
        """Load a ``.toml`` or ``.json`` scenario; a file ``base`` is merged in (relative to this file)."""
        return cls.from_dict(_read_with_bases(Path(path), []))

    # -- resolution -------------------------------------------------------------------------------
    def resolve(self, network: RoadNetwork | None = None, res: int | None = None) -> dict[str, BaseModel]:
        """Return the validated parameters of each simulation, with horizon and changes applied.

        Closures of named roads are resolved against `network`; without one they are left out
        (validation only), so pass the network the run will use. `res` (the run's H3 resolution,
        i.e. ``TWIN_H3_RES``) goes to each simulation's resolution parameter.

        Raises
        ------
        InputError
            Naming the section or change (``traffic.fleet.trucks``, ``changes[2].param``) and why.
        """
        out: dict[str, BaseModel] = {}
        for name in self.kinds:
            kind = registry.get(name)
            section = self.section(name)
            if kind.res_field is not None and kind.res_field in section:
                raise InputError(
                    f"{name}.{kind.res_field}",
                    "the H3 resolution of scenario runs is the service's, not the scenario's",
                    hint="set TWIN_H3_RES (7–11) and leave this parameter out",
                )
            if self.horizon is not None:
                section = {**kind.horizon(self.horizon), **section}
            if kind.res_field is not None and res is not None:
                section[kind.res_field] = res
            try:
                params: BaseModel = kind.params.model_validate(section)
            except ValidationError as e:
                raise input_error(e, prefix=name, hint=_HINT, model=kind.params) from None
            except InputError as e:
                raise InputError(f"{name}.{e.field}", e.reason, e.hint) from None
            for i, ch in enumerate(self.changes):
                params = _apply_change(params, kind, ch, i, network)
            out[name] = params
        return out

    def closures(self, network: RoadNetwork) -> list[tuple[str, npt.NDArray[np.int64]]]:
        """Return (label, closed link ids) of every closure change on `network`."""
        return [(ch.label(), ch.link_ids(network)) for ch in self.changes if isinstance(ch, CloseChange)]


_HINT = "fix the scenario (see examples/scenarios/)"


def _apply_change(
    params: BaseModel, kind: registry.SimulationKind, ch: Any, i: int, network: RoadNetwork | None
) -> BaseModel:
    where = f"changes[{i}]"
    if isinstance(ch, CloseChange):
        if kind.name not in registry.expand(ch.applies_to):
            return params
        try:
            closure = kind.closure(ch, network)
        except InputError as e:
            raise InputError(f"{where}.{e.field}", e.reason, e.hint) from None
        except ValidationError as e:
            raise input_error(e, prefix=where, hint=_HINT) from None
        if closure is None:
            return params
        current = tuple(getattr(params, kind.closures_field, ()))
        return _override(params, {kind.closures_field: [*current, closure]}, where)
    target, _, path = ch.param.partition(".")
    if target != kind.name:
        return params
    split = _share_change(params, path, ch, where)
    if split is not None or isinstance(ch, SetChange):
        change = {SHARES_FIELD: split} if split is not None else {path: ch.value}
        return _override(params, change, f"{where}.value")
    current = _get_path(params.model_dump(mode="python"), path, f"{where}.param")
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise InputError(
            f"{where}.param", f"{ch.param} is not a number (it is {current!r}), so it cannot be scaled"
        )
    value: float | int = current * ch.factor
    if isinstance(current, int):
        value = max(1, round(value))
    return _override(params, {path: value}, f"{where}.factor")


#: The parameter holding the vehicle classes (each with a ``share`` of the vehicles: the mode split).
SHARES_FIELD = "vehicles"
#: The mode-split parameter: ``set`` it to a table of shares (``{motorbike = 0.7, car = 0.3}``).
MODE_SPLIT = "mode_split"


def renormalise(shares: Mapping[str, float], mode: str, value: float) -> dict[str, float]:
    """Return the mode split with `mode` at `value` and the other modes scaled to fill 1 − value.

    The others keep their proportions (70 : 20 : 10 with the first set to 0.5 → 0.5 : 0.333 : 0.167).

    Raises
    ------
    ValueError
        If `value` is outside [0, 1] or the other modes have no share to scale.
    """
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"a share is between 0 and 1, got {value:g}")
    rest = sum(v for k, v in shares.items() if k != mode)
    if rest <= 0 and value < 1.0:
        raise ValueError(f"no other mode has a share to take up the remaining {1 - value:g}")
    f = (1.0 - value) / rest if rest > 0 else 0.0
    return {k: (value if k == mode else v * f) for k, v in shares.items()}


def _share_change(params: BaseModel, path: str, ch: Any, where: str) -> dict[str, Any] | None:
    """Return the vehicle classes after a change of the mode split, or None for other changes.

    ``set``/``scale`` of ``<kind>.vehicles.<mode>.share`` renormalises the other modes (their
    proportions kept); ``set`` of ``<kind>.mode_split`` to a table of shares normalises the table.
    """
    parts = path.split(".")
    vehicles = getattr(params, SHARES_FIELD, None)
    if not isinstance(vehicles, Mapping):
        return None
    data = {k: v.model_dump(mode="python") for k, v in vehicles.items()}
    shares = {k: float(v["share"]) for k, v in data.items()}
    if parts == [MODE_SPLIT] and isinstance(ch, SetChange):
        table = ch.value
        if not isinstance(table, Mapping) or not table:
            raise InputError(
                f"{where}.value", "the mode split is a table of shares, e.g. {motorbike = 0.7, car = 0.3}"
            )
        unknown = [k for k in table if k not in data]
        if unknown:
            raise InputError(f"{where}.value", f"unknown mode {unknown[0]!r}{did_you_mean(unknown[0], data)}")
        try:
            values = {k: float(v) for k, v in table.items()}
        except (TypeError, ValueError):
            raise InputError(f"{where}.value", "shares are numbers") from None
        total = sum(values.values())
        if total <= 0 or any(v < 0 for v in values.values()):
            raise InputError(f"{where}.value", "shares are non-negative and not all zero")
        new = {k: values.get(k, 0.0) / total for k in data}
    elif len(parts) == 3 and parts[0] == SHARES_FIELD and parts[2] == "share":
        mode = parts[1]
        if mode not in data:
            raise InputError(f"{where}.param", f"no vehicle class {mode!r}{did_you_mean(mode, data)}")
        value = ch.value if isinstance(ch, SetChange) else shares[mode] * ch.factor
        try:
            new = renormalise(shares, mode, float(value))
        except (TypeError, ValueError) as e:
            raise InputError(f"{where}.value", str(e)) from None
    else:
        return None
    return {k: {**v, "share": new[k]} for k, v in data.items()}


def mode_split_notes(spec: ScenarioSpec) -> list[str]:
    """Return one sentence per change of the mode split saying how the other shares were renormalised."""
    notes = []
    for i, ch in enumerate(spec.changes):
        if not isinstance(ch, SetChange | ScaleChange):
            continue
        kind, _, path = ch.param.partition(".")
        parts = path.split(".")
        if parts == [MODE_SPLIT]:
            notes.append(f"changes[{i}]: the mode split {ch.param} is normalised to sum to 1")
        elif len(parts) == 3 and parts[0] == SHARES_FIELD and parts[2] == "share":
            notes.append(
                f"changes[{i}]: {ch.param} changes; the other {kind} vehicle shares are scaled so the "
                "shares still sum to 1 (their proportions kept)"
            )
    return notes


def _override(params: BaseModel, overrides: dict[str, Any], where: str) -> BaseModel:
    try:
        return apply_overrides(params, overrides, hint=_HINT)  # type: ignore[no-any-return]
    except UnknownParameterError as e:
        raise InputError(f"{where.rsplit('.', 1)[0]}.param", e.reason, e.hint) from None
    except InputError as e:
        raise InputError(where, f"{e.field}: {e.reason}", e.hint) from None


def _get_path(data: dict[str, Any], path: str, where: str) -> Any:
    node: Any = data
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise InputError(where, f"no parameter {path!r}")
        node = node[key]
    return node


def _read_with_bases(path: Path, chain: list[Path]) -> dict[str, Any]:
    """Read a scenario file and merge the file it names as ``base`` under it (recursively)."""
    resolved = path.resolve()
    if resolved in chain:
        raise InputError(
            "base", f"scenario bases form a cycle: {' → '.join(p.name for p in [*chain, resolved])}"
        )
    data = read_document(path, "scenario")
    base = data.get("base", "baseline")
    if not isinstance(base, str):
        raise InputError("base", "must be 'baseline' or the path of another scenario file")
    if base == "baseline":
        return data
    parent = _read_with_bases(path.parent / base, [*chain, resolved])
    return merge_base(parent, data)


def merge_base(base: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Return `data` on top of its `base` spec: sections deep-merged, base changes first.

    The result keeps `data`'s own ``base`` name (for the record); seeds, horizon and city come from
    `data` when it sets them, else from the base.
    """
    out = dict(data)
    for key in ("seeds", "horizon", "city", "kind"):
        if key not in out and key in base:
            out[key] = base[key]
    for key in ("traffic", "waste"):
        if key in base or key in data:
            out[key] = _deep_merge(dict(base.get(key, {})), dict(data.get(key, {})))
    out["changes"] = [*base.get("changes", []), *data.get("changes", [])]
    return out


def _deep_merge(a: dict[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(a.get(k), Mapping):
            a[k] = _deep_merge(dict(a[k]), v)
        else:
            a[k] = v
    return a
