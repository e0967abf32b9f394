"""From a source's detection to a twin event: the mapping rules, validation, episodes, counters.

Every adapter reports what it saw as a `Detection` (device camera, what, zone, score, the object's
lifecycle and its stable id) and calls `Emitter.emit`; the emitter finds the registry camera and the
first matching rule, builds the event, validates it with the twin's own adapter
(`api.schemas.events.EVENT_ADAPTER`) and hands it to the queue. What cannot be mapped or validated is
logged with the reason, counted per source and reason, and never queued.

Devices that report states rather than tracked objects (ISAPI ``active``/``inactive``, ONVIF
``IsMotion``/``State`` properties, count gauges) go through `Episodes`: the first active report opens
an event (``new``), later ones update it (at most every `update_every_s`), the inactive report or
`idle_end_s` of silence ends it. Open episodes are kept in the queue's state, committed with the
message they produced, so a restarted gateway ends the same event id it opened.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from api.gateway.config import CountRule, Rule, Source
from api.gateway.queue import DurableQueue, Message
from api.schemas.events import EVENT_ADAPTER, ID_PATTERN

log = logging.getLogger("twin.gateway")

Lifecycle = Literal["new", "update", "end"]
ConnState = Literal["connecting", "connected", "disconnected", "unavailable"]
_ID_OK = __import__("re").compile(ID_PATTERN)
Match = Callable[[str, str], bool]


@dataclass(slots=True)
class Detection:
    """One thing a source reported, in the source's own terms."""

    camera: str  # Frigate camera name, ISAPI channel, ONVIF video source token
    what: str  # label / eventType / topic
    object_id: str  # stable per tracked object or episode
    lifecycle: Lifecycle
    start: float  # unix seconds
    end: float | None = None
    score: float = 1.0
    zones: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SourceStats:
    """Per-source health and counters."""

    name: str
    kind: str
    state: ConnState = "connecting"
    since: float = field(default_factory=time.time)
    last_message: float | None = None
    last_error: str | None = None
    received: int = 0
    queued: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # refused/ignored, by reason
    gauges: dict[str, int] = field(default_factory=dict)  # latest count per camera/object

    def set_state(self, state: ConnState, error: str | None = None) -> None:
        """Record a connection state change (logged)."""
        if state != self.state:
            log.info("source %s (%s): %s → %s%s", self.name, self.kind, self.state, state,
                     f" ({error})" if error else "")  # fmt: skip
            self.state = state
            self.since = time.time()
        if error:
            self.last_error = error

    def refuse(self, reason: str, detail: str) -> None:
        """Count a message that is not forwarded, and log why (rate-limited by reason)."""
        self.counts[reason] += 1
        n = self.counts[reason]
        if n <= 5 or n % 1000 == 0:
            log.warning("source %s: %s (%s) [%d so far]", self.name, reason, detail[:200], n)

    def as_dict(self) -> dict[str, Any]:
        """Return the stats as JSON-ready values."""
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "since": _iso(self.since),
            "last_message": _iso(self.last_message) if self.last_message else None,
            "last_error": self.last_error,
            "received": self.received,
            "queued": self.queued,
            "refused": dict(self.counts),
            "counts": dict(self.gauges),
        }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def safe_id(*parts: str) -> str:
    """Return an event id from `parts` that fits the twin's id pattern (hashed when it would not)."""
    raw = "-".join(p.replace(" ", "_") for p in parts)
    if _ID_OK.match(raw):
        return raw
    clean = "".join(c if c.isalnum() or c in "._:-" else "_" for c in raw).lstrip("._:-")[:100]
    return f"{clean or 'ev'}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


