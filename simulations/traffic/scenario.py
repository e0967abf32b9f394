"""Apply a scenario to a road network: resolve link selectors, edit links, schedule closures.

Selectors are checked against the network, the wards and the cells they name; an unknown link id,
street name, ward or cell raises `twin.errors.InputError` whose field is the scenario path
(e.g. ``closures[0].ward``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from simulations.closures import links_named
from simulations.documents import did_you_mean
from twin import h3grid
from twin.crs import local_metres
from twin.errors import InputError
from twin.network import ROAD_CLASSES, RoadNetwork

from .params import LinkSelector, TrafficParams

I8 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Applied:
    """A network with the scenario's permanent edits and its closures in that network's link ids."""

    network: RoadNetwork
    closures: list[tuple[float, float, I8]] = field(default_factory=list)
    edits: dict[str, int] = field(default_factory=dict)


class Resolver:
    """Turn `LinkSelector`s into link ids of one network, checking every reference."""

    def __init__(
        self,
        network: RoadNetwork,
        wards: gpd.GeoDataFrame | None = None,
        cells: gpd.GeoDataFrame | None = None,
    ) -> None:
        self.net = network
        geom = network.links.geometry
        mid = shapely.line_interpolate_point(geom.to_numpy(), 0.5, normalized=True)
        self.mid_lon = shapely.get_x(mid)
        self.mid_lat = shapely.get_y(mid)
        self.mid_xy = local_metres(self.mid_lon, self.mid_lat)
        a = network.arrays()
        nxy = local_metres(network.nodes["x"].to_numpy(), network.nodes["y"].to_numpy())
        self.start_xy = nxy[a.u]
        self.end_xy = nxy[a.v]
        self.wards = wards
        self.cells = cells
        self._ward_of: npt.NDArray[np.object_] | None = None

    def ward_of_links(self) -> npt.NDArray[np.object_]:
        """Return the ward code of each link's midpoint ("" outside every ward)."""
        if self._ward_of is None:
            out = np.full(self.net.n_links, "", dtype=object)
            if self.wards is not None and len(self.wards):
                pts = gpd.GeoDataFrame(
                    geometry=gpd.points_from_xy(self.mid_lon, self.mid_lat), crs=self.net.links.crs
                )
                w = self.wards[["geometry"]].to_crs(self.net.links.crs).copy()
                w["code"] = w.index.astype(str)
                hit = gpd.sjoin(pts, w, how="left", predicate="within")
                hit = hit[~hit.index.duplicated(keep="first")]
                codes = hit["code"].reindex(range(self.net.n_links))
                out = np.where(codes.notna(), codes.astype(object), "").astype(object)
            self._ward_of = out
        return self._ward_of

    def resolve(self, sel: LinkSelector, field: str) -> I8:
        """Return the sorted link ids `sel` selects (union of its criteria)."""
        m = self.net.n_links
        hit = np.zeros(m, dtype=bool)
        for lid in sel.links:
            if not 0 <= lid < m:
                raise InputError(
                    f"{field}.links", f"unknown link {lid} (the network has links 0..{m - 1})",
                    hint="list the links with `twin layers` or select by name or `near`",
                )  # fmt: skip
            hit[lid] = True
        for name in sel.names:
            hit |= links_named(self.net, name, f"{field}.names")
        if sel.near is not None:
            lon, lat = sel.near
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise InputError(
                    f"{field}.near",
                    f"({lon}, {lat}) is not a lon/lat position",
                    hint="give [lon, lat] in degrees",
                )
            c = local_metres([lon], [lat])[0]
            found = np.hypot(*(self.mid_xy - c).T) <= sel.radius_m
            if not found.any():
                raise InputError(
                    f"{field}.near", f"no road within {sel.radius_m:g} m of ({lon}, {lat})",
                    hint="increase radius_m or move the point onto the network",
                )  # fmt: skip
            hit |= found
        if sel.ward is not None:
            codes = set() if self.wards is None else {str(c) for c in self.wards.index}
            if sel.ward not in codes:
                raise InputError(
                    f"{field}.ward",
                    f"unknown ward {sel.ward!r}{did_you_mean(sel.ward, codes)}",
                    hint="use a 5-digit ward code",
                )
            hit |= self.ward_of_links() == sel.ward
        if sel.cells:
            known = None if self.cells is None else {str(c) for c in self.cells.index}
            for cell in sel.cells:
                if not h3grid.is_valid(cell) or (known is not None and cell not in known):
                    raise InputError(
                        f"{field}.cells", f"unknown H3 cell {cell!r}", hint="use cells of the city grid"
                    )
            for res in {h3grid.resolution(c) for c in sel.cells}:
                mine = np.array(h3grid.to_str(h3grid.latlng_to_cells(self.mid_lat, self.mid_lon, res)))
                hit |= np.isin(mine, list(sel.cells))
        return np.flatnonzero(hit).astype(np.int64)


