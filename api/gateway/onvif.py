"""ONVIF events, PullPoint: ``CreatePullPointSubscription`` → ``PullMessages`` → ``Renew`` → ``Unsubscribe``.

The client is onvif-zeep-async (zeep over the official ONVIF WSDLs it ships, WS-Security
``UsernameToken`` digest, WS-Addressing), the library Home Assistant's ONVIF integration uses. The
adapter asks the device service for its services (``GetServices``, falling back to
``GetCapabilities``), creates a PullPoint subscription of ``subscription_s`` seconds, long-polls
``PullMessages`` (``MessageLimit`` 100, ``Timeout`` ``pull_timeout_s``) and renews the subscription when
half of it has run; on stop it unsubscribes. A fault, a refused connection or an expired subscription
(the camera rebooted) means a new subscription after a backoff (1 s doubling to 30 s). A pull is
committed to the queue before the next one is asked for, so a full queue slows the camera's pulls
instead of piling up in memory (PullPoint has no redelivery: what a camera handed over and the
queue refused is counted as ``queue_refused``).

Each ``wsnt:NotificationMessage`` is read the way onvif-zeep-async clients read it: ``Topic._value_1``
(``tns1:RuleEngine/CellMotionDetector/Motion``), ``Message._value_1`` a ``tt:Message`` with
``UtcTime``, ``PropertyOperation`` (``Initialized``/``Changed``/``Deleted``) and ``Source``/``Data``
``SimpleItem`` lists. The video source (``VideoSourceConfigurationToken``, ``VideoSourceToken``,
``Source`` or ``InputToken``) maps to a registry camera through ``sources.cameras``; the ``Rule`` item is
the zone the rules match; a rule's ``what`` matches the topic without its prefix, whole or as a suffix
(``CellMotionDetector/Motion``, ``FieldDetector/*``, ``Tamper``). Property topics with a boolean (motion
``IsMotion``, intrusion ``IsInside``, tampering ``IsTamper``, ``VideoSource/MotionAlarm`` ``State``,
object detectors' ``State``) open an episode when true and end it when false or ``Deleted``; pulses
with no boolean (``LineDetector/Crossed``, ``ObjectId``) keep one episode open until ``idle_end_s`` of
silence (`mapping.Episodes`). A ``Count`` item (``CountAggregation/Counter``) is a gauge for the status
and the `config.CountRule` thresholds.

Bad input never stops the loop: XML with a DTD or entities (zeep refuses entities), unparsable
replies and messages without a topic or ``tt:Message`` are counted (``xml_forbidden``,
``malformed_xml``, ``malformed_message``) and the next pull goes on; unknown video sources
(``unknown_camera``) and topics no rule maps (``unmapped``) are counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlparse

import aiohttp
import zeep.exceptions
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFError
from onvif.util import is_auth_error, normalize_url

from api.gateway.config import Source
from api.gateway.mapping import Emitter, Episodes, SourceStats
from api.gateway.queue import DurableQueue
from twin.errors import InputError

log = logging.getLogger("twin.gateway.onvif")
PULLPOINT = "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription"
MESSAGE_LIMIT = 100
#: Source items naming the video source (the first present wins).
_CAMERA_ITEMS = ("VideoSourceConfigurationToken", "VideoSourceToken", "Source", "InputToken", "VideoSource")
_RULE_ITEMS = ("Rule", "RuleName")
_BOOL = {"true": True, "1": True, "false": False, "0": False}
_NETWORK_ERRORS = (
    zeep.exceptions.Error, ONVIFError, aiohttp.ClientError, TimeoutError, OSError, AttributeError,
)  # fmt: skip


def topic_matches(topic: str, pattern: str) -> bool:
    """Whether a rule's `pattern` matches `topic` (prefix-less), whole or as its trailing segments."""
    return fnmatchcase(topic, pattern) or fnmatchcase(topic, "*/" + pattern)


def short_topic(topic: str) -> str:
    """``tns1:RuleEngine/CellMotionDetector/Motion`` → ``RuleEngine/CellMotionDetector/Motion``."""
    t = topic.strip().rstrip("/.")
    head, sep, rest = t.partition(":")
    return rest if sep and "/" not in head else t


