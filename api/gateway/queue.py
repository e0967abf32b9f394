"""The gateway's durable queue: SQLite in WAL mode with ``synchronous=FULL``, written before any ack.

One writer thread group-commits what the adapters hand over (a message is acknowledged to its source
only after the COMMIT that holds it), the forwarder reads from the head in order and deletes what the
twin confirmed. Adapters' small state (open episodes, their ids) is written in the same transaction as
the messages it produced, so a restart resumes the same event ids.

Bounded: at most ``max_messages`` rows and ``max_mb`` of message bytes. **When full, new messages are
refused, not dropped**: the writer answers "full" to the adapter, which does not acknowledge the
source (MQTT: the broker keeps the QoS 1 message for the gateway's persistent session and redelivers
it; ISAPI/ONVIF push events have no redelivery, so they are lost at the camera), the ``refused_full``
counter grows (kept in the file, so it survives restarts), `/health` turns ``degraded`` and the log
says so once per minute. Nothing already queued is ever evicted.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("twin.gateway.queue")

Done = Callable[[bool, str], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,            -- 'event'
    source TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    body BLOB NOT NULL,            -- the event as the twin takes it (JSON)
    t_source REAL NOT NULL,        -- when the source handed it over (unix s)
    t_queued REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    body BLOB NOT NULL,
    reason TEXT NOT NULL,
    t_dead REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Message:
    """One event to forward."""

    source: str
    camera_id: str
    event_id: str
    body: bytes
    t_source: float


@dataclass(frozen=True, slots=True)
class Queued:
    """A message as read back from the head of the queue."""

    seq: int
    source: str
    camera_id: str
    event_id: str
    body: bytes
    t_source: float


@dataclass(slots=True)
class _Put:
    messages: list[Message]
    state: dict[str, str | None]
    done: Done


@dataclass(slots=True)
class _Remove:
    seqs: list[int]
    dead: dict[int, str]
    done: Callable[[], None]


@dataclass(slots=True)
class QueueStats:
    """What the queue holds and has done."""

    depth: int = 0
    bytes: int = 0
    committed: int = 0
    refused_full: int = 0
    dead: int = 0
    commits: int = 0
    full_since: float | None = None


def connect(path: Path) -> sqlite3.Connection:
    """Open the queue file (WAL, ``synchronous=FULL``) and create its tables."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA busy_timeout=30000")
    con.executescript(_SCHEMA)
    return con


