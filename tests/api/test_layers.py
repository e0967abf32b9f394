"""HTTP end to end: GET /health, GET /layers and GET /layers/{name} (GeoJSON, res, bbox, errors)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import shapely
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import DataSettings, Settings
from twin.city import LAYERS


@pytest.fixture(scope="module")
def client(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(
        data=DataSettings(dir=data_dir), state_dir=tmp_path_factory.mktemp("state"), replay=False
    )
    with TestClient(create_app(settings)) as c:
        yield c


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_layers_lists_every_layer_with_titles_and_sources(client: TestClient) -> None:
    r = client.get("/layers")
    assert r.status_code == 200
    body = r.json()
    assert [x["name"] for x in body] == list(LAYERS)
    by_name = {x["name"]: x for x in body}
    assert by_name["wards_2025"] | {"description": ""} == {
        "name": "wards_2025",
        "title_vi": "Phường, xã (2025)",
        "title_en": "Wards and communes (2025)",
        "description": "",
        "source": "real",
        "synthetic": False,
    }
    assert by_name["cameras"]["synthetic"] is True
    assert by_name["cells"]["source"] == "derived"


def test_wards_layer_is_geojson_with_provenance_and_old_codes(client: TestClient) -> None:
    r = client.get("/layers/wards_2025")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    assert len(doc["features"]) == 16
    assert doc["provenance"]["source"] == "real"
    props = {f["properties"]["code"]: f["properties"] for f in doc["features"]}
    assert props["05986"]["name"] == "Tam Thanh"
    assert props["05986"]["old_codes"] == "05974;05986"
    assert props["05986"]["source"] == "real"
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 106 < lon < 107.5
    assert 21 < lat < 22.5
    # the alias serves the same layer; a second request comes from the encoded cache
    assert client.get("/layers/wards").json()["features"] == doc["features"]


def test_cells_layer_with_res_and_bbox(client: TestClient) -> None:
    r8 = client.get("/layers/cells", params={"res": 8})
    assert r8.status_code == 200
    cells8 = r8.json()["features"]
    assert all(f["id"].startswith("88") for f in cells8)
    assert sum(f["properties"]["population"] for f in cells8) == 145_497
    box = (106.75, 21.84, 106.765, 21.855)
    r = client.get("/layers/cells", params={"res": 10, "bbox": ",".join(map(str, box))})
    assert r.status_code == 200
    feats = r.json()["features"]
    assert 0 < len(feats) < 200
    for f in feats:
        ring = f["geometry"]["coordinates"][0]
        assert shapely.Polygon(ring).intersects(shapely.box(*box))
    cams = client.get("/layers/cameras", params={"bbox": "0,0,1,1"}).json()
    assert cams["features"] == []
    assert cams["provenance"]["source"] == "synthetic"


def test_unknown_layer_is_404_naming_the_known_ones(client: TestClient) -> None:
    r = client.get("/layers/buildings")
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == "not_found"
    assert body["detail"][0]["field"] == "name"
    assert "wards_2025" in body["detail"][0]["reason"]


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"res": 12}, "res", "between 7 and 11"),
        ({"res": 6}, "res", "between 7 and 11"),
        ({"bbox": "106.9,21.8,106.7,21.9"}, "bbox", "west"),
        ({"bbox": "106.7,21.9,106.8,21.8"}, "bbox", "south"),
        ({"bbox": "106.7,21.8,190,21.9"}, "bbox", "±180"),
        ({"bbox": "106.7,-95,106.8,21.9"}, "bbox", "±90"),
        ({"bbox": "1,2,3"}, "bbox", "4 numbers"),
        ({"bbox": "a,b,c,d"}, "bbox", "numbers"),
        ({"bbox": "nan,21.8,106.8,21.9"}, "bbox", "finite"),
    ],
)
def test_bad_res_or_bbox_is_422_with_field_and_reason(
    client: TestClient, params: dict[str, object], field: str, reason: str
) -> None:
    r = client.get("/layers/cells", params=params)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["field"] == field
    assert reason in detail["reason"]


def test_non_integer_res_is_422(client: TestClient) -> None:
    r = client.get("/layers/cells", params={"res": "nine"})
    assert r.status_code == 422
    assert "res" in r.text


def test_openapi_documents_the_layer_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/layers" in paths
    assert "/layers/{name}" in paths


def test_layer_routes_conform_to_their_openapi(client: TestClient) -> None:
    """Generated requests to /layers never cause a 5xx and answers match the documented schema."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app).include(path_regex=r"^/layers")
    tested = []
    for result in schema.get_all_operations():
        op = result.ok()
        tested.append(op.label)

        @given(case=op.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ]
            )

        run()
    assert sorted(tested) == ["GET /layers", "GET /layers/{name}"]
