"""Wards of both vintages: point → ward lookup and the ward tables researchers export.

Two administrative vintages describe the same ground:

* the **2025 wards** (after the July 2025 reform): 4 city wards, each a merger of pre-2025 units,
  indexed by the official 5-digit code (Đông Kinh 05977, Lương Văn Tri 05983, Tam Thanh 05986,
  Kỳ Lừa 06187), plus neighbouring communes;
* the **pre-2025 units** (phường, xã, thị trấn) with the 2009 census population, their GSO
  ``old_code`` and the ``new_code`` of the 2025 ward they were merged into.

Lookups are vectorised (prepared polygons, bounding-box prefilter, GEOS ``intersects_xy``): about a
million points a second, with no Python loop over points.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from twin import provenance
from twin.crs import METRIC, WGS84
from twin.errors import DataError, InputError

#: The 4 wards of Lạng Sơn city since 1 July 2025, by official code.
CITY_WARD_CODES: tuple[str, ...] = ("05977", "05983", "05986", "06187")

#: Columns a 2025 ward table must have (the loader's ``wards_2025`` dataset).
WARD_COLUMNS = ("code", "full_name", "full_name_en", "name", "type", "population")
#: Columns a pre-2025 unit table must have (the loader's ``units_pre2025`` dataset).
UNIT_COLUMNS = ("commune_id", "name_vi", "name_en", "population_2009", "old_code", "new_code")
#: Columns of the old → new mapping table.
MAPPING_COLUMNS = ("old_code", "old_name", "new_code", "new_name")


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lacks columns {missing}", hint="load it with gis_data.load")
    if isinstance(frame, gpd.GeoDataFrame) and (frame.crs is None or frame.crs.to_string() != WGS84):
        raise DataError(f"{what} must be in {WGS84}, got {frame.crs}", hint="reproject with to_crs")


class WardIndex:
    """A spatial index of polygons for vectorised point → code lookups.

    Parameters
    ----------
    polygons
        A GeoDataFrame of (Multi)Polygons in EPSG:4326.
    codes
        The code of each polygon (same length); default the frame's index as strings.

    Notes
    -----
    A point on a shared border, or in an overlap of generalised polygons, gets the code of the first
    polygon (in frame order) that contains it. Points in no polygon get ``""``.
    """

    def __init__(self, polygons: gpd.GeoDataFrame, codes: Sequence[str] | None = None) -> None:
        if polygons.crs is None or polygons.crs.to_string() != WGS84:
            raise DataError(f"ward polygons must be in {WGS84}, got {polygons.crs}")
        self._geoms = polygons.geometry.to_numpy()
        values = polygons.index.astype(str) if codes is None else pd.Index(codes).astype(str)
        if len(values) != len(self._geoms):
            raise DataError(f"{len(values)} codes for {len(self._geoms)} polygons")
        self._codes = np.asarray(values, dtype=object)
        shapely.prepare(self._geoms)
        self._bounds = shapely.bounds(self._geoms)

    @property
    def codes(self) -> list[str]:
        """Return the indexed codes in frame order."""
        return [str(c) for c in self._codes]

    def positions(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Return, for each point, the row of the polygon containing it (-1 when none does)."""
        x = np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel()
        y = np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel()
        if x.shape != y.shape:
            raise InputError("lat", f"has {y.size} values but lon has {x.size}")
        out = np.full(x.size, -1, dtype=np.int64)
        ok = np.isfinite(x) & np.isfinite(y)
        # A city has tens of polygons and a query millions of points: test each prepared polygon
        # against the points inside its bounding box (contains_xy is vectorised in GEOS).
        for row, (geom, (minx, miny, maxx, maxy)) in enumerate(zip(self._geoms, self._bounds, strict=True)):
            cand = np.flatnonzero(ok & (out < 0) & (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))
            if cand.size:
                inside = shapely.intersects_xy(geom, x[cand], y[cand])
                out[cand[inside]] = row
        return out

    def lookup(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """Return the code of the polygon containing each point (``""`` outside all of them)."""
        pos = self.positions(lon, lat)
        codes = np.append(self._codes, "").astype(str)
        return codes[pos]  # -1 picks the trailing ""


def ward_of(
    wards: gpd.GeoDataFrame, lon: npt.ArrayLike, lat: npt.ArrayLike, *, core_only: bool = True
) -> npt.NDArray[np.str_]:
    """Return the 2025 ward code of each point (``""`` outside).

    Parameters
    ----------
    wards
        The 2025 ward table indexed by code (``gis_data.load.wards_2025``).
    lon, lat
        Coordinates in degrees (arrays of the same length, or scalars).
    core_only
        Look only in the 4 city wards (default); otherwise in the neighbouring communes too.
    """
    frame = core_wards(wards) if core_only else wards
    return WardIndex(frame).lookup(lon, lat)


def unit_of(
    units: gpd.GeoDataFrame, lon: npt.ArrayLike, lat: npt.ArrayLike, *, field: str = "old_code"
) -> npt.NDArray[np.str_]:
    """Return the pre-2025 unit of each point, as its `field` (``""`` outside every unit).

    Parameters
    ----------
    units
        The pre-2025 unit table (``gis_data.load.units_pre2025``).
    lon, lat
        Coordinates in degrees.
    field
        The column to return: ``old_code`` (GSO code; ``""`` for units outside the old → new
        mapping), ``new_code`` (the 2025 ward the unit became), ``commune_id`` or ``name_vi``.

    Notes
    -----
    The 2009 polygons are generalised: near unit edges a point may fall in a neighbour, so use this
    for aggregation and history, not to settle a boundary question.
    """
    if field not in units.columns:
        raise InputError("field", f"must be a column of the unit table, got {field!r}")
    values = units[field].astype(object).where(units[field].notna(), "").astype(str)
    return WardIndex(units, codes=list(values)).lookup(lon, lat)


def core_wards(wards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the 4 city wards (2025), in code order, with provenance kept."""
    missing = [c for c in CITY_WARD_CODES if c not in wards.index]
    if missing:
        raise DataError(f"ward table lacks the city wards {missing}", hint="run `twin data fetch --force`")
    out = wards.loc[list(CITY_WARD_CODES)].copy()
    out.attrs = dict(wards.attrs)
    return out


def city_boundary(wards: gpd.GeoDataFrame) -> shapely.Geometry:
    """Return the union of the 4 city wards as one (Multi)Polygon in lon/lat."""
    return shapely.union_all(core_wards(wards).geometry.to_numpy())


def predecessors(mapping: pd.DataFrame) -> pd.DataFrame:
    """Return, per 2025 ward code, its predecessor old codes and names (``;``-joined, code order)."""
    _require(mapping, MAPPING_COLUMNS, "ward mapping")
    m = mapping.sort_values("old_code")
    grouped = m.groupby("new_code")
    return pd.DataFrame(
        {
            "old_codes": grouped["old_code"].agg(lambda s: ";".join(s.astype(str))),
            "old_names": grouped["old_name"].agg(lambda s: ";".join(s.astype(str))),
        }
    )


def wards_layer(wards: gpd.GeoDataFrame, mapping: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return the 2025 ward table for maps and exports.

    Columns: ``code``, ``name`` (Vietnamese, with diacritics), ``name_en``, ``full_name``,
    ``full_name_en``, ``type`` (ward/commune), ``core_city_ward``, ``area_km2_official``,
    ``area_km2`` (computed in UTM 48N), ``population``, ``density_per_km2``, ``old_codes`` and
    ``old_names`` (the pre-2025 units merged into it, ``;``-joined; empty for communes outside the
    mapping), ``predecessors`` (the official text) and geometry. Indexed by code.
    """
    _require(wards, WARD_COLUMNS, "ward table")
    pred = predecessors(mapping)
    out = gpd.GeoDataFrame(
        {
            "code": wards["code"].astype(str).to_numpy(),
            "name": wards["name"].to_numpy(),
            "name_en": wards["full_name_en"]
            .astype(str)
            .str.replace(r" (Ward|Commune)$", "", regex=True)
            .to_numpy(),
            "full_name": wards["full_name"].to_numpy(),
            "full_name_en": wards["full_name_en"].to_numpy(),
            "type": wards["type"].to_numpy(),
            "core_city_ward": wards.index.isin(CITY_WARD_CODES),
        },
        geometry=wards.geometry.to_numpy(),
        crs=WGS84,
        index=pd.Index(wards.index.astype(str), name="code_index"),
    )
    area = out.to_crs(METRIC).area.to_numpy() / 1e6
    official = wards.get("area_km2_official")
    out["area_km2_official"] = official.to_numpy() if official is not None else np.nan
    out["area_km2"] = np.round(area, 3)
    out["population"] = wards["population"].astype("int64").to_numpy()
    out["density_per_km2"] = np.round(out["population"] / area, 1)
    out["old_codes"] = out["code"].map(pred["old_codes"]).fillna("").to_numpy()
    out["old_names"] = out["code"].map(pred["old_names"]).fillna("").to_numpy()
    out["predecessors"] = wards.get("predecessors", pd.Series("", index=wards.index)).to_numpy()
    out = out.rename_axis(None)
    out = out[[*[c for c in out.columns if c != "geometry"], "geometry"]]
    prov = provenance.of(wards)
    if prov:
        provenance.attach(out, _with(prov, "wards_2025"))
    return out


def units_layer(units: gpd.GeoDataFrame, mapping: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return the pre-2025 unit table for maps and exports.

    Columns: ``commune_id`` (the VN-GIS id of the census layer), ``old_code`` (GSO code, empty where
    the unit is not in the old → new mapping), ``name`` (Vietnamese), ``name_en``, ``district``,
    ``in_city_pre2025``, ``population_2009``, ``area_km2``, ``density_per_km2``, ``new_code`` and
    ``new_name`` (the 2025 ward it became, empty outside the city) and geometry.
    """
    _require(units, UNIT_COLUMNS, "pre-2025 unit table")
    _require(mapping, MAPPING_COLUMNS, "ward mapping")
    new_names = mapping.drop_duplicates("new_code").set_index("new_code")["new_name"]
    old_code = units["old_code"].astype(object).where(units["old_code"].notna(), "").astype(str)
    new_code = units["new_code"].astype(object).where(units["new_code"].notna(), "").astype(str)
    out = gpd.GeoDataFrame(
        {
            "commune_id": units["commune_id"].astype(str).to_numpy(),
            "old_code": old_code.to_numpy(),
            "name": units["name_vi"].to_numpy(),
            "name_en": units["name_en"].to_numpy(),
            "district": units.get("district_vi", pd.Series("", index=units.index)).to_numpy(),
            "in_city_pre2025": units.get("in_city_pre2025", pd.Series(False, index=units.index))
            .astype(bool)
            .to_numpy(),
            "population_2009": units["population_2009"].astype("int64").to_numpy(),
        },
        geometry=units.geometry.to_numpy(),
        crs=WGS84,
        index=pd.Index(units["commune_id"].astype(str).to_numpy()),
    )
    area = out.to_crs(METRIC).area.to_numpy() / 1e6
    out["area_km2"] = np.round(area, 3)
    out["density_per_km2"] = np.round(out["population_2009"] / area, 1)
    out["new_code"] = new_code.to_numpy()
    out["new_name"] = out["new_code"].map(new_names).fillna("").to_numpy()
    out = out[[*[c for c in out.columns if c != "geometry"], "geometry"]]
    prov = provenance.of(units)
    if prov:
        provenance.attach(out, _with(prov, "units_pre2025"))
    return out


def _with(prov: dict[str, object], name: str) -> provenance.Provenance:
    """Rebuild a `Provenance` from its dict form under a new layer name."""
    src = str(prov.get("source", "real"))
    return provenance.Provenance(
        name=name,
        source=src if src in ("real", "synthetic", "simulated", "derived") else "derived",  # type: ignore[arg-type]
        licence=str(prov.get("licence", "")),
        description=str(prov.get("description", "")),
        url=str(prov.get("url", "")),
        date=str(prov.get("date", "")) or provenance.Provenance("", "real", "").date,
        synthetic=bool(prov.get("synthetic", False)),
        inputs=tuple(str(x) for x in prov.get("inputs", ()) or ()),  # type: ignore[attr-defined]
    )
