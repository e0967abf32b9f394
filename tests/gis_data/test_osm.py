"""The OSM importer on real OSM data (pyrosm's bundled Helsinki extract), tag parsing, CLI and errors."""

from __future__ import annotations

import json
import math
import os
import sys
import types
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyrosm
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from api.cli import base
from api.cli import osm as _osm_cli  # noqa: F401  (registers the command)
from gis_data import osm, roads
from twin.errors import DataError, InputError
from twin.network import ROAD_CLASSES, RoadNetwork
from twin.provenance import Provenance

# The extract ships inside the pyrosm wheel: never downloaded.
HELSINKI = Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"
BBOX = (24.935, 60.160, 24.945, 60.166)


def _flat(text: str) -> str:
    """Return CLI output without whitespace: rich wraps (and folds long paths) at the terminal width."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def helsinki_all() -> RoadNetwork:
    return osm.read_pbf(HELSINKI, largest_scc=False)


@pytest.fixture(scope="module")
def helsinki() -> RoadNetwork:
    return osm.read_pbf(HELSINKI)


@pytest.fixture(scope="module")
def raw_edges() -> gpd.GeoDataFrame:
    _, edges = pyrosm.OSM(str(HELSINKI)).get_network(network_type="driving", nodes=True)
    return edges


# -- known answers on Helsinki ---------------------------------------------------------------------
def test_helsinki_counts_are_stable(helsinki_all: RoadNetwork, helsinki: RoadNetwork) -> None:
    assert (helsinki_all.n_nodes, helsinki_all.n_links) == (709, 1149)
    assert int(helsinki_all.links["oneway"].sum()) == 395
    assert int(helsinki_all.links["bridge"].sum()) == 2
    assert (helsinki.n_nodes, helsinki.n_links) == (640, 1063)
    assert helsinki.strongly_connected_fraction() == 1.0
    assert helsinki_all.strongly_connected_fraction() < 1.0  # clipped extract: dangling one-ways
    assert helsinki.meta["dropped_nodes_outside_scc"] == 69
    km = helsinki_all.summary()["km_by_class"]
    assert km == pytest.approx(
        {"primary": 3.70, "residential": 18.92, "secondary": 5.83, "tertiary": 1.97}, abs=0.01
    )


def test_helsinki_is_real_odbl_with_provenance(helsinki: RoadNetwork) -> None:
    helsinki.validate()
    assert not helsinki.is_synthetic
    assert helsinki.provenance.source == "real"
    assert helsinki.provenance.licence == "ODbL-1.0"
    assert "OpenStreetMap" in helsinki.provenance.description
    assert set(helsinki.links["road_class"]) <= set(ROAD_CLASSES)
    assert helsinki.nodes["signal"].sum() > 50  # central Helsinki is full of signals


def test_lengths_match_geometry_in_metres(helsinki_all: RoadNetwork, raw_edges: gpd.GeoDataFrame) -> None:
    links = helsinki_all.links
    metric = links.to_crs(links.estimate_utm_crs()).length
    np.testing.assert_allclose(links["length_m"], metric, rtol=0.01)
    # total street length: each two-way street is two links; pyrosm's own segment lengths agree
    one = links["oneway"].to_numpy()
    street_m = links.loc[one, "length_m"].sum() + links.loc[~one, "length_m"].sum() / 2
    assert street_m == pytest.approx(raw_edges["length"].astype(float).sum(), rel=0.005)


def test_ways_split_only_at_intersections(helsinki_all: RoadNetwork) -> None:
    links = helsinki_all.links
    # a node inside one way with exactly two neighbours is not an intersection: it must be merged away
    ends = pd.DataFrame(
        {
            "node": np.concatenate((links["u"], links["v"])),
            "other": np.concatenate((links["v"], links["u"])),
            "way": np.concatenate((links["osm_way_id"], links["osm_way_id"])),
        }
    )
    per_node = ends.groupby("node").agg(neighbours=("other", "nunique"), ways=("way", "nunique"))
    pass_through = per_node[(per_node["neighbours"] == 2) & (per_node["ways"] == 1)]
    assert len(pass_through) <= 2, pass_through  # only the start of a closed way may remain
    assert (per_node["neighbours"] >= 1).all()
    # a link's geometry runs from its u node to its v node
    start = shapely.get_coordinates(shapely.get_point(links.geometry.to_numpy(), 0))
    end = shapely.get_coordinates(shapely.get_point(links.geometry.to_numpy(), -1))
    nodes = helsinki_all.nodes
    np.testing.assert_allclose(start, nodes.loc[links["u"], ["x", "y"]].to_numpy())
    np.testing.assert_allclose(end, nodes.loc[links["v"], ["x", "y"]].to_numpy())


def _first_segments(links: gpd.GeoDataFrame) -> list[tuple[float, ...]]:
    xy = [shapely.get_coordinates(g)[:2].round(7).ravel() for g in links.geometry]
    return [tuple(float(c) for c in a) for a in xy]


def test_oneway_ways_become_single_links_in_way_order(
    helsinki_all: RoadNetwork, raw_edges: gpd.GeoDataFrame
) -> None:
    links = helsinki_all.links
    drawn = set(_first_segments(raw_edges))  # pyrosm segments, in the way's drawing order
    oneway_ways = set(raw_edges.loc[raw_edges["oneway"] == "yes", "id"].astype(int))
    two_way = set(raw_edges.loc[raw_edges["oneway"].isna(), "id"].astype(int)) - oneway_ways
    ow = links[links["osm_way_id"].isin(oneway_ways)]
    assert len(ow) > 300
    assert ow["oneway"].all()
    # one link per piece, running with the way
    assert all(seg in drawn for seg in _first_segments(ow))
    uvw = set(zip(links["u"], links["v"], links["osm_way_id"], strict=True))
    assert not any((v, u, w) in uvw for u, v, w in zip(ow["u"], ow["v"], ow["osm_way_id"], strict=True))
    # two-way ways: both directions, one of them against the drawing order
    tw = links[links["osm_way_id"].isin(two_way)]
    assert len(tw) > 300
    assert not tw["oneway"].any()
    assert set(zip(tw["u"], tw["v"], strict=True)) == set(zip(tw["v"], tw["u"], strict=True))
    along = [seg in drawn for seg in _first_segments(tw)]
    assert sum(along) == len(tw) // 2


def test_bbox_clips_the_network(helsinki_all: RoadNetwork) -> None:
    clipped = osm.read_pbf(HELSINKI, bbox=BBOX, largest_scc=False)
    w, s, e, n = BBOX
    assert clipped.nodes["x"].between(w, e).all()
    assert clipped.nodes["y"].between(s, n).all()
    assert 0 < clipped.n_links < helsinki_all.n_links
    assert clipped.provenance.params["bbox"] == list(BBOX)


# -- tag handling on a hand-made extract -----------------------------------------------------------------
def _toy_segments() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Five ways around a roundabout: one-way -1, a 4-lane two-way with mph, a footway, a bridge."""
    coords = pd.DataFrame(
        {
            "lon": [0.0, 0.001, 0.002, 0.002, 0.001, 0.003, 0.004, 0.0, 0.002],
            "lat": [0.0, 0.0, 0.0, 0.001, 0.001, 0.0, 0.0, 0.001, 0.002],
        },
        index=[1, 2, 3, 4, 5, 6, 7, 8, 9],
    )
    base = {"junction": np.nan, "lanes": np.nan, "lanes_forward": np.nan, "lanes_backward": np.nan}
    rows = [
        # roundabout 2-3-4-5-2 (closed way, no oneway tag)
        *[
            {
                "way": 10,
                "u": a,
                "v": b,
                "highway": "primary",
                "oneway": np.nan,
                "maxspeed": "40",
                **base,
                "junction": "roundabout",
                "bridge": np.nan,
                "name": "Ring",
            }
            for a, b in ((2, 3), (3, 4), (4, 5), (5, 2))
        ],
        # way 20: 1 -> 2 tagged oneway=-1: traffic flows 2 -> 1
        {
            "way": 20,
            "u": 1,
            "v": 2,
            "highway": "residential",
            "oneway": "-1",
            "maxspeed": np.nan,
            **base,
            "bridge": np.nan,
            "name": np.nan,
        },
        # way 30: 3 -> 6 -> 7 two-way, 4 lanes, 30 mph, a bridge; 6 is a pass-through node
        *[
            {
                "way": 30,
                "u": a,
                "v": b,
                "highway": "secondary",
                "oneway": "no",
                "maxspeed": "30 mph",
                **{**base, "lanes": "4"},
                "bridge": "yes",
                "name": "Long Bridge",
            }
            for a, b in ((3, 6), (6, 7))
        ],
        # way 40: 8 -> 1 footway (dropped), way 50: 4 -> 9 motorway_link with no oneway tag
        {
            "way": 40,
            "u": 8,
            "v": 1,
            "highway": "footway",
            "oneway": np.nan,
            "maxspeed": np.nan,
            **base,
            "bridge": np.nan,
            "name": np.nan,
        },
        {
            "way": 50,
            "u": 4,
            "v": 9,
            "highway": "trunk_link",
            "oneway": "yes",
            "maxspeed": np.nan,
            **{**base, "lanes": "2"},
            "bridge": "no",
            "name": np.nan,
        },
    ]
    return pd.DataFrame(rows), coords


