"""The group-commit writer both stores share: one thread, one connection, one COMMIT per group of writes.

Callers queue writes (`GroupCommitWriter.submit`): a write is a function of the writer's connection that
runs its statements and returns the caller's result. The writer thread takes every write waiting in the
queue (up to `max_group`), runs them inside one transaction and COMMITs once; only after the COMMIT
returned are the callers' futures completed (with ``synchronous=FULL`` on SQLite and
``synchronous_commit=on`` on PostgreSQL, the COMMIT has fsynced). Durability per write at close to the
speed of unsafe settings.

- **No savepoints unless a write fails.** The group first runs without SAVEPOINTs (two statements fewer
  per write). If a write fails, the transaction is rolled back and the group runs again with each write
  in its own SAVEPOINT, so the failing write alone is refused and the others commit. A write alone in its
  group just gets its error.
- **Faults fail the group.** An error the backend classifies as fatal (disk full, a lock held elsewhere,
  a lost connection: `api.errors.StoreFull`, `StoreBusy`, `StoreUnavailable` mapped by the backend) rolls
  back the whole group and every caller gets it; nothing of the group remains. A failing COMMIT fails the
  group too.
- **Lost connections.** A backend that can reconnect (PostgreSQL) reports a lost connection (`lost`) and
  reopens it in `connection`; a group whose connection died before its COMMIT was sent runs once more on
  the new connection (after a lost COMMIT the outcome is unknown: the group fails instead).

A backend subclasses `GroupCommitWriter` with its dialect: `BEGIN` (SQLite takes the write lock at
once, ``BEGIN IMMEDIATE``), `DRIVER_ERRORS`, `classify` (the error a failing write's caller gets, and
whether it fails the group), `store_error`, `in_transaction`, and optionally `connection`/`lost`.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from api.errors import StoreError, StoreUnavailable


class Connection(Protocol):
    """What the writer needs of a DB-API connection: running one statement without parameters."""

    def execute(self, statement: str, /) -> object:
        """Run one statement."""

    def close(self) -> None:
        """Close the connection."""


C = TypeVar("C", bound=Connection)
#: One write: runs its statements on the writer's connection and returns what the caller gets.
Write = Callable[[C], Any]
#: Queued writes with their callers' futures.
Group = list[tuple[Write[C], Future[Any]]]
#: A write's outcome after its group: (its future, its result, its error).
Outcome = tuple[Future[Any], Any, BaseException | None]


class GroupCommitWriter(ABC, Generic[C]):
    """The writer thread of a store: queues writes and commits them in groups (see the module docstring).

    Parameters
    ----------
    conn
        The writer's connection (in autocommit mode: the writer issues BEGIN and COMMIT itself).
    max_group
        The most writes committed together.
    name
        The thread's name (shown in thread dumps and logs).
    """

    #: The statement that opens a group's transaction.
    BEGIN: ClassVar[str] = "BEGIN"
    #: The driver's exception classes (caught around a group's transaction).
    DRIVER_ERRORS: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, conn: C, *, max_group: int = 256, name: str = "store-writer") -> None:
        self.conn: C = conn
        self.max_group = max(1, int(max_group))
        #: Committed groups and the writes in them (their ratio is the mean group size).
        self.commits = 0
        self.grouped_writes = 0
        self._queue: queue.SimpleQueue[tuple[Write[C], Future[Any]] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------ dialect
    @abstractmethod
    def classify(self, e: Exception) -> tuple[BaseException, bool]:
        """Return the error a failing write's caller gets for `e`, and whether it fails the whole group."""

    @abstractmethod
    def store_error(self, e: BaseException) -> StoreError:
        """Return the store error every caller of a failed group gets for the driver error `e`."""

    @abstractmethod
    def in_transaction(self, conn: C) -> bool:
        """Return whether `conn` has a transaction open (a failed statement may have ended it already)."""

    def connection(self) -> C:
        """Return the connection to run the next group on (a backend that can reconnect reopens it)."""
        return self.conn

    def lost(self, conn: C) -> bool:
        """Return whether `conn` is gone (closed or broken), so that a group may run again on a new one."""
        return False

    # ------------------------------------------------------------------------------------- public
    def submit(self, write: Write[C]) -> Future[Any]:
        """Queue one write; its future completes with the write's result after its group's COMMIT.

        Returns
        -------
        Future
            Completed with the result, or with the write's (or its group's) error; with
            `StoreUnavailable` at once when the writer is closed.
        """
        fut: Future[Any] = Future()
        with self._lock:
            if self._closed:
                fut.set_exception(StoreUnavailable("the event store is closed"))
                return fut
            self._queue.put((write, fut))
        return fut

    def close(self, timeout_s: float = 30.0) -> None:
        """Commit the writes already queued, stop the thread and close the connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout=timeout_s)
        with contextlib.suppress(*self.DRIVER_ERRORS):
            self.conn.close()

    # ----------------------------------------------------------------------------------- the loop
    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            stop = False
            while len(group) < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._run_group(group)
            if stop:
                return

    def _run_ops(self, conn: C, group: Group[C], *, isolate: bool) -> list[Outcome] | None:
        """Run the group's writes in one transaction (not committed); return each write's outcome.

        Without `isolate`, no SAVEPOINT is taken: if a write fails, the transaction is rolled back and
        None returned (a write alone in its group just gets its error), and the caller runs the group
        again with `isolate`, where a failing write is rolled back to its own savepoint. An error that
        `classify` calls fatal is raised (the group fails as a whole).
        """
        results: list[Outcome] = []
        conn.execute(self.BEGIN)
        solo = len(group) == 1
        for write, fut in group:
            if isolate:
                conn.execute("SAVEPOINT op")
            try:
                value = write(conn)
            except Exception as e:  # the caller gets the error through its future
                mapped, fatal = self.classify(e)
                if fatal:
                    raise
                if not isolate:
                    if self.in_transaction(conn):
                        conn.execute("ROLLBACK")
                    return [(fut, None, mapped)] if solo else None
                if self.in_transaction(conn):
                    conn.execute("ROLLBACK TO SAVEPOINT op")
                    conn.execute("RELEASE SAVEPOINT op")
                results.append((fut, None, mapped))
                continue
            if isolate:
                conn.execute("RELEASE SAVEPOINT op")
            results.append((fut, value, None))
        return results

    def _run_group(self, group: Group[C], *, retry: bool = True) -> None:
        try:
            conn = self.connection()
        except self.DRIVER_ERRORS as e:
            _fail(group, self.store_error(e))
            return
        committing = False
        try:
            results = self._run_ops(conn, group, isolate=False)
            if results is None:
                results = self._run_ops(conn, group, isolate=True)
                assert results is not None
            committing = True
            if self.in_transaction(conn):
                conn.execute("COMMIT")
        except self.DRIVER_ERRORS as e:
            if not self.lost(conn):
                # After a full disk SQLite may already have rolled back: ROLLBACK only if still open.
                if self.in_transaction(conn):
                    with contextlib.suppress(*self.DRIVER_ERRORS):
                        conn.execute("ROLLBACK")
            elif retry and not committing:
                # The connection died before COMMIT was sent: nothing was written, so the group can run
                # again on a fresh connection.
                self._run_group(group, retry=False)
                return
            _fail(group, self.store_error(e))
            return
        self.commits += 1
        self.grouped_writes += len(group)
        for fut, value, exc in results:
            if fut.cancelled():  # the caller gave up (a cancelled request): the committed write stands
                continue
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(value)


def _fail(group: list[tuple[Any, Future[Any]]], err: BaseException) -> None:
    for _, fut in group:
        if not fut.done():
            fut.set_exception(err)
