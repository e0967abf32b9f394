"""NGSI-LD as its clients read it: Smart Data Models `Alert` validity, the query API, content
negotiation and the spec's errors — through HTTP on the real app and store.

Every Alert is validated with `jsonschema` (Draft 2020-12, formats checked) against the Alert model as
the PyPI package ``pysmartdatamodels`` ships it (a dev dependency, so ``make test`` always runs this):
the package carries the attribute database of every data model (each attribute's type, format and
enum, and the model's ``required`` list) and fetches ``schema.json`` itself only over the network, which
tests have not. That database has no machine-readable ``subCategory`` enum (only a description, older
than schema.json), so the ``subCategory`` values are checked where the schema files are at hand —
``$TWIN_SDM_SCHEMAS`` or ``../shared/standards/smart-data-models/`` (dataModel.Alert with the schemas it
references, CC BY 4.0; never kept in this repository) — where every check runs again.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import jsonschema
import pysmartdatamodels as sdm  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient
from referencing import Registry, Resource

from api.schemas import categories
from api.services import ngsi
from api.store.base import AlertRecord, now_utc
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.support.events import event
from twin.city import City
from twin.crs import METRIC, WGS84

ROOT = Path(__file__).resolve().parents[2]
SDM_DIR = Path(os.environ.get("TWIN_SDM_SCHEMAS", ROOT.parent / "shared" / "standards" / "smart-data-models"))
ALERT_SCHEMA_ID = "https://smart-data-models.github.io/dataModel.Alert/alert/schema.json"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
LD = {"Accept": "application/ld+json"}


def _package_alert_schema() -> dict[str, Any]:
    """The Alert schema built from what ``pysmartdatamodels`` ships (its attribute database)."""
    meta = sdm.list_datamodel_metadata("Alert", "dataModel.Alert")
    rows = [
        a for a in sdm.load_all_attributes()
        if a.get("repoName") == "dataModel.Alert" and a.get("dataModel") == "Alert" and "parentId" not in a
    ]  # fmt: skip
    props: dict[str, Any] = {}
    geometry_types: list[str] = []
    for a in rows:
        name = a["property"]
        if name in ("bbox", "coordinates"):  # members of the GeoJSON variants of `location`
            continue
        if name == "type" and a.get("typeNGSI") is None:  # a GeoJSON variant's own `type`
            geometry_types += a.get("enum", [])
            continue
        prop: dict[str, Any] = {"type": a["type"]}
        if "format" in a:
            prop["format"] = a["format"]
        if "enum" in a:
            # Only machine-readable enums: subCategory's list is in its description alone, and older
            # than schema.json's (no crowdRisk), so subCategory is checked with the schema files only.
            prop["enum"] = a["enum"]
        props.setdefault(name, prop)
    props["location"] = {
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {"type": {"enum": geometry_types}, "coordinates": {"type": "array"}},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": meta["$id"],
        "type": "object",
        "required": meta["required"],
        "properties": props,
    }


def _files_alert_validator() -> jsonschema.protocols.Validator:
    """A validator of the Alert schema files, their $refs resolved from the local copies."""
    files = sorted(SDM_DIR.rglob("*.json")) if SDM_DIR.is_dir() else []
    if not files:
        pytest.skip(f"no Smart Data Models schema files in {SDM_DIR} (set TWIN_SDM_SCHEMAS)")
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in files]
    registry: Registry[Any] = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)
    schema = registry.contents(ALERT_SCHEMA_ID)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=["pysmartdatamodels", "schema files"])
def alert_validator(request: pytest.FixtureRequest) -> jsonschema.protocols.Validator:
    """A validator of the Smart Data Models Alert schema (from the PyPI package, or the schema files)."""
    if request.param == "schema files":
        return _files_alert_validator()
    schema = _package_alert_schema()
    cls = jsonschema.Draft202012Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_the_package_schema_refuses_what_the_model_does_not_allow() -> None:
    """The schema from the package has teeth: the faults issue 18 found are refused."""
    schema = _package_alert_schema()
    assert schema["$id"] == ALERT_SCHEMA_ID
    assert {"alertSource", "category", "dateIssued"} <= set(schema["required"])
    cls = jsonschema.Draft202012Validator
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    good = {
        "id": "urn:ngsi-ld:Alert:x", "type": "Alert", "category": "traffic", "subCategory": "trafficJam",
        "alertSource": "urn:ngsi-ld:Device:LS-CAM-001", "dateIssued": "2026-01-01T00:00:00Z",
        "severity": "high", "location": {"type": "Point", "coordinates": [106.76, 21.85]},
    }  # fmt: skip
    assert list(v.iter_errors(good)) == []
    for bad, path in [
        ({k: x for k, x in good.items() if k != "alertSource"}, ""),  # required
        ({**good, "category": "crowding"}, "category"),  # our own code, not the model's
        ({**good, "severity": "urgent"}, "severity"),
        ({**good, "dateIssued": "yesterday"}, "dateIssued"),
        ({**good, "location": {"type": "Circle", "coordinates": []}}, "location/type"),
    ]:
        assert ["/".join(map(str, e.absolute_path)) for e in v.iter_errors(bad)] == [path], bad


def _problem(r: Any, status: int, kind: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["type"] == ERR + kind
    assert body["title"] == kind
    assert body["status"] == status
    if field is not None:
        assert body["field"] == field
        assert body["detail"].startswith(f"{field}: ")
    return body


def _post_every_category(client: TestClient, connected: list[str]) -> list[dict[str, Any]]:
    """Post one event of every event category of the table (each from its own camera)."""
    bodies = []
    for i, code in enumerate(categories.table().event_codes):
        ev = event(i, connected[i], category=code, severity="high" if i % 2 else "low")
        assert client.post("/events", json=ev).status_code == 200
        bodies.append(ev)
    return bodies


def test_every_alert_is_valid_smart_data_models(
    client: TestClient, connected: list[str], alert_validator: jsonschema.protocols.Validator
) -> None:
    bodies = _post_every_category(client, connected)
    # Three congestion events in one cell: the congestion_cluster rule fires (threshold 3).
    client.post("/events/batch", json={"events": [event(100 + i, connected[0]) for i in range(3)]})
    ents = client.get("/ngsi-ld/v1/entities", params={"type": "Alert", "limit": 1000}).json()
    rules = [e["data"]["value"]["rule"] for e in ents if "rule" in e["data"]["value"]]
    assert rules == ["congestion_cluster"]
    assert len(ents) == len(bodies) + 3 + 1
    # A camera_silent alert as the rule makes it (the test does not wait 5 minutes of silence).
    silent = AlertRecord(
        alert_id="silent-LS-CAM-004-1", rule="camera_silent", key="LS-CAM-004", status="open",
        severity="medium",
        title="Camera LS-CAM-004 silent for 5 min", created_at=now_utc(), updated_at=now_utc(),
        camera_id="LS-CAM-004", details={"silent_min": 5},
    )  # fmt: skip
    cluster_without_camera = AlertRecord(
        alert_id="cong-1", rule="congestion_cluster", key="8941a2a4c2fffff", status="open", severity="high",
        title="Congestion", created_at=now_utc() - timedelta(minutes=1), updated_at=now_utc(),
        lon=106.7578, lat=21.8478,
    )  # fmt: skip
    simplified = [ngsi.simplify(e) for e in ents] + [
        ngsi.simplify(ngsi.alert_entity(a, context=False)) for a in (silent, cluster_without_camera)
    ]
    for kv in simplified:
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in alert_validator.iter_errors(kv)
        ]
        assert errors == [], (kv["id"], errors)
        assert kv["alertSource"].startswith("urn:ngsi-ld:")
    # keyValues from the API is the same simplified form.
    kv_api = client.get(
        "/ngsi-ld/v1/entities", params={"type": "Alert", "limit": 1000, "options": "keyValues"}
    )
    assert kv_api.json() == simplified[: len(ents)]
    # Every row of the table (events and Open311 services alike) maps to a valid category/subCategory.
    for row in categories.table().rows:
        kv = {**simplified[0], "category": row.alert.category}
        kv.pop("subCategory", None)
        if row.alert.sub_category is not None:
            kv["subCategory"] = row.alert.sub_category
        assert list(alert_validator.iter_errors(kv)) == [], row.code


def test_accept_negotiation_and_link_header(client: TestClient, connected: list[str]) -> None:
    ev = event(1, connected[0])
    client.post("/events", json=ev)
    plain = client.get(
        "/ngsi-ld/v1/entities", params={"type": "Alert"}, headers={"Accept": "application/json"}
    )
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("application/json")
    (ent,) = plain.json()
    assert "@context" not in ent
    link = plain.headers["link"]
    assert link.startswith("<http://testserver/ngsi-ld/v1/context.jsonld>;")
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in link
    assert 'type="application/ld+json"' in link
    ctx = client.get("/ngsi-ld/v1/context.jsonld")
    assert ctx.headers["content-type"].startswith("application/ld+json")
    assert ctx.json() == {"@context": ngsi.CONTEXT}
    ld = client.get("/ngsi-ld/v1/entities", params={"type": "Alert"}, headers=LD)
    assert ld.headers["content-type"].startswith("application/ld+json")
    assert "link" not in ld.headers
    assert ld.json()[0]["@context"] == ngsi.CONTEXT
    one = client.get(f"/ngsi-ld/v1/entities/{ent['id']}", headers={"Accept": "application/json"})
    assert "@context" not in one.json()
    assert one.headers["link"] == link
    html = client.get("/ngsi-ld/v1/entities", params={"type": "Alert"}, headers={"Accept": "text/html"})
    _problem(html, 406, "NotAcceptable", "Accept")


def test_errors_are_the_specs(client: TestClient) -> None:
    # An unknown type is no error: it matches nothing.
    r = client.get("/ngsi-ld/v1/entities", params={"type": "Car"})
    assert r.status_code == 200
    assert r.json() == []
    _problem(client.get("/ngsi-ld/v1/entities/not%20a%20uri"), 400, "BadRequestData", "id")
    _problem(client.get("/ngsi-ld/v1/entities", params={"id": "no-uri"}), 400, "BadRequestData", "id")
    _problem(client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Alert:nope"), 404, "ResourceNotFound", "id")
    _problem(client.get("/ngsi-ld/v1/entities"), 400, "BadRequestData", "type")
    poly, pt = {"georel": "within", "geometry": "Polygon"}, {"georel": "within", "geometry": "Point"}
    for params, field in [
        ({"type": "Alert", "orderBy": "dateIssued"}, "orderBy"),
        ({"type": "Alert", "limit": "many"}, "limit"),
        ({"type": "Alert", "limit": "5000"}, "limit"),
        ({"type": "Alert", "offset": "-1"}, "offset"),
        ({"type": "Alert", "limit": "0"}, "limit"),
        ({"type": "Alert", "count": "yes"}, "count"),
        ({"type": "Alert", "options": "sysAttrs"}, "options"),
        ({"type": "Alert", "idPattern": "urn:.*"}, "idPattern"),
        ({"type": "Alert", "q": "severity~=hi.*"}, "q"),
        ({"type": "Alert", "q": "data.rule==x"}, "q"),
        ({"type": "Alert", "q": "(severity==high"}, "q"),
        ({"type": "Alert", "q": "severity=="}, "q"),
        ({"type": "Alert", "georel": "near;maxDistance==100"}, "geometry"),
        ({"type": "Alert", "georel": "near", "geometry": "Point", "coordinates": "[106.75,21.85]"}, "georel"),
        ({"type": "Alert", "georel": "around", "geometry": "Point", "coordinates": "[1,2]"}, "georel"),
        ({"type": "Alert", "georel": "within", "geometry": "Circle", "coordinates": "[1,2]"}, "geometry"),
        ({"type": "Alert", **poly, "coordinates": "[1,2"}, "coordinates"),
        ({"type": "Alert", **poly, "coordinates": "[[1,2]]"}, "coordinates"),
        ({"type": "Alert", **pt, "coordinates": "[1,2]", "geoproperty": "x"}, "geoproperty"),
    ]:  # fmt: skip
        _problem(client.get("/ngsi-ld/v1/entities", params=params), 400, "BadRequestData", field)
    _problem(client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Alert:x", params={"limit": "3"}), 400,
             "BadRequestData", "limit")  # fmt: skip


def test_paging_count_attrs_and_q(client: TestClient, connected: list[str]) -> None:
    bodies = _post_every_category(client, connected)
    n = len(bodies)
    base = {"type": "Alert", "options": "keyValues"}
    every = client.get("/ngsi-ld/v1/entities", params={**base, "limit": 1000}).json()
    assert len(every) == n
    ids = [e["id"] for e in every]
    # offset / limit / count
    r = client.get("/ngsi-ld/v1/entities", params={**base, "limit": 2, "offset": 1, "count": "true"})
    assert [e["id"] for e in r.json()] == ids[1:3]
    assert r.headers["NGSILD-Results-Count"] == str(n)
    only_count = client.get("/ngsi-ld/v1/entities", params={**base, "limit": 0, "count": "true"})
    assert only_count.json() == []
    assert only_count.headers["NGSILD-Results-Count"] == str(n)
    assert "NGSILD-Results-Count" not in client.get("/ngsi-ld/v1/entities", params=base).headers
    default = client.get("/ngsi-ld/v1/entities", params=base).json()
    assert len(default) == min(n, 20)
    # attrs: id and type always, then only the attributes asked for
    r = client.get("/ngsi-ld/v1/entities", params={**base, "attrs": "severity,category", "limit": 1000})
    assert {tuple(sorted(e)) for e in r.json()} == {("category", "id", "severity", "type")}
    # q: and, or, parentheses, lists, compound members, existence, comparisons on date-times
    high = [b for b in bodies if b["severity"] == "high"]

    def q(expr: str) -> list[str]:
        got = client.get("/ngsi-ld/v1/entities", params={**base, "q": expr, "limit": 1000})
        assert got.status_code == 200, got.text
        return sorted(e["data"]["category"] for e in got.json())

    assert q('severity=="high"') == sorted(b["category"] for b in high)
    assert q("severity==high;category==traffic") == sorted(
        b["category"] for b in high if categories.table().by_code[b["category"]].alert.category == "traffic"
    )
    assert q("data[category]==congestion|data[category]==flooding") == ["congestion", "flooding"]
    assert q('(data[category]=="congestion","accident");severity!=high') == sorted(
        b["category"]
        for b in bodies
        if b["category"] in ("congestion", "accident") and b["severity"] != "high"
    )
    assert q("subCategory") == sorted(
        b["category"] for b in bodies if categories.table().by_code[b["category"]].alert.sub_category
    )
    assert q("dateIssued>2020-01-01T00:00:00Z") == sorted(b["category"] for b in bodies)
    assert q("dateIssued<2020-01-01T00:00:00Z") == []
    assert q("data[synthetic]==false") == sorted(b["category"] for b in bodies)
    # id list; type list with an unknown type
    pick = ",".join(ids[:2])
    assert [e["id"] for e in client.get("/ngsi-ld/v1/entities", params={"id": pick}).json()] == sorted(
        ids[:2]
    )
    both = client.get("/ngsi-ld/v1/entities", params={"type": "Alert,Car", "limit": 1000}).json()
    assert len(both) == n


def test_geo_queries(client: TestClient, connected: list[str], city: City) -> None:
    cams = city.cameras.set_index("camera_id")
    a, b = connected[0], connected[-1]
    client.post("/events", json=event(1, a))
    client.post("/events", json=event(2, b))
    lon, lat = float(cams.loc[a].geometry.x), float(cams.loc[a].geometry.y)
    base = {
        "type": "Alert",
        "options": "keyValues",
        "geometry": "Point",
        "coordinates": json.dumps([lon, lat]),
    }

    def cams_of(params: dict[str, str]) -> set[str]:
        r = client.get("/ngsi-ld/v1/entities", params={**base, **params})
        assert r.status_code == 200, r.text
        return {e["alertSource"].removeprefix("urn:ngsi-ld:Device:") for e in r.json()}

    pa, pb = gpd.GeoSeries([cams.loc[a].geometry, cams.loc[b].geometry], crs=WGS84).to_crs(METRIC)
    d_ab = float(pa.distance(pb))
    assert d_ab > 500
    assert cams_of({"georel": "near;maxDistance==200"}) == {a}
    assert cams_of({"georel": f"near;maxDistance=={d_ab + 500:.0f}"}) == {a, b}
    assert cams_of({"georel": "near;minDistance==200"}) == {b}
    box = [[lon - 0.002, lat - 0.002], [lon + 0.002, lat - 0.002], [lon + 0.002, lat + 0.002],
           [lon - 0.002, lat + 0.002], [lon - 0.002, lat - 0.002]]  # fmt: skip
    poly = {"geometry": "Polygon", "coordinates": json.dumps([box])}
    assert cams_of({"georel": "within", **poly}) == {a}
    assert cams_of({"georel": "disjoint", **poly}) == {b}
    assert cams_of({"georel": "intersects", **poly, "q": "severity==low"}) == set()


def test_deeply_nested_q_is_400_not_a_crash(client: TestClient) -> None:
    deep = "(" * 3000 + "severity==high" + ")" * 3000
    r = client.get("/ngsi-ld/v1/entities", params={"type": "Alert", "q": deep})
    _problem(r, 400, "BadRequestData", "q")
    ok = "(" * 5 + "severity==high" + ")" * 5
    assert client.get("/ngsi-ld/v1/entities", params={"type": "Alert", "q": ok}).status_code == 200