def apply(
    params: TrafficParams,
    network: RoadNetwork,
    *,
    wards: gpd.GeoDataFrame | None = None,
    cells: gpd.GeoDataFrame | None = None,
) -> Applied:
    """Return the network as the scenario changes it, and its closures (times relative to start)."""
    res = Resolver(network, wards, cells)
    links = network.links.copy()
    edits = {"changed": 0, "removed": 0, "added": 0}
    for i, ch in enumerate(params.link_changes):
        ids = res.resolve(ch, f"link_changes[{i}]")
        if ch.lanes is not None:
            per_lane = links.loc[ids, "capacity_pcu_h"] / links.loc[ids, "lanes"]
            links.loc[ids, "lanes"] = ch.lanes
            links.loc[ids, "capacity_pcu_h"] = per_lane * ch.lanes
        if ch.capacity_pcu_h is not None:
            links.loc[ids, "capacity_pcu_h"] = ch.capacity_pcu_h
        if ch.speed_kmh is not None:
            links.loc[ids, "speed_kmh"] = ch.speed_kmh
        edits["changed"] += len(ids)
    closures_old = [
        (params.rel_s(c.start, f"closures[{i}].start"), params.rel_s(c.end, f"closures[{i}].end"),
         res.resolve(c, f"closures[{i}]"))
        for i, c in enumerate(params.closures)
    ]  # fmt: skip
    keep = np.ones(len(links), dtype=bool)
    bearing = np.degrees(np.arctan2(*(res.end_xy - res.start_xy).T)) % 360.0
    for i, ow in enumerate(params.one_way):
        ids = res.resolve(ow, f"one_way[{i}]")
        off = np.abs((bearing[ids] - ow.heading_deg + 180.0) % 360.0 - 180.0)
        drop = ids[off > 60.0]
        if not len(drop) or len(drop) == len(ids):
            raise InputError(
                f"one_way[{i}].heading_deg",
                f"the {len(ids)} selected links do not run both ways along {ow.heading_deg:g}°",
                hint="select a two-way street and the heading of the direction to keep",
            )
        keep[drop] = False
        edits["removed"] += len(drop)
    old_ids = np.flatnonzero(keep)
    links = links.iloc[old_ids].copy()
    links["oneway"] = links["oneway"] | _has_no_reverse(links)
    new_rows = []
    for i, nl in enumerate(params.new_links):
        if nl.road_class not in ROAD_CLASSES:
            raise InputError(
                f"new_links[{i}].road_class",
                f"unknown road class {nl.road_class!r}",
                hint=f"use one of {', '.join(ROAD_CLASSES)}",
            )
        a, b = network.nearest_node(
            [nl.from_lonlat[0], nl.to_lonlat[0]], [nl.from_lonlat[1], nl.to_lonlat[1]]
        )
        if a == b:
            raise InputError(f"new_links[{i}]", "both ends snap to the same node", hint="move the ends apart")
        xa, ya = network.nodes.loc[a, ["x", "y"]]
        xb, yb = network.nodes.loc[b, ["x", "y"]]
        xy = local_metres([xa, xb], [ya, yb])
        length = max(float(np.hypot(*(xy[1] - xy[0]))), 1.0)
        cap = nl.capacity_pcu_h or ROAD_CLASSES[nl.road_class][2] * nl.lanes
        pairs = [(a, b, (xa, ya), (xb, yb))] + ([(b, a, (xb, yb), (xa, ya))] if nl.two_way else [])
        for u, v, p, q in pairs:
            new_rows.append(
                {"u": int(u), "v": int(v), "length_m": length, "lanes": nl.lanes, "speed_kmh": nl.speed_kmh,
                 "capacity_pcu_h": cap, "road_class": nl.road_class, "oneway": not nl.two_way,
                 "bridge": nl.bridge, "name": nl.name, "geometry": shapely.LineString([p, q])}
            )  # fmt: skip
            edits["added"] += 1
    if new_rows:
        extra = gpd.GeoDataFrame(new_rows, geometry="geometry", crs=links.crs)
        links = pd.concat([links, extra], ignore_index=True)
    links = gpd.GeoDataFrame(links, geometry="geometry", crs=network.links.crs)
    links.index = pd.RangeIndex(len(links), name="link_id")
    net = RoadNetwork.from_frames(network.nodes, links, network.provenance, network.meta)
    remap = np.full(network.n_links, -1, dtype=np.int64)
    remap[old_ids] = np.arange(len(old_ids))
    closures = []
    for t0, t1, ids in closures_old:
        new = remap[ids]
        closures.append((t0, t1, new[new >= 0]))
    return Applied(network=net, closures=closures, edits=edits)


def _has_no_reverse(links: pd.DataFrame) -> npt.NDArray[np.bool_]:
    fwd = set(zip(links["u"].to_numpy().tolist(), links["v"].to_numpy().tolist(), strict=True))
    return np.array([(v, u) not in fwd for u, v in fwd_iter(links)], dtype=bool)


def fwd_iter(links: pd.DataFrame) -> list[tuple[int, int]]:
    """Return the (u, v) pairs of the links, in order."""
    return list(zip(links["u"].to_numpy().tolist(), links["v"].to_numpy().tolist(), strict=True))
