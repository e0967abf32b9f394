"""Cameras watch links (issue 14): from position, heading, field of view and range, which directed
link(s) and direction(s) of travel each camera counts."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from tests.support.gridnet import grid_network
from twin.cameras import direction_of, watched_links, with_watched_links
from twin.crs import WGS84


def _camera(
    lon: float, lat: float, heading: float, fov: float = 60.0, rng: float = 120.0
) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"camera_id": ["LS-CAM-001"], "heading_deg": [heading], "fov_deg": [fov], "range_m": [rng]},
        geometry=[shapely.Point(lon, lat)],
        crs=WGS84,
    )


def test_direction_of_compass_quadrants() -> None:
    assert list(direction_of([0, 44, 46, 90, 180, 269, 316, 359.9])) == [
        "NB",
        "NB",
        "EB",
        "EB",
        "SB",
        "WB",
        "NB",
        "NB",
    ]


def test_a_camera_mid_block_looking_along_the_street_counts_both_carriageways() -> None:
    net = grid_network(3, 3, spacing_m=300.0)
    # halfway between node 0 (row 0, col 0) and node 1 (col 1), looking east along the street
    a, b = net.nodes.geometry.iloc[0], net.nodes.geometry.iloc[1]
    cams = _camera((a.x + b.x) / 2, a.y, heading=90.0)
    got = watched_links(cams, net)
    links = net.links
    east = int(links.index[(links["u"] == 0) & (links["v"] == 1)][0])
    west = int(links.index[(links["u"] == 1) & (links["v"] == 0)][0])
    assert dict(zip(got["direction"], got["link_id"], strict=True)) == {"EB": east, "WB": west}
    assert np.allclose(got["distance_m"], 0.0, atol=0.5)


def test_a_junction_camera_sees_the_approaches_in_its_view_and_a_blind_one_none() -> None:
    net = grid_network(3, 3, spacing_m=300.0)
    centre = net.nodes.geometry.iloc[4]  # the middle junction
    wide = watched_links(_camera(centre.x, centre.y, heading=0.0, fov=360.0, rng=100.0), net)
    assert sorted(wide["direction"]) == ["EB", "NB", "SB", "WB"]
    # far from every road (range 20 m, in the middle of a block): no row, and empty lists on the registry
    off = _camera(centre.x + 0.0007, centre.y + 0.0007, heading=45.0, fov=30.0, rng=20.0)
    assert watched_links(off, net).empty
    reg = with_watched_links(off, net)
    assert reg["count_links"].iloc[0] == []
    assert reg["count_directions"].iloc[0] == []
