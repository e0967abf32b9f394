"""The synthetic Lạng Sơn road network: determinism, connectivity, geography, attributes, cache."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.sparse import csgraph
from shapely.geometry.base import BaseGeometry
from typer.testing import CliRunner

from api.cli import base
from api.cli import osm as _osm_cli  # noqa: F401  (registers the commands)
from gis_data import roads, roads_synthetic
from twin import provenance
from twin.crs import METRIC, WGS84
from twin.errors import DataError, InputError
from twin.network import ROAD_CLASSES, RoadNetwork

CORRIDOR_REFS = {"QL1A", "QL4A", "QL4B", "QL1B"}


def _flat(text: str) -> str:
    """Return CLI output without whitespace: rich wraps (and folds long paths) at the terminal width."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roads_cache")


@pytest.fixture(scope="module")
def net(wards: gpd.GeoDataFrame, units: gpd.GeoDataFrame, cache: Path) -> RoadNetwork:
    return roads.build_network(wards, units, seed=2025, cache_dir=cache)


@pytest.fixture(scope="module")
def study(wards: gpd.GeoDataFrame) -> BaseGeometry:
    core = wards[wards["core_city_ward"]]
    return shapely.union_all(core.to_crs(METRIC).geometry.to_numpy())


@pytest.fixture(scope="module")
def river_line(wards: gpd.GeoDataFrame) -> BaseGeometry:
    line: BaseGeometry = roads.river(wards).to_crs(METRIC).geometry.iloc[0]
    return line


