"""What the live service needs of the city model: the camera registry, ward lookup and the study area.

Built from any object with the `twin.city.City` fields it reads (``cameras``, ``wards``, ``boundary``),
so tests can hand in a small city and the app hands in the real one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from twin import h3grid
from twin.errors import DataError
from twin.wards import WardIndex

#: Positions further than this (degrees, ~5.5 km) outside the modelled wards are refused.
CITY_MARGIN_DEG = 0.05
CAMERA_COLUMNS = ("camera_id", "name", "ward_code", "kind", "connected", "geometry")


class CityLike(Protocol):
    """The parts of `twin.city.City` the live service reads."""

    @property
    def cameras(self) -> gpd.GeoDataFrame:
        """The camera registry."""
        ...

    @property
    def wards(self) -> gpd.GeoDataFrame:
        """Wards (2025) and neighbouring communes, index ward code."""
        ...

    @property
    def boundary(self) -> shapely.Geometry:
        """The union polygon of the core city wards."""
        ...


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """A registry camera as the live service uses it."""

    camera_id: str
    name: str
    ward_code: str
    kind: str
    connected: bool
    lon: float
    lat: float
    props: dict[str, Any]


class CityContext:
    """Camera registry, ward locator and study-area cells of one city.

    Parameters
    ----------
    city
        A `twin.city.City` (or any object with ``cameras``, ``wards`` and ``boundary``).
    """

    def __init__(self, city: CityLike) -> None:
        cams = city.cameras
        missing = [c for c in CAMERA_COLUMNS if c not in cams.columns and c != "geometry"]
        if missing:
            raise DataError(f"camera registry lacks columns {missing}", hint="rebuild the city model")
        wards = city.wards
        if wards.empty:
            raise DataError("the city has no wards", hint="run `twin data fetch`")
        self.boundary = city.boundary
        self._ward_codes = np.asarray([str(c) for c in wards.index], dtype=object)
        self._ward_names = {
            str(code): str(name)
            for code, name in zip(
                wards.index, wards["name"] if "name" in wards.columns else wards.index, strict=True
            )
        }
        self._index = WardIndex(wards)
        #: A point inside each ward (where a report located only by its ward's name is placed).
        self._ward_points = {
            str(code): (float(p.x), float(p.y))
            for code, p in zip(wards.index, wards.geometry.representative_point(), strict=True)
        }
        minx, miny, maxx, maxy = wards.total_bounds
        m = CITY_MARGIN_DEG
        self.extent = (float(minx - m), float(miny - m), float(maxx + m), float(maxy + m))
        extra = [c for c in cams.columns if c not in ("geometry",)]
        self.cameras: dict[str, CameraInfo] = {}
        for row in cams.itertuples(index=False):
            geom = row.geometry
            props = {c: getattr(row, c) for c in extra}
            self.cameras[str(row.camera_id)] = CameraInfo(
                camera_id=str(row.camera_id),
                name=str(row.name),
                ward_code=str(row.ward_code),
                kind=str(row.kind),
                connected=bool(row.connected),
                lon=float(geom.x),
                lat=float(geom.y),
                props=props,
            )
        self.connected_ids = frozenset(c for c, info in self.cameras.items() if info.connected)

    def ward_name(self, code: str) -> str:
        """Return the name of a ward code ("" if unknown)."""
        return self._ward_names.get(code, "")

    def locate_address(self, text: str) -> tuple[float, float, str] | None:
        """Return (lon, lat, ward code) of the one ward an address names, else None.

        Names match without case or diacritics and without the "Phường"/"Xã" prefix (an Open311
        ``address_string`` given without lat/long); the point is inside the ward, not the address.
        """
        said = f" {_fold(text)} "
        hits = {
            code
            for code, name in self._ward_names.items()
            if (bare := _fold(_WARD_PREFIX.sub("", name))) and f" {bare} " in said
        }
        if len(hits) != 1:
            return None
        (code,) = hits
        lon, lat = self._ward_points[code]
        return lon, lat, code

    @property
    def ward_codes(self) -> frozenset[str]:
        """Every ward and commune code of the model."""
        return frozenset(self._ward_codes.tolist())

    def near_city(self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Return which points lie within the modelled area (wards' extent plus a margin)."""
        x0, y0, x1, y1 = self.extent
        return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)

    def ward_of(self, lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> list[str]:
        """Return the ward or commune code of each point ("" outside every one; `twin.wards.WardIndex`)."""
        return self._index.lookup(lon, lat).tolist() if len(lon) else []

    def universe(self, res: int) -> list[str]:
        """Return the H3 cells (hex) covering the city boundary at `res` (the hotspot study area)."""
        return _universe(self.boundary, h3grid.check_resolution(res))


_WARD_PREFIX = re.compile(r"^\s*(phường|xã|thị trấn|ward|commune)\s+", re.IGNORECASE)


def _fold(text: str) -> str:
    """Return `text` lower-cased, without diacritics (đ → d) and with punctuation as spaces."""
    plain = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain).split())


@lru_cache(maxsize=16)
def _universe(boundary: BaseGeometry, res: int) -> list[str]:
    return h3grid.polygon_to_cells(boundary, res)
