"""Name the two coordinate reference systems the twin uses, once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import geopandas as gpd

#: Storage and exchange CRS (lon/lat order in GeoJSON, RFC 7946).
WGS84 = "EPSG:4326"
#: Metric CRS for lengths, areas and buffers: UTM zone 48N covers Lạng Sơn.
METRIC = "EPSG:32648"
#: Time zone in which people read times (storage is UTC).
LOCAL_TZ = "Asia/Ho_Chi_Minh"


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` in the metric CRS (UTM 48N)."""
    return gdf.to_crs(METRIC)


def to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` in WGS84."""
    return gdf.to_crs(WGS84)
