"""GET /layers/{name}?simplify&fields: the display variant the viewer draws, next to the full layer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import DataSettings, Settings
from twin.crs import METRIC


@pytest.fixture(scope="module")
def client(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        data=DataSettings(dir=data_dir), state_dir=tmp_path_factory.mktemp("state"), replay=False
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _frame(doc: dict[str, Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame.from_features(doc["features"], crs="EPSG:4326").to_crs(METRIC)


def _decimals(doc: dict[str, Any]) -> int:
    """Return the most decimals any coordinate of the collection carries."""
    most = 0
    for f in doc["features"]:
        for x in shapely.get_coordinates(shapely.from_geojson(str(f["geometry"]).replace("'", '"'))).ravel():
            text = repr(float(x))
            most = max(most, len(text.split(".")[1]) if "." in text else 0)
    return most


def test_wards_display_variant_is_close_to_the_full_layer(client: TestClient) -> None:
    full = client.get("/layers/wards_2025").json()
    r = client.get("/layers/wards_2025", params={"simplify": 2})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    shown = r.json()
    assert "display" not in full  # the researchers' export is untouched
    info = shown["display"]
    assert info["simplify_m"] == 2
    assert info["decimals"] == 5
    assert info["duplicates_dropped"] == 0
    assert info["coordinates"] < 0.7 * info["coordinates_full"]
    assert len(r.content) < 0.6 * len(client.get("/layers/wards_2025").content)
    assert [f["id"] for f in shown["features"]] == [f["id"] for f in full["features"]]
    assert [f["properties"] for f in shown["features"]] == [f["properties"] for f in full["features"]]
    assert shown["provenance"] == full["provenance"]
    assert _decimals(shown) <= 5
    a, b = _frame(full), _frame(shown)
    for g_full, g_shown in zip(a.geometry, b.geometry, strict=True):
        # Within the tolerance plus the rounding (5 decimals ≈ 1.1 m): nothing a map at city scale shows.
        # Slivers smaller than that may go (one ward has a 300 m² second part).
        near = 2 + 1.2
        assert g_full.buffer(near).contains(g_shown)
        parts = [p for p in shapely.get_parts(g_full) if p.area > 1000]
        assert g_shown.buffer(near).contains(shapely.union_all(parts))
        assert g_full.symmetric_difference(g_shown).area / g_full.area < 0.002
        assert g_shown.is_valid


def test_roads_display_keeps_each_line_once_with_the_asked_fields(client: TestClient) -> None:
    full = client.get("/layers/roads").json()
    r = client.get("/layers/roads", params={"simplify": 2, "fields": "road_class"})
    assert r.status_code == 200
    shown = r.json()
    info = shown["display"]
    assert info["fields"] == ["road_class"]
    for f in shown["features"]:
        assert set(f["properties"]) == {"road_class", "source", "synthetic"}
    # Both directions of a two-way street become one line; every (class, line) of the network is there.
    assert len(shown["features"]) + info["duplicates_dropped"] == len(full["features"])
    assert info["duplicates_dropped"] > 0

    # Every line of the network is drawn, with its class, within the rounding (≈ 1.1 m).
    a, b = _frame(full), _frame(shown)
    tree = shapely.STRtree(b.geometry.to_numpy())
    for g, cls in zip(a.geometry, a["road_class"], strict=True):
        near = tree.query(g, predicate="dwithin", distance=1.5)
        assert any(
            b["road_class"].iat[i] == cls and shapely.hausdorff_distance(g, b.geometry.iat[i]) < 1.5
            for i in near
        ), (cls, g.wkt)


def test_display_variant_with_bbox(client: TestClient) -> None:
    box = "106.74,21.83,106.77,21.86"
    r = client.get("/layers/roads", params={"bbox": box, "simplify": 1, "fields": "road_class,name"})
    assert r.status_code == 200
    doc = r.json()
    assert doc["features"]
    assert doc["display"]["fields"] == ["road_class", "name"]
    full = client.get("/layers/roads", params={"bbox": box}).json()
    assert len(doc["features"]) < len(full["features"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"simplify": 0}, "simplify"),
        ({"simplify": -3}, "simplify"),
        ({"simplify": 500}, "simplify"),
        ({"simplify": "nan"}, "simplify"),
        ({"fields": "road_class,nope"}, "fields"),
        ({"fields": " , "}, "fields"),
        ({"fields": "nope", "bbox": "106.74,21.83,106.77,21.86"}, "fields"),
    ],
)
def test_bad_display_parameters_are_422_with_the_field(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    r = client.get("/layers/roads", params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["detail"][0]["field"] == field
    assert body["detail"][0]["reason"]
