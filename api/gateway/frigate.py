"""Frigate over MQTT: ``frigate/events`` (new/update/end with before/after), counts, availability.

Frigate publishes, under its ``topic_prefix`` (default ``frigate``):

- ``frigate/events``: one JSON message per change of a tracked object, ``{"type": "new"|"update"|"end",
  "before": {...}, "after": {...}}``; ``after.id`` is stable for the object's life. The object becomes
  one twin event (``event_id`` = ``<source>-<after.id>``) whose category comes from the first rule
  matching the camera, ``after.label`` and its zones (``current_zones`` ∪ ``entered_zones``). The
  category chosen when the object is first sent sticks to it (the twin refuses an id that changes
  category), kept in the queue's state until the ``end``.
- ``frigate/<camera>/<object>``: the number of such objects the camera sees now (a gauge, not
  a count per interval for ``POST /counts``: it goes to the gateway status and to threshold
  episodes, see `config.CountRule`).
- ``frigate/available``: ``online`` / ``offline``.

The client is paho-mqtt (MQTT 5, persistent session: ``clean_start=False`` with a session expiry,
QoS 1 subscriptions, **manual acknowledgement**): a message is acknowledged (PUBACK) only after the
queue's COMMIT that holds it, so a gateway killed mid-write gets it redelivered by the broker. Frigate
itself publishes at QoS 0, so that chain starts at the broker; a publisher at QoS 1 gets it end to end.
Never forwarded: ``sub_label`` and any recognised plate or face name, snapshots and thumbnails.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, cast

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from api.gateway.config import Source
from api.gateway.mapping import Detection, Emitter, Episodes, Lifecycle, SourceStats
from api.gateway.queue import DurableQueue

log = logging.getLogger("twin.gateway.frigate")

#: Largest ``frigate/events`` payload taken (Frigate's are ~1–3 kB).
MAX_PAYLOAD = 64 * 1024
#: The broker may have this many unacknowledged QoS 1 messages in flight to us (MQTT 5 Receive Maximum).
RECEIVE_MAXIMUM = 2000
SESSION_EXPIRY_S = 7 * 24 * 3600
_LIFECYCLES = {"new", "update", "end"}
_PROPERTIES: Any = Properties  # paho's class is untyped


def parse_broker(broker: str) -> tuple[str, int]:
    """Return host and port of ``host[:port]`` (or ``mqtt://host:port``)."""
    b = broker.removeprefix("mqtt://").rstrip("/")
    host, _, port = b.rpartition(":") if ":" in b else (b, "", "1883")
    return host or "127.0.0.1", int(port or 1883)


class FrigateAdapter:
    """One Frigate instance's MQTT stream → the queue."""

    def __init__(self, source: Source, queue: DurableQueue, stats: SourceStats) -> None:
        self.source = source
        self.queue = queue
        self.stats = stats
        self.emitter = Emitter(source, queue, stats)
        self.episodes = Episodes(self.emitter, idle_end_s=source.idle_end_s)
        self.prefix = source.topic_prefix.rstrip("/")
        self._sticky_prefix = f"fr:{source.name}:"
        self._sticky: dict[str, str] = queue.state_items(self._sticky_prefix)
        self._lock = threading.Lock()
        self._held_back = False  # a message was refused (queue full): reconnect for redelivery later
        host, port = parse_broker(source.broker)
        self.host, self.port = host, port
        client_id = source.client_id or f"twin-gateway-{source.name}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=15)
        if source.username:
            self.client.username_pw_set(source.username, source.password())

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (retrying in the background) and start paho's network thread."""
        props = _PROPERTIES(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.stats.set_state("connecting")
        self.client.connect_async(self.host, self.port, keepalive=15, clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def tick(self) -> None:
        """Once a second: end idle count episodes; after a full queue drained, reconnect for redelivery."""
        self.episodes.sweep()
        if self._held_back and self.queue.stats.full_since is None:
            self._held_back = False
            log.warning(
                "source %s: queue has room again; reconnecting for the held-back messages", self.source.name
            )
            self.client.reconnect()

    def alive(self) -> bool:
        """Whether the broker connection is up and Frigate says it is online."""
        return self.stats.state == "connected"

    # -- paho callbacks (network thread) -------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.stats.set_state("disconnected", f"broker refused: {reason}")
            return
        self.stats.set_state("connected")
        p = self.prefix
        client.subscribe([(f"{p}/events", 1), (f"{p}/available", 1), (f"{p}/+/+", 1)])

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.stats.set_state("disconnected", f"broker connection lost: {reason}")

    def _ack(self, msg: mqtt.MQTTMessage) -> None:
        if msg.qos > 0:
            self.client.ack(msg.mid, msg.qos)

    def _after_commit(self, msg: mqtt.MQTTMessage) -> Any:
        def done(ok: bool, reason: str) -> None:
            if ok:
                self._ack(msg)
            else:
                self._held_back = True  # not acknowledged: the broker redelivers after a reconnect

        return done

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        st = self.stats
        st.received += 1
        st.last_message = time.time()
        try:
            handled = self._handle(msg)
        except Exception as e:  # a bug in the mapping must not stop the stream: counted, logged
            log.exception("source %s: message on %s failed", self.source.name, msg.topic)
            st.refuse("internal_error", f"{msg.topic}: {type(e).__name__}: {e}")
            handled = False
        if not handled:
            self._ack(msg)  # refused for good (counted): acknowledging keeps it from coming back

    def _handle(self, msg: mqtt.MQTTMessage) -> bool:
        """Process one message; return True when its ack waits for a queue commit."""
        topic = msg.topic
        p = self.prefix
        if topic == f"{p}/events":
            return self._event(msg)
        if topic == f"{p}/available":
            text = msg.payload.decode("utf-8", "replace").strip()
            if text == "online":
                self.stats.set_state("connected")
            elif text == "offline":
                self.stats.set_state("unavailable", "Frigate says offline")
            else:
                self.stats.refuse("malformed_payload", f"{topic}: {text[:40]!r} is not online/offline")
            return False
        parts = topic.split("/")
        if len(parts) == 3 and parts[0] == p:
            return self._count(parts[1], parts[2], msg)
        self.stats.refuse("unknown_topic", topic)
        return False

    def _count(self, camera: str, obj: str, msg: mqtt.MQTTMessage) -> bool:
        if obj in {"motion", "all", "detect", "recordings", "snapshots", "audio"} and not self.source.counts:
            return False
        text = msg.payload[:32].decode("ascii", "replace").strip()
        if not text.isdigit():
            if obj not in {"motion"}:
                self.stats.refuse("malformed_payload", f"count {camera}/{obj}: {text!r} is not a count")
            return False
        if camera not in self.source.cameras:
            self.stats.refuse("unknown_camera", f"count for camera {camera!r}")
            return False
        n = int(text)
        self.stats.gauges[f"{camera}/{obj}"] = n
        rule = self.emitter.count_rule_for(camera, obj)
        if rule is None:
            return False
        key = f"count-{camera}-{obj}"
        now = time.time()
        with self._lock:
            if n >= rule.threshold:
                self.episodes.active(key, camera, obj, now, rule=rule, attrs={"count": n, "object": obj})
            else:
                self.episodes.inactive(key, now)
        return False

    def _event(self, msg: mqtt.MQTTMessage) -> bool:  # noqa: PLR0911  (one return per refusal reason)
        st = self.stats
        if len(msg.payload) > MAX_PAYLOAD:
            st.refuse("oversized_payload", f"{len(msg.payload)} bytes on {msg.topic}")
            return False
        try:
            data = orjson.loads(msg.payload)
        except orjson.JSONDecodeError as e:
            st.refuse("malformed_payload", f"not JSON: {e}")
            return False
        if not isinstance(data, dict) or not isinstance(data.get("after"), dict):
            st.refuse("malformed_payload", "no 'after' object")
            return False
        kind = data.get("type")
        if kind not in _LIFECYCLES:
            st.refuse("malformed_payload", f"type {kind!r} is not new/update/end")
            return False
        after: dict[str, Any] = data["after"]
        oid, camera, label = after.get("id"), after.get("camera"), after.get("label")
        start = after.get("start_time")
        if not (isinstance(oid, str) and oid and isinstance(camera, str) and isinstance(label, str)):
            st.refuse("malformed_payload", "after.id, after.camera and after.label must be strings")
            return False
        if not (isinstance(start, int | float) and math.isfinite(start)):
            st.refuse("malformed_payload", f"after.start_time {start!r} is not a unix time")
            return False
        end = after.get("end_time")
        end_t = float(end) if isinstance(end, int | float) and math.isfinite(end) else None
        if camera not in self.source.cameras:
            st.refuse("unknown_camera", f"Frigate camera {camera!r} is not in sources.cameras")
            return False
        if after.get("false_positive") is True:
            st.refuse("false_positive", oid)
            return False
        zones = tuple(
            dict.fromkeys(
                str(z)
                for z in [*(after.get("current_zones") or []), *(after.get("entered_zones") or [])]
                if isinstance(z, str)
            )
        )
        score = after.get("top_score", after.get("score", 1.0))
        score = float(score) if isinstance(score, int | float) and math.isfinite(score) else 1.0
        attrs: dict[str, Any] = {"label": label[:60], "frigate_id": oid[:100]}
        if isinstance(after.get("stationary"), bool):
            attrs["stationary"] = after["stationary"]
        skey = self._sticky_prefix + oid
        with self._lock:
            sticky = self._sticky.get(skey)
            if sticky is None:
                rule = self.emitter.rule_for(camera, label, zones, score)
                if rule is None:
                    st.refuse("unmapped", f"no rule for camera {camera!r}, {label!r}, zones {zones}")
                    return False
                category, severity = str(rule.category), str(rule.severity)
                lifecycle = "new" if kind != "end" else "end"
            else:
                category, severity = sticky.split("|", 1)
                lifecycle = kind if kind != "new" else "update"
            end_at = end_t if kind == "end" else None
            d = Detection(
                camera, label, oid, cast(Lifecycle, lifecycle), float(start), end_at, score, zones, attrs
            )
            m = self.emitter.build(d, category, severity)
            if m is None:
                return False
            state: dict[str, str | None]
            if kind == "end":
                self._sticky.pop(skey, None)
                state = {skey: None}
            else:
                self._sticky[skey] = f"{category}|{severity}"
                state = {skey: self._sticky[skey]}
            self.emitter.put_messages([m], self._after_commit(msg), state)
        return True
