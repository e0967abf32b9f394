"""End to end through the CLI: `twin hotspots` and `twin cameras next` on event files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app
from api.cli.analytics_lib import read_events
from gis_data.city import build_city
from twin import cameras, h3grid
from twin.city import City
from twin.errors import DataError, InputError

CAVE = (106.7468, 21.8556)  # Tam Thanh cave, lon/lat
CAVE_CELL = h3grid.to_str(h3grid.latlng_to_cells([CAVE[1]], [CAVE[0]], 9))[0]

runner = CliRunner()


@pytest.fixture(scope="module")
def city(data_dir: Path) -> City:
    return build_city(data_dir)


@pytest.fixture(scope="module")
def events(city: City) -> pd.DataFrame:
    """2,000 events uniform over the city plus a cluster of 150 at Tam Thanh cave, over 4 hours."""
    rng = np.random.default_rng(2025)
    minx, miny, maxx, maxy = city.boundary.bounds
    x = rng.uniform(minx, maxx, 8000)
    y = rng.uniform(miny, maxy, 8000)
    inside = shapely.contains_xy(city.boundary, x, y)
    x, y = x[inside][:2000], y[inside][:2000]
    cx = CAVE[0] + rng.normal(0, 0.0004, 150)
    cy = CAVE[1] + rng.normal(0, 0.0004, 150)
    lon, lat = np.concatenate([x, cx]), np.concatenate([y, cy])
    ts = pd.Timestamp("2025-07-01T00:00Z") + pd.to_timedelta(rng.uniform(0, 4 * 3600, lon.size), unit="s")
    category = np.where(np.arange(lon.size) % 2 == 0, "tai_nan", "ngập")
    return pd.DataFrame(
        {"lon": lon, "lat": lat, "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "category": category}
    )


@pytest.fixture(scope="module")
def events_csv(events: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events") / "events.csv"
    events.to_csv(path, index=False)
    return path


def run(*args: str | Path) -> tuple[int, str, str]:
    """Invoke the CLI; return (exit code, stdout, stderr with rich's line wrapping undone)."""
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_hotspots_table_finds_the_cluster(events_csv: Path, data_dir: Path) -> None:
    code, out, err = run("hotspots", "--events", events_csv, "--data-dir", data_dir, "--top", "5")
    assert code == 0, err
    assert CAVE_CELL in out
    assert "hot" in out
    assert "Tam Thanh" in out  # the ward, by its Vietnamese name


def test_hotspots_geojson_file(events_csv: Path, data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "hot.geojson"
    code, _, err = run(
        "hotspots", "--events", events_csv, "--data-dir", data_dir, "--format", "geojson", "--out", target
    )
    assert code == 0, err
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    assert doc["provenance"]["source"] == "derived"
    props = {f["properties"]["cell"]: f["properties"] for f in doc["features"]}
    assert props[CAVE_CELL]["hotspot"] == "hot"
    assert props[CAVE_CELL]["count"] >= 100
    assert props[CAVE_CELL]["ward_code"] != ""
    assert sum(p["count"] for p in props.values()) == 2150
    ring = next(f for f in doc["features"] if f["properties"]["cell"] == CAVE_CELL)["geometry"][
        "coordinates"
    ][0]
    assert shapely.LinearRing(ring).is_ccw  # RFC 7946 right-hand rule
    assert shapely.Polygon(ring).contains(shapely.Point(CAVE))
    hot = [p for p in props.values() if p["hotspot"] == "hot"]
    assert all(h3grid.grid_disk(CAVE_CELL, 3).count(p["cell"]) for p in hot)  # all hot cells near the cave


def test_hotspots_geojson_stdout_by_window_and_category(events_csv: Path, data_dir: Path) -> None:
    code, out, err = run(
        "hotspots", "--events", events_csv, "--data-dir", data_dir, "--format", "geojson",
        "--window", "2h", "--category", "ngập",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    windows = {f["properties"]["window"] for f in doc["features"]}
    assert windows == {"2025-07-01T00:00:00Z", "2025-07-01T02:00:00Z"}
    assert "few events for the normal approximation in 2 of 2 windows" in err
    assert sum(f["properties"]["count"] for f in doc["features"]) == 1075
    assert {f["properties"]["hotspot"] for f in doc["features"] if f["properties"]["cell"] == CAVE_CELL} == {
        "hot"
    }


def test_hotspots_table_writes_all_rows_as_csv(events_csv: Path, data_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.csv"
    code, _, err = run("hotspots", "--events", events_csv, "--data-dir", data_dir, "--out", target)
    assert code == 0, err
    table = pd.read_csv(target)
    assert {"cell", "count", "gi_z", "p_value", "p_fdr", "hotspot"} <= set(table.columns)
    assert table["count"].sum() == 2150


def test_hotspots_geojson_input(events: pd.DataFrame, data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.geojson"
    feats = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
         "properties": {"ts": r.ts, "category": r.category}}
        for r in events.itertuples()
    ]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    code, out, err = run("hotspots", "--events", path, "--data-dir", data_dir, "--top", "3")
    assert code == 0, err
    assert CAVE_CELL in out


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("x,y_not\n1,2\n", ".csv", "missing column(s) lat"),
        ("lon,lat\nabc,21.8\n", ".csv", "no valid lon"),
        ("", ".csv", "empty"),
        ('{"type": "Feature"}', ".geojson", "FeatureCollection"),
        ("{not json", ".geojson", "not readable GeoJSON"),
        ('{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"LineString",'
         '"coordinates":[[0,0],[1,1]]},"properties":{}}]}', ".geojson", "not a Point"),
        ("lon,lat\n106.75,21.85\n", ".txt", "must be a .csv"),
    ],
)  # fmt: skip
def test_hotspots_bad_files_fail_readably(
    content: str, suffix: str, message: str, data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    code, _, err = run("hotspots", "--events", path, "--data-dir", data_dir)
    assert code == 2
    assert "error" in err
    assert message in err
    assert "Traceback" not in err


def test_hotspots_missing_file(data_dir: Path, tmp_path: Path) -> None:
    code, _, err = run("hotspots", "--events", tmp_path / "nope.csv", "--data-dir", data_dir)
    assert code == 2
    assert "file not found" in err


def test_hotspots_points_outside_the_city(events: pd.DataFrame, data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "outside.csv"
    far = pd.DataFrame({"lon": [105.85, 105.86], "lat": [21.03, 21.02], "ts": events["ts"][:2]})  # Hà Nội
    pd.concat([events, far]).to_csv(path, index=False)
    code, _, err = run("hotspots", "--events", path, "--data-dir", data_dir)
    assert code == 2
    assert "2 of 2152 events lie outside" in err
    assert "--drop-outside" in err
    code, _, err = run("hotspots", "--events", path, "--data-dir", data_dir, "--drop-outside")
    assert code == 0, err
    assert "dropped 2 events" in err


def test_hotspots_swapped_coordinates_get_a_hint(
    events: pd.DataFrame, data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "swapped.csv"
    events.rename(columns={"lon": "lat", "lat": "lon"}).to_csv(path, index=False)
    code, _, err = run("hotspots", "--events", path, "--data-dir", data_dir)
    assert code == 2
    assert "swapped" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "kml"], "format"),
        (["--res", "12"], "res"),
        (["--window", "soon"], "window"),
        (["--category", "cháy"], "no event of category"),
    ],
)
def test_hotspots_bad_options(extra: list[str], message: str, events_csv: Path, data_dir: Path) -> None:
    code, _, err = run("hotspots", "--events", events_csv, "--data-dir", data_dir, *extra)
    assert code == 2
    assert message in err


