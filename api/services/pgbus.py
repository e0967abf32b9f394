"""The stream across instances: the in-process `Bus` bridged through PostgreSQL ``LISTEN/NOTIFY``.

`ClusterBus` is a `api.services.bus.Bus` whose `publish_many` also sends the messages to the other
instances on the same database, and which delivers what they send to its own subscribers. PostgreSQL
is already the cluster's one shared engine, so no broker is added.

- **Wire format.** A notification on channel ``twin_stream`` is ``<origin> <seq>\\n`` followed by one
  message per line, ``kind\\tcategory\\tward\\tlon\\tlat\\t<JSON data>`` (JSON never holds a raw newline);
  notifications stay under PostgreSQL's 8000-byte payload limit (`MAX_PAYLOAD`), and a larger message
  goes out in fragments (``~<id>\\t<i>\\t<n>\\t<part>``) that the receiver joins. The sequence number keeps
  two equal payloads of one transaction from being merged and lets a receiver count gaps.
- **Only when someone listens.** Each instance announces its subscriber count (``twin_presence``) when
  it changes and every `PRESENCE_S`; an instance sends events to the others only while some instance
  has a subscriber (`subscribers` counts them all), so an idle cluster does not serialise its ingest.
- **Never in ingest's way.** `publish_many` queues for a sender thread and returns; a listener thread
  hands what arrives to the event loop (``call_soon_threadsafe``) in one burst per wake-up.
- **The bus lost.** When either connection fails the bridge says so (`state`, shown by ``/health``),
  keeps serving its own instance's messages to its own subscribers (the fallback), and reconnects every
  `RETRY_S`; messages published meanwhile do not reach the other instances (they are counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import queue
import threading
import time
from typing import Any

import psycopg

from api.services.bus import Bus, Message, StreamFilter, Subscription

log = logging.getLogger("twin.cluster")

#: Channels of the stream and of the subscriber counts.
CHANNEL = "twin_stream"
PRESENCE = "twin_presence"
#: PostgreSQL refuses payloads of 8000 bytes or more; this leaves room for the header.
MAX_PAYLOAD = 7900
#: Seconds between subscriber-count announcements (and after which a silent peer's count expires).
PRESENCE_S = 1.0
#: Seconds between reconnection attempts once the bus is lost.
RETRY_S = 1.0


def encode_line(m: Message) -> str:
    """Return one message as a line of the wire format."""
    data = m.data.decode() if isinstance(m.data, bytes) else m.data
    lon = "" if m.lon is None else repr(m.lon)
    lat = "" if m.lat is None else repr(m.lat)
    return f"{m.kind}\t{m.category or ''}\t{m.ward_code or ''}\t{lon}\t{lat}\t{data}"


def decode_line(line: str) -> Message:
    """Return the message of one wire-format line."""
    kind, category, ward, lon, lat, data = line.split("\t", 5)
    return Message(
        kind, data, category or None, ward or None, float(lon) if lon else None, float(lat) if lat else None
    )


def pack(
    origin: str, seq: itertools.count[int], messages: list[Message], limit: int = MAX_PAYLOAD
) -> list[str]:
    """Return the notification payloads that carry `messages` (each under `limit` bytes)."""
    out: list[str] = []
    body: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal body, size
        if body:
            out.append(f"{origin} {next(seq)}\n" + "\n".join(body))
            body, size = [], 0

    room = limit - len(origin.encode()) - 24
    for m in messages:
        line = encode_line(m)
        n = len(line.encode()) + 1
        if n > room:  # one message too big for a notification: fragments, in order
            flush()
            frag = f"{origin}-{next(seq)}"
            step = (room - 64) // 4  # characters: at most 4 bytes each in UTF-8
            parts = [line[i : i + step] for i in range(0, len(line), step)]
            for i, part in enumerate(parts):
                out.append(f"{origin} {next(seq)}\n~{frag}\t{i}\t{len(parts)}\t{part}")
            continue
        if size + n > room:
            flush()
        body.append(line)
        size += n
    flush()
    return out


class _Joiner:
    """Reassembles fragmented messages (fragments of one message arrive in order, from one sender)."""

    def __init__(self) -> None:
        self._parts: dict[str, list[str]] = {}

    def feed(self, payload: str) -> tuple[str, int, list[Message]]:
        """Return (origin, sequence number, complete messages) of one notification payload."""
        head, _, body = payload.partition("\n")
        origin, _, seq = head.partition(" ")
        if body.startswith("~"):
            frag, i, n, part = body[1:].split("\t", 3)
            parts = self._parts.setdefault(frag, [])
            if int(i) != len(parts):  # a fragment went missing: drop the message
                self._parts.pop(frag, None)
                return origin, int(seq), []
            parts.append(part)
            if len(parts) < int(n):
                return origin, int(seq), []
            del self._parts[frag]
            return origin, int(seq), [decode_line("".join(parts))]
        return origin, int(seq), [decode_line(line) for line in body.split("\n") if line]


class ClusterBus(Bus):
    """A `Bus` whose messages reach the subscribers of every instance on the database.

    Parameters
    ----------
    dsn
        The PostgreSQL store's DSN.
    origin
        This instance's name (its own notifications are skipped).
    queue_size
        Per-subscriber queue bound, as `Bus`.
    """

    def __init__(self, dsn: str, origin: str, queue_size: int = 1000) -> None:
        super().__init__(queue_size)
        self.dsn = dsn
        self.origin = origin.replace(" ", "_").replace("\n", "_")
        self._notify_seq = itertools.count(1)
        self._out: queue.SimpleQueue[list[Message] | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._peers: dict[str, tuple[int, float]] = {}
        self._listen_ok = False
        self._send_ok = False
        self.lost_since: float | None = None
        self.error: str | None = None
        #: Messages sent to / received from the other instances; sent while lost (not delivered there).
        self.sent = 0
        self.received = 0
        self.unsent = 0
        self.gaps = 0

    # ------------------------------------------------------------------------------ life cycle
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the sender and listener threads; remote messages are delivered on `loop`."""
        self._loop = loop
        for target, name in ((self._send_forever, "pgbus-send"), (self._listen_forever, "pgbus-listen")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        """Stop both threads."""
        self._stop.set()
        self._out.put(None)
        for t in self._threads:
            t.join(timeout=5)
        self._threads.clear()

    # -------------------------------------------------------------------------------- the bus
    @property
    def local_subscribers(self) -> int:
        """Subscribers of this instance."""
        return super().subscribers

    @property
    def remote_subscribers(self) -> int:
        """Subscribers of the other instances, as last announced (announcements older than 3 s expire)."""
        now = time.monotonic()
        return sum(n for n, at in self._peers.values() if now - at <= 3 * PRESENCE_S)

    @property
    def subscribers(self) -> int:
        """Subscribers of every instance (what decides whether events are serialised at all)."""
        return self.local_subscribers + (self.remote_subscribers if self.linked else 0)

    @property
    def linked(self) -> bool:
        """Whether both connections to the other instances are up."""
        return self._listen_ok and self._send_ok

    @property
    def state(self) -> str:
        """``"connected"``, ``"connecting"`` (before the first connection) or ``"lost"``."""
        if self.linked:
            return "connected"
        return "lost" if self.lost_since is not None else "connecting"

    def subscribe(self, flt: StreamFilter, last_event_id: str | None = None) -> Subscription:
        sub = super().subscribe(flt, last_event_id)
        self._announce()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        super().unsubscribe(sub)
        self._announce()

    def publish_many(self, messages: list[Message]) -> int:
        """Deliver to this instance's subscribers and queue for the others (never waits)."""
        if messages and self.remote_subscribers:
            if self.linked:
                self._out.put(messages)
            else:
                self.unsent += len(messages)
        return super().publish_many(messages)

    def _deliver(self, messages: list[Message]) -> None:
        self.received += len(messages)
        super().publish_many(messages)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(super().stats())
        out["subscribers"] = self.local_subscribers
        out["cluster"] = self.cluster_stats()
        return out

    def cluster_stats(self) -> dict[str, Any]:
        """Return the bridge's state and counters (for ``/health`` and ``/stats``)."""
        return {
            "bus": "postgresql LISTEN/NOTIFY",
            "state": self.state,
            "fallback": None if self.linked else "this instance's own messages only",
            "lost_for_s": None if self.lost_since is None else round(time.monotonic() - self.lost_since, 1),
            "error": self.error,
            "instance": self.origin,
            "peers": len([1 for _, at in self._peers.values() if time.monotonic() - at <= 3 * PRESENCE_S]),
            "remote_subscribers": self.remote_subscribers,
            "sent": self.sent,
            "received": self.received,
            "unsent": self.unsent,
            "gaps": self.gaps,
        }

    # -------------------------------------------------------------------------------- threads
    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=3, application_name="twin-bus")

    def _lost(self, e: BaseException) -> None:
        if self.lost_since is None:
            self.lost_since = time.monotonic()
            log.warning("stream bus lost (%s): serving this instance's messages only", e)
        self.error = (str(e).splitlines() or [type(e).__name__])[0]

    def _up(self) -> None:
        if self.linked and self.lost_since is not None:
            log.info("stream bus back after %.1f s", time.monotonic() - self.lost_since)
            self.lost_since = None
            self.error = None

    def _announce(self) -> None:
        if self._loop is not None:
            self._out.put([])  # an empty list: announce the subscriber count now

    def _send_forever(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        last_presence = 0.0
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    self._send_ok = False
                    conn = self._connect()
                    self._send_ok = True
                    self._up()
                try:
                    item = self._out.get(timeout=PRESENCE_S / 2)
                except queue.Empty:
                    item = []
                if item is None:
                    break
                batch = list(item)
                while len(batch) < 5000:  # take what else waits: one round trip per burst
                    try:
                        more = self._out.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._stop.set()
                        break
                    batch.extend(more)
                now = time.monotonic()
                if batch:
                    payloads = pack(self.origin, self._notify_seq, batch)
                    conn.execute("SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (CHANNEL, payloads))
                    self.sent += len(batch)
                if now - last_presence >= PRESENCE_S or not batch:
                    presence = json.dumps({"o": self.origin, "n": self.local_subscribers})
                    conn.execute("SELECT pg_notify(%s, %s)", (PRESENCE, presence))
                    last_presence = now
            except psycopg.Error as e:
                self._send_ok = False
                self._lost(e)
                with contextlib.suppress(Exception):
                    if conn is not None:
                        conn.close()
                conn = None
                self._stop.wait(RETRY_S)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _listen_forever(self) -> None:
        joiner = _Joiner()
        last_seq: dict[str, int] = {}
        while not self._stop.is_set():
            conn: psycopg.Connection[Any] | None = None
            try:
                conn = self._connect()
                conn.execute(f"LISTEN {CHANNEL}")
                conn.execute(f"LISTEN {PRESENCE}")
                self._listen_ok = True
                self._up()
                while not self._stop.is_set():
                    got: list[Message] = []
                    for n in conn.notifies(timeout=0.5, stop_after=256):
                        if n.channel == PRESENCE:
                            doc = json.loads(n.payload)
                            if doc["o"] != self.origin:
                                self._peers[doc["o"]] = (int(doc["n"]), time.monotonic())
                            continue
                        origin, seq, msgs = joiner.feed(n.payload)
                        if origin == self.origin:
                            continue
                        before = last_seq.get(origin)
                        if before is not None and seq > before + 1:
                            self.gaps += 1
                        last_seq[origin] = seq
                        got.extend(msgs)
                    if got and self._loop is not None:
                        self._loop.call_soon_threadsafe(self._deliver, got)
                    # A dead server is noticed on the next statement: check it between waits.
                    conn.execute("SELECT 1")
            except (psycopg.Error, OSError) as e:
                self._listen_ok = False
                self._lost(e)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            self._stop.wait(RETRY_S)
