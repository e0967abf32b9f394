"""Hikvision ISAPI: ``GET /ISAPI/Event/notification/alertStream``, a never-ending multipart/mixed stream.

No maintained Python client library for the ISAPI event stream installs here (``hikvisionapi`` 0.3.2
dates from 2022 and has no streaming parser), so this is httpx streaming (digest auth, as the devices
ask) with a bounded multipart reader and defusedxml. Each part is an ``EventNotificationAlert``
(``channelID``, ``dateTime``, ``eventType``, ``eventState`` active/inactive, ``activePostCount``,
``DetectionRegionList/DetectionRegionEntry/regionID``); image parts (``image/jpeg``) are skipped, never
forwarded. A device reports ``active`` repeatedly while a detection lasts: (channel, eventType,
region) opens an episode (``new``), later reports update it, ``inactive`` or ``idle_end_s`` of silence
ends it (`mapping.Episodes`). ``videoloss`` ``inactive`` is the devices' keep-alive.

Bad input never stops the stream: a part larger than ``max_part_kb`` is skipped unread-into-memory
(``oversized_part``), XML with a DTD or entities (billion laughs, external entities) is refused by
defusedxml (``xml_forbidden``), unparsable XML (``malformed_xml``), unknown channels
(``unknown_camera``) and event types no rule maps (``unmapped``) are counted and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import httpx
from defusedxml import DefusedXmlException

from api.gateway.config import Source
from api.gateway.mapping import Emitter, Episodes, SourceStats
from api.gateway.queue import DurableQueue
from twin.errors import InputError

log = logging.getLogger("twin.gateway.isapi")
ALERT_STREAM = "/ISAPI/Event/notification/alertStream"
#: Event types that are keep-alives or device health, not detections.
_KEEPALIVE = {"videoloss"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(el: Element, name: str) -> Element | None:
    for child in el.iter():
        if _local(child.tag) == name:
            return child
    return None


def _text(el: Element, name: str) -> str | None:
    c = _find(el, name)
    return c.text.strip() if c is not None and c.text else None


def parse_alert(xml: bytes) -> dict[str, Any]:
    """Return the fields of one ``EventNotificationAlert`` (raises DefusedXmlException / ParseError)."""
    root = SafeET.fromstring(xml, forbid_dtd=True)
    if _local(root.tag) != "EventNotificationAlert":
        raise ParseError(f"root element is {_local(root.tag)!r}, not EventNotificationAlert")
    return {
        "channel": _text(root, "channelID") or _text(root, "dynChannelID") or "1",
        "time": _text(root, "dateTime"),
        "type": (_text(root, "eventType") or "").strip(),
        "state": (_text(root, "eventState") or "active").lower(),
        "region": _text(root, "regionID") or "",
        "count": _text(root, "activePostCount"),
        "description": _text(root, "eventDescription") or "",
        "target": _text(root, "targetType") or _text(root, "detectionTarget") or "",
    }


class MultipartReader:
    """Incremental multipart/mixed parser with a bound on each part's size."""

    def __init__(self, boundary: str, max_part: int) -> None:
        self.delim = b"--" + boundary.encode("latin-1")
        self.max_part = max_part
        self.buf = bytearray()
        self.skip = 0  # bytes of an oversized part still to discard
        self.discarding = False  # an oversized part without Content-Length: drop until the next delimiter

    def feed(self, chunk: bytes) -> list[tuple[dict[str, str], bytes | None]]:
        """Add bytes; return the complete parts as (headers, body); body None = oversized (skipped)."""
        out: list[tuple[dict[str, str], bytes | None]] = []
        self.buf += chunk
        while True:
            if self.skip:
                n = min(self.skip, len(self.buf))
                del self.buf[:n]
                self.skip -= n
                if self.skip:
                    return out
            start = self.buf.find(self.delim)
            if start < 0:
                if self.discarding or len(self.buf) > self.max_part + 4096:
                    keep = len(self.delim)
                    del self.buf[: max(0, len(self.buf) - keep)]
                return out
            self.discarding = False
            head_end = self.buf.find(b"\r\n\r\n", start)
            if head_end < 0:
                if len(self.buf) - start > 8192:  # headers that never end
                    del self.buf[: start + len(self.delim)]
                    out.append(({}, None))
                return out
            headers: dict[str, str] = {}
            for line in bytes(self.buf[start + len(self.delim) : head_end]).split(b"\r\n"):
                k, sep, v = line.decode("latin-1").partition(":")
                if sep:
                    headers[k.strip().lower()] = v.strip()
            body_start = head_end + 4
            clen = headers.get("content-length")
            if clen is not None and clen.isdigit():
                n = int(clen)
                if n > self.max_part:
                    del self.buf[:body_start]
                    self.skip = n
                    out.append((headers, None))
                    continue
                if len(self.buf) - body_start < n:
                    return out
                body = bytes(self.buf[body_start : body_start + n])
                del self.buf[: body_start + n]
                out.append((headers, body))
                continue
            nxt = self.buf.find(self.delim, body_start)
            if nxt < 0:
                if len(self.buf) - body_start > self.max_part:
                    del self.buf[: max(body_start, len(self.buf) - len(self.delim))]
                    self.discarding = True
                    out.append((headers, None))
                return out
            body = bytes(self.buf[body_start:nxt]).rstrip(b"\r\n")
            del self.buf[:nxt]
            out.append((headers, body))