class DurableQueue:
    """The store-and-forward queue (thread-safe; callbacks run on the writer thread)."""

    def __init__(self, path: Path, *, max_messages: int = 2_000_000, max_mb: float = 1024) -> None:
        self.path = path
        self.max_messages = max_messages
        self.max_bytes = int(max_mb * 1024 * 1024)
        self._con = connect(path)
        self._read = connect(path)
        depth, size = self._con.execute(
            "SELECT count(*), coalesce(sum(length(body)), 0) FROM messages"
        ).fetchone()
        (dead,) = self._con.execute("SELECT count(*) FROM dead").fetchone()
        row = self._con.execute("SELECT value FROM counters WHERE name='refused_full'").fetchone()
        self.stats = QueueStats(depth=depth, bytes=size, dead=dead, refused_full=row[0] if row else 0)
        self._state: dict[str, str] = dict(self._con.execute("SELECT key, value FROM state").fetchall())
        self._pending: list[_Put | _Remove] = []
        self._cv = threading.Condition()
        self._closed = False
        self._last_full_log = 0.0
        self._thread = threading.Thread(target=self._run, name="gateway-queue", daemon=True)
        self._thread.start()

    # -- adapters -------------------------------------------------------------------------------
    def state(self, key: str) -> str | None:
        """Return a value of adapter state as last committed (or queued for commit)."""
        with self._cv:
            return self._state.get(key)

    def state_items(self, prefix: str) -> dict[str, str]:
        """Return every state entry whose key starts with `prefix`."""
        with self._cv:
            return {k: v for k, v in self._state.items() if k.startswith(prefix)}

    def put(self, messages: list[Message], done: Done, state: dict[str, str | None] | None = None) -> None:
        """Queue `messages` (and adapter `state`; None deletes a key); `done(ok, reason)` after COMMIT."""
        with self._cv:
            if self._closed:
                done(False, "gateway is stopping")
                return
            for k, v in (state or {}).items():
                if v is None:
                    self._state.pop(k, None)
                else:
                    self._state[k] = v
            self._pending.append(_Put(messages, dict(state or {}), done))
            self._cv.notify()

    def put_wait(
        self, messages: list[Message], state: dict[str, str | None] | None = None, timeout: float = 30
    ) -> tuple[bool, str]:
        """`put` and wait for the commit; return (ok, reason)."""
        ev = threading.Event()
        out: list[tuple[bool, str]] = []

        def done(ok: bool, reason: str) -> None:
            out.append((ok, reason))
            ev.set()

        self.put(messages, done, state)
        if not ev.wait(timeout):
            return False, "queue commit timed out"
        return out[0]

    # -- forwarder ------------------------------------------------------------------------------
    def head(self, limit: int) -> list[Queued]:
        """Return up to `limit` messages from the head of the queue, oldest first."""
        rows = self._read.execute(
            "SELECT seq, source, camera_id, event_id, body, t_source FROM messages ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [Queued(*r) for r in rows]

    def remove(self, seqs: Iterable[int], dead: dict[int, str] | None = None, timeout: float = 30) -> None:
        """Delete delivered messages; move those in `dead` (seq → reason) to the dead-letter table."""
        ev = threading.Event()
        self._submit(_Remove(list(seqs), dict(dead or {}), ev.set))
        ev.wait(timeout)

    def dead_letters(self, limit: int = 20) -> list[tuple[str, str, str]]:
        """Return the latest dead letters as (event_id, camera_id, reason)."""
        return [
            (r[0], r[1], r[2])
            for r in self._read.execute(
                "SELECT event_id, camera_id, reason FROM dead ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        ]

    def close(self) -> None:
        """Commit what is pending, then stop the writer."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=30)
        self._con.close()
        self._read.close()

    # -- the writer -----------------------------------------------------------------------------
    def _submit(self, item: _Remove) -> None:
        with self._cv:
            self._pending.append(item)
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._closed:
                    self._cv.wait()
                work, self._pending = self._pending, []
                closing = self._closed
            if work:
                try:
                    self._commit(work)
                except sqlite3.Error as e:  # disk full, I/O error: nobody is acknowledged
                    log.error("queue commit failed (%s); %d hand-overs refused", e, len(work))
                    for w in work:
                        if isinstance(w, _Put):
                            w.done(False, f"queue write failed: {e}")
                        else:
                            w.done()
            if closing and not work:
                return

    def _commit(self, work: list[_Put | _Remove]) -> None:
        st = self.stats
        accepted: list[_Put] = []
        refused: list[_Put] = []
        depth, size = st.depth, st.bytes
        for w in work:
            if not isinstance(w, _Put):
                continue
            n = len(w.messages)
            b = sum(len(m.body) for m in w.messages)
            if n and (depth + n > self.max_messages or size + b > self.max_bytes):
                refused.append(w)
            else:
                accepted.append(w)
                depth += n
                size += b
        now = time.time()
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            rows = [
                ("event", m.source, m.camera_id, m.event_id, m.body, m.t_source, now)
                for w in accepted
                for m in w.messages
            ]
            if rows:
                con.executemany(
                    "INSERT INTO messages (kind, source, camera_id, event_id, body, t_source, t_queued)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            for w in accepted:
                for k, v in w.state.items():
                    if v is None:
                        con.execute("DELETE FROM state WHERE key = ?", (k,))
                    else:
                        con.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (k, v))
            removed = 0
            removed_bytes = 0
            dead_n = 0
            for w in work:
                if isinstance(w, _Put):
                    continue
                for seq, reason in w.dead.items():
                    con.execute(
                        "INSERT OR REPLACE INTO dead (seq, source, camera_id, event_id, body, reason, t_dead)"
                        " SELECT seq, source, camera_id, event_id, body, ?, ? FROM messages WHERE seq = ?",
                        (reason, now, seq),
                    )
                    dead_n += 1
                for seq in w.seqs:
                    r = con.execute(
                        "DELETE FROM messages WHERE seq = ? RETURNING length(body)", (seq,)
                    ).fetchone()
                    if r is not None:
                        removed += 1
                        removed_bytes += r[0]
            refused_n = sum(len(w.messages) for w in refused)
            if refused_n:
                con.execute(
                    "INSERT INTO counters (name, value) VALUES ('refused_full', ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    (refused_n,),
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        st.depth = depth - removed
        st.bytes = size - removed_bytes
        st.committed += len(rows)
        st.dead += dead_n
        st.commits += 1
        if refused:
            st.refused_full += refused_n
            st.full_since = st.full_since or now
            if now - self._last_full_log > 60:
                self._last_full_log = now
                log.error(
                    "ALERT queue full (%d messages, %.1f MB; limits %d, %.1f MB): refusing new messages "
                    "(%d refused so far); the sources keep what they can redeliver",
                    st.depth, st.bytes / 1e6, self.max_messages, self.max_bytes / 1e6, st.refused_full,
                )  # fmt: skip
        elif (
            st.full_since is not None
            and st.depth < 0.9 * self.max_messages
            and st.bytes < 0.9 * self.max_bytes
        ):
            st.full_since = None
            log.warning("queue no longer full (%d messages)", st.depth)
        for w in accepted:
            w.done(True, "")
        for w in refused:
            w.done(False, "queue full")
        for w in work:
            if isinstance(w, _Remove):
                w.done()
