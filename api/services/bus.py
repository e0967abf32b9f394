"""The in-process publish/subscribe bus behind `GET /stream`: bounded queues, drops counted.

Publishing never waits: a message, encoded once as an SSE frame, goes into each matching subscriber's
bounded queue, or is dropped for that subscriber (and counted) when its queue is full. A batch of
messages goes in as one chunk per subscriber, so a stalled client costs ingest one comparison per
batch, never a block. Runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

#: Stream message types.
KINDS = ("event", "alert", "camera", "report", "incident")


@dataclass(frozen=True, slots=True)
class Message:
    """One stream message: its type, pre-serialised JSON data, and what filters look at."""

    kind: str
    data: str | bytes
    category: str | None = None
    ward_code: str | None = None
    lon: float | None = None
    lat: float | None = None


def encode_sse(m: Message) -> bytes:
    """Return `m` as one Server-Sent Events frame (``event:`` type, one ``data:`` line of JSON)."""
    data = m.data if isinstance(m.data, bytes) else m.data.encode()
    return b"event: " + m.kind.encode() + b"\ndata: " + data + b"\n\n"


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

    def takes_all(self, kind: str) -> bool:
        """Return whether every message of `kind` passes (no category, ward or bbox filter)."""
        return kind in self.kinds and not self.categories and not self.ward_code and self.bbox is None


@dataclass(eq=False)
class Subscription:
    """One subscriber's bounded queue and counters.

    The queue holds chunks of one or more SSE frames; `pending` counts the messages they carry and
    never exceeds the bus's `queue_size` (what does not fit is dropped and counted).
    """

    sid: int
    filter: StreamFilter
    queue: asyncio.Queue[tuple[bytes, int]]
    delivered: int = 0
    dropped: int = 0
    pending: int = 0
    closed: bool = field(default=False)

    async def next_chunk(self, max_messages: int = 256) -> bytes:
        """Wait for queued frames; return what has piled up (about `max_messages`) as one chunk."""
        chunk, n = await self.queue.get()
        parts = [chunk]
        while n < max_messages and not self.queue.empty():
            more, k = self.queue.get_nowait()
            parts.append(more)
            n += k
        self.pending -= n
        return parts[0] if len(parts) == 1 else b"".join(parts)


class Bus:
    """Fan-out of stream messages to subscribers.

    Parameters
    ----------
    queue_size
        Bound of each subscriber's queue, in messages; messages beyond it are dropped for that
        subscriber (and counted).
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
        sub = Subscription(next(self._ids), flt, asyncio.Queue())
        self._subs[sub.sid] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscriber (idempotent)."""
        sub.closed = True
        self._subs.pop(sub.sid, None)

    def _offer(self, sub: Subscription, frames: list[bytes], chunk: bytes | None = None) -> int:
        """Queue what fits of `frames` (as one chunk) for `sub`; count the rest as dropped."""
        room = self.queue_size - sub.pending
        n = len(frames)
        take = min(room, n)
        if take < n:
            sub.dropped += n - take
            self.dropped += n - take
        if take <= 0:
            return 0
        if chunk is None or take < n:
            chunk = frames[0] if take == 1 else b"".join(frames[:take])
        sub.queue.put_nowait((chunk, take))
        sub.pending += take
        sub.delivered += take
        self.delivered += take
        return take

    def publish(self, m: Message) -> int:
        """Offer `m` to every matching subscriber without waiting; return how many took it.

        The message is encoded as one SSE frame once, whatever the number of subscribers.
        """
        return self.publish_many([m])

    def publish_many(self, messages: list[Message]) -> int:
        """Offer messages to every matching subscriber without waiting; return the frames queued.

        Each message is encoded once, whatever the number of subscribers; a subscriber gets all its
        matching messages of the call as one queued chunk (the same bytes on the wire as one frame at
        a time), and subscribers without filters share that chunk.
        """
        self.published += len(messages)
        if not self._subs or not messages:
            return 0
        frames: list[bytes] | None = None
        shared: bytes | None = None
        kinds = {m.kind for m in messages}
        queued = 0
        for sub in self._subs.values():
            flt = sub.filter
            if all(flt.takes_all(k) for k in kinds):
                if frames is None:
                    frames = [encode_sse(m) for m in messages]
                if shared is None and sub.pending + len(frames) <= self.queue_size:
                    shared = frames[0] if len(frames) == 1 else b"".join(frames)
                queued += self._offer(sub, frames, shared)
                continue
            if frames is None:
                frames = [encode_sse(m) for m in messages]
            mine = [f for f, m in zip(frames, messages, strict=True) if flt.matches(m)]
            if mine:
                queued += self._offer(sub, mine)
        return queued

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