def _boundary(content_type: str) -> str | None:
    for p in content_type.split(";")[1:]:
        k, _, v = p.strip().partition("=")
        if k.lower() == "boundary":
            return v.strip('"')
    return None


class IsapiAdapter:
    """One Hikvision camera or NVR's alertStream → the queue."""

    def __init__(self, source: Source, queue: DurableQueue, stats: SourceStats) -> None:
        if not source.url:
            raise InputError(f"sources.{source.name}.url", "an ISAPI source needs the device's url")
        self.source = source
        self.stats = stats
        self.queue = queue
        self.emitter = Emitter(source, queue, stats)
        self.episodes = Episodes(self.emitter, idle_end_s=source.idle_end_s)
        self.max_part = source.max_part_kb * 1024

    def tick(self) -> None:
        """End idle episodes."""
        self.episodes.sweep()

    def alive(self) -> bool:
        """Whether the alert stream is open."""
        return self.stats.state == "connected"

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the alert stream open (reconnecting with backoff) until `stop`."""
        assert self.source.url is not None
        pw = self.source.password()
        auth = httpx.DigestAuth(self.source.username, pw) if self.source.username and pw else None
        delay = 1.0
        async with httpx.AsyncClient(base_url=self.source.url.rstrip("/"), auth=auth,
                                     timeout=httpx.Timeout(10, read=90)) as client:  # fmt: skip
            while not stop.is_set():
                self.stats.set_state("connecting")
                try:
                    async with client.stream("GET", ALERT_STREAM) as r:
                        if r.status_code != 200:
                            raise httpx.HTTPStatusError(
                                f"HTTP {r.status_code}", request=r.request, response=r
                            )
                        boundary = _boundary(r.headers.get("content-type", ""))
                        if boundary is None:
                            raise httpx.DecodingError("alertStream is not multipart (no boundary)")
                        self.stats.set_state("connected")
                        delay = 1.0
                        reader = MultipartReader(boundary, self.max_part)
                        async for chunk in r.aiter_raw():
                            for headers, body in reader.feed(chunk):
                                self._part(headers, body)
                            if stop.is_set():
                                return
                    self.stats.set_state("disconnected", "stream ended")
                except (httpx.HTTPError, OSError) as e:
                    self.stats.set_state("disconnected", f"{type(e).__name__}: {e}"[:200])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(30.0, delay * 2)

    def _part(self, headers: dict[str, str], body: bytes | None) -> None:  # noqa: PLR0911  (one return per reason)
        st = self.stats
        st.received += 1
        st.last_message = time.time()
        if body is None:
            st.refuse("oversized_part", f"part over {self.source.max_part_kb} kB skipped")
            return
        ctype = headers.get("content-type", "application/xml").lower()
        if not ("xml" in ctype or ctype.startswith("text/")):
            st.counts["image_part_skipped"] += 1  # pictures are never forwarded
            return
        try:
            a = parse_alert(body)
        except DefusedXmlException as e:
            st.refuse("xml_forbidden", f"{type(e).__name__}: {e}")
            return
        except (ParseError, ValueError) as e:
            st.refuse("malformed_xml", str(e))
            return
        etype = a["type"]
        if not etype:
            st.refuse("malformed_xml", "no eventType")
            return
        if etype.lower() in _KEEPALIVE:
            return
        chan = a["channel"]
        if chan not in self.source.cameras:
            st.refuse("unknown_camera", f"channel {chan!r} is not in sources.cameras")
            return
        at = time.time()
        if a["time"]:
            try:
                at = datetime.fromisoformat(a["time"]).timestamp()
            except ValueError:
                st.refuse("malformed_xml", f"dateTime {a['time']!r}")
                return
        region = a["region"]
        key = f"{chan}-{etype}-{region or 0}"
        if a["state"] == "inactive":
            self.episodes.inactive(key, at)
            return
        zones = (region,) if region else ()
        rule = self.emitter.rule_for(chan, etype, zones, 1.0)
        attrs: dict[str, Any] = {"event_type": etype[:60], "channel": chan[:20]}
        if region:
            attrs["region"] = region[:20]
        if a["target"]:
            attrs["target"] = a["target"][:40]
        if a["count"] and a["count"].isdigit():
            attrs["reports"] = int(a["count"])
        self.episodes.active(key, chan, etype, at, rule=rule, zones=zones, attrs=attrs)