def _items(part: Any) -> list[tuple[str, str]]:
    """Return (Name, Value) of a ``tt:Source``/``tt:Data`` part's SimpleItems (zeep object or None)."""
    if part is None:
        return []
    out = []
    for i in getattr(part, "SimpleItem", None) or []:
        name, value = getattr(i, "Name", None), getattr(i, "Value", None)
        if isinstance(name, str) and value is not None:
            out.append((name, str(value)))
    return out


class OnvifAdapter:
    """One ONVIF camera's event service → the queue."""

    def __init__(self, source: Source, queue: DurableQueue, stats: SourceStats) -> None:
        if not source.url:
            raise InputError(f"sources.{source.name}.url", "an ONVIF source needs the device's url")
        u = urlparse(source.url if "//" in source.url else f"http://{source.url}")
        if not u.hostname:
            raise InputError(f"sources.{source.name}.url", f"{source.url!r} has no host")
        self.host, self.port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
        self.source = source
        self.stats = stats
        self.queue = queue
        self.emitter = Emitter(source, queue, stats)
        # properties (IsMotion, IsInside…) end when the camera says so; pulses (Crossed) after silence
        self.properties = Episodes(self.emitter, idle_end_s=float("inf"), kind="prop")
        self.pulses = Episodes(self.emitter, idle_end_s=source.idle_end_s, kind="pulse")
        self.subscriptions = 0
        self.renewals = 0

    def tick(self) -> None:
        """End pulse episodes after `idle_end_s` of silence."""
        self.pulses.sweep()

    def alive(self) -> bool:
        """Whether a subscription is live and being pulled."""
        return self.stats.state == "connected"

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe and pull until `stop`, subscribing again (with backoff) after any failure."""
        delay = 1.0
        while not stop.is_set():
            self.stats.set_state("connecting")
            cam = ONVIFCamera(self.host, self.port, self.source.username, self.source.password(),
                              no_cache=True)  # fmt: skip
            sub: Any = None
            try:
                sub, pull, renew_at = await self._subscribe(cam)
                self.stats.set_state("connected")
                delay = 1.0
                while not stop.is_set():
                    if time.monotonic() >= renew_at:
                        renew_at = await self._renew(sub)
                    wait = max(1.0, min(self.source.pull_timeout_s, renew_at - time.monotonic()))
                    await self._pull_once(pull, wait)
            except _NETWORK_ERRORS as e:
                why = "the camera refused the credentials: " if is_auth_error(e) else ""
                self.stats.set_state("disconnected", f"{why}{type(e).__name__}: {e}"[:200])
            finally:
                if sub is not None:
                    with contextlib.suppress(*_NETWORK_ERRORS, asyncio.CancelledError):
                        await asyncio.wait_for(sub.Unsubscribe(), 5)
                with contextlib.suppress(*_NETWORK_ERRORS):
                    await cam.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(30.0, delay * 2)

    def _next_renewal(self, current: Any, termination: Any) -> float:
        length = float(self.source.subscription_s)
        if isinstance(current, datetime) and isinstance(termination, datetime):
            length = max(1.0, (termination - current).total_seconds())
        return time.monotonic() + length / 2

    async def _subscribe(self, cam: ONVIFCamera) -> tuple[Any, Any, float]:
        await cam.update_xaddrs()
        events = await cam.create_events_service()
        res = await events.CreatePullPointSubscription(
            {"InitialTerminationTime": f"PT{int(self.source.subscription_s)}S"}
        )
        cam.xaddrs[PULLPOINT] = normalize_url(res.SubscriptionReference.Address._value_1)
        sub = await cam.create_subscription_service("PullPointSubscription")
        pull = await cam.create_pullpoint_service()
        self.subscriptions += 1
        log.info("source %s: PullPoint subscription %s", self.source.name, cam.xaddrs[PULLPOINT])
        return sub, pull, self._next_renewal(res.CurrentTime, res.TerminationTime)

    async def _renew(self, sub: Any) -> float:
        res = await sub.Renew(f"PT{int(self.source.subscription_s)}S")
        self.renewals += 1
        return self._next_renewal(getattr(res, "CurrentTime", None), getattr(res, "TerminationTime", None))

    async def _pull_once(self, pull: Any, wait: float) -> None:
        st = self.stats
        try:
            res = await pull.PullMessages({"MessageLimit": MESSAGE_LIMIT, "Timeout": timedelta(seconds=wait)})
        except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden) as e:
            st.received += 1
            st.refuse("xml_forbidden", f"{type(e).__name__}: {e}")
            return
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError) as e:
            st.received += 1
            st.refuse("malformed_xml", str(e))
            return
        for m in getattr(res, "NotificationMessage", None) or []:
            st.received += 1
            st.last_message = time.time()
            try:
                self._message(m)
            except Exception as e:  # a bug in the mapping must not stop the pulls: counted, logged
                log.exception("source %s: a notification failed", self.source.name)
                st.refuse("internal_error", f"{type(e).__name__}: {e}")
        # barrier: what this pull produced is committed before the camera is asked for more
        await asyncio.to_thread(self.queue.put_wait, [])

    def _message(self, m: Any) -> None:
        st = self.stats
        topic_el = getattr(m, "Topic", None)
        raw_topic = getattr(topic_el, "_value_1", topic_el)
        payload = getattr(getattr(m, "Message", None), "_value_1", None)
        if not isinstance(raw_topic, str) or not raw_topic.strip():
            st.refuse("malformed_message", "NotificationMessage without a Topic")
            return
        if payload is None or not hasattr(payload, "Data"):
            st.refuse("malformed_message", f"{raw_topic[:80]}: no tt:Message with Source/Data")
            return
        topic = short_topic(raw_topic)
        source = dict(_items(getattr(payload, "Source", None)))
        data = _items(payload.Data)
        camera = next((source[k] for k in _CAMERA_ITEMS if k in source), None)
        if camera is None or camera not in self.source.cameras:
            st.refuse("unknown_camera", f"{topic}: video source {camera!r} is not in sources.cameras")
            return
        rule_name = next((source[k] for k in _RULE_ITEMS if k in source), "")
        utc = getattr(payload, "UtcTime", None)
        at = utc.timestamp() if isinstance(utc, datetime) else time.time()
        op = str(getattr(payload, "PropertyOperation", "") or "")
        key = f"{self.source.name}-{camera}-{topic.replace('/', '.')}-{rule_name or 0}"
        count = next((v for k, v in data if k == "Count"), None)
        if count is not None:
            self._count(camera, topic, count, at, key)
            return
        state = next((_BOOL[v.lower()] for k, v in data if v.lower() in _BOOL), None)
        episodes = self.pulses if state is None and op != "Deleted" else self.properties
        if op == "Deleted" or state is False:
            episodes.inactive(key, at)
            return
        zones = (rule_name,) if rule_name else ()
        rule = self.emitter.rule_for(camera, topic, zones, 1.0, match=topic_matches)
        attrs: dict[str, Any] = {"topic": topic[:120], "video_source": camera[:60]}
        if rule_name:
            attrs["rule"] = rule_name[:60]
        for k, v in data[:4]:
            if v.lower() not in _BOOL:
                attrs[f"onvif_{k}"[:40]] = v[:80]
        episodes.active(key, camera, topic, at, rule=rule, zones=zones, attrs=attrs)

    def _count(self, camera: str, topic: str, count: str, at: float, key: str) -> None:
        if not count.strip().isdigit():
            self.stats.refuse("malformed_message", f"{topic}: Count {count[:20]!r} is not a count")
            return
        n = int(count)
        self.stats.gauges[f"{camera}/{topic}"] = n
        rule = self.emitter.count_rule_for(camera, topic, match=topic_matches)
        if rule is None:
            return
        if n >= rule.threshold:
            attrs = {"count": n, "topic": topic[:120]}
            self.properties.active(key, camera, topic, at, rule=rule, attrs=attrs)
        else:
            self.properties.inactive(key, at)
