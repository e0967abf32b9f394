"""Incidents end to end through the API: grouping, location in words, routing to units, the workflow
with If-Match, unit keys working their own queue, Open311 status notes, snapshots, and bad input."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from api.auth.keys import create_key
from api.store.base import now_utc
from api.store.incidents import IncidentChange
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape
from tests.api.test_open311 import REPORT
from tests.support.events import event


def jpeg(size: int = 2000) -> bytes:
    """Return a real JPEG (Pillow) padded with a comment segment to about `size` bytes."""

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 60, 40)).save(buf, "JPEG")
    data = buf.getvalue()
    pad = max(0, size - len(data) - 4)
    out = data[:2]
    while pad > 0:
        n = min(pad, 65_000)
        out += b"\xff\xfe" + (n + 2).to_bytes(2, "big") + b"x" * n
        pad -= n + 4
    return out + data[2:]


def unit_key(client: TestClient, unit: str, label: str = "Tổ tuần tra 1") -> dict[str, str]:
    store = client.app.state.live.store  # type: ignore[attr-defined]
    key, rec = create_key(store, "unit", label)
    store.bind_unit_key(rec.key_id, unit).result()
    return {"X-API-Key": key}


def incidents(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/incidents", params=params)
    assert r.status_code == 200, r.text
    return [f["properties"] for f in r.json()["features"]]


def congestion(client: TestClient, camera: str, n: int = 3, start: int = 0) -> dict[str, Any]:
    r = client.post("/events/batch", json={"events": [event(start + i, camera) for i in range(n)]})
    assert r.status_code == 200, r.text
    (inc,) = [i for i in incidents(client) if i["kind"] == "alert" and i["camera_id"] is None]
    return inc


def test_alert_becomes_located_routed_incident(client: TestClient, connected: list[str]) -> None:
    inc = congestion(client, connected[0])
    live = client.app.state.live  # type: ignore[attr-defined]
    cam = live.ctx.cameras[connected[0]]
    assert inc["category"] == "congestion_cluster"
    assert (inc["category_vi"], inc["category_en"]) == ("Ùn tắc giao thông", "Traffic congestion")
    assert (inc["severity_vi"], inc["severity_en"]) == ("Cao", "High")
    assert inc["ward_code"] == cam.ward_code
    assert inc["ward_name"]
    assert inc["street"], "the nearest street or site is named"
    # routed by category and ward: the ward's police, due within the category's target (30 min)
    assert inc["unit_id"] == live.incidents.directory.route("congestion_cluster", cam.ward_code)
    assert inc["unit_id"].startswith("cong-an-")
    assert inc["status"] == "assigned"
    assert inc["unit_name_vi"].startswith("Công an phường")
    assert inc["count"] == 1
    assert not inc["overdue"]
    detail = client.get(f"/incidents/{inc['incident_id']}")
    assert detail.headers["etag"] == '"1"'
    (created,) = detail.json()["changes"]
    assert (created["action"], created["actor"], created["to_status"]) == ("created", "system", "assigned")


def test_repeated_alerts_group_into_one_incident(client: TestClient, connected: list[str]) -> None:
    first = congestion(client, connected[0])
    live = client.app.state.live  # type: ignore[attr-defined]
    alert = live.store.get_alert(first["sources"][0].split(":", 1)[1])
    # the same rule on the same cell a window later: a new occurrence of the same incident
    later = replace(alert, alert_id="AL-later", created_at=alert.created_at + timedelta(minutes=11))
    client.portal.call(live.incidents.on_alert, later)  # type: ignore[union-attr]
    (inc,) = [i for i in incidents(client) if i["kind"] == "alert"]
    assert inc["incident_id"] == first["incident_id"]
    assert inc["count"] == 2
    assert inc["first_at"] == first["first_at"]
    assert inc["last_at"] > first["last_at"]
    assert inc["sources"] == [first["sources"][0], "alert:AL-later"]
    # another cell is another incident
    other = replace(alert, alert_id="AL-other", cell=alert.cell ^ 0x10, key="x")
    client.portal.call(live.incidents.on_alert, other)  # type: ignore[union-attr]
    assert len([i for i in incidents(client) if i["kind"] == "alert"]) == 2


def test_workflow_if_match_and_bad_input(client: TestClient, connected: list[str]) -> None:
    inc = congestion(client, connected[0])
    iid = inc["incident_id"]
    url = f"/incidents/{iid}"
    # no If-Match → 428; stale → 412; both change nothing
    assert_error_shape(client.post(f"{url}/status", json={"status": "in_progress"}), 428, "If-Match")
    r = client.post(f"{url}/status", json={"status": "in_progress"}, headers={"If-Match": '"7"'})
    assert_error_shape(r, 412, "If-Match")
    ok = {"If-Match": '"1"'}
    assert_error_shape(client.post(f"{url}/assign", json={"unit_id": "ufo-team"}, headers=ok), 422, "unit_id")
    assert_error_shape(client.post(f"{url}/status", json={"status": "new"}, headers=ok), 409, "status")
    assert_error_shape(client.post(f"{url}/notes", json={"note": "x" * 1001}, headers=ok), 422, "note")
    assert_error_shape(
        client.post(f"{url}/status", json={"status": "resolved", "by": "me"}, headers=ok), 422, "by"
    )
    assert client.get(url).json()["revision"] == 1
    # two operators act on revision 1 at once: one wins, the other gets 412 and nothing is lost
    a = client.post(f"{url}/assign", json={"unit_id": "csgt-tinh", "note": "CSGT tỉnh"}, headers=ok)
    b = client.post(f"{url}/status", json={"status": "acknowledged"}, headers=ok)
    assert a.status_code == 200, a.text
    assert_error_shape(b, 412, "If-Match")
    assert a.headers["etag"] == '"2"'
    r = client.post(
        f"{url}/status", json={"status": "resolved", "note": "Đã thông xe"}, headers={"If-Match": '"2"'}
    )
    assert r.status_code == 200, r.text
    assert_error_shape(
        client.post(f"{url}/status", json={"status": "new"}, headers={"If-Match": '"3"'}), 409, "status"
    )
    body = client.get(url).json()
    assert body["status"] == "resolved"
    assert body["unit_id"] == "csgt-tinh"
    assert [c["action"] for c in body["changes"]] == ["created", "assign", "status"]
    # who acted comes from the key (label "tests" and its id), never from the body
    assert all(c["actor"].startswith("tests [") and c["role"] == "admin" for c in body["changes"][1:])
    assert body["changes"][2]["note"] == "Đã thông xe"
    # the alert follows its incident
    alert_id = body["sources"][0].split(":", 1)[1]
    assert client.app.state.live.store.get_alert(alert_id).status == "resolved"  # type: ignore[attr-defined]
    assert incidents(client, status="resolved")[0]["incident_id"] == iid
    assert incidents(client, open="true") == []
    assert_error_shape(client.get("/incidents", params={"status": "done"}), 422, "status")
    assert_error_shape(client.get("/incidents", params={"unit": "ufo"}), 422, "unit")


def test_unit_key_works_its_queue_and_citizen_sees_notes(client: TestClient) -> None:
    r = client.post("/open311/v2/requests.json", json=REPORT)
    assert r.status_code == 201, r.text
    rid = r.json()[0]["service_request_id"]
    (inc,) = incidents(client)
    assert (inc["kind"], inc["unit_id"], inc["status"]) == ("report", "moi-truong-do-thi", "assigned")
    (req,) = client.get(f"/open311/v2/requests/{rid}.json").json()
    assert req["agency_responsible"].startswith("Công ty Cổ phần Môi trường đô thị Lạng Sơn")
    env = unit_key(client, "moi-truong-do-thi", "Đội thu gom số 2")
    police = unit_key(client, "cong-an-ky-lua")
    # each unit sees its own queue only
    own = client.get("/incidents", headers=env).json()["features"]
    assert [f["id"] for f in own] == [inc["incident_id"]]
    assert client.get("/incidents", headers=police).json()["features"] == []
    assert_error_shape(client.get(f"/incidents/{inc['incident_id']}", headers=police), 404)
    url = f"/incidents/{inc['incident_id']}"
    assert_error_shape(
        client.post(f"{url}/assign", json={"unit_id": "csgt-tinh"}, headers={**env, "If-Match": '"1"'}), 403
    )
    assert_error_shape(
        client.post(f"{url}/status", json={"status": "closed"}, headers={**env, "If-Match": '"1"'}),
        409,
        "status",
    )
    # on site: in progress, then a photo and resolved with a note
    r = client.post(
        f"{url}/status",
        json={"status": "in_progress", "note": "Đang thu gom"},
        headers={**env, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    (req,) = client.get(f"/open311/v2/requests/{rid}.json").json()
    assert (req["status"], req["status_notes"]) == ("open", "Đang xử lý / In progress: Đang thu gom")
    snap = client.post(f"{url}/snapshots", content=jpeg(), headers={**env, "Content-Type": "image/jpeg"})
    assert snap.status_code == 201, snap.text
    sid = snap.json()["snapshot_id"]
    r = client.post(
        f"{url}/status",
        json={"status": "resolved", "note": "Đã thu gom sạch", "snapshot_id": sid},
        headers={**env, "If-Match": '"2"'},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["snapshots"] == [sid]
    last = body["changes"][-1]
    assert last["actor"].startswith("Đội thu gom số 2 [")
    assert last["role"] == "unit"
    assert client.get(f"/snapshots/{sid}", headers=env).content[:3] == b"\xff\xd8\xff"
    assert_error_shape(client.get(f"/snapshots/{sid}", headers=police), 404)
    (req,) = client.get(f"/open311/v2/requests/{rid}.json").json()
    assert req["status"] == "closed"
    assert req["status_notes"] == "Đã xử lý xong / Resolved: Đã thu gom sạch"


def test_snapshots_bad_input_and_gateway_evidence(client: TestClient, connected: list[str]) -> None:
    inc = congestion(client, connected[0])
    url = f"/incidents/{inc['incident_id']}/snapshots"
    jp = {"Content-Type": "image/jpeg"}
    assert_error_shape(client.post(url, content=b"GIF89a....", headers=jp), 422, "snapshot")
    assert_error_shape(client.post(url, content=jpeg(210_000), headers=jp), 422, "snapshot")
    assert_error_shape(
        client.post(url, content=jpeg(), headers={"Content-Type": "image/png"}), 422, "content-type"
    )
    live = client.app.state.live  # type: ignore[attr-defined]
    assert live.store.get_incident(inc["incident_id"]).snapshot_ids == ()
    # a gateway attaches one frame to an event: operators see it in the event's incident
    ev = f"t-{connected[0]}-1"
    r = client.post(f"/events/{ev}/snapshot", content=jpeg(150_000), headers=jp)
    assert r.status_code == 201, r.text
    assert_error_shape(client.post(f"/events/{ev}/snapshot", content=jpeg(), headers=jp), 409, "snapshot")
    assert_error_shape(client.post("/events/nope/snapshot", content=jpeg(), headers=jp), 404)
    assert client.get(f"/incidents/{inc['incident_id']}").json()["snapshots"] == [r.json()["snapshot_id"]]


def test_overdue_filter_and_labels(client: TestClient, connected: list[str]) -> None:
    inc = congestion(client, connected[0])
    live = client.app.state.live  # type: ignore[attr-defined]
    rec = live.store.get_incident(inc["incident_id"])
    past = replace(rec, due_at=now_utc() - timedelta(minutes=1), revision=rec.revision + 1)
    live.store.update_incident(
        past, rec.revision, IncidentChange(rec.incident_id, past.revision, now_utc(), "t", "t", "note")
    ).result()
    (over,) = incidents(client, overdue="true")
    assert over["overdue"] is True
    labels = client.get("/incidents/labels").json()
    assert labels["statuses"]["in_progress"] == {"vi": "Đang xử lý", "en": "In progress"}
    assert labels["categories"]["illegal_dumping"]["en"] == "Illegal dumping"
    units = client.get("/units").json()["units"]
    assert {"cong-an-ky-lua", "trat-tu-do-thi", "moi-truong-do-thi", "quan-ly-do-thi"} <= {
        u["unit_id"] for u in units
    }
