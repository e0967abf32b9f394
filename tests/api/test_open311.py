"""Citizen reports through Open311 GeoReport v2: XML and JSON, form posts, public reading, the spec's errors.

A GeoReport client no one here wrote (``georeport`` from PyPI) reads what a spec-style form post
created, in both formats, from a twin served by uvicorn.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from defusedxml import ElementTree
from fastapi.testclient import TestClient
from georeport import GeoReport

from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected, server)
from tests.api.test_events_support import ThreadServer, assert_error_shape, assert_georeport_error
from tests.support.auth import key_headers

REPORT = {
    "service_code": "illegal_dumping",
    "lat": 21.8530,
    "long": 106.7610,
    "address_string": "Bờ sông Kỳ Cùng gần chợ Kỳ Lừa",
    "description": "Rác thải đổ trộm ven sông",
    "email": "nguoidan@example.org",
    "first_name": "Lan",
    "phone": "+84 912 345 678",
    "consent": True,
}
SECRETS = ("nguoidan@example.org", "Lan", "912 345")


def _xml(r: httpx.Response | Any, root: str) -> Any:
    assert r.headers["content-type"] == "text/xml; charset=utf-8", r.headers
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    doc = ElementTree.fromstring(r.content)
    assert doc.tag == root
    return doc


def test_services_and_definitions_in_json_and_xml(client: TestClient) -> None:
    services = client.get("/open311/v2/services.json").json()
    codes = {s["service_code"] for s in services}
    assert {"public_order", "environmental_sanitation", "illegal_dumping"} <= codes
    po = next(s for s in services if s["service_code"] == "public_order")
    assert (po["service_name_vi"], po["service_name_en"]) == ("Trật tự công cộng", "Public order")
    assert po["metadata"] is True
    doc = _xml(client.get("/open311/v2/services.xml"), "services")
    assert {s.findtext("service_code") for s in doc.findall("service")} == codes
    assert doc.find("service/metadata").text == "true"
    definition = client.get("/open311/v2/services/illegal_dumping.json").json()
    assert definition["service_code"] == "illegal_dumping"
    severity = next(a for a in definition["attributes"] if a["code"] == "severity")
    assert severity["datatype"] == "singlevaluelist"
    assert {v["key"] for v in severity["values"]} == {"minor", "serious", "dangerous"}
    doc = _xml(client.get("/open311/v2/services/illegal_dumping.xml"), "service_definition")
    keys = [v.text for v in doc.findall("attributes/attribute[code='severity']/values/value/key")]
    assert keys == ["minor", "serious", "dangerous"]
    # The spec's errors, in the format asked for.
    assert_georeport_error(client.get("/open311/v2/services/ufo.json"), 404, "service")
    doc = _xml(client.get("/open311/v2/services/ufo.xml"), "errors")
    assert doc.findtext("error/code") == "404"
    assert "ufo" in doc.findtext("error/description")
    assert_georeport_error(
        client.get("/open311/v2/services.json", params={"jurisdiction_id": "hanoi"}), 400, "jurisdiction_id"
    )
    assert client.get("/open311/v2/services.json", params={"jurisdiction_id": "langson"}).status_code == 200


def test_discovery_names_the_endpoint_and_both_formats(client: TestClient) -> None:
    doc = client.get("/open311/discovery.json").json()
    (ep,) = doc["endpoints"]
    assert ep["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert ep["url"].endswith("/open311/v2")
    assert set(ep["formats"]) == {"text/xml", "application/json"}
    xml = _xml(client.get("/open311/discovery.xml"), "discovery")
    assert [f.text for f in xml.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]
    assert client.get(ep["url"] + "/services.xml").status_code == 200


def test_form_post_with_api_key_attributes_and_media_url(client: TestClient) -> None:
    reporter = key_headers(client.app, "reporter", "lan")["X-API-Key"]
    anon = TestClient(client.app)
    form = {
        "api_key": reporter,
        "jurisdiction_id": "langson",
        "service_code": "illegal_dumping",
        "lat": "21.8530",
        "long": "106.7610",
        "address_string": "Bờ sông Kỳ Cùng",
        "description": "Rác thải đổ trộm ven sông",
        "email": "nguoidan@example.org",
        "first_name": "Lan",
        "phone": "",  # blank optional fields, as form clients send them, are absent
        "consent": "true",
        "media_url": "https://example.org/anh/rac.jpg",
        "attribute[severity]": "serious",
        "attribute[ongoing]": "yes",
    }
    r = anon.post("/open311/v2/requests.xml", data=form)
    assert r.status_code == 201, r.text
    rid = _xml(r, "service_requests").findtext("request/service_request_id")
    stored = client.app.state.live.store.get_report(rid)  # type: ignore[attr-defined]
    assert stored.attributes == {"severity": "serious", "ongoing": "yes"}
    assert stored.media_url == form["media_url"]
    assert stored.contact == {"email": "nguoidan@example.org", "first_name": "Lan"}
    assert client.app.state.live.store.report_owner(rid) == reporter.split("_")[1]  # type: ignore[attr-defined]
    # Its reporter (and staff) read its words; anyone reads the public view.
    (own,) = anon.get(
        f"/open311/v2/requests/{rid}.json", params={"api_key": "ignored"}, headers={"X-API-Key": reporter}
    ).json()
    assert (own["media_url"], own["description"]) == (form["media_url"], form["description"])
    (public,) = anon.get(f"/open311/v2/requests/{rid}.json").json()
    assert (public["status"], public["service_code"], public["ward_code"]) == (
        "open",
        "illegal_dumping",
        own["ward_code"],
    )
    assert public["description"] is None
    assert public["address"] is None
    assert public["media_url"] is None
    for text in (anon.get("/open311/v2/requests.xml").text, anon.get("/open311/v2/requests.json").text):
        assert rid in text
        for secret in (*SECRETS, "rac.jpg", "Bờ sông"):
            assert secret not in text
    # A wrong key in the form is refused as any wrong key is, in GeoReport's shape.
    bad = anon.post("/open311/v2/requests.json", data={**form, "api_key": "lst_000000000000_nope"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].startswith("Bearer")
    assert set(bad.json()[0]) == {"code", "description"}
    assert_georeport_error(
        anon.post("/open311/v2/requests.json", data={**form, "api_key": ""}), 401, "credentials"
    )


def test_bad_form_posts_are_400_naming_the_field_and_store_nothing(client: TestClient) -> None:
    form = {"service_code": "illegal_dumping", "lat": "21.853", "long": "106.761", "description": "Rác thải"}
    before = len(client.get("/open311/v2/requests.json").json())
    cases = [
        ({"attribute[severity]": "apocalyptic"}, "attribute[severity]"),
        ({"attribute[colour]": "red"}, "attribute[colour]"),
        ({"jurisdiction_id": "hanoi"}, "jurisdiction_id"),
        ({"media_url": "file:///etc/passwd"}, "media_url"),
        ({"service_code": "ufo"}, "service_code"),
        ({"lat": "10.77", "long": "106.70"}, "lat/long"),
        ({"lat": "nan"}, "lat"),
        ({"long": ""}, "body"),  # lat without long
        ({"account_id": "7"}, "account_id"),
    ]
    for change, field in cases:
        assert_georeport_error(client.post("/open311/v2/requests.json", data={**form, **change}), 400, field)
    doc = _xml(client.post("/open311/v2/requests.xml", data={**form, "service_code": "ufo"}), "errors")
    assert doc.findtext("error/code") == "400"
    assert_georeport_error(
        client.post("/open311/v2/requests.json", content=b"{", headers={"content-type": "application/json"}),
        400,
        "body",
    )
    assert len(client.get("/open311/v2/requests.json").json()) == before


def test_address_string_alone_places_the_report_in_the_named_ward(client: TestClient) -> None:
    form = {"service_code": "road_damage", "description": "Ổ gà lớn giữa đường"}
    r = client.post("/open311/v2/requests.json", data={**form, "address_string": "Ngõ 5, phường Đông Kinh"})
    assert r.status_code == 201, r.text
    (got,) = client.get(f"/open311/v2/requests/{r.json()[0]['service_request_id']}.json").json()
    assert got["ward_code"] == "05977"
    assert got["address"] == "Ngõ 5, phường Đông Kinh"
    assert_georeport_error(
        client.post("/open311/v2/requests.json", data={**form, "address_string": "Hà Nội"}),
        400,
        "address_string",
    )
    assert_georeport_error(
        client.post("/open311/v2/requests.json", data=form), 400, "body"
    )  # no location at all


def test_comma_lists_for_status_and_service_code(client: TestClient) -> None:
    ids = {}
    for code in ("illegal_dumping", "flooding", "street_lighting"):
        r = client.post("/open311/v2/requests.json", json={**REPORT, "service_code": code})
        ids[code] = r.json()[0]["service_request_id"]
    client.post(f"/open311/v2/requests/{ids['flooding']}/updates.json", json={"status": "closed"})

    def listed(**params: str) -> set[str]:
        return {
            x["service_request_id"] for x in client.get("/open311/v2/requests.json", params=params).json()
        }

    assert listed(service_code="illegal_dumping,flooding") == {ids["illegal_dumping"], ids["flooding"]}
    assert listed(status="open") == {ids["illegal_dumping"], ids["street_lighting"]}
    assert listed(status="open,closed") == set(ids.values())
    assert listed(service_code="flooding,street_lighting", status="closed") == {ids["flooding"]}
    assert listed(service_request_id=f"{ids['flooding']},LS-nope") == {ids["flooding"]}
    assert_georeport_error(
        client.get("/open311/v2/requests.json", params={"status": "open,pending"}), 400, "status"
    )
    assert_georeport_error(
        client.get("/open311/v2/requests.json", params={"service_code": "flooding,ufo"}), 400, "service_code"
    )
    assert_georeport_error(
        client.get(
            "/open311/v2/requests.json",
            params={"start_date": "2025-01-01T00:00:00Z", "end_date": "2025-06-01T00:00:00Z"},
        ),
        400,
        "end_date",
    )
    assert_georeport_error(
        client.get("/open311/v2/requests.json", params={"start_date": "2025-01-01T00:00:00"}),
        400,
        "start_date",
    )


def test_json_submit_list_get_update_never_leaks_contacts(client: TestClient) -> None:
    r = client.post("/open311/v2/requests.json", json=REPORT)
    assert r.status_code == 201, r.text
    rid = r.json()[0]["service_request_id"]
    (one,) = client.get(f"/open311/v2/requests/{rid}.json").json()
    assert (one["status"], one["description"], one["address"]) == (
        "open",
        REPORT["description"],
        REPORT["address_string"],
    )
    # the public position is the cell centre, not the reporter's exact point
    assert (one["lat"], one["long"]) != (REPORT["lat"], REPORT["long"])
    assert abs(one["lat"] - REPORT["lat"]) < 0.003
    for text in (
        client.get("/open311/v2/requests.json").text,
        client.get(f"/open311/v2/requests/{rid}.xml").text,
    ):
        for secret in SECRETS:
            assert secret not in text
    stored = client.app.state.live.store.get_report(rid)  # type: ignore[attr-defined]
    assert stored.contact["email"] == REPORT["email"]
    r = client.post(
        f"/open311/v2/requests/{rid}/updates.json", json={"status": "closed", "status_notes": "Đã thu gom"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()[0]["status"], r.json()[0]["status_notes"]) == ("closed", "Đã thu gom")
    doc = _xml(client.get(f"/open311/v2/requests/{rid}.xml"), "service_requests")
    assert (doc.findtext("request/status"), doc.findtext("request/status_notes")) == ("closed", "Đã thu gom")
    assert doc.findtext("request/requested_datetime").endswith("Z")
    # Operator extensions keep the service's own error shape.
    assert_error_shape(
        client.post("/open311/v2/requests/LS-nope/updates.json", json={"status": "closed"}), 404
    )
    assert_error_shape(client.get("/open311/v2/requests/LS-nope/contact.json"), 404)


def test_without_consent_no_contact_is_stored(client: TestClient) -> None:
    rid = client.post("/open311/v2/requests.json", json={**REPORT, "consent": False}).json()[0][
        "service_request_id"
    ]
    assert client.app.state.live.store.get_report(rid).contact == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_georeport_client_creates_and_reads_a_request(server: ThreadServer, fmt: str) -> None:
    """``georeport`` (PyPI) reads, anonymously as GeoReport intends, what a spec form post created.

    ``georeport`` cannot create requests and the only other Python client on PyPI (``open311`` 1.1)
    is Python 2 code, so the POST is the spec's plain form post (``api_key`` in the body).
    """
    key = key_headers(server.app, "reporter", "client")["X-API-Key"]
    base = f"{server.url}/open311/v2"
    form = {
        "api_key": key,
        "service_code": "flooding",
        "address_string": "Phường Tam Thanh",
        "description": "Ngập sâu sau mưa",
        "attribute[severity]": "dangerous",
    }
    r = httpx.post(f"{base}/requests.{fmt}", data=form)
    assert r.status_code == 201, r.text
    rid = (
        r.json()[0]["service_request_id"]
        if fmt == "json"
        else _xml(r, "service_requests").findtext("request/service_request_id")
    )
    geo = GeoReport(base, jurisdiction="langson", output_format=fmt)
    services = geo.get_service_list()
    assert "flooding" in {s["service_code"] for s in services}
    definition = geo.get_service_definition("flooding")
    attributes = definition["attributes"] if fmt == "json" else definition["attributes"]["attribute"]
    assert "severity" in {a["code"] for a in attributes}
    one = geo.get_service_request(rid)
    assert (one["service_request_id"], one["status"], one["service_code"]) == (rid, "open", "flooding")
    assert one["ward_code"] == "05986"
    listed = geo.get_service_requests(service_code="flooding,road_damage", status="open")
    listed = [listed] if isinstance(listed, dict) else listed
    assert rid in {x["service_request_id"] for x in listed}
    assert "Ngập sâu" not in json.dumps(listed)  # the public view carries no words of the reporter