def _tables(net: RoadNetwork) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the node and link tables with geometry as WKB, for exact comparison."""
    out = []
    for frame in (net.nodes, net.links):
        df = pd.DataFrame(frame.drop(columns="geometry"))
        df["wkb"] = shapely.to_wkb(frame.geometry.to_numpy())
        out.append(df)
    return out[0], out[1]


def _check_geography(net: RoadNetwork, study: BaseGeometry, river_line: BaseGeometry) -> None:
    nodes = net.nodes.to_crs(METRIC)
    assert shapely.contains_xy(study.buffer(1.0), nodes.geometry.x, nodes.geometry.y).all()
    links = net.links.to_crs(METRIC)
    assert links.geometry.covered_by(study.buffer(25.0)).all(), "a link leaves the city"
    wet = links.geometry.intersects(river_line).to_numpy()
    assert not (wet & ~net.links["bridge"].to_numpy()).any(), "a non-bridge link crosses the Kỳ Cùng"
    assert wet[net.links["bridge"].to_numpy()].all(), "a bridge link does not cross the river"


# -- determinism and the cache ----------------------------------------------------------------------
def test_same_seed_gives_identical_tables(
    wards: gpd.GeoDataFrame, units: gpd.GeoDataFrame, net: RoadNetwork
) -> None:
    again = roads_synthetic.generate(wards, units, seed=2025)
    for a, b in zip(_tables(net), _tables(again), strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert again.meta == net.meta
    other = roads_synthetic.generate(wards, units, seed=7)
    assert not _tables(other)[1].equals(_tables(net)[1])


def test_cache_is_keyed_by_seed_and_version_and_round_trips(
    wards: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    net: RoadNetwork,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folders = sorted(p.name for p in (cache / "roads").iterdir())
    assert len(folders) == 1
    assert folders[0].startswith(f"synthetic-v{roads_synthetic.GENERATOR_VERSION}-seed2025-")

    def must_not_run(*_args: object, **_kwargs: object) -> RoadNetwork:
        raise AssertionError("the cached network was generated again")

    with monkeypatch.context() as m:
        m.setattr(roads_synthetic, "generate", must_not_run)
        cached = roads.build_network(wards, units, seed=2025, cache_dir=cache)
        with pytest.raises(AssertionError, match="generated again"):
            roads.build_network(wards, units, seed=2026, cache_dir=cache)  # another seed is not cached
    for a, b in zip(_tables(net), _tables(cached), strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert cached.provenance == net.provenance
    assert cached.meta == net.meta
    # a corrupt cache entry is rebuilt, not trusted
    (cache / "roads" / folders[0] / "links.parquet").write_bytes(b"garbage")
    rebuilt = roads.build_network(wards, units, seed=2025, cache_dir=cache)
    pd.testing.assert_frame_equal(_tables(rebuilt)[1], _tables(net)[1])


# -- contract, size, connectivity ---------------------------------------------------------------------
def test_network_is_large_strongly_connected_and_labelled_synthetic(net: RoadNetwork) -> None:
    net.validate()
    assert net.n_nodes > 1000
    assert net.n_links > 3000
    assert net.strongly_connected_fraction() >= 0.99
    assert net.is_synthetic
    assert net.provenance.source == "synthetic"
    assert net.provenance.params["seed"] == 2025
    assert net.provenance.params["generator_version"] == roads_synthetic.GENERATOR_VERSION
    assert net.meta["seed"] == 2025
    assert (net.links["u"] != net.links["v"]).all()
    assert not net.links.duplicated(["u", "v"]).any()


def test_every_node_lies_inside_the_four_city_wards(
    net: RoadNetwork, study: BaseGeometry, river_line: BaseGeometry
) -> None:
    # corridor ends stop 30 m inside the city edge, so no node is outside (1 m for rounding)
    _check_geography(net, study, river_line)
    gw = net.nodes[net.nodes["gateway"] != ""].to_crs(METRIC)
    assert len(gw) == 5
    assert (gw.distance(study.boundary) < 100).all()
    assert set(gw["gateway"]) >= {"Hà Nội", "Cao Bằng", "Thái Nguyên", "Lộc Bình – Quảng Ninh"}


def test_river_is_crossed_only_by_a_few_named_bridges(net: RoadNetwork) -> None:
    bridges = net.links[net.links["bridge"]]
    names = set(bridges["name"])
    assert 4 <= len(net.meta["bridges"]) <= 8
    assert "QL1A" in names  # Cầu Kỳ Cùng carries QL1A
    assert {"Cầu Đông Kinh", "Cầu 17-10"} <= names
    assert "Cầu Kỳ Cùng" in {b["name"] for b in net.meta["bridges"]}
    assert (bridges["length_m"] >= roads_synthetic.RIVER_WIDTH_M).all()


def test_ky_lua_market_lies_across_the_river_from_the_old_centre(
    units: gpd.GeoDataFrame, river_line: BaseGeometry
) -> None:
    u = units.to_crs(METRIC).set_index("name_vi")
    centre = gpd.GeoSeries([shapely.Point(roads_synthetic.CENTRE_LONLAT)], crs=WGS84).to_crs(METRIC).iloc[0]
    market_ward = u.loc["Phường Hoàng Văn Thụ"].geometry.representative_point()
    south = u.loc["Phường Chi Lăng"].geometry.representative_point()
    assert shapely.LineString([centre, market_ward]).intersects(river_line)
    assert not shapely.LineString([centre, south]).intersects(river_line)
    assert 100 < river_line.distance(centre) < 800  # just north of the old centre


# -- density and attributes ------------------------------------------------------------------------
def test_old_urban_core_is_much_denser_than_the_rural_wards(
    net: RoadNetwork, units: gpd.GeoDataFrame, study: BaseGeometry
) -> None:
    u = units.to_crs(METRIC)
    phuong = shapely.union_all(
        u[u["in_city_pre2025"] & u["name_vi"].str.startswith("Phường")].geometry.to_numpy()
    )
    rural = study.difference(phuong.buffer(2500.0))
    links = net.links.to_crs(METRIC)
    km_core = links.geometry.intersection(phuong).length.sum() / 1000 / 2  # two links per street
    km_rural = links.geometry.intersection(rural).length.sum() / 1000 / 2
    density_core = km_core / (phuong.area / 1e6)
    density_rural = km_rural / (rural.area / 1e6)
    assert density_core > 8.0  # km of street per km², ~130 m blocks
    assert density_rural < 3.0
    assert density_core > 5 * density_rural


def test_classes_speeds_lanes_and_capacities_are_consistent(net: RoadNetwork) -> None:
    links = net.links
    assert set(links["road_class"]) == set(ROAD_CLASSES)
    per_lane = links["road_class"].map({c: v[2] for c, v in ROAD_CLASSES.items()})
    np.testing.assert_allclose(links["capacity_pcu_h"], per_lane * links["lanes"])
    assert links["speed_kmh"].between(20, 60).all()
    assert links["lanes"].between(1, 2).all()
    mean_speed = links.groupby("road_class")["speed_kmh"].mean()
    assert mean_speed["trunk"] > mean_speed["tertiary"] > mean_speed["residential"] >= mean_speed["service"]
    km = links.groupby("road_class")["length_m"].sum()
    assert km["residential"] > km["tertiary"] > km["primary"]  # a hierarchy, most streets are local
    # lengths are the straight metric lengths of the geometries
    metric = links.to_crs(METRIC).length
    np.testing.assert_allclose(links["length_m"], metric, rtol=2e-3)


def test_national_corridors_are_named_trunk_roads_reaching_their_gateways(net: RoadNetwork) -> None:
    links = net.links
    trunk = links[links["road_class"] == "trunk"]
    assert set(trunk["ref"]) == CORRIDOR_REFS
    assert (trunk["name"] == trunk["ref"]).all()
    assert set(links.loc[links["ref"] == "", "road_class"]) <= set(ROAD_CLASSES) - {"trunk"}
    centre = int(net.nearest_node(*roads_synthetic.CENTRE_LONLAT)[0])
    n = net.n_nodes
    g = sparse.csr_matrix((np.ones(len(trunk)), (trunk["u"], trunk["v"])), shape=(n, n))
    reach = csgraph.breadth_first_order(g, centre, directed=True, return_predecessors=False)
    back = csgraph.breadth_first_order(g.T.tocsr(), centre, directed=True, return_predecessors=False)
    gateways = np.flatnonzero((net.nodes["gateway"] != "").to_numpy())
    assert set(gateways) <= set(reach.tolist()) & set(back.tolist())


def test_one_way_streets_are_minor_streets_of_the_urban_core(net: RoadNetwork) -> None:
    links = net.links
    pairs = set(zip(links["u"], links["v"], strict=True))
    has_reverse = np.array([(v, u) in pairs for u, v in zip(links["u"], links["v"], strict=True)])
    assert (has_reverse == ~links["oneway"].to_numpy()).all()
    one = links[links["oneway"]]
    assert len(one) >= 20
    assert set(one["zone"]) == {"urban"}
    assert set(one["road_class"]) <= {"residential", "tertiary"}


def test_signals_sit_on_main_junctions_in_town(net: RoadNetwork) -> None:
    nodes = net.nodes
    sig = nodes[nodes["signal"]]
    assert 15 <= len(sig) <= 200
    assert set(sig["zone"]) <= {"urban", "suburban"}
    deg = np.bincount(np.concatenate((net.links["u"], net.links["v"])), minlength=net.n_nodes)
    assert (deg[sig.index.to_numpy()] >= 6).all()  # three or more two-way arms


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_any_seed_gives_a_connected_network_that_respects_the_river(
    wards: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    study: BaseGeometry,
    river_line: BaseGeometry,
    seed: int,
) -> None:
    net = roads_synthetic.generate(wards, units, seed=seed)
    assert net.strongly_connected_fraction() == 1.0
    assert net.meta["dropped_nodes"] <= 0.01 * (net.n_nodes + net.meta["dropped_nodes"])
    assert net.n_links > 3000
    _check_geography(net, study, river_line)


# -- river, errors, plot -----------------------------------------------------------------------------
def test_river_layer_is_labelled_synthetic_and_crosses_the_city(
    wards: gpd.GeoDataFrame, study: BaseGeometry
) -> None:
    r = roads.river(wards)
    assert r.crs.to_string() == WGS84
    assert r["name"].iloc[0] == "Sông Kỳ Cùng"
    prov = provenance.of(r)
    assert prov["source"] == "synthetic"
    assert prov["synthetic"] is True
    line = r.to_crs(METRIC).geometry.iloc[0]
    assert line.intersection(study).length > 15_000


def test_bad_inputs_raise_project_errors(
    wards: gpd.GeoDataFrame, units: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="source"):
        roads.build_network(wards, units, source="lidar", cache_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="osm_file"):
        roads.build_network(wards, units, source="osm", cache_dir=tmp_path)
    with pytest.raises(DataError, match="not found"):
        roads.build_network(wards, units, source="osm", osm_file=tmp_path / "x.pbf", cache_dir=tmp_path)
    with pytest.raises(DataError, match="core_city_ward"):
        roads_synthetic.generate(wards.drop(columns="core_city_ward"), units)
    with pytest.raises(DataError, match="not a saved road network"):
        roads.read_network(tmp_path)


def test_plot_network_writes_a_png(net: RoadNetwork, wards: gpd.GeoDataFrame, tmp_path: Path) -> None:
    out = roads.plot_network(net, tmp_path / "roads.png", river_gdf=roads.river(wards), dpi=40)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unwritable_cache_still_returns_the_network(
    wards: gpd.GeoDataFrame, units: gpd.GeoDataFrame, net: RoadNetwork, tmp_path: Path
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    built = roads.build_network(wards, units, seed=2025, cache_dir=blocker)
    assert built.n_links == net.n_links
    assert "not cached" in built.meta["cache_error"]


def test_cli_roads_builds_writes_and_plots(data_dir: Path, net: RoadNetwork, tmp_path: Path) -> None:
    out, png = tmp_path / "net", tmp_path / "roads.png"
    args = ["data", "roads", "--data-dir", str(data_dir), "--out", str(out), "--plot", str(png)]
    result = CliRunner().invoke(base.app, args)
    assert result.exit_code == 0, result.output
    assert f"{net.n_nodes}nodes,{net.n_links}links" in _flat(result.output)
    assert "SYNTHETIC" in result.output
    back = roads.read_network(out)
    assert back.provenance.source == "synthetic"
    assert back.meta["seed"] == 2025
    assert png.read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(base.app, ["data", "roads", "--data-dir", str(data_dir), "--source", "lidar"])
    assert bad.exit_code == 2
    assert "--source" in _flat(bad.output)


def test_main_streets_have_names_that_say_where_they_come_from(net: RoadNetwork) -> None:
    """Corridor numbers and the sourced bridge names are `real`; the generated main streets get plausible
    names labelled `synthetic` (one name per street, each name once); local streets stay unnamed."""
    links = net.links
    named = links[links["name"] != ""]
    assert (links["name"] == "").eq(links["name_source"] == "").all()
    assert len(named) > 2 * 240  # before: only the corridors and bridges had a name
    syn = named[named["name_source"] == "synthetic"]
    assert set(syn["name"]) <= set(roads_synthetic.SYNTHETIC_STREET_NAMES)
    assert set(syn["road_class"]) <= {"primary", "secondary", "tertiary"}
    real = named[named["name_source"] == "real"]
    assert set(real["name"]) <= {"QL1A", "QL4A", "QL1B", "QL4B"} | roads_synthetic.REAL_BRIDGE_NAMES
    assert set(named.loc[named["name_source"] == "descriptive", "name"]) == {"Cầu phía Tây", "Cầu phía Đông"}
    # A synthetic street is one connected line of links, not the same name scattered over the city.
    for street, part in syn.groupby("name"):
        nodes = pd.unique(part[["u", "v"]].to_numpy().ravel())
        seen, todo = {nodes[0]}, [nodes[0]]
        adj: dict[int, set[int]] = {}
        for u, v in part[["u", "v"]].itertuples(index=False):
            adj.setdefault(u, set()).add(v)
            adj.setdefault(v, set()).add(u)
        while todo:
            for w in adj[todo.pop()] - seen:
                seen.add(w)
                todo.append(w)
        assert len(seen) == len(nodes), street
