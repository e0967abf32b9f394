"""An emulated ONVIF camera (real SOAP 1.2 over HTTP, WS-Security digest) → `twin gateway` → a real twin.

The gateway's ONVIF client is onvif-zeep-async; the camera is tests/support/onvif_camera.py. What is
checked is what the twin answers on ``GET /events`` and ``GET /cameras``, and what the camera saw of
the subscription's life (created, renewed, unsubscribed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from tests.api.test_events_support import ThreadServer
from tests.gateway.test_gateway_frigate import stored
from tests.support.auth import key_headers
from tests.support.gateway import GatewayProcess, write_config
from tests.support.onvif_camera import OnvifCamera

MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"
FIELD = "tns1:RuleEngine/FieldDetector/ObjectsInside"
LINE = "tns1:RuleEngine/LineDetector/Crossed"
TAMPER = "tns1:RuleEngine/TamperDetector/Tamper"
BOMB = "<wsnt:NotificationMessage><wsnt:Topic>&lol3;</wsnt:Topic></wsnt:NotificationMessage>"


@pytest.fixture
def camera() -> Iterator[OnvifCamera]:
    with OnvifCamera(username="twin", password="onvif-test-pw") as cam:
        yield cam


#: topic (suffix) → (zone, category, severity) of the source's rules
RULES = {
    "CellMotionDetector/Motion": ("*", "crowding", "low"),
    "FieldDetector/ObjectsInside": ("dump*", "illegal_dumping", "high"),
    "LineDetector/Crossed": ("*", "congestion", "medium"),
    "Tamper": ("*", "other", "medium"),
}


def onvif_source(url: str, cams: list[str]) -> str:
    """One ONVIF camera with two video sources, short subscriptions (renewed every 2 s)."""
    source = {
        "name": "onvif-dk", "kind": "onvif", "url": url, "username": "twin",
        "password_env": "ONVIF_TEST_PASSWORD", "subscription_s": 4, "pull_timeout_s": 1, "idle_end_s": 2,
        "cameras": {"VideoSourceConfig_1": cams[0], "VideoSourceConfig_2": cams[1]},
        "rules": [{"what": w, "zone": z, "category": c, "severity": sev} for w, (z, c, sev) in RULES.items()],
    }  # fmt: skip
    return tomli_w.dumps({"sources": [source]})


def src(token: str, rule: str) -> dict[str, str]:
    return {"VideoSourceConfigurationToken": token, "VideoAnalyticsConfigurationToken": "VA_1", "Rule": rule}


def test_onvif_pullpoint_events_reach_the_twin(
    twin: ThreadServer, camera: OnvifCamera, connected: list[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    cams = connected[6:8]
    monkeypatch.setenv("ONVIF_TEST_PASSWORD", camera.password)
    key = key_headers(twin.app, "camera-gateway", cameras=cams)["X-API-Key"]
    cfg = write_config(tmp_path / "gw.toml", twin.url, onvif_source(camera.url, cams))
    gw = GatewayProcess(cfg, key).start()
    try:
        gw.wait(lambda d: d["sources"][0]["state"] == "connected", what="PullPoint subscription")
        assert camera.created == 1
        assert camera.refused_auth == 0  # the WS-Security digest was right
        # motion on source 1: starts, is still on (Changed true again), stops
        camera.emit(MOTION, src("VideoSourceConfig_1", "MyMotionDetectorRule"), {"IsMotion": "true"})
        camera.emit(MOTION, src("VideoSourceConfig_1", "MyMotionDetectorRule"), {"IsMotion": "true"})
        camera.emit(MOTION, src("VideoSourceConfig_1", "MyMotionDetectorRule"), {"IsMotion": "false"})
        # intrusion into the dumping zone of source 2; ends by IsInside false
        camera.emit(FIELD, src("VideoSourceConfig_2", "dump_zone_1"), {"IsInside": "true"})
        camera.emit(FIELD, src("VideoSourceConfig_2", "dump_zone_1"), {"IsInside": "false"})
        # field detection in another zone: no rule → not sent
        camera.emit(FIELD, src("VideoSourceConfig_2", "parking"), {"IsInside": "true"})
        # line crossings are pulses (no boolean): one episode, ended by 2 s of silence
        for oid in ("17", "18", "19"):
            camera.emit(LINE, src("VideoSourceConfig_2", "MyLineDetectorRule"), {"ObjectId": oid}, prop=False)
        # tampering on source 1 stays on across the subscription renewals
        camera.emit(TAMPER, src("VideoSourceConfig_1", "MyTamperDetectorRule"), {"IsTamper": "true"})
        # bad input: an unknown video source, a message with no topic, an entity-laden reply
        camera.emit(MOTION, src("VideoSourceConfig_9", "MyMotionDetectorRule"), {"IsMotion": "true"})
        assert camera.wait(lambda c: c.drained(), 30)
        camera.raw_next.append(
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol3 "&lol;&lol;&lol;">]>' + camera.pull_response(BOMB).split(b"?>", 1)[1]
        )
        camera.raw_next.append(camera.pull_response("<wsnt:NotificationMessage/>"))
        # the subscription is 4 s long, renewed at half: the camera sees renewals, not a new subscription
        assert camera.wait(lambda c: c.renewed >= 2 and not c.raw_next, 30)
        doc = gw.wait(
            lambda d: d["queue"]["depth"] == 0 and d["twin"]["sent"] >= 7 and d["sources"][0]["refused"],
            what="everything forwarded",
        )
        src_doc = doc["sources"][0]
        assert src_doc["state"] == "connected"
        assert src_doc["refused"]["unknown_camera"] == 1
        assert src_doc["refused"]["unmapped"] == 1
        gw.wait(lambda d: d["sources"][0]["refused"].get("xml_forbidden") == 1, what="bomb refused")
        gw.wait(lambda d: d["sources"][0]["refused"].get("malformed_message") == 1, what="empty message")
        assert camera.created == 1  # bad replies did not cost the subscription

        admin = key_headers(twin.app, "admin")
        gw.wait(lambda d: len([e for e in stored(twin, admin, cams[1]).values()
                               if "Crossed" in str(e["event_id"]) and e["lifecycle"] == "end"]) == 1,
                what="line-crossing episode ended by silence")  # fmt: skip
        one, two = stored(twin, admin, cams[0]), stored(twin, admin, cams[1])
        motion = [e for e in one.values() if "CellMotionDetector" in str(e["event_id"])]
        assert len(motion) == 1
        assert motion[0]["category"] == "crowding"
        assert motion[0]["lifecycle"] == "end"
        assert motion[0]["attributes"]["rule"] == "MyMotionDetectorRule"
        assert motion[0]["attributes"]["protocol"] == "onvif"
        tamper = [e for e in one.values() if "Tamper" in str(e["event_id"])]
        assert len(tamper) == 1
        assert tamper[0]["category"] == "other"
        assert tamper[0]["lifecycle"] != "end"  # still on: renewals do not end it
        field = [e for e in two.values() if "FieldDetector" in str(e["event_id"])]
        assert len(field) == 1  # the parking zone was not mapped
        assert field[0]["category"] == "illegal_dumping"
        assert field[0]["severity"] == "high"
        assert field[0]["lifecycle"] == "end"
        line = [e for e in two.values() if "Crossed" in str(e["event_id"])]
        assert len(line) == 1
        assert line[0]["category"] == "congestion"
        assert line[0]["attributes"]["onvif_ObjectId"] in {"17", "18", "19"}
        # heartbeats keep both cameras online while the subscription lives
        gw.wait(lambda d: d["twin"]["heartbeats"] >= 2, what="heartbeats")
        # the camera reboots (subscriptions gone): the gateway subscribes again, the Initialized
        # messages of the new subscription carry tampering on, and the open event goes on (no new id)
        camera.expire_all()
        assert camera.wait(lambda c: c.created == 2 and c.drained(), 30)
        camera.emit(TAMPER, src("VideoSourceConfig_1", "MyTamperDetectorRule"), {"IsTamper": "false"})
        # wait for what the twin holds (the queue can be empty before the gateway has pulled the message)
        gw.wait(lambda d: any(e["lifecycle"] == "end" for e in stored(twin, admin, cams[0]).values()
                              if "Tamper" in str(e["event_id"])), what="tamper ended")  # fmt: skip
        tamper_after = [e for e in stored(twin, admin, cams[0]).values() if "Tamper" in str(e["event_id"])]
        assert [e["event_id"] for e in tamper_after] == [tamper[0]["event_id"]]
        assert tamper_after[0]["lifecycle"] == "end"
    finally:
        gw.stop()
    assert camera.unsubscribed == 1  # a clean stop says goodbye to the camera
    assert not camera.subs


def test_onvif_wrong_password_is_a_disconnected_source(
    twin: ThreadServer, camera: OnvifCamera, connected: list[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    cams = connected[6:8]
    monkeypatch.setenv("ONVIF_TEST_PASSWORD", "not-the-password")
    key = key_headers(twin.app, "camera-gateway", cameras=cams)["X-API-Key"]
    cfg = write_config(tmp_path / "gw.toml", twin.url, onvif_source(camera.url, cams))
    gw = GatewayProcess(cfg, key).start()
    try:
        doc = gw.wait(lambda d: d["sources"][0]["last_error"] is not None, what="refusal seen")
        assert doc["status"] == "degraded"
        assert "refused the credentials" in doc["sources"][0]["last_error"]
        assert doc["sources"][0]["state"] != "connected"
        assert camera.created == 0
        assert camera.refused_auth >= 1
    finally:
        gw.stop()
