"""Emulated cameras for the gateway tests and benchmark: a Frigate-shaped MQTT publisher on a real
broker, a Hikvision ISAPI alertStream server and an ONVIF PullPoint event server.

The shapes follow the published documents: Frigate's MQTT page (``frigate/events`` with
``type``/``before``/``after``, ``frigate/<camera>/<object>`` counts, ``frigate/available``), Hikvision's
ISAPI ``EventNotificationAlert`` (multipart/mixed parts of ``application/xml``), and the ONVIF Event
Service WSDL (``CreatePullPointSubscription``, ``PullMessages``, ``Renew``, ``Unsubscribe`` in SOAP 1.2
with WS-Addressing, ``wsnt:NotificationMessage`` with ``tt:Message`` Source/Data SimpleItems).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def frigate_object(
    oid: str, camera: str, label: str, start: float, *, end: float | None = None,
    zones: tuple[str, ...] = (), score: float = 0.8,
) -> dict[str, Any]:  # fmt: skip
    """Return a Frigate tracked object (the ``before``/``after`` member of ``frigate/events``)."""
    return {
        "id": oid, "camera": camera, "frame_time": end or start, "label": label, "sub_label": None,
        "top_score": score, "false_positive": False, "start_time": start, "end_time": end,
        "score": score, "box": [424, 500, 536, 712], "area": 23744, "ratio": 2.11,
        "region": [264, 450, 667, 853], "stationary": False, "motionless_count": 0,
        "position_changes": 2, "current_zones": list(zones), "entered_zones": list(zones),
        "has_clip": False, "has_snapshot": False,
    }  # fmt: skip


def frigate_event(kind: str, before: dict[str, Any], after: dict[str, Any]) -> bytes:
    """Return one ``frigate/events`` payload."""
    return orjson.dumps({"type": kind, "before": before, "after": after})


@dataclass
class FrigatePublisher:
    """Publishes Frigate-shaped messages at QoS 1 and records which ones the broker acknowledged.

    ``handed_over`` holds the event ids (``after.id``) of every ``frigate/events`` message whose PUBACK
    came back: what the broker took responsibility for.
    """

    address: str
    prefix: str = "frigate"
    qos: int = 1
    handed_over: dict[str, list[str]] = field(default_factory=dict)  # after.id → lifecycles acked
    published_at: dict[str, float] = field(default_factory=dict)  # after.id → first publish time

    def __post_init__(self) -> None:
        host, port = self.address.rsplit(":", 1)
        self._pending: dict[int, tuple[str, str]] = {}
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"frigate-emu-{id(self)}",
                                  clean_session=False)  # fmt: skip
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(0.2, 2)
        self.client.connect(host, int(port), keepalive=10)
        self.client.loop_start()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        # paho calls this holding its own lock: never call paho while holding ours
        with self._lock:
            item = self._pending.pop(mid, None)
            if item is None:
                self._early.add(mid)
            else:
                self.handed_over.setdefault(item[0], []).append(item[1])

    def publish(self, topic: str, payload: bytes, track: tuple[str, str] | None = None) -> None:
        """Publish one message (queued by paho while the broker is away)."""
        info = self.client.publish(f"{self.prefix}/{topic}", payload, qos=self.qos)
        if track is None or self.qos == 0:
            return
        with self._lock:
            self.published_at.setdefault(track[0], time.time())
            if info.mid in self._early:
                self._early.discard(info.mid)
                self.handed_over.setdefault(track[0], []).append(track[1])
            else:
                self._pending[info.mid] = track

    def tracked_object(
        self, oid: str, camera: str, label: str, *, zones: tuple[str, ...] = (), updates: int = 1,
        start: float | None = None,
    ) -> None:  # fmt: skip
        """Publish the whole life of one object: new, `updates` updates, end."""
        t0 = start or time.time()
        obj = frigate_object(oid, camera, label, t0, zones=zones)
        self.publish("events", frigate_event("new", obj, obj), (oid, "new"))
        prev = obj
        for k in range(updates):
            nxt = {**prev, "score": 0.85 + 0.01 * k, "top_score": 0.9, "frame_time": t0 + k + 1}
            self.publish("events", frigate_event("update", prev, nxt), (oid, "update"))
            prev = nxt
        done = {**prev, "end_time": t0 + updates + 1}
        self.publish("events", frigate_event("end", prev, done), (oid, "end"))

    def wait_acked(self, timeout: float = 30) -> bool:
        """Wait until every publish was acknowledged; return whether it happened in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


ISAPI_NS = "http://www.hikvision.com/ver20/XMLSchema"


def isapi_alert(
    event_type: str, state: str = "active", *, channel: int = 1, region: int | None = None,
    at: datetime | None = None, count: int = 1, target: str | None = None,
) -> bytes:  # fmt: skip
    """Return one ``EventNotificationAlert`` as a Hikvision device sends it."""
    when = (at or datetime.now(UTC)).astimezone(timezone(timedelta(hours=7))).isoformat(timespec="seconds")
    regions = (
        f"<DetectionRegionList><DetectionRegionEntry><regionID>{region}</regionID><sensitivityLevel>50"
        "</sensitivityLevel></DetectionRegionEntry></DetectionRegionList>"
        if region is not None
        else ""
    )
    tgt = f"<targetType>{target}</targetType>" if target else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<EventNotificationAlert version="2.0" xmlns="{ISAPI_NS}">'
        "<ipAddress>192.168.1.64</ipAddress><portNo>80</portNo><protocol>HTTP</protocol>"
        f"<macAddress>44:19:b6:00:00:01</macAddress><channelID>{channel}</channelID>"
        f"<dateTime>{when}</dateTime><activePostCount>{count}</activePostCount>"
        f"<eventType>{event_type}</eventType><eventState>{state}</eventState>"
        f"<eventDescription>{event_type} alarm</eventDescription>{regions}{tgt}</EventNotificationAlert>"
    ).encode()


def multipart_part(
    body: bytes, ctype: str = "application/xml; charset=UTF-8", *, length: bool = True
) -> bytes:
    """Return one part of the alertStream (``--boundary``, headers, body)."""
    head = f"--boundary\r\nContent-Type: {ctype}\r\n" + (f"Content-Length: {len(body)}\r\n" if length else "")
    return head.encode() + b"\r\n" + body + b"\r\n"


class IsapiEmulator:
    """A Hikvision-shaped ``/ISAPI/Event/notification/alertStream`` server on a free loopback port.

    Each connection gets the parts put with `send` (a multipart/mixed stream that stays open, as
    devices do); other paths are 404 with an ISAPI ``ResponseStatus``.
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._cv = threading.Condition()
        self._stop = False
        emu = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/ISAPI/Event/notification/alertStream":
                    body = b'<?xml version="1.0"?><ResponseStatus><statusCode>4</statusCode></ResponseStatus>'
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/mixed; boundary=boundary")
                self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                while True:
                    with emu._cv:
                        while sent >= len(emu._parts) and not emu._stop:
                            emu._cv.wait(0.5)
                        if emu._stop:
                            return
                        todo = emu._parts[sent:]
                        sent = len(emu._parts)
                    try:
                        for p in todo:
                            self.wfile.write(p)
                        self.wfile.flush()
                    except OSError:
                        return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def send(self, *parts: bytes) -> None:
        """Stream raw parts to every connected client (and to later ones)."""
        with self._cv:
            self._parts.extend(parts)
            self._cv.notify_all()

    def close(self) -> None:
        """Stop serving."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self.server.shutdown()
        self.server.server_close()
