"""Citizen reports through Open311 GeoReport v2: services, submit, public views without contacts, updates."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape

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


def test_services_bilingual(client: TestClient) -> None:
    services = client.get("/open311/v2/services.json").json()
    codes = {s["service_code"] for s in services}
    assert {"public_order", "environmental_sanitation", "illegal_dumping"} <= codes
    po = next(s for s in services if s["service_code"] == "public_order")
    assert po["service_name_vi"] == "Trật tự công cộng"
    assert po["service_name_en"] == "Public order"
    assert po["metadata"] is False


def test_submit_list_get_update_never_leaks_contacts(client: TestClient) -> None:
    r = client.post("/open311/v2/requests.json", json=REPORT)
    assert r.status_code == 201, r.text
    (created,) = r.json()
    rid = created["service_request_id"]
    (one,) = client.get(f"/open311/v2/requests/{rid}.json").json()
    assert one["status"] == "open"
    assert one["description"] == REPORT["description"]
    assert one["address"] == REPORT["address_string"]
    # the public position is the cell centre, not the reporter's exact point
    assert (one["lat"], one["long"]) != (REPORT["lat"], REPORT["long"])
    assert abs(one["lat"] - REPORT["lat"]) < 0.003
    listing = client.get("/open311/v2/requests.json").text
    for secret in ("nguoidan@example.org", "Lan", "912 345"):
        assert secret not in listing
        assert secret not in client.get(f"/open311/v2/requests/{rid}.json").text
    # the contact is kept privately (with consent) for follow-up
    stored = client.app.state.live.store.get_report(rid)  # type: ignore[attr-defined]
    assert stored.contact["email"] == REPORT["email"]
    r = client.post(
        f"/open311/v2/requests/{rid}/updates.json", json={"status": "closed", "status_notes": "Đã thu gom"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()[0]["status"], r.json()[0]["status_notes"]) == ("closed", "Đã thu gom")
    assert [
        x["service_request_id"]
        for x in client.get("/open311/v2/requests.json", params={"status": "closed"}).json()
    ] == [rid]
    assert (
        client.get("/open311/v2/requests.json", params={"service_request_id": rid}).json()[0]["status"]
        == "closed"
    )


def test_without_consent_no_contact_is_stored(client: TestClient) -> None:
    body = {**REPORT, "consent": False}
    rid = client.post("/open311/v2/requests.json", json=body).json()[0]["service_request_id"]
    assert client.app.state.live.store.get_report(rid).contact == {}  # type: ignore[attr-defined]


def test_bad_reports(client: TestClient) -> None:
    assert_error_shape(
        client.post("/open311/v2/requests.json", json={**REPORT, "service_code": "ufo"}), 422, "service_code"
    )
    assert_error_shape(
        client.post("/open311/v2/requests.json", json={**REPORT, "lat": 10.77, "long": 106.70}), 422
    )
    assert_error_shape(
        client.post("/open311/v2/requests.json", json={**REPORT, "media_url": "http://x/y.jpg"}),
        422,
        "media_url",
    )
    assert_error_shape(
        client.post("/open311/v2/requests.json", json={**REPORT, "email": "not-an-email"}), 422, "email"
    )
    assert_error_shape(client.get("/open311/v2/requests/LS-nope.json"), 404)
    assert_error_shape(
        client.post("/open311/v2/requests/LS-nope/updates.json", json={"status": "closed"}), 404
    )
    assert_error_shape(
        client.get("/open311/v2/requests.json", params={"start_date": "2025-01-01T00:00:00"}),
        422,
        "start_date",
    )
