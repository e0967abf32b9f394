"""One `twin gateway` with the three kinds of source at once (the shape of examples/gateway.toml):
Frigate on a real Mosquitto, an ONVIF camera and a Hikvision NVR, all into one real twin."""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.api.test_events_support import ThreadServer
from tests.gateway.test_gateway_frigate import frigate_source, stored
from tests.gateway.test_gateway_isapi import isapi_source
from tests.gateway.test_gateway_onvif import FIELD, onvif_source, src
from tests.support.auth import key_headers
from tests.support.cameras import FrigatePublisher, IsapiEmulator, isapi_alert, multipart_part
from tests.support.gateway import GatewayProcess, write_config
from tests.support.mosquitto import Broker
from tests.support.onvif_camera import OnvifCamera


def test_three_sources_one_gateway(
    twin: ThreadServer, broker: Broker, connected: list[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    fr, hik, onv = connected[8:10], connected[10:12], connected[12:14]
    with OnvifCamera(username="twin", password="pw-3") as cam, closing(IsapiEmulator()) as nvr:
        monkeypatch.setenv("ONVIF_TEST_PASSWORD", cam.password)
        key = key_headers(twin.app, "camera-gateway", cameras=[*fr, *hik, *onv])["X-API-Key"]
        sources = "".join(
            (frigate_source(broker, fr, name="fr"), isapi_source(nvr.url, hik), onvif_source(cam.url, onv))
        )
        gw = GatewayProcess(write_config(tmp_path / "gw.toml", twin.url, sources), key).start()
        pub = FrigatePublisher(broker.address)
        try:
            doc = gw.wait(lambda d: all(s["state"] == "connected" for s in d["sources"]), what="all up")
            assert [s["kind"] for s in doc["sources"]] == ["frigate", "isapi", "onvif"]
            oid = f"{int(time.time())}.3src"
            pub.tracked_object(oid, "cho_ky_lua", "person")
            line_on = isapi_alert("linedetection", channel=1, region=1)
            nvr.send(multipart_part(line_on), multipart_part(line_on.replace(b">active<", b">inactive<")))
            cam.emit(FIELD, src("VideoSourceConfig_2", "dump_1"), {"IsInside": "true"})
            cam.emit(FIELD, src("VideoSourceConfig_2", "dump_1"), {"IsInside": "false"})
            assert pub.wait_acked()
            gw.wait(lambda d: d["twin"]["sent"] >= 3 * 2 + 1 and d["queue"]["depth"] == 0, what="forwarded")
            admin = key_headers(twin.app, "admin")
            assert stored(twin, admin, fr[0])[f"fr-{oid}"]["lifecycle"] == "end"
            line = [e for e in stored(twin, admin, hik[0]).values() if "linedetection" in str(e["event_id"])]
            assert [(e["category"], e["lifecycle"]) for e in line] == [("congestion", "end")]
            field = list(stored(twin, admin, onv[1]).values())
            assert [(e["category"], e["lifecycle"]) for e in field] == [("illegal_dumping", "end")]
            # every camera of a connected source is kept online by the gateway's heartbeats
            gw.wait(lambda d: d["twin"]["heartbeats"] >= 12, what="heartbeats")
            r = httpx.get(f"{twin.url}/cameras", headers=admin, timeout=30)
            status = {f["properties"]["camera_id"]: f["properties"]["status"] for f in r.json()["features"]}
            assert {c: status[c] for c in [*fr, *hik, *onv]} == dict.fromkeys([*fr, *hik, *onv], "online")
        finally:
            pub.close()
            gw.stop()
