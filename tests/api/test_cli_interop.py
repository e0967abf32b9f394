"""Researchers' round trip: `twin hotspots` reads the API's own exports and the shipped sample file."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from typer.testing import CliRunner

from api.cli.analytics_lib import read_events
from api.cli.base import app
from gis_data import io

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "events" / "sample_events.geojson"


def run(*args: str | Path) -> tuple[int, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


def test_the_shipped_sample_is_small_synthetic_and_shaped_like_get_events() -> None:
    doc = json.loads(SAMPLE.read_text(encoding="utf-8"))
    assert SAMPLE.stat().st_size < 200_000
    assert doc["synthetic"] is True
    assert doc["provenance"]["source"] == "synthetic"
    feats = doc["features"]
    assert len(feats) == 160
    assert all(f["properties"]["synthetic"] is True for f in feats)
    assert all(f["properties"]["start_time"].endswith("Z") for f in feats)  # stored times are UTC
    assert {"event_id", "camera_id", "category", "start_time", "end_time", "cell"} <= set(
        feats[0]["properties"]
    )


def test_start_time_is_the_time_and_it_is_utc(tmp_path: Path) -> None:
    events = read_events(SAMPLE)
    assert str(events["ts"].dt.tz) == "UTC"
    assert events["ts"].min() >= pd.Timestamp("2026-11-19T23:00:00Z")  # 06:00 on 20 Nov in UTC+7
    naive = tmp_path / "naive.csv"
    pd.DataFrame({"lon": [106.76], "lat": [21.85], "start_time": ["2026-11-20 07:30:00"]}).to_csv(
        naive, index=False
    )
    assert read_events(naive)["ts"].iloc[0] == pd.Timestamp("2026-11-20T07:30:00Z")  # no offset: UTC


def test_hotspots_reads_the_sample_geojson_and_its_csv_export(data_dir: Path, tmp_path: Path) -> None:
    code, out = run("hotspots", "--events", SAMPLE, "--data-dir", data_dir, "--window", "1h", "--top", "5")
    assert code == 0, out
    assert "160 events" in out
    assert "Vietnam time (UTC+7)" in " ".join(out.split())
    assert "no ts column" not in out
    # the same events as the project's CSV export (geometry_wkt, start_time, no index column)
    events = read_events(SAMPLE)
    gdf = gpd.GeoDataFrame(
        events.drop(columns=["lon", "lat"]).assign(start_time=events["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")),
        geometry=shapely.points(events["lon"], events["lat"]),
        crs=4326,
    ).drop(columns=["ts"])
    csv = io.write(gdf, tmp_path / "events.csv", "csv", prov={"source": "synthetic", "synthetic": True})
    header = csv.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
    assert "geometry_wkt" in header
    assert "start_time" in header
    assert header[0] != ""  # no unnamed index column
    code, out = run("hotspots", "--events", csv, "--data-dir", data_dir, "--window", "1h", "--top", "5")
    assert code == 0, out
    assert "160 events" in out
