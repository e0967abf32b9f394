"""Faults answered properly over HTTP: a full disk is 507, a locked database is 503, both with
Retry-After and the one error body, never a 500 or a reset; the service recovers without a restart.

The disk-full test runs the SQLite store on a tiny tmpfs mounted for the test (needs root and the
mount capability; skipped with the reason otherwise).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.store.sqlite import SQLiteStore
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, live_client
from tests.support.events import event
from twin.city import City

TMPFS_BYTES = 3 * 1024 * 1024
#: Plain text padding (a base64-looking blob would be refused as a frame).
_NOTE = ("xe tải dừng đỗ trên cầu Kỳ Lừa, " * 16)[:480]


@pytest.fixture
def tiny_fs() -> Iterator[Path]:
    """A freshly mounted 3 MB tmpfs (unmounted afterwards)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root: the disk-full test cannot run as this user")
    root = Path(tempfile.mkdtemp(prefix="twin-full-"))
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(root)],
        capture_output=True,
        check=False,
    )
    if r.returncode != 0:
        root.rmdir()
        pytest.skip(f"mount -t tmpfs is not permitted here: {r.stderr.decode().strip()}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
        with contextlib.suppress(OSError):
            root.rmdir()


def fill(path: Path) -> int:
    """Write `path` until the filesystem is full; return the bytes written."""
    written = 0
    chunk = b"\0" * 16384
    # Unbuffered: a buffered file would keep the bytes that did not fit and fail again on close.
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                written += f.write(chunk) or 0
        except OSError:
            pass
    return written


def padded(i: int, camera: str, tag: str) -> dict[str, Any]:
    """An event whose attributes take a few hundred bytes, so pages fill quickly."""
    return event(i, camera, event_id=f"{tag}-{i}", attributes={"note": _NOTE, "i": i})


def assert_retry_after(r: Any, status: int) -> None:
    assert_error_shape(r, status, "store")
    assert int(r.headers["retry-after"]) >= 1


def test_disk_full_is_507_then_recovers_when_space_is_freed(
    city: City, tiny_fs: Path, data_dir: Path, connected: list[str]
) -> None:
    cams = connected[:10]
    with live_client(city, tiny_fs, data_dir, tick_s=3600) as client:
        first = [padded(i, cams[i % 10], "before") for i in range(50)]
        r0 = client.post("/events/batch", json={"events": first})
        assert r0.status_code == 200, r0.text
        filler = tiny_fs / "filler.bin"
        assert fill(filler) > 0
        statuses: list[int] = []
        failed: list[dict[str, Any]] = []
        for b in range(40):
            batch = [padded(b * 100 + i, cams[i % 10], "full") for i in range(100)]
            r = client.post("/events/batch", json={"events": batch})
            statuses.append(r.status_code)
            assert r.status_code in (200, 507), r.text  # never a 500
            if r.status_code == 507:
                assert_retry_after(r, 507)
                failed = batch
                break
        assert 507 in statuses, f"the tmpfs never filled: {statuses}"
        # Reads still work while the disk is full, and the failed batch left no trace.
        r = client.get("/events", params={"limit": 500})
        assert r.status_code == 200
        ids = {f["id"] for f in r.json()["features"]}
        assert not ids & {e["event_id"] for e in failed}
        assert {e["event_id"] for e in first} <= ids
        # Free the space: the same service, no restart, takes the same batch.
        filler.unlink()
        r = client.post("/events/batch", json={"events": failed})
        assert r.status_code == 200, r.text
        assert {x["status"] for x in r.json()["results"]} == {"created"}
        assert client.post("/events", json=padded(99_999, cams[0], "after")).status_code == 200
    store = SQLiteStore(tiny_fs / "events.sqlite3")
    try:
        assert store.check_integrity() == "ok"
        assert store.get_event(failed[0]["event_id"]) is not None
    finally:
        store.close()


def test_locked_database_is_503_with_retry_after_then_recovers(
    client: TestClient, tmp_path: Path, connected: list[str]
) -> None:
    cam = connected[0]
    assert client.post("/events", json=event(1, cam)).status_code == 200
    other = sqlite3.connect(tmp_path / "events.sqlite3", isolation_level=None, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    try:
        r = client.post("/events", json=event(2, cam))
        assert_retry_after(r, 503)
        r = client.post("/events/batch", json={"events": [event(3, cam), event(4, cam)]})
        assert_retry_after(r, 503)
        # Reads are not blocked by another writer in WAL mode.
        assert client.get("/events").status_code == 200
    finally:
        other.execute("ROLLBACK")
        other.close()
    r = client.post("/events/batch", json={"events": [event(2, cam), event(3, cam), event(4, cam)]})
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == ["created"] * 3
    got = client.get("/events", params={"camera": cam}).json()
    assert len(got["features"]) == 4
