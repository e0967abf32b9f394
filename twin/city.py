"""The City: wards, road network, cameras, river and the H3 grid, with every layer they publish.

`City` ties the parts of the model together; `City.layer` returns any of the `LAYERS` as a
GeoDataFrame in EPSG:4326 with provenance attached (``real``, ``synthetic`` or ``derived``), which the
API serves and the CLI exports. Build one with `gis_data.city.build_city` (it loads the data and
generates what is synthetic); this module does no I/O.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from twin import cameras as cam
from twin import grid, h3grid, provenance, wards
from twin.errors import InputError, UnknownLayerError
from twin.network import RoadNetwork

#: The layers of the city model: name → (Vietnamese title, English title, description).
LAYERS: dict[str, tuple[str, str, str]] = {
    "wards_2025": (
        "Phường, xã (2025)",
        "Wards and communes (2025)",
        "The 4 city wards after the July 2025 reform and the neighbouring communes, with official "
        "area and population and the pre-2025 units each ward was formed from (old_codes).",
    ),
    "units_pre2025": (
        "Đơn vị hành chính trước 2025",
        "Pre-2025 administrative units",
        "Phường, xã and thị trấn before the 2025 reform with 2009 census population; old_code "
        "(GSO) and new_code (the 2025 ward).",
    ),
    "roads": (
        "Mạng lưới đường",
        "Road network",
        "Directed road links: class, lanes, speed limit, capacity (PCU/h), one-way, bridge, name.",
    ),
    "nodes": (
        "Nút giao thông",
        "Road nodes",
        "Junctions and ends of the road links; signal marks signalised junctions.",
    ),
    "river": ("Sông Kỳ Cùng", "Kỳ Cùng river", "Centreline of the Kỳ Cùng river through the city."),
    "cameras": (
        "Camera an ninh",
        "Security cameras",
        "The camera registry: 238 sites, 50 connected to the IOC (2021 pilot), status, last seen.",
    ),
    "camera_coverage": (
        "Vùng quan sát camera",
        "Camera coverage",
        "Field-of-view sector of each camera (heading, field of view, range in metres).",
    ),
    "cells": (
        "Lưới ô H3",
        "H3 cells",
        "H3 cells of the 4 wards: population, road km, cameras, coverage and attractiveness.",
    ),
}
#: Short names people type, mapped to layer names (``twin export wards``).
ALIASES: dict[str, str] = {"wards": "wards_2025", "units": "units_pre2025", "coverage": "camera_coverage"}

BBox = tuple[float, float, float, float]


def layer_records(
    network_source: str,
    network_synthetic: bool,
    *,
    cameras_synthetic: bool = True,
    river_synthetic: bool = True,
) -> list[dict[str, Any]]:
    """Return one record per layer (name, title_vi, title_en, description, source, synthetic).

    The sources follow from how the city was built: wards and units are real reference data; roads
    and nodes come from the network (``synthetic`` generator or ``real`` OSM import); the camera
    registry is synthetic; coverage and cells are derived (synthetic when an input is).
    """
    sources: dict[str, tuple[str, bool]] = {
        "wards_2025": ("real", False),
        "units_pre2025": ("real", False),
        "roads": (network_source, network_synthetic),
        "nodes": (network_source, network_synthetic),
        "river": ("synthetic" if river_synthetic else "real", river_synthetic),
        "cameras": ("synthetic" if cameras_synthetic else "real", cameras_synthetic),
        "camera_coverage": ("derived", cameras_synthetic),
        "cells": ("derived", network_synthetic or cameras_synthetic),
    }
    return [
        {
            "name": name,
            "title_vi": vi,
            "title_en": en,
            "description": desc,
            "source": sources[name][0],
            "synthetic": sources[name][1],
        }
        for name, (vi, en, desc) in LAYERS.items()
    ]


def resolve_layer(name: str) -> str:
    """Return the layer name for `name` (or its alias); raise `UnknownLayerError` otherwise."""
    key = ALIASES.get(name, name)
    if key not in LAYERS:
        raise UnknownLayerError(
            "layer",
            f"unknown layer {name!r}; known: {', '.join(LAYERS)}",
            hint="list them with `twin layers list` or GET /layers",
        )
    return key


def check_bbox(bbox: Sequence[float]) -> BBox:
    """Return `bbox` as (west, south, east, north) if valid, else raise `InputError` naming ``bbox``.

    Valid means four finite numbers, west < east, south < north, longitudes within ±180 and
    latitudes within ±90.
    """
    values = list(bbox)
    if len(values) != 4:
        raise InputError("bbox", f"must have 4 numbers west,south,east,north; got {len(values)}")
    try:
        w, s, e, n = (float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError("bbox", "must be 4 numbers west,south,east,north") from None
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise InputError("bbox", "coordinates must be finite numbers")
    if not (-180 <= w <= 180 and -180 <= e <= 180):
        raise InputError("bbox", "longitudes must lie within ±180")
    if not (-90 <= s <= 90 and -90 <= n <= 90):
        raise InputError("bbox", "latitudes must lie within ±90")
    if not w < e:
        raise InputError("bbox", f"west ({w}) must be less than east ({e})")
    if not s < n:
        raise InputError("bbox", f"south ({s}) must be less than north ({n})")
    return (w, s, e, n)


def parse_bbox(text: str) -> BBox:
    """Parse ``"west,south,east,north"`` and validate it with `check_bbox`."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InputError("bbox", "must be 4 comma-separated numbers west,south,east,north") from None
    return check_bbox(numbers)