def test_tags_map_to_directed_links_with_attributes() -> None:
    segs, coords = _toy_segments()
    prov = Provenance(name="toy", source="real", licence="ODbL-1.0")
    net = osm.network_from_segments(segs, coords, {3}, prov, largest_scc=False)
    links = net.links
    osm_id = net.nodes["osm_id"].to_numpy()
    pairs = {
        (int(osm_id[u]), int(osm_id[v])): row
        for u, v, row in zip(links["u"], links["v"], links.itertuples(), strict=True)
    }
    # roundabout: one-way in drawing order, split at the junctions 2, 3 and 4
    assert {(2, 3), (3, 4), (4, 2)} <= set(pairs)
    assert not {(3, 2), (4, 3), (2, 4)} & set(pairs)
    assert pairs[(4, 2)].length_m == pytest.approx(2 * 111.2, rel=0.01)  # 4 -> 5 -> 2, merged
    # oneway=-1 reverses the way
    assert (2, 1) in pairs
    assert (1, 2) not in pairs
    # two-way, 4 lanes → 2 per direction; 30 mph → 48.3 km/h; bridge; node 6 merged away
    assert (3, 7) in pairs
    assert (7, 3) in pairs
    assert 6 not in set(osm_id)
    fwd = pairs[(3, 7)]
    assert (fwd.lanes, fwd.bridge, fwd.name, fwd.road_class) == (2, True, "Long Bridge", "secondary")
    assert fwd.speed_kmh == pytest.approx(48.28, abs=0.01)
    assert fwd.capacity_pcu_h == 2 * ROAD_CLASSES["secondary"][2]
    assert fwd.length_m == pytest.approx(2 * 111.2, rel=0.01)
    # the one-way link keeps all its lanes; missing tags take the class defaults
    link = pairs[(4, 9)]
    assert (link.lanes, link.road_class, link.speed_kmh, link.bridge) == (
        2,
        "trunk",
        ROAD_CLASSES["trunk"][1],
        False,
    )
    assert pairs[(2, 1)].speed_kmh == ROAD_CLASSES["residential"][1]
    # the footway is dropped, the signal sits on node 3
    assert 8 not in set(osm_id)
    assert net.nodes.set_index("osm_id").loc[3, "signal"]
    assert net.nodes["signal"].sum() == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        ("30 mph", 48.28),
        ("VN:urban", 50.0),
        ("FI:rural", 80.0),
        ("40;60", 40.0),
        ("none", math.nan),
        (None, math.nan),
        ("walk", 7.0),
        ("60 km/h", 60.0),
    ],
)
def test_parse_maxspeed(value: str | None, expected: float) -> None:
    got = osm.parse_maxspeed(value)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(
    ("oneway", "junction", "highway", "expected"),
    [
        ("yes", None, "primary", 1),
        ("-1", None, "primary", -1),
        ("no", "roundabout", "primary", 0),
        (None, "roundabout", "primary", 1),
        (None, "circular", "tertiary", 1),
        (None, None, "motorway", 1),
        (None, None, "residential", 0),
        ("reversible", None, "primary", 0),
        ("true", None, "primary", 1),
    ],
)
def test_oneway_direction(oneway: str | None, junction: str | None, highway: str, expected: int) -> None:
    assert osm.oneway_direction(oneway, junction, highway) == expected


