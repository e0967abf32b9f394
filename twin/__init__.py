"""The pure domain model of the Lạng Sơn digital twin.

`twin` owns the city: wards of both vintages, the road network, cameras, the H3 grid, incidents and
hotspots. Functions take GeoDataFrames, arrays and graphs and return new ones; no files, no HTTP, no
environment variables live here (those are `gis_data` and `api`).
"""

__version__ = "0.1.0"