def clip_bbox(gdf: gpd.GeoDataFrame, bbox: Sequence[float]) -> gpd.GeoDataFrame:
    """Return the rows of `gdf` whose geometry intersects `bbox` (provenance kept)."""
    w, s, e, n = check_bbox(bbox)
    if gdf.empty:
        return gdf
    rows = gdf.sindex.query(shapely.box(w, s, e, n), predicate="intersects")
    out = gdf.iloc[np.sort(rows)]
    out.attrs = dict(gdf.attrs)
    return out


@dataclass(frozen=True, eq=False)
class City:
    """The city model: the data the twin is built on and the layers derived from it.

    Attributes
    ----------
    wards
        2025 wards and neighbouring communes, indexed by code (``gis_data.load.wards_2025``).
    units
        Pre-2025 units with 2009 census population, ``old_code`` and ``new_code``.
    mapping
        Old unit code → new ward code table.
    network
        The road network (synthetic or OSM-imported).
    cameras
        The camera registry (`twin.cameras` schema).
    river
        The Kỳ Cùng centreline.
    res
        The default H3 resolution of `cells` and the ``cells`` layer.
    """

    wards: gpd.GeoDataFrame
    units: gpd.GeoDataFrame
    mapping: pd.DataFrame
    network: RoadNetwork
    cameras: gpd.GeoDataFrame
    river: gpd.GeoDataFrame
    res: int = h3grid.DEFAULT_RES
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def __post_init__(self) -> None:
        h3grid.check_resolution(self.res)
        wards.core_wards(self.wards)  # fail early if the 4 city wards are missing
        cam.validate(self.cameras)

    # -- geography --------------------------------------------------------------------------------
    @property
    def core_wards(self) -> gpd.GeoDataFrame:
        """Return the 4 city wards (2025)."""
        return wards.core_wards(self.wards)

    @property
    def boundary(self) -> shapely.Geometry:
        """Return the union polygon of the 4 city wards."""
        geom: shapely.Geometry = self._memo(("boundary",), lambda: wards.city_boundary(self.wards))
        return geom

    def ward_of(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """Return the 2025 city ward code of each point (``""`` outside the 4 wards)."""
        index: wards.WardIndex = self._memo(("ward_index",), lambda: wards.WardIndex(self.core_wards))
        return index.lookup(lon, lat)

    def unit_of(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, field: str = "old_code"
    ) -> npt.NDArray[np.str_]:
        """Return the pre-2025 unit of each point as its `field` (see `twin.wards.unit_of`)."""
        return wards.unit_of(self.units, lon, lat, field=field)

    def contains(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Return whether each point lies inside the city (one of the 4 wards)."""
        return np.asarray(self.ward_of(lon, lat) != "", dtype=bool)

    # -- H3 model -----------------------------------------------------------------------------------
    def cells(self, res: int | None = None) -> gpd.GeoDataFrame:
        """Return the H3 cells of the city at `res` (default `res`), see `twin.grid.build_cells`.

        Computed once per resolution; the caller gets a copy it may change.
        """
        r = h3grid.check_resolution(self.res if res is None else res)
        built: gpd.GeoDataFrame = self._memo(
            ("cells", r),
            lambda: grid.build_cells(self.wards, self.network, res=r, cameras=self.cameras, units=self.units),
        )
        out = built.copy()
        out.attrs = dict(built.attrs)
        return out

    def coverage(self, res: int | None = None) -> pd.DataFrame:
        """Return ``camera_id, cell`` rows: the cells each camera covers at `res`."""
        r = h3grid.check_resolution(self.res if res is None else res)
        table: pd.DataFrame = self._memo(("coverage", r), lambda: cam.coverage_cells(self.cameras, r))
        return table.copy()

    # -- layers ---------------------------------------------------------------------------------
    def layer(
        self, name: str, res: int | None = None, bbox: Sequence[float] | None = None
    ) -> gpd.GeoDataFrame:
        """Return layer `name` (see `LAYERS`; aliases allowed) as a GeoDataFrame with provenance.

        Parameters
        ----------
        name
            Layer name or alias (``wards`` for ``wards_2025``).
        res
            H3 resolution for the ``cells`` layer (7–11; default the city's); validated for all.
        bbox
            Optional (west, south, east, north): keep only features that intersect it.
        """
        key = resolve_layer(name)
        r = h3grid.check_resolution(self.res if res is None else res)
        box = check_bbox(bbox) if bbox is not None else None
        if key == "cells":
            gdf = self.cells(r)
        else:
            built: gpd.GeoDataFrame = self._memo(("layer", key), lambda: self._build(key))
            gdf = built.copy()
            gdf.attrs = dict(built.attrs)
        return clip_bbox(gdf, box) if box is not None else gdf

    def layer_info(self) -> list[dict[str, Any]]:
        """Return one record per layer: name, title_vi, title_en, description, source, synthetic."""
        return layer_records(
            self.network.provenance.source,
            self.network.provenance.synthetic,
            cameras_synthetic=bool(provenance.of(self.cameras).get("synthetic", True)),
            river_synthetic=bool(provenance.of(self.river).get("synthetic", True)),
        )

    def layer_source(self, name: str) -> tuple[str, bool]:
        """Return (source, synthetic) of a layer without building it."""
        key = resolve_layer(name)
        rec = next(r for r in self.layer_info() if r["name"] == key)
        return str(rec["source"]), bool(rec["synthetic"])

    def summary(self) -> dict[str, Any]:
        """Return headline figures of the model (wards, people, network, cameras)."""
        core = self.core_wards
        return {
            "wards": {str(c): str(n) for c, n in zip(core.index, core["name"], strict=True)},
            "population": int(core["population"].sum()),
            "network": self.network.summary(),
            "cameras": len(self.cameras),
            "cameras_connected": int(self.cameras["connected"].sum()),
            "res": self.res,
        }

    # -- internals ------------------------------------------------------------------------------
    def _memo(self, key: tuple[Any, ...], build: Any) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def _build(self, key: str) -> gpd.GeoDataFrame:
        if key == "wards_2025":
            return wards.wards_layer(self.wards, self.mapping)
        if key == "units_pre2025":
            return wards.units_layer(self.units, self.mapping)
        if key in ("roads", "nodes"):
            frame = self.network.links if key == "roads" else self.network.nodes
            out = frame.copy()
            prov = self.network.provenance
            provenance.attach(out, replace(prov, name=key, params=dict(prov.params)))
            return out
        if key == "river":
            out = self.river.copy()
            out.attrs = dict(self.river.attrs)
            return out
        if key == "cameras":
            out = self.cameras.copy()
            out.attrs = dict(self.cameras.attrs)
            return out
        # camera_coverage
        out = cam.sectors_layer(self.cameras)
        cam_prov = provenance.of(self.cameras)
        provenance.attach(
            out,
            provenance.Provenance(
                name="camera_coverage",
                source="derived",
                licence=str(cam_prov.get("licence", "CC0-1.0")),
                description="Field-of-view sectors of the cameras (computed in UTM 48N)",
                synthetic=bool(cam_prov.get("synthetic", True)),
                inputs=("cameras",),
            ),
        )
        return out