@given(speed=st.integers(min_value=5, max_value=130))
def test_parse_maxspeed_reads_any_numeric_limit(speed: int) -> None:
    assert osm.parse_maxspeed(str(speed)) == speed
    assert osm.parse_maxspeed(f"{speed} mph") == pytest.approx(speed * 1.609344)
    assert osm.parse_maxspeed(f"{speed};{speed + 20}") == speed


def test_parse_lanes() -> None:
    assert osm.parse_lanes("3") == 3
    assert osm.parse_lanes("2;3") == 2
    assert math.isnan(osm.parse_lanes("many"))
    assert math.isnan(osm.parse_lanes(None))


def test_from_osmnx_converts_a_drive_graph() -> None:
    g = nx.MultiDiGraph(crs="epsg:4326")
    g.add_node(1, x=106.75, y=21.84, highway="traffic_signals")
    g.add_node(2, x=106.76, y=21.84)
    g.add_node(3, x=106.76, y=21.85)
    g.add_edge(1, 2, osmid=11, highway="primary", oneway=False, lanes="4", maxspeed="50", name="Lê Lợi")
    g.add_edge(2, 1, osmid=11, highway="primary", oneway=False, lanes="4", maxspeed="50", name="Lê Lợi")
    g.add_edge(2, 3, osmid=[12, 13], highway=["tertiary", "secondary"], oneway=True, bridge="yes")
    g.add_edge(3, 1, osmid=14, highway="residential", oneway=True)
    net = osm.from_osmnx(g)
    assert (net.n_nodes, net.n_links) == (3, 4)
    assert net.strongly_connected_fraction() == 1.0
    row = net.links[(net.links["name"] == "Lê Lợi")].iloc[0]
    assert (row["lanes"], row["speed_kmh"], row["oneway"]) == (2, 50.0, False)
    assert row["length_m"] == pytest.approx(1033, rel=0.01)  # 0.01° of longitude at 21.84° N
    merged = net.links[net.links["bridge"]].iloc[0]
    assert (merged["road_class"], merged["oneway"]) == ("secondary", True)
    assert net.nodes["signal"].sum() == 1
    assert net.provenance.source == "real"


