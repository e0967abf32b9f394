"""The in-process publish/subscribe bus behind `GET /stream`: bounded queues, drops counted.

Publishing never waits: a message, encoded once as an SSE frame, goes into each matching subscriber's
bounded queue, or is dropped for that subscriber (and counted) when its queue is full. A stalled
client therefore costs ingest one failed ``put_nowait`` per message, never a block. Runs on the
event loop thread.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

#: Stream message types.
KINDS = ("event", "alert", "camera", "report")


@dataclass(frozen=True, slots=True)
class Message:
    """One stream message: its type, pre-serialised JSON data, and what filters look at."""

    kind: str
    data: str
    category: str | None = None
    ward_code: str | None = None
    lon: float | None = None
    lat: float | None = None


def encode_sse(m: Message) -> bytes:
    """Return `m` as one Server-Sent Events frame (``event:`` type, one ``data:`` line of JSON)."""
    return b"event: " + m.kind.encode() + b"\ndata: " + m.data.encode() + b"\n\n"


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """What one subscriber wants (every field optional)."""

    categories: frozenset[str] = frozenset()
    ward_code: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    kinds: frozenset[str] = frozenset(KINDS)

    def matches(self, m: Message) -> bool:
        """Return whether message `m` passes this filter (messages without the field pass)."""
        if m.kind not in self.kinds:
            return False
        if self.categories and m.category is not None and m.category not in self.categories:
            return False
        if self.ward_code and m.ward_code is not None and m.ward_code != self.ward_code:
            return False
        if self.bbox and m.lon is not None and m.lat is not None:
            x0, y0, x1, y1 = self.bbox
            if not (x0 <= m.lon <= x1 and y0 <= m.lat <= y1):
                return False
        return True


@dataclass(eq=False)
class Subscription:
    """One subscriber's bounded queue and counters."""

    sid: int
    filter: StreamFilter
    queue: asyncio.Queue[bytes]
    delivered: int = 0
    dropped: int = 0
    closed: bool = field(default=False)


class Bus:
    """Fan-out of stream messages to subscribers.

    Parameters
    ----------
    queue_size
        Bound of each subscriber's queue; messages beyond it are dropped for that subscriber.
    """

    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._subs: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self.published = 0
        self.delivered = 0
        self.dropped = 0

    def subscribe(self, flt: StreamFilter) -> Subscription:
        """Add a subscriber."""
        sub = Subscription(next(self._ids), flt, asyncio.Queue(maxsize=self.queue_size))
        self._subs[sub.sid] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscriber (idempotent)."""
        sub.closed = True
        self._subs.pop(sub.sid, None)

    def publish(self, m: Message) -> int:
        """Offer `m` to every matching subscriber without waiting; return how many took it.

        The message is encoded as one SSE frame once, whatever the number of subscribers.
        """
        self.published += 1
        n = 0
        frame: bytes | None = None
        for sub in self._subs.values():
            if not sub.filter.matches(m):
                continue
            if frame is None:
                frame = encode_sse(m)
            try:
                sub.queue.put_nowait(frame)
            except asyncio.QueueFull:
                sub.dropped += 1
                self.dropped += 1
                continue
            sub.delivered += 1
            n += 1
        self.delivered += n
        return n

    @property
    def subscribers(self) -> int:
        """The number of current subscribers."""
        return len(self._subs)

    def stats(self) -> dict[str, int]:
        """Return published/delivered/dropped counters and the subscriber count."""
        return {
            "subscribers": self.subscribers,
            "published": self.published,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "queue_size": self.queue_size,
        }