class Emitter:
    """Maps a source's detections to twin events and queues them."""

    def __init__(self, source: Source, queue: DurableQueue, stats: SourceStats) -> None:
        self.source = source
        self.queue = queue
        self.stats = stats

    def rule_for(
        self, camera: str, what: str, zones: tuple[str, ...], score: float, match: Match = fnmatchcase
    ) -> Rule | None:
        """Return the first rule matching (`match(what, rule.what)` for the kind), or None."""
        for r in self.source.rules:
            if not (fnmatchcase(camera, r.camera) and match(what, r.what)):
                continue
            if r.zone != "*" and not any(fnmatchcase(z, r.zone) for z in zones):
                continue
            if score < r.min_score:
                continue
            return r
        return None

    def count_rule_for(self, camera: str, what: str, match: Match = fnmatchcase) -> CountRule | None:
        """Return the first count rule for `camera` and counted `what`, or None."""
        return next(
            (r for r in self.source.counts if fnmatchcase(camera, r.camera) and match(what, r.what)), None
        )

    def build(self, d: Detection, category: str, severity: str) -> Message | None:
        """Return the queued form of `d`, or None (counted) when the twin would refuse it."""
        camera_id = self.source.cameras.get(d.camera)
        if camera_id is None:
            self.stats.refuse("unknown_camera", f"camera {d.camera!r} is not in sources.cameras")
            return None
        event_id = safe_id(self.source.name, d.object_id)
        attrs = {"source": self.source.name, "protocol": self.source.kind, "detector": d.what[:120]}
        if d.zones:
            attrs["zones"] = ",".join(d.zones)[:200]
        attrs.update(d.attributes)
        event: dict[str, Any] = {
            "event_id": event_id,
            "camera_id": camera_id,
            "category": category,
            "severity": severity,
            "confidence": min(1.0, max(0.0, float(d.score))),
            "lifecycle": d.lifecycle,
            "start_time": _iso(d.start),
            "attributes": attrs,
        }
        if d.end is not None:
            event["end_time"] = _iso(max(d.end, d.start))
        try:
            EVENT_ADAPTER.validate_python(event)
        except ValidationError as e:
            err = e.errors(include_url=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            self.stats.refuse("invalid_event", f"{event_id}: {loc}: {err['msg']}")
            return None
        return Message(self.source.name, camera_id, event_id, orjson.dumps(event), time.time())

    def emit(
        self,
        d: Detection,
        done: Callable[[bool, str], None] | None = None,
        state: dict[str, str | None] | None = None,
    ) -> bool:
        """Map, validate and queue one detection; return False (counted) when it is not forwarded.

        `done(ok, reason)` runs after the COMMIT (the moment to acknowledge the source).
        """
        rule = self.rule_for(d.camera, d.what, d.zones, d.score)
        if rule is None:
            self.stats.refuse("unmapped", f"no rule for camera {d.camera!r}, {d.what!r}, zones {d.zones}")
            return False
        msg = self.build(d, rule.category, rule.severity)
        if msg is None:
            return False
        self.put_messages([msg], done, state)
        return True

    def put_messages(
        self,
        msgs: list[Message],
        done: Callable[[bool, str], None] | None,
        state: dict[str, str | None] | None,
    ) -> None:
        def after(ok: bool, reason: str) -> None:
            if ok:
                self.stats.queued += len(msgs)
            else:
                self.stats.refuse("queue_refused", reason)
            if done is not None:
                done(ok, reason)

        self.queue.put(msgs, after, state)


@dataclass(slots=True)
class _Episode:
    event_id: str
    start: float
    last: float
    sent: float
    what: str
    camera: str
    zones: tuple[str, ...]
    category: str
    severity: str
    attrs: dict[str, Any]


class Episodes:
    """State-style reports (active/inactive, gauges) → new/update/end events with stable ids."""

    def __init__(
        self, emitter: Emitter, *, idle_end_s: float, update_every_s: float = 5.0, kind: str = ""
    ) -> None:
        self.emitter = emitter
        self.idle_end_s = idle_end_s
        self.update_every_s = update_every_s
        # `kind` separates two sets of one source (ONVIF properties, never idle-ended, and pulses)
        self._prefix = f"ep:{emitter.source.name}:{kind + ':' if kind else ''}"
        self._open: dict[str, _Episode] = {}
        for k, v in emitter.queue.state_items(self._prefix).items():
            d = orjson.loads(v)
            self._open[k[len(self._prefix) :]] = _Episode(**{**d, "zones": tuple(d["zones"])})

    def _save(self, key: str) -> dict[str, str | None]:
        ep = self._open.get(key)
        if ep is None:
            return {self._prefix + key: None}
        d = {s: getattr(ep, s) for s in _Episode.__slots__}
        return {self._prefix + key: orjson.dumps(d).decode()}

    def active(
        self,
        key: str,
        camera: str,
        what: str,
        at: float,
        *,
        rule: Rule | CountRule | None,
        zones: tuple[str, ...] = (),
        attrs: dict[str, Any] | None = None,
        score: float = 1.0,
    ) -> None:
        """An active report for `key`: opens the episode or updates it (throttled)."""
        ep = self._open.get(key)
        if ep is None:
            if rule is None:
                self.emitter.stats.refuse(
                    "unmapped", f"no rule for camera {camera!r}, {what!r}, zones {zones}"
                )
                return
            stamp = datetime.fromtimestamp(at, UTC).strftime("%Y%m%dT%H%M%S")
            ep = _Episode(
                event_id=safe_id(key, stamp, f"{int(at * 1000) % 1000:03d}"),
                start=at, last=at, sent=at, what=what, camera=camera, zones=zones,
                category=rule.category, severity=rule.severity, attrs=dict(attrs or {}),
            )  # fmt: skip
            self._open[key] = ep
            self._send(key, ep, "new", score)
            return
        ep.last = max(ep.last, at)
        if attrs:
            ep.attrs.update(attrs)
        if at - ep.sent >= self.update_every_s:
            ep.sent = at
            self._send(key, ep, "update", score)

    def inactive(self, key: str, at: float) -> None:
        """An inactive report (or a count below threshold) for `key`: ends its episode if open."""
        ep = self._open.pop(key, None)
        if ep is not None:
            self._send(key, ep, "end", 1.0, end=max(at, ep.last))

    def sweep(self, now: float | None = None) -> None:
        """End every episode silent for longer than `idle_end_s`."""
        now = now or time.time()
        for key in [k for k, e in self._open.items() if now - e.last > self.idle_end_s]:
            ep = self._open.pop(key)
            self._send(key, ep, "end", 1.0, end=ep.last)

    def _send(
        self, key: str, ep: _Episode, lifecycle: Lifecycle, score: float, end: float | None = None
    ) -> None:
        d = Detection(
            ep.camera, ep.what, ep.event_id, lifecycle, ep.start, end, score, ep.zones, dict(ep.attrs)
        )
        msg = self.emitter.build(d, ep.category, ep.severity)
        state = self._save(key)
        if msg is None:
            self._open.pop(key, None)
            state = {self._prefix + key: None}
            self.emitter.queue.put([], lambda ok, r: None, state)
            return
        # the event id is the detection's object id, already prefixed by the key (source-unique)
        self.emitter.put_messages([msg], None, state)

    @property
    def open_count(self) -> int:
        """How many episodes are open."""
        return len(self._open)
