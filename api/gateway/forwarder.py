"""Send the queue to the twin: in order, in batches, with backoff and jitter while it is away.

One batch is in flight at a time, so events reach the twin in the order the sources handed them
over. A batch is deleted from the queue only after the twin's 200 (its answer comes after its own
durable COMMIT); a lost answer means the batch is sent again, which the twin recognises by
``event_id`` (its idempotency key) as ``duplicate``: exactly one stored row per id.

What the twin answers:

- 200: delivered. Per-event ``conflict`` (an id reused for another camera or category) goes to the
  dead-letter table with the twin's reason (counted, logged), never retried.
- 422 naming ``events.N.…``: those events go to the dead-letter table, the rest is sent again (the
  gateway validates with the twin's own schema, so this means clocks or versions disagree).
- 403 naming ``events.N.camera_id``: this gateway's key may not speak for that camera: dead-lettered
  and logged as an ALERT (fix the key's cameras, then `twin gateway requeue`).
- 401, other 403, 413, 429, 5xx, timeouts, refused connections: retried, the same batch, after
  ``min(backoff_max, backoff_min · 2^n)`` scaled by a random factor in [0.5, 1] ("equal jitter").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from api.gateway.config import TwinTarget
from api.gateway.queue import DurableQueue, Queued

log = logging.getLogger("twin.gateway.forward")
_EVENT_FIELD = re.compile(r"^events\.(\d+)(?:\.|$)")


@dataclass(slots=True)
class TwinStats:
    """The twin link's health and counters."""

    state: str = "unknown"  # up | down | refusing
    since: float = field(default_factory=time.time)
    last_ok: float | None = None
    last_error: str | None = None
    sent: int = 0
    batches: int = 0
    retries: int = 0
    duplicates: int = 0
    dead: int = 0
    heartbeats: int = 0
    heartbeat_errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))

    def set_state(self, state: str, error: str | None = None) -> None:
        """Record a link state change (logged)."""
        if state != self.state:
            lvl = logging.INFO if state == "up" else logging.WARNING
            log.log(lvl, "twin link: %s → %s%s", self.state, state, f" ({error})" if error else "")
            self.state = state
            self.since = time.time()
        if error:
            self.last_error = error

    def as_dict(self) -> dict[str, Any]:
        """Return the stats as JSON-ready values (latency quantiles in ms)."""
        lat = sorted(self.latencies)

        def q(p: float) -> float | None:
            return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None

        return {
            "state": self.state,
            "since": self.since,
            "last_ok": self.last_ok,
            "last_error": self.last_error,
            "sent": self.sent,
            "batches": self.batches,
            "retries": self.retries,
            "duplicates": self.duplicates,
            "dead_letters": self.dead,
            "heartbeats": self.heartbeats,
            "heartbeat_errors": self.heartbeat_errors,
            "queue_to_stored_ms": {"p50": q(0.5), "p99": q(0.99)},
        }


def backoff(attempt: int, lo: float, hi: float, rng: random.Random) -> float:
    """Return the wait before retry number `attempt` (1-based): exponential, capped, equal jitter."""
    base = min(hi, lo * (2 ** max(0, attempt - 1)))
    return float(base * (0.5 + 0.5 * rng.random()))


