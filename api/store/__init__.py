"""The event store: `open_store(dsn)` picks the backend from a DSN (``sqlite:///path``, ``postgresql://``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from api.store.base import Store
from api.store.sqlite import SQLiteStore
from twin.errors import InputError

if TYPE_CHECKING:
    from api.store.postgres import PostgresStore


def __getattr__(name: str) -> Any:
    # psycopg is imported with the PostgreSQL backend only (it is not on an SQLite service's start-up).
    if name == "PostgresStore":
        from api.store.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PostgresStore", "SQLiteStore", "Store", "default_dsn", "open_store"]


def default_dsn(state_dir: Path) -> str:
    """Return the DSN of the embedded default store under `state_dir`."""
    return f"sqlite:///{(Path(state_dir) / 'events.sqlite3').resolve()}"


def open_store(dsn: str, *, res: int = 9) -> Store:
    """Open the store a DSN names.

    Parameters
    ----------
    dsn
        ``sqlite:////absolute/path.sqlite3`` or ``sqlite:///relative/path`` (SQLAlchemy style) for
        the embedded store;
        ``postgresql://user@host/db`` for the scale-out backend.
    res
        The H3 resolution events are indexed at.
    """
    scheme = urlparse(dsn).scheme.lower()
    if scheme == "sqlite":
        path = dsn[len("sqlite:///") :] if dsn.lower().startswith("sqlite:///") else ""
        if not path or path == "/":
            raise InputError("store_dsn", "sqlite DSN needs a file path, e.g. sqlite:///var/twin/events.db")
        return SQLiteStore(Path(path), res=res)
    if scheme in ("postgresql", "postgres"):
        from api.store.postgres import PostgresStore  # noqa: PLC0415  (psycopg only when used)

        return PostgresStore(dsn, res=res)
    raise InputError("store_dsn", f"unknown store scheme {scheme!r}", hint="use sqlite:///path/to/file")
