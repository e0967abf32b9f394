"""Road closures shared by the traffic and waste scenarios: which links, where, and when.

A closure names links by id, or an area (a GeoJSON-style polygon in lon/lat) whose links are all
closed, and a time window in seconds from the start of the simulation (``end_s`` None: open-ended).
Scenario files write it as, for instance::

    [[closures]]
    name = "Chợ đêm Kỳ Lừa"
    area = [[106.760, 21.852], [106.764, 21.852], [106.764, 21.856], [106.760, 21.856]]
    start_s = 64800          # 18:00 on the first day
    end_s = 86400

Both simulations resolve a closure against a `twin.network.RoadNetwork` with `closed_links`, and
every way of naming a road in a scenario (a scenario's ``close`` change, the traffic model's link
selectors) goes through `links_named`: by name or by alias (the ``ref`` column, e.g. ``QL1A``),
ignoring case, spaces and dots, with a "did you mean" for a typo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import numpy.typing as npt
import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simulations.documents import did_you_mean
from twin.errors import InputError
from twin.network import RoadNetwork

SECONDS_PER_DAY = 86_400.0


class Closure(BaseModel):
    """One road closure: links or an area, closed over a time window.

    Parameters
    ----------
    name
        A label people read (e.g. the event that closes the road).
    links
        Link ids of the network to close (both directions must be listed to close a two-way street).
    area
        Polygon ring of (lon, lat) pairs; every link that intersects it is closed (both directions).
    start_s, end_s
        Window in seconds from the simulation start; ``end_s`` None means until the end of the run.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    links: tuple[int, ...] = ()
    area: tuple[tuple[float, float], ...] | None = None
    start_s: float = Field(default=0.0, ge=0.0)
    end_s: float | None = Field(default=None, gt=0.0)

    @field_validator("links")
    @classmethod
    def _non_negative(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(i < 0 for i in v):
            raise ValueError("link ids are non-negative integers")
        return v

    @field_validator("area")
    @classmethod
    def _valid_ring(cls, v: tuple[tuple[float, float], ...] | None) -> tuple[tuple[float, float], ...] | None:
        if v is None:
            return v
        if len(v) < 3:
            raise ValueError("an area needs at least 3 (lon, lat) corners")
        for lon, lat in v:
            if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                raise ValueError(f"corner ({lon}, {lat}) is not a (lon, lat) pair in degrees")
        if not shapely.Polygon(v).is_valid:
            raise ValueError("the area polygon is not valid (self-intersecting ring?)")
        return v

    @model_validator(mode="after")
    def _something_closed(self) -> Self:
        if not self.links and self.area is None:
            raise ValueError("a closure needs `links` or an `area`")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self

    def active(self, t0: float, t1: float) -> bool:
        """Return whether the closure overlaps the window [t0, t1) (seconds from the start)."""
        end = np.inf if self.end_s is None else self.end_s
        return self.start_s < t1 and end > t0

    def link_ids(self, network: RoadNetwork) -> npt.NDArray[np.int64]:
        """Return the ids of the links of `network` this closure closes (sorted, unique).

        Raises
        ------
        InputError
            If a listed link id does not exist in the network.
        """
        ids = np.asarray(self.links, dtype=np.int64)
        if ids.size and ids.max() >= network.n_links:
            raise InputError(
                "closures.links",
                f"link {int(ids.max())} does not exist (the network has {network.n_links} links)",
                "list link ids from the network's links layer",
            )
        if self.area is not None:
            poly = shapely.Polygon(self.area)
            hit = shapely.intersects(network.links.geometry.to_numpy(), poly)
            ids = np.concatenate((ids, np.flatnonzero(hit)))
        return np.unique(ids)


def closed_links(
    network: RoadNetwork, closures: Sequence[Closure], t0: float, t1: float
) -> npt.NDArray[np.int64]:
    """Return the ids of the links closed at any time during [t0, t1) (seconds from the start)."""
    parts = [c.link_ids(network) for c in closures if c.active(t0, t1)]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(parts))


def norm_name(name: str) -> str:
    """Return a road name as compared: case-folded, without spaces and dots (``Q.L. 1A`` = ``ql1a``)."""
    return "".join(name.casefold().split()).replace(".", "")


#: Columns of the links that name a road: its name, then its aliases.
NAME_COLUMNS = ("name", "ref")


def road_names(network: RoadNetwork) -> list[str]:
    """Return the distinct names and aliases of the network's roads, sorted."""
    cols = [c for c in NAME_COLUMNS if c in network.links.columns]
    return sorted({str(v) for c in cols for v in network.links[c] if isinstance(v, str) and v.strip()})


def links_named(network: RoadNetwork, name: str, field: str) -> npt.NDArray[np.bool_]:
    """Return which links carry road `name` (its name or an alias contains it, `norm_name`).

    Raises
    ------
    InputError
        On `field` when no link carries it, with the closest known name ("did you mean").
    """
    key = norm_name(name)
    hit = np.zeros(network.n_links, dtype=bool)
    if key:
        for col in (c for c in NAME_COLUMNS if c in network.links.columns):
            values = [norm_name(v) if isinstance(v, str) else "" for v in network.links[col]]
            hit |= np.array([bool(v) and key in v for v in values], dtype=bool)
    if not hit.any():
        known = road_names(network)
        raise InputError(
            field,
            f"no road named {name!r} in the network{did_you_mean(name, known)}",
            hint=f"named roads include: {', '.join(known[:12])}" if known else "close by links or area",
        )
    return hit
