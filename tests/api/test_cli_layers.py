"""CLI end to end: `twin layers list`, `twin export` (files parsed back, errors, atomicity), `twin serve`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from api.cli import serve as serve_mod
from api.cli.base import app
from twin.city import LAYERS


@pytest.fixture
def runner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TWIN_DATA_DIR", str(data_dir))
    monkeypatch.delenv("TWIN_ROAD_SOURCE", raising=False)
    monkeypatch.delenv("TWIN_H3_RES", raising=False)
    return CliRunner()


def test_layers_list_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["layers", "list", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == list(LAYERS)
    assert {r["name"]: r["source"] for r in records}["roads"] == "synthetic"
    assert all({"title_vi", "title_en", "synthetic"} <= set(r) for r in records)


def test_layers_list_table(runner: CliRunner) -> None:
    result = runner.invoke(app, ["layers", "list"])
    assert result.exit_code == 0, result.output
    assert "camera_coverage" in result.output
    assert "Sông Kỳ Cùng" in result.output


def test_export_wards_geojson_is_parsed_back(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "wards.geojson"
    result = runner.invoke(app, ["export", "wards", "--format", "geojson", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    assert doc["provenance"]["name"] == "wards_2025"
    props = {f["properties"]["code"]: f["properties"] for f in doc["features"]}
    assert len(props) == 16
    assert props["05977"]["old_codes"] == "05977;05980;05992;06247"
    assert props["05977"]["source"] == "real"
    back = gpd.read_file(out)
    assert len(back) == 16
    assert back.crs.to_epsg() == 4326
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # shareable, not owner-only


def test_export_cells_geoparquet_and_csv(runner: CliRunner, tmp_path: Path) -> None:
    pq_out = tmp_path / "cells.parquet"
    result = runner.invoke(app, ["export", "cells", "-f", "geoparquet", "--res", "8", "-o", str(pq_out)])
    assert result.exit_code == 0, result.output
    meta = pq.read_schema(pq_out).metadata
    assert b"geo" in meta
    assert json.loads(meta[b"provenance"])["params"]["res"] == 8
    cells = gpd.read_parquet(pq_out)
    assert cells["population"].sum() == 145_497
    csv_out = tmp_path / "cameras.csv"
    result = runner.invoke(app, ["export", "cameras", "--format", "csv", "--out", str(csv_out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(csv_out, encoding="utf-8-sig")
    assert len(df) == 238
    assert set(df["source"]) == {"synthetic"}


def test_export_with_bbox(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "cams.geojson"
    result = runner.invoke(
        app, ["export", "cameras", "--bbox", "106.75,21.84,106.765,21.855", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert 0 < len(json.loads(out.read_text())["features"]) < 238


def test_empty_export_warns_and_fails_unless_allowed(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "none.geojson"
    far = ["export", "cameras", "--bbox", "105.0,20.0,105.01,20.01", "--out", str(out)]
    result = runner.invoke(app, far)
    assert result.exit_code != 0
    assert "warning" in result.output
    assert "no feature" in result.output
    assert "--allow-empty" in result.output
    assert not out.exists()
    result = runner.invoke(app, [*far, "--allow-empty"])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output
    assert "0 features" in result.output
    assert json.loads(out.read_text())["features"] == []


def test_export_counts_one_feature_and_accepts_the_parquet_alias(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "one.parquet"
    one = [
        "export",
        "cameras",
        "--bbox",
        "106.7578,21.8478,106.7579,21.8479",
        "-f",
        "parquet",
        "-o",
        str(out),
    ]
    result = runner.invoke(app, [*one, "--allow-empty"])
    assert result.exit_code == 0, result.output
    n = len(gpd.read_parquet(out))
    text = " ".join(result.output.split())
    assert f"({n} feature{'' if n == 1 else 's'}, geoparquet" in text
    assert "1 features" not in text


def test_csv_export_has_no_unnamed_index_column(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "wards.csv"
    result = runner.invoke(app, ["export", "wards", "-f", "csv", "-o", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert not [c for c in df.columns if c.startswith("Unnamed")]
    assert "geometry_wkt" in df.columns
    assert "06187" in set(df["code"])  # the ward code index is a named column


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "buildings"], "unknown layer 'buildings'"),
        (["export", "wards", "--format", "shp"], "format: must be one of geojson"),
        (["export", "cells", "--res", "12"], "res: must be between 7 and 11"),
        (["export", "cells", "--bbox", "106.9,21.8,106.7,21.9"], "bbox: west"),
    ],
)
def test_export_errors_are_one_readable_line_and_leave_no_file(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "x.out"
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code != 0
    text = " ".join(result.output.split())
    assert text.startswith("error:")
    assert message in text
    assert "Traceback" not in result.output
    assert not out.exists()


def test_export_without_data_says_how_to_fetch(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["export", "wards", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "w.geojson")]
    )
    assert result.exit_code != 0
    assert "twin data fetch" in result.output
    assert not (tmp_path / "w.geojson").exists()


def test_failed_write_leaves_no_partial_file(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "denied", str(tmp_path / "w.parquet"))

    monkeypatch.setattr("gis_data.io.pq.write_table", boom)
    result = runner.invoke(app, ["export", "wards", "-f", "geoparquet", "-o", str(tmp_path / "w.parquet")])
    assert result.exit_code != 0
    assert "permission denied" in result.output
    assert list(tmp_path.iterdir()) == []


def test_serve_builds_the_city_and_runs_uvicorn(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}

    def fake_run(api: Any, host: str, port: int, log_level: str, **options: Any) -> None:
        calls.update(api=api, host=host, port=port, **options)

    monkeypatch.setattr(serve_mod.uvicorn, "run", fake_run)
    result = runner.invoke(app, ["serve", "--port", "8765", "--no-replay"])
    assert result.exit_code == 0, result.output
    assert calls["host"] == "127.0.0.1"
    assert calls["port"] == 8765
    assert calls["proxy_headers"] is False  # no trusted proxy configured: X-Forwarded-For ignored
    api = calls["api"]
    assert api.state.city.summary()["cameras"] == 238
    assert "/layers/{name}" in api.openapi()["paths"]
