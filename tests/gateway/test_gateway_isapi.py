"""A Hikvision-shaped ISAPI alertStream → `twin gateway` → a real twin; bombs and oversized parts refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.gateway.isapi import MultipartReader
from tests.api.test_events_support import ThreadServer
from tests.gateway.test_gateway_frigate import stored
from tests.support.auth import key_headers
from tests.support.cameras import IsapiEmulator, isapi_alert, multipart_part
from tests.support.gateway import GatewayProcess, write_config

BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><EventNotificationAlert><eventType>&lol3;</eventType>'
    b"</EventNotificationAlert>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<EventNotificationAlert><eventType>&xxe;</eventType></EventNotificationAlert>"
)


@pytest.fixture
def nvr() -> Iterator[IsapiEmulator]:
    emu = IsapiEmulator()
    yield emu
    emu.close()


def isapi_source(url: str, cams: list[str]) -> str:
    return f"""
[[sources]]
name = "hik-nvr"
kind = "isapi"
url = "{url}"
idle_end_s = 2
max_part_kb = 8
cameras = {{ "1" = "{cams[0]}", "2" = "{cams[1]}" }}

[[sources.rules]]
what = "linedetection"
category = "congestion"

[[sources.rules]]
what = "fielddetection"
zone = "2"
category = "illegal_dumping"
severity = "high"

[[sources.rules]]
what = "vehicledetection"
category = "congestion"
"""


def test_isapi_alerts_become_lifecycles(
    twin: ThreadServer, nvr: IsapiEmulator, connected: list[str], tmp_path: Path
) -> None:
    cams = connected[2:4]
    key = key_headers(twin.app, "camera-gateway")["X-API-Key"]
    gw = GatewayProcess(
        write_config(tmp_path / "gw.toml", twin.url, isapi_source(nvr.url, cams)), key
    ).start()
    try:
        gw.wait(lambda d: d["sources"][0]["state"] == "connected", what="alertStream open")
        nvr.send(
            multipart_part(isapi_alert("videoloss", "inactive")),  # keep-alive
            multipart_part(isapi_alert("linedetection", channel=1, region=1)),
            multipart_part(isapi_alert("linedetection", channel=1, region=1, count=2)),
            multipart_part(isapi_alert("linedetection", "inactive", channel=1, region=1)),
            multipart_part(isapi_alert("fielddetection", channel=2, region=2)),  # ends after 2 s idle
            multipart_part(isapi_alert("vehicledetection", channel=2, target="vehicle"), length=False),
            multipart_part(b"\xff\xd8\xff" + b"\0" * 2000, "image/jpeg"),  # a picture: skipped
            # bad input
            multipart_part(BOMB),
            multipart_part(EXTERNAL),
            multipart_part(b"<EventNotificationAlert><eventType>VMD"),
            multipart_part(b"<x/>" + b" " * 20_000),  # over max_part_kb (Content-Length)
            multipart_part(isapi_alert("linedetection", channel=9)),  # unknown channel
            multipart_part(isapi_alert("PIR", channel=1)),  # no rule
            multipart_part(isapi_alert("linedetection", channel=1, region=3)),
        )
        doc = gw.wait(
            lambda d: d["twin"]["sent"] >= 8 and d["queue"]["depth"] == 0, timeout=30, what="forwarded"
        )
        src = doc["sources"][0]
        assert src["refused"]["xml_forbidden"] == 2
        assert src["refused"]["malformed_xml"] == 1  # truncated XML
        assert src["refused"]["oversized_part"] == 1
        assert src["refused"]["unknown_camera"] == 1
        assert src["refused"]["unmapped"] == 1
        assert src["refused"]["image_part_skipped"] == 1
        admin = key_headers(twin.app, "admin")
        ch1 = stored(twin, admin, cams[0])
        line = [e for e in ch1.values() if "linedetection-1" in str(e["event_id"])]
        assert len(line) == 1
        assert line[0]["lifecycle"] == "end"
        assert line[0]["category"] == "congestion"
        ch2 = stored(twin, admin, cams[1])
        field = [e for e in ch2.values() if "fielddetection" in str(e["event_id"])]
        assert len(field) == 1
        assert field[0]["category"] == "illegal_dumping"
        assert field[0]["lifecycle"] == "end"  # ended by silence (idle_end_s)
        vehicle = [e for e in ch2.values() if "vehicledetection" in str(e["event_id"])]
        assert vehicle[0]["attributes"]["target"] == "vehicle"
    finally:
        gw.stop()


def test_multipart_reader_bounds_parts_without_length() -> None:
    r = MultipartReader("boundary", max_part=100)
    parts = r.feed(b"--boundary\r\nContent-Type: application/xml\r\n\r\n" + b"x" * 500)
    assert parts == [({"content-type": "application/xml"}, None)]
    assert len(r.buf) < 200  # the oversized body is not kept
    parts = r.feed(
        b"y" * 10_000 + b"\r\n--boundary\r\nContent-Type: application/xml\r\n\r\n<a/>\r\n--boundary"
    )
    assert parts == [({"content-type": "application/xml"}, b"<a/>")]
