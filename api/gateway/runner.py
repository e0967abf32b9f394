"""The gateway process: the queue, one adapter per source, the forwarder, heartbeats and `/health`.

``/health`` (``GET``, JSON) says ``ok`` when every source is connected, the twin link is up and the
queue has room; ``degraded`` otherwise, with the reason. `twin gateway status` prints it.
Heartbeats: every ``twin.heartbeat_s``, each registry camera of a source whose connection is up (and,
for Frigate, that says ``online``) gets ``POST /cameras/{id}/heartbeat``; a source that goes silent
stops them, so the twin's own camera-silent alert fires after its delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any, Protocol

import orjson

from api.gateway.config import GatewayConfig
from api.gateway.forwarder import Forwarder
from api.gateway.frigate import FrigateAdapter
from api.gateway.isapi import IsapiAdapter
from api.gateway.mapping import SourceStats
from api.gateway.onvif import OnvifAdapter
from api.gateway.queue import DurableQueue

log = logging.getLogger("twin.gateway")


class Adapter(Protocol):
    """What the runner needs of an adapter."""

    stats: SourceStats

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def tick(self) -> None: ...
    def alive(self) -> bool: ...


class AsyncAdapter(Protocol):
    """An adapter with its own asyncio loop body (ISAPI, ONVIF)."""

    stats: SourceStats

    async def run(self, stop: asyncio.Event) -> None: ...
    def tick(self) -> None: ...
    def alive(self) -> bool: ...


class Gateway:
    """One gateway process."""

    def __init__(self, cfg: GatewayConfig) -> None:
        self.cfg = cfg
        self.queue = DurableQueue(
            cfg.queue.path, max_messages=cfg.queue.max_messages, max_mb=cfg.queue.max_mb
        )
        self.forwarder = Forwarder(cfg.twin, self.queue)
        self.threaded: list[Adapter] = []
        self.async_adapters: list[AsyncAdapter] = []
        self.started = time.time()
        self._stop = asyncio.Event()
        self.health_port: int | None = None
        for s in cfg.sources:
            stats = SourceStats(s.name, s.kind)
            if s.kind == "frigate":
                self.threaded.append(FrigateAdapter(s, self.queue, stats))
            elif s.kind == "onvif":
                self.async_adapters.append(OnvifAdapter(s, self.queue, stats))
            else:
                self.async_adapters.append(IsapiAdapter(s, self.queue, stats))

    @property
    def adapters(self) -> list[Adapter | AsyncAdapter]:
        """Every adapter."""
        return [*self.threaded, *self.async_adapters]

    def health(self) -> dict[str, Any]:
        """Return the gateway's health document."""
        q = self.queue.stats
        problems = []
        for a in self.adapters:
            if not a.alive():
                problems.append(f"source {a.stats.name} is {a.stats.state}")
        if self.forwarder.stats.state not in {"up", "unknown"}:
            problems.append(f"twin link is {self.forwarder.stats.state}")
        if q.full_since is not None:
            problems.append("queue is full: new messages are refused")
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "gateway": self.cfg.name,
            "uptime_s": round(time.time() - self.started, 1),
            "queue": {
                "path": str(self.queue.path),
                "depth": q.depth,
                "bytes": q.bytes,
                "max_messages": self.queue.max_messages,
                "max_bytes": self.queue.max_bytes,
                "committed": q.committed,
                "refused_full": q.refused_full,
                "dead_letters": q.dead,
                "full": q.full_since is not None,
            },
            "twin": {"url": self.cfg.twin.url, **self.forwarder.stats.as_dict()},
            "sources": [a.stats.as_dict() for a in self.adapters],
        }

    async def _serve_health(self) -> asyncio.Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                line = await asyncio.wait_for(reader.readline(), 5)
                while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                    pass
                parts = line.decode("latin-1").split()
                if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/health":
                    h = self.health()
                    body, status = (
                        orjson.dumps(h),
                        "200 OK" if h["status"] == "ok" else "503 Service Unavailable",
                    )
                else:
                    body, status = (
                        b'{"error":"not_found","detail":[{"field":"path","reason":"only GET /health"}]}',
                        "404 Not Found",
                    )
                writer.write(
                    f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
                    "connection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
            except (TimeoutError, ConnectionError):
                pass
            finally:
                writer.close()

        h = self.cfg.health
        server = await asyncio.start_server(handle, h.host, h.port)
        self.health_port = server.sockets[0].getsockname()[1]
        log.info("gateway %s: /health on http://%s:%d/health", self.cfg.name, h.host, self.health_port)
        return server

    async def _heartbeats(self) -> None:
        while not self._stop.is_set():
            cams = sorted({c for a in self.adapters if a.alive() for c in self._source_cameras(a.stats.name)})
            if cams:
                await self.forwarder.heartbeat(cams)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.cfg.twin.heartbeat_s)

    def _source_cameras(self, name: str) -> list[str]:
        return next(list(s.cameras.values()) for s in self.cfg.sources if s.name == name)

    async def _ticks(self) -> None:
        while not self._stop.is_set():
            for a in self.adapters:
                try:
                    a.tick()
                except Exception:
                    log.exception("tick of source %s failed", a.stats.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)

    def stop(self) -> None:
        """Ask the gateway to stop (signal-safe from the loop)."""
        self._stop.set()
        self.forwarder.stop()

    async def run(self) -> None:
        """Run until `stop` (SIGTERM/SIGINT): queued messages stay for the next start."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        server = await self._serve_health()
        log.info("gateway %s: %d source(s), queue %s (%d waiting), sending to %s", self.cfg.name,
                 len(self.adapters), self.queue.path, self.queue.stats.depth, self.cfg.twin.url)  # fmt: skip
        for a in self.threaded:
            a.start()
        tasks = [
            asyncio.create_task(self.forwarder.run(), name="forwarder"),
            asyncio.create_task(self._heartbeats(), name="heartbeats"),
            asyncio.create_task(self._ticks(), name="ticks"),
            *(asyncio.create_task(a.run(self._stop), name=a.stats.name) for a in self.async_adapters),
        ]
        try:
            await self._stop.wait()
        finally:
            for a in self.threaded:
                a.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            server.close()
            await self.forwarder.close()
            self.queue.close()
            log.info(
                "gateway %s stopped; %d message(s) wait in the queue", self.cfg.name, self.queue.stats.depth
            )
