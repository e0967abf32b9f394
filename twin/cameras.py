"""Cameras: the registry schema, field-of-view sectors and the H3 cells each camera sees.

A camera row (one site of the IOC registry) has ``camera_id`` ("LS-CAM-001"…), ``name``
(Vietnamese), ``ward_code``, ``kind`` (one of `CAMERA_KINDS`), ``heading_deg`` (the direction it
looks, clockwise from north), ``fov_deg`` (horizontal field of view; 360 for a dome), ``range_m``
(how far it usefully sees), ``connected`` (linked to the IOC), ``status`` (one of `CAMERA_STATUS`),
``last_seen`` (UTC, NaT if never) and a Point geometry in EPSG:4326.

Sectors are built in the metric CRS (UTM 48N) so that ranges are true metres, then returned in
lon/lat.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from twin import h3grid
from twin.crs import METRIC, WGS84
from twin.errors import DataError
from twin.network import RoadNetwork

CAMERA_KINDS: tuple[str, ...] = ("intersection", "market", "school", "bridge", "corridor", "public_square")
CAMERA_STATUS: tuple[str, ...] = ("online", "offline", "not_connected")
CAMERA_COLUMNS: tuple[str, ...] = (
    "camera_id",
    "name",
    "ward_code",
    "kind",
    "heading_deg",
    "fov_deg",
    "range_m",
    "connected",
    "status",
    "last_seen",
)
#: The id pattern of the registry.
CAMERA_ID_PATTERN = r"^LS-CAM-\d{3}$"
#: Points on the arc of a 360° sector; narrower sectors get proportionally fewer (at least 4).
ARC_POINTS = 48


def validate(cameras: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return `cameras` unchanged if it follows the registry schema, else raise `DataError`.

    Checks the columns, CRS, Point geometries, unique ids in the ``LS-CAM-NNN`` pattern, kinds,
    statuses, angle and range bounds, and that status agrees with ``connected`` (an unconnected
    camera is ``not_connected``; a connected one is online or offline).
    """
    where = "camera registry"
    hint = "rebuild it with gis_data.cameras_synthetic.synthetic_cameras"
    missing = [c for c in CAMERA_COLUMNS if c not in cameras.columns]
    if missing:
        raise DataError(f"{where} lacks columns {missing}", hint=hint)
    if cameras.crs is None or cameras.crs.to_string() != WGS84:
        raise DataError(f"{where} must be in {WGS84}, got {cameras.crs}", hint="reproject with to_crs")
    if len(cameras) and (cameras.geometry.isna().any() or set(cameras.geom_type) != {"Point"}):
        raise DataError(f"{where}: every camera needs a Point geometry", hint=hint)
    ids = cameras["camera_id"].astype(str)
    if ids.duplicated().any():
        raise DataError(f"{where}: duplicate camera ids {sorted(set(ids[ids.duplicated()]))[:5]}", hint=hint)
    bad_ids = ids[~ids.str.match(CAMERA_ID_PATTERN)]
    if len(bad_ids):
        raise DataError(f"{where}: ids must look like LS-CAM-001, got {list(bad_ids)[:3]}", hint=hint)
    for col, allowed in (("kind", CAMERA_KINDS), ("status", CAMERA_STATUS)):
        bad = set(cameras[col].astype(str)) - set(allowed)
        if bad:
            raise DataError(f"{where}: unknown {col} values {sorted(bad)}; allowed {allowed}", hint=hint)
    fov = cameras["fov_deg"].to_numpy(dtype=float)
    rng = cameras["range_m"].to_numpy(dtype=float)
    head = cameras["heading_deg"].to_numpy(dtype=float)
    if not ((fov > 0) & (fov <= 360)).all():
        raise DataError(f"{where}: fov_deg must be in (0, 360]", hint=hint)
    if not ((rng > 0) & (rng <= 1000)).all():
        raise DataError(f"{where}: range_m must be in (0, 1000] metres", hint=hint)
    if not ((head >= 0) & (head < 360)).all():
        raise DataError(f"{where}: heading_deg must be in [0, 360)", hint=hint)
    connected = cameras["connected"].astype(bool).to_numpy()
    status = cameras["status"].astype(str).to_numpy()
    if ((status == "not_connected") == connected).any():
        raise DataError(f"{where}: status must be 'not_connected' exactly when connected is false", hint=hint)
    return cameras