def test_read_events_aliases_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("Longitude,Latitude,category\n106.75,21.85,a\n")
    frame = read_events(path)
    assert frame[["lon", "lat"]].to_numpy().tolist() == [[106.75, 21.85]]
    with pytest.raises(InputError):
        read_events(tmp_path / "e.parquet")
    (tmp_path / "h.csv").write_text("lon,lat\n")
    with pytest.raises(DataError, match="no events"):
        read_events(tmp_path / "h.csv")


def test_cameras_next_json_by_population(data_dir: Path, city: City) -> None:
    code, out, err = run("cameras", "next", "--count", "5", "--format", "json", "--data-dir", data_dir)
    assert code == 0, err
    doc = json.loads(out)
    ranked = pd.DataFrame(doc["cameras"])
    assert ranked["rank"].tolist() == [1, 2, 3, 4, 5]
    connected = set(city.cameras.loc[city.cameras["connected"], "camera_id"])
    assert not set(ranked["camera_id"]) & connected
    assert (np.diff(ranked["gain"]) <= 1e-9).all()
    assert (np.diff(ranked["cum_share"]) >= 0).all()
    assert ranked["cum_share"].iloc[0] > doc["connected_share"]
    assert "population" in doc["weight"]


def test_cameras_next_by_incidents(
    events: pd.DataFrame, events_csv: Path, data_dir: Path, city: City
) -> None:
    code, out, err = run(
        "cameras", "next", "--count", "3", "--events", events_csv, "--format", "csv", "--data-dir", data_dir
    )
    assert code == 0, err
    ranked = pd.read_csv(io.StringIO(out))
    assert len(ranked) == 3
    # recompute the first pick by hand: the unconnected camera whose cells hold most uncovered events
    counts = pd.Series(h3grid.to_str(h3grid.latlng_to_cells(events["lat"], events["lon"], 9))).value_counts()
    cov = cameras.coverage_cells(city.cameras, 9)
    connected = set(city.cameras.loc[city.cameras["connected"], "camera_id"])
    covered = set(cov.loc[cov["camera_id"].isin(connected), "cell"])
    free = cov.loc[~cov["camera_id"].isin(connected) & ~cov["cell"].isin(covered)]
    gains = free.assign(w=counts.reindex(free["cell"]).fillna(0).to_numpy()).groupby("camera_id")["w"].sum()
    best = gains.max()
    assert ranked["gain"].iloc[0] == best
    assert ranked["camera_id"].iloc[0] == min(gains.index[gains == best])
    code, out, err = run("cameras", "next", "--count", "3", "--data-dir", data_dir)
    assert code == 0, err
    assert "LS-CAM-" in out


def test_cameras_next_bad_options(data_dir: Path) -> None:
    code, _, err = run("cameras", "next", "--count", "3", "--category", "x", "--data-dir", data_dir)
    assert code == 2
    assert "--events" in err
    code, _, _ = run("cameras", "next", "--count", "0", "--data-dir", data_dir)
    assert code == 2