def _event_indexes(body: bytes, n: int) -> dict[int, str]:
    """Return {index: reason} for the events an error answer names (``events.N.field``)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    out: dict[int, str] = {}
    for item in data.get("detail") or [] if isinstance(data, dict) else []:
        if not isinstance(item, dict):
            continue
        f = str(item.get("field", ""))
        m = _EVENT_FIELD.match(f)
        if m and int(m.group(1)) < n:
            out.setdefault(int(m.group(1)), f"{f}: {item.get('reason', '')}"[:300])
    return out


class Forwarder:
    """The sending loop."""

    def __init__(self, target: TwinTarget, queue: DurableQueue, *, seed: int | None = None) -> None:
        self.target = target
        self.queue = queue
        self.stats = TwinStats()
        self.batch_max = target.batch_max
        self._rng = random.Random(seed)
        key = target.key()
        headers = {"content-type": "application/json", "user-agent": "twin-gateway"}
        if key:
            headers["x-api-key"] = key
        self.client = httpx.AsyncClient(
            base_url=target.url.rstrip("/"), headers=headers, timeout=target.timeout_s
        )
        self._stop = asyncio.Event()

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()

    def stop(self) -> None:
        """Ask the loop to stop after the batch in flight."""
        self._stop.set()

    async def _sleep(self, s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=s)

    async def run(self) -> None:
        """Send until stopped."""
        attempt = 0
        linger = self.target.linger_ms / 1000
        while not self._stop.is_set():
            rows = await asyncio.to_thread(self.queue.head, self.batch_max)
            if not rows:
                await self._sleep(max(linger, 0.01))
                continue
            if len(rows) < self.batch_max and linger and time.time() - rows[0].t_source < linger:
                await self._sleep(linger)
                rows = await asyncio.to_thread(self.queue.head, self.batch_max)
            ok = await self.send(rows)
            if ok:
                attempt = 0
            else:
                attempt += 1
                self.stats.retries += 1
                wait = backoff(attempt, self.target.backoff_min_s, self.target.backoff_max_s, self._rng)
                await self._sleep(wait)

    async def send(self, rows: list[Queued]) -> bool:
        """POST one batch; return True when the queue moved on (delivered or dead-lettered)."""
        body = b'{"events":[' + b",".join(r.body for r in rows) + b"]}"
        st = self.stats
        try:
            r = await self.client.post("/events/batch", content=body)
        except httpx.HTTPError as e:
            st.set_state("down", f"{type(e).__name__}: {e}"[:200])
            return False
        if r.status_code == 200:
            await self._delivered(rows, r.content)
            return True
        if r.status_code in (403, 422):
            named = _event_indexes(r.content, len(rows))
            if named:
                dead = {rows[i].seq: f"{r.status_code} {why}" for i, why in named.items()}
                lvl = logging.ERROR
                log.log(lvl, "ALERT twin refused %d event(s) for good (%s); moved to dead letters",
                        len(dead), "; ".join(list(dead.values())[:3]))  # fmt: skip
                await asyncio.to_thread(self.queue.remove, list(dead), dead)
                st.dead += len(dead)
                st.set_state("refusing", f"{r.status_code} for {len(dead)} event(s)")
                return True
        if r.status_code == 413 and self.batch_max > 1:
            self.batch_max = max(1, self.batch_max // 2)
            log.warning("twin says the batch is too large; batches of %d from now on", self.batch_max)
            return True
        st.set_state("down" if r.status_code >= 500 else "refusing", f"HTTP {r.status_code}: {r.text[:160]}")
        return False

    async def _delivered(self, rows: list[Queued], content: bytes) -> None:
        st = self.stats
        now = time.time()
        dead: dict[int, str] = {}
        try:
            results = orjson.loads(content).get("results") or []
        except (orjson.JSONDecodeError, AttributeError):
            results = []
        for row, res in zip(rows, results, strict=False):
            status = res.get("status") if isinstance(res, dict) else None
            if status == "conflict":
                dead[row.seq] = f"conflict: {res.get('reason') or ''}"[:300]
            elif status == "duplicate":
                st.duplicates += 1
        if dead:
            log.error("ALERT twin answered conflict for %d event(s); moved to dead letters (%s)",
                      len(dead), "; ".join(list(dead.values())[:3]))  # fmt: skip
        await asyncio.to_thread(self.queue.remove, [r.seq for r in rows], dead)
        st.sent += len(rows) - len(dead)
        st.dead += len(dead)
        st.batches += 1
        st.last_ok = now
        st.set_state("up")
        st.latencies.extend(now - r.t_source for r in rows)

    async def heartbeat(self, camera_ids: list[str]) -> None:
        """Send one heartbeat per camera (failures counted, not retried: the next period sends again)."""
        for cam in camera_ids:
            try:
                r = await self.client.post(f"/cameras/{cam}/heartbeat", content=b"{}")
            except httpx.HTTPError as e:
                self.stats.heartbeat_errors += 1
                self.stats.set_state("down", f"heartbeat: {type(e).__name__}")
                return
            if r.status_code == 200:
                self.stats.heartbeats += 1
            else:
                self.stats.heartbeat_errors += 1
                if self.stats.heartbeat_errors <= 5 or self.stats.heartbeat_errors % 100 == 0:
                    log.warning("heartbeat for %s refused: HTTP %d %s", cam, r.status_code, r.text[:160])
