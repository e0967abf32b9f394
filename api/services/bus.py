"""The in-process publish/subscribe bus behind `GET /stream`: bounded queues, drops counted, resumable.

Publishing never waits: a message, encoded once as an SSE frame, goes into each matching subscriber's
bounded queue, or is dropped for that subscriber (and counted) when its queue is full. A batch of
messages goes in as one chunk per subscriber, so a stalled client costs ingest one comparison per
batch, never a block. Runs on the event loop thread.

Every frame carries an ``id:`` (``<run>-<sequence>``); the last `window` frames are kept, so a client
that reconnects with ``Last-Event-ID`` gets what it missed, once and in order. When what it missed is
no longer kept (older than the window, a full queue's worth, or from before a restart) it gets one
``reload`` message instead: load the current state again (``GET /events``…), then follow the stream.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import deque
from dataclasses import dataclass, field

from api.responses import dumps

#: Stream message types.
KINDS = ("event", "alert", "camera", "report", "incident", "forecast", "job")


@dataclass(frozen=True, slots=True)
class Message:
    """One stream message: its type, pre-serialised JSON data, and what filters look at."""

    kind: str
    data: str | bytes
    category: str | None = None
    ward_code: str | None = None
    lon: float | None = None
    lat: float | None = None


def encode_sse(m: Message, event_id: bytes) -> bytes:
    """Return `m` as one Server-Sent Events frame (``id:``, ``event:`` type, one ``data:`` line)."""
    data = m.data if isinstance(m.data, bytes) else m.data.encode()
    return b"id: " + event_id + b"\nevent: " + m.kind.encode() + b"\ndata: " + data + b"\n\n"


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
    """Fan-out of stream messages to subscribers, with the last `window` frames kept for resumption.

    Parameters
    ----------
    queue_size
        Bound of each subscriber's queue, in messages; messages beyond it are dropped for that
        subscriber (and counted).
    window
        How many recent frames are kept for clients that reconnect with ``Last-Event-ID``.
    """

    def __init__(self, queue_size: int = 1000, window: int = 10_000) -> None:
        self.queue_size = queue_size
        self.window = window
        self._subs: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        #: This run's id prefix: ids of an earlier run (before a restart) are recognised as such.
        self.run = hex(time.time_ns() // 1000)[2:] + hex(4096 + os.getpid() % 4096)[3:]
        self._seq = 0
        self._recent: deque[tuple[int, Message, bytes]] = deque(maxlen=window)
        self.published = 0
        self.delivered = 0
        self.dropped = 0
        self.resumed = 0
        self.reloads = 0

    @property
    def last_id(self) -> str:
        """The id of the last frame published (``<run>-0`` before any)."""
        return f"{self.run}-{self._seq}"

    def subscribe(self, flt: StreamFilter, last_event_id: str | None = None) -> Subscription:
        """Add a subscriber; with `last_event_id`, first queue what it missed (or one ``reload``)."""
        sub = Subscription(next(self._ids), flt, asyncio.Queue())
        if last_event_id:
            self._resume(sub, last_event_id.strip())
        self._subs[sub.sid] = sub
        return sub

    def _resume(self, sub: Subscription, last_event_id: str) -> None:
        run, _, seq_text = last_event_id.rpartition("-")
        seq = int(seq_text) if seq_text.isdigit() else -1
        oldest = self._recent[0][0] if self._recent else self._seq + 1
        if run != self.run or seq < 0 or seq > self._seq or seq + 1 < oldest:
            self._reload(sub, last_event_id, "not kept: older than the window or from before a restart")
            return
        missed = [f for s, m, f in self._recent if s > seq and sub.filter.matches(m)]
        if len(missed) > self.queue_size:
            self._reload(sub, last_event_id, f"more than {self.queue_size} messages were missed")
            return
        if missed:
            self.resumed += 1
            self._offer(sub, missed)

    def _reload(self, sub: Subscription, last_event_id: str, reason: str) -> None:
        self.reloads += 1
        data = dumps({"last_event_id": last_event_id[:80], "reason": reason}).decode()
        self._offer(sub, [encode_sse(Message("reload", data), self.last_id.encode())])

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
        if not messages:
            return 0
        # Every message gets its id and is kept for resumption, with or without subscribers now.
        run = self.run.encode() + b"-"
        first = self._seq + 1
        self._seq += len(messages)
        frames = [encode_sse(m, run + str(first + i).encode()) for i, m in enumerate(messages)]
        if self.window:
            self._recent.extend(zip(range(first, self._seq + 1), messages, frames, strict=True))
        if not self._subs:
            return 0
        shared: bytes | None = None
        kinds = {m.kind for m in messages}
        queued = 0
        for sub in self._subs.values():
            flt = sub.filter
            if all(flt.takes_all(k) for k in kinds):
                if shared is None and sub.pending + len(frames) <= self.queue_size:
                    shared = frames[0] if len(frames) == 1 else b"".join(frames)
                queued += self._offer(sub, frames, shared)
                continue
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
            "window": self.window,
            "resumed": self.resumed,
            "reloads": self.reloads,
        }