# -- bad input ---------------------------------------------------------------------------------------------
def test_malformed_or_missing_pbf_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.osm.pbf"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(DataError, match=r"broken\.osm\.pbf.*not a readable OSM PBF"):
        osm.read_pbf(bad)
    text = tmp_path / "wards.geojson"
    text.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(DataError, match=r"wards\.geojson"):
        osm.read_pbf(text)
    with pytest.raises(DataError, match="not found"):
        osm.read_pbf(tmp_path / "nope.osm.pbf")
    with pytest.raises(InputError, match="bbox"):
        osm.read_pbf(HELSINKI, bbox=(25.0, 60.0, 24.0, 61.0))


def test_osm_source_outside_the_city_says_so(
    wards: gpd.GeoDataFrame, units: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="no drivable"):
        roads.build_network(wards, units, source="osm", osm_file=HELSINKI, cache_dir=tmp_path)


def test_build_network_from_osm_clips_to_the_city_and_caches(
    units: gpd.GeoDataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a stand-in "city" over central Helsinki: build_network clips the import to its core wards
    city = gpd.GeoDataFrame({"core_city_ward": [True]}, geometry=[shapely.box(*BBOX)], crs="EPSG:4326")
    net = roads.build_network(city, units, source="osm", osm_file=HELSINKI, cache_dir=tmp_path)
    assert net.provenance.source == "real"
    assert net.strongly_connected_fraction() == 1.0
    w, s, e, n = BBOX
    assert net.nodes["x"].between(w, e).all()
    assert net.nodes["y"].between(s, n).all()
    (folder,) = (tmp_path / "roads").iterdir()
    assert folder.name.startswith(f"osm-v{osm.IMPORTER_VERSION}-")

    def must_not_run(*_args: object, **_kwargs: object) -> RoadNetwork:
        raise AssertionError("the cached import ran again")

    monkeypatch.setattr(osm, "read_pbf", must_not_run)
    again = roads.build_network(city, units, source="osm", osm_file=HELSINKI, cache_dir=tmp_path)
    assert (again.n_nodes, again.n_links) == (net.n_nodes, net.n_links)


# -- the CLI -------------------------------------------------------------------------------------------------
def test_cli_import_osm_writes_geoparquet_with_provenance(tmp_path: Path, helsinki: RoadNetwork) -> None:
    out = tmp_path / "hel"
    result = CliRunner().invoke(base.app, ["data", "import-osm", str(HELSINKI), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "640nodes,1063links" in _flat(result.output)
    back = roads.read_network(out)
    pd.testing.assert_frame_equal(
        pd.DataFrame(back.links.drop(columns="geometry")),
        pd.DataFrame(helsinki.links.drop(columns="geometry")),
    )
    assert back.provenance.source == "real"
    assert back.provenance.licence == "ODbL-1.0"


def test_cli_import_osm_geojson_with_bbox(tmp_path: Path) -> None:
    out = tmp_path / "hel_json"
    bbox = ",".join(str(x) for x in BBOX)
    result = CliRunner().invoke(
        base.app,
        [
            "data",
            "import-osm",
            str(HELSINKI),
            "--bbox",
            bbox,
            "--out",
            str(out),
            "--format",
            "geojson",
            "--all-components",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "links.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    assert doc["provenance"]["source"] == "real"
    feat = doc["features"][0]
    assert feat["geometry"]["type"] == "LineString"
    assert feat["properties"]["source"] == "real"
    assert feat["properties"]["synthetic"] is False
    lon, lat = np.array([c for f in doc["features"] for c in f["geometry"]["coordinates"]]).T
    assert BBOX[0] <= lon.min() <= lon.max() <= BBOX[2]
    assert BBOX[1] <= lat.min() <= lat.max() <= BBOX[3]
    assert (out / "nodes.geojson").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--bbox", "1,2,3"], "--bbox"), (["--bbox", "5,2,3,4"], "--bbox"), (["--format", "shp"], "--format")],
)
def test_cli_import_osm_bad_options_fail_readably(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        base.app, ["data", "import-osm", str(HELSINKI), "--out", str(tmp_path / "o"), *args]
    )
    assert result.exit_code == 2
    assert message in _flat(result.output)
    assert not (tmp_path / "o").exists()


def test_cli_import_osm_bad_file_fails_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"\x00\x01not a pbf")
    result = CliRunner().invoke(base.app, ["data", "import-osm", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "bad.osm.pbf" in _flat(result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_download_path_offline_with_a_stand_in_osmnx(monkeypatch: pytest.MonkeyPatch) -> None:
    """The download path, without internet: osmnx is replaced by a stand-in module."""
    g = nx.MultiDiGraph(crs="epsg:4326")
    g.add_node(1, x=106.75, y=21.84)
    g.add_node(2, x=106.76, y=21.84)
    g.add_edge(1, 2, osmid=1, highway="trunk", oneway=False, ref="QL1A")
    g.add_edge(2, 1, osmid=1, highway="trunk", oneway=False, ref="QL1A")
    calls: list[dict[str, object]] = []

    def graph_from_polygon(polygon: object, **kwargs: object) -> nx.MultiDiGraph:
        calls.append({"polygon": polygon, **kwargs})
        return g

    fake = types.SimpleNamespace(
        graph_from_polygon=graph_from_polygon,
        _errors=types.SimpleNamespace(InsufficientResponseError=RuntimeError),
    )
    monkeypatch.setitem(sys.modules, "osmnx", fake)
    area = shapely.box(106.74, 21.83, 106.77, 21.85)
    net = osm.download(area)
    assert calls[0]["network_type"] == "drive"
    assert calls[0]["polygon"] is area
    assert (net.n_nodes, net.n_links) == (2, 2)
    assert set(net.links["name"]) == {"QL1A"}

    def offline(polygon: object, **kwargs: object) -> nx.MultiDiGraph:
        raise ConnectionError("Name or service not known")

    fake.graph_from_polygon = offline
    with pytest.raises(DataError, match="OSM download failed") as err:
        osm.download(area)
    assert "internet" in str(err.value)


# -- the download path (internet only) -----------------------------------------------------------------------
@pytest.mark.web
def test_download_small_area_of_lang_son() -> None:
    area = shapely.box(106.755, 21.845, 106.765, 21.855)  # the old centre and the Kỳ Cùng bridge
    net = osm.download(area)
    assert net.n_links > 20
    assert net.provenance.source == "real"
    assert net.strongly_connected_fraction() == 1.0


def test_cli_import_osm_never_replaces_a_folder_that_is_not_a_network(tmp_path: Path) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    result = CliRunner().invoke(base.app, ["data", "import-osm", str(HELSINKI), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "notaroadnetworkfolder" in _flat(result.output)
    assert keep.read_text() == "mine"
    # a folder written before is replaced in one piece
    out = tmp_path / "net"
    for _ in range(2):
        ok = CliRunner().invoke(base.app, ["data", "import-osm", str(HELSINKI), "--out", str(out)])
        assert ok.exit_code == 0, ok.output
    assert sorted(p.name for p in out.iterdir()) == ["links.parquet", "nodes.parquet"]
