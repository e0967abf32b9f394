"""The one-line live status `twin serve` logs: events in since the last line, totals, stream health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest

from api.services.lifespan import log_status, status_line


def _stats(
    events: int, reports: int = 0, alerts: int = 0, clients: int = 0, dropped: int = 0
) -> dict[str, Any]:
    return {
        "ingest": {"events": events, "reports": reports, "alerts": alerts},
        "stream": {"subscribers": clients, "dropped": dropped},
    }


def test_status_line_counts_what_came_in_since_the_last_line() -> None:
    line = status_line(_stats(1250, reports=3, alerts=1, clients=2, dropped=7), _stats(1130), 60.0)
    assert line == (
        "live: 120 events in the last 60 s (2.0/s), 1,250 since start; 3 reports, 1 alerts; "
        "stream: 2 clients, 7 dropped"
    )


def test_first_line_counts_from_start() -> None:
    assert status_line(_stats(42), None, 10.0).startswith("live: 42 events in the last 10 s (4.2/s)")


class _Live:
    def __init__(self) -> None:
        self.events = 0

    def stats_dict(self) -> dict[str, Any]:
        self.events += 5
        return _stats(self.events)


async def test_the_loop_logs_each_interval_until_cancelled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="twin.live")
    task = asyncio.create_task(log_status(_Live(), 0.01))
    while len([r for r in caplog.records if r.name == "twin.live"]) < 3:
        await asyncio.sleep(0.005)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    lines = [r.getMessage() for r in caplog.records if r.name == "twin.live"]
    assert lines[0].startswith("live: 5 events")
    assert all(line.startswith("live: 5 events") for line in lines[1:])  # 5 new each time
    assert "10 since start" in lines[1]