def fov_sectors(cameras: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Return the field-of-view sector of each camera as a Polygon in EPSG:4326.

    The sector is centred on the camera, opens ``fov_deg`` around ``heading_deg`` (clockwise from
    north) and reaches ``range_m`` metres, measured in UTM 48N. A 360° camera gets a disc.
    The result keeps the cameras' index.
    """
    if cameras.crs is None or cameras.crs.to_string() != WGS84:
        raise DataError(f"cameras must be in {WGS84}, got {cameras.crs}")
    if len(cameras) == 0:
        return gpd.GeoSeries([], crs=WGS84, index=cameras.index)
    metric = cameras.geometry.to_crs(METRIC)
    cx = metric.x.to_numpy()
    cy = metric.y.to_numpy()
    heading = np.deg2rad(cameras["heading_deg"].to_numpy(dtype=float))
    fov = np.deg2rad(np.clip(cameras["fov_deg"].to_numpy(dtype=float), 1e-6, 360.0))
    rng = cameras["range_m"].to_numpy(dtype=float)
    # one arc resolution for all (vectorised); the count scales with the widest sector
    n_arc = max(4, int(np.ceil(ARC_POINTS * fov.max() / (2 * np.pi))) + 1)
    t = np.linspace(0.0, 1.0, n_arc)
    ang = heading[:, None] - fov[:, None] / 2 + fov[:, None] * t[None, :]
    ax = cx[:, None] + rng[:, None] * np.sin(ang)
    ay = cy[:, None] + rng[:, None] * np.cos(ang)
    full = fov >= 2 * np.pi - 1e-9
    # sector ring: centre → arc → centre; a full disc skips the centre
    ring_x = np.where(full[:, None], np.column_stack((ax, ax[:, :1])), np.column_stack((cx, ax)))
    ring_y = np.where(full[:, None], np.column_stack((ay, ay[:, :1])), np.column_stack((cy, ay)))
    coords = np.stack((ring_x, ring_y), axis=-1)
    polys = shapely.polygons(coords)
    sectors = gpd.GeoSeries(polys, crs=METRIC, index=cameras.index).to_crs(WGS84)
    return gpd.GeoSeries(shapely.orient_polygons(sectors.to_numpy()), crs=WGS84, index=cameras.index)


def sectors_layer(cameras: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the cameras as a layer of field-of-view polygons (all attributes kept)."""
    out = gpd.GeoDataFrame(
        pd.DataFrame(cameras.drop(columns=cameras.geometry.name)),
        geometry=fov_sectors(cameras),
        crs=WGS84,
    )
    out.attrs = dict(cameras.attrs)
    return out


def coverage_cells(cameras: gpd.GeoDataFrame, res: int = h3grid.DEFAULT_RES) -> pd.DataFrame:
    """Return the H3 cells each camera covers, as rows ``camera_id, cell`` (hex strings).

    A camera covers the cells whose centre lies in its field-of-view sector, plus the cell it
    stands in (a camera always sees its own surroundings). Rows are sorted by camera then cell, with
    no duplicates.
    """
    res = h3grid.check_resolution(res)
    if "camera_id" not in cameras.columns:
        raise DataError("cameras lack the camera_id column")
    if len(cameras) == 0:
        return pd.DataFrame({"camera_id": pd.Series([], dtype=str), "cell": pd.Series([], dtype=str)})
    ids = cameras["camera_id"].astype(str).to_numpy()
    own = h3grid.to_str(
        h3grid.latlng_to_cells(cameras.geometry.y.to_numpy(), cameras.geometry.x.to_numpy(), res)
    )
    rows_id: list[str] = list(ids)
    rows_cell: list[str] = list(own)
    for cam, sector in zip(ids, fov_sectors(cameras), strict=True):
        cells = h3grid.polygon_to_cells(sector, res)
        rows_id.extend([cam] * len(cells))
        rows_cell.extend(cells)
    out = pd.DataFrame({"camera_id": rows_id, "cell": rows_cell}).drop_duplicates()
    return out.sort_values(["camera_id", "cell"], ignore_index=True)


#: Directions of travel a traffic count is split by: the compass quadrant of the counted link's bearing.
DIRECTIONS: tuple[str, ...] = ("NB", "EB", "SB", "WB")


def direction_of(bearing_deg: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Return the direction of travel (``NB``, ``EB``, ``SB``, ``WB``) of compass bearings in degrees."""
    b = np.mod(np.asarray(bearing_deg, dtype=np.float64), 360.0)
    return np.asarray(DIRECTIONS, dtype=str)[np.floor((b + 45.0) / 90.0).astype(np.int64) % 4]


def watched_links(cameras: gpd.GeoDataFrame, network: RoadNetwork) -> pd.DataFrame:
    """Return which link(s) and direction(s) of travel each camera counts.

    A camera sees a directed link when the link crosses its field-of-view sector (heading, field of
    view and range, in UTM 48N); per direction of travel (the compass quadrant of the link's bearing
    from ``u`` to ``v``) it counts the nearest such link, so a camera on a two-way street counts both
    carriageways and a junction camera every approach in its view (at most one link per direction).

    Returns rows ``camera_id, direction, link_id, distance_m`` sorted by camera and direction; cameras
    that see no road have no row.
    """
    empty = pd.DataFrame(
        {
            "camera_id": pd.Series([], dtype=str),
            "direction": pd.Series([], dtype=str),
            "link_id": pd.Series([], dtype=np.int64),
            "distance_m": pd.Series([], dtype=np.float64),
        }
    )
    if len(cameras) == 0 or network.n_links == 0:
        return empty
    sectors = np.asarray(fov_sectors(cameras).to_crs(METRIC).values)
    lines = np.asarray(network.links.geometry.to_crs(METRIC).values)
    tree = shapely.STRtree(lines)
    cam_i, link_i = tree.query(sectors, predicate="intersects")
    if len(cam_i) == 0:
        return empty
    pos = np.asarray(cameras.geometry.to_crs(METRIC).values)
    dist = shapely.distance(pos[cam_i], lines[link_i])
    # among links as near (e.g. all touching the camera's junction), the one it looks along
    mid = shapely.distance(pos[cam_i], shapely.line_interpolate_point(lines[link_i], 0.5, normalized=True))
    nodes = network.nodes.geometry.to_crs(METRIC)
    nx, ny = nodes.x.to_numpy(), nodes.y.to_numpy()
    u = network.links["u"].to_numpy()[link_i]
    v = network.links["v"].to_numpy()[link_i]
    bearing = np.degrees(np.arctan2(nx[v] - nx[u], ny[v] - ny[u]))
    table = pd.DataFrame(
        {
            "camera_id": cameras["camera_id"].astype(str).to_numpy()[cam_i],
            "direction": direction_of(bearing),
            "link_id": network.links.index.to_numpy()[link_i].astype(np.int64),
            "distance_m": dist,
            "_near": np.round(dist),
            "_mid": mid,
        }
    )
    table = table.sort_values(["camera_id", "direction", "_near", "_mid", "link_id"], kind="stable")
    table = table.drop_duplicates(["camera_id", "direction"], keep="first")
    return table.drop(columns=["_near", "_mid"]).reset_index(drop=True)


def with_watched_links(cameras: gpd.GeoDataFrame, network: RoadNetwork) -> gpd.GeoDataFrame:
    """Return `cameras` with ``count_links`` and ``count_directions`` (aligned lists, see `watched_links`)."""
    table = watched_links(cameras, network)
    by_cam: dict[str, pd.DataFrame] = {}
    for cid, grp in table.groupby("camera_id", sort=False):
        by_cam[str(cid)] = grp
    ids = cameras["camera_id"].astype(str)
    out = cameras.copy()
    out["count_links"] = [[int(x) for x in by_cam[c]["link_id"]] if c in by_cam else [] for c in ids]
    out["count_directions"] = [[str(x) for x in by_cam[c]["direction"]] if c in by_cam else [] for c in ids]
    out.attrs = dict(cameras.attrs)
    return out
