"""Trucks and sites: truck speeds by road class, the depot and the disposal site on the network.

Default sites (used when the scenario gives no position):

* depot (truck garage): the road node nearest the population-weighted centre of the served cells;
* disposal site: the road node whose shortest driving distance from the depot is closest to
  `FleetParams.disposal_distance_km` (8 km), i.e. a site outside the urban core reached by road, as
  landfills of Vietnamese provincial cities are. It is a placeholder, labelled as such in the run's
  metadata; give ``[fleet.disposal]`` with the real site's lon/lat to use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csgraph

from simulations.waste.params import FleetParams, Site
from twin.crs import local_metres
from twin.errors import InputError
from twin.network import RoadNetwork


@dataclass(frozen=True)
class Sites:
    """The depot and disposal nodes, and how they were chosen."""

    depot_node: int
    disposal_node: int
    depot_name: str
    disposal_name: str
    depot_default: bool
    disposal_default: bool

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-serialisable description."""
        return asdict(self)


def truck_speed_ms(
    network: RoadNetwork, fleet: FleetParams, link_speed_kmh: npt.ArrayLike | None = None
) -> npt.NDArray[np.float64]:
    """Return the speed (m/s) a collection truck drives on each link.

    The speed is ``min(class cap, speed_factor × link speed)``, the link speed being the speed
    limit or, if given, `link_speed_kmh` (one value per link, e.g. the congested speeds of a
    traffic run); a class missing from `FleetParams.truck_speed_kmh` keeps only the factor.

    Raises
    ------
    InputError
        If `link_speed_kmh` has the wrong length or non-positive values.
    """
    if link_speed_kmh is None:
        base = network.links["speed_kmh"].to_numpy(dtype=np.float64)
    else:
        base = np.asarray(link_speed_kmh, dtype=np.float64).ravel()
        if base.size != network.n_links:
            raise InputError(
                "link_speed_kmh", f"has {base.size} values for {network.n_links} links", "one per link"
            )
        if not (np.isfinite(base).all() and (base > 0).all()):
            raise InputError("link_speed_kmh", "speeds must be positive finite km/h")
    limit = base * fleet.speed_factor
    caps = network.links["road_class"].map(fleet.truck_speed_kmh).to_numpy(dtype=np.float64)
    caps = np.where(np.isnan(caps), np.inf, caps)
    return np.asarray(np.minimum(limit, caps) / 3.6, dtype=np.float64)


def snap(
    network: RoadNetwork,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Return the nearest allowed node of each (lon, lat) and the distance to it in metres."""
    from scipy.spatial import cKDTree  # noqa: PLC0415  (scipy.spatial is slow to import)

    ids = np.arange(network.n_nodes) if allowed is None else np.flatnonzero(allowed)
    if ids.size == 0:
        raise InputError("network", "has no node to place a site or a bin on")
    xy = local_metres(network.nodes["x"].to_numpy()[ids], network.nodes["y"].to_numpy()[ids])
    q = local_metres(lon, lat)
    dist, idx = cKDTree(xy).query(q)
    return ids[np.asarray(idx, dtype=np.int64)], np.asarray(dist, dtype=np.float64)


def main_component(network: RoadNetwork) -> npt.NDArray[np.bool_]:
    """Return a mask of the nodes in the largest strongly connected component."""
    _, labels = csgraph.connected_components(network.csr(), directed=True, connection="strong")
    return np.asarray(labels == np.bincount(labels).argmax())


def place_sites(
    network: RoadNetwork,
    fleet: FleetParams,
    centre: tuple[float, float],
    allowed: npt.NDArray[np.bool_],
    max_snap_m: float,
) -> Sites:
    """Place the depot and the disposal site (see the module docstring for the defaults).

    Parameters
    ----------
    network
        The road network.
    fleet
        Fleet parameters; `FleetParams.depot` / `FleetParams.disposal` fix the sites if given.
    centre
        (lon, lat) of the population-weighted centre, for the default depot.
    allowed
        Mask of nodes a default site may use (the main strongly connected component).
    max_snap_m
        A given site farther than this from any road node is an error.

    Raises
    ------
    InputError
        If a given site lies off the network.
    """
    depot_node, depot_default = _site(network, fleet.depot, max_snap_m=max_snap_m, field="fleet.depot")
    if depot_default:
        depot_node = int(snap(network, *centre, allowed=allowed)[0][0])
    if fleet.disposal is not None:
        disposal_node, _ = _site(network, fleet.disposal, max_snap_m=max_snap_m, field="fleet.disposal")
        disposal_default = False
    else:
        length = network.links["length_m"].to_numpy(dtype=np.float64)
        d = csgraph.dijkstra(network.csr(length), indices=depot_node)
        d = np.where(allowed & np.isfinite(d), d, np.inf)
        disposal_node = int(np.argmin(np.abs(d - fleet.disposal_distance_km * 1000.0)))
        disposal_default = True
    return Sites(
        depot_node=depot_node,
        disposal_node=disposal_node,
        depot_name=(fleet.depot.name if fleet.depot else "") or "Bãi xe (garage, placeholder)",
        disposal_name=(fleet.disposal.name if fleet.disposal else "")
        or f"Bãi xử lý rác (disposal placeholder, {fleet.disposal_distance_km:g} km by road)",
        depot_default=depot_default,
        disposal_default=disposal_default,
    )


def _site(network: RoadNetwork, site: Site | None, *, max_snap_m: float, field: str) -> tuple[int, bool]:
    if site is None:
        return -1, True
    node, dist = snap(network, site.lon, site.lat)
    if dist[0] > max_snap_m:
        raise InputError(
            field,
            f"({site.lon}, {site.lat}) is {dist[0]:.0f} m from the nearest road node "
            f"(limit {max_snap_m:g} m)",
            "give a position on the road network",
        )
    return int(node[0]), False
