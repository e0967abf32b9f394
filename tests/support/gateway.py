"""The camera gateway as its own process for tests and benchmarks: its TOML file, start, health, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx

from tests.support.mosquitto import free_port


def write_config(
    path: Path, twin_url: str, sources: str, *, queue: str = "", twin: str = "",
    backoff: tuple[float, float] = (0.1, 1.0),
) -> Path:  # fmt: skip
    """Write a gateway TOML file with `sources` (TOML text of ``[[sources]]`` tables)."""
    path.write_text(
        f'name = "test-gw"\n\n[twin]\nurl = "{twin_url}"\nkey_env = "TWIN_GATEWAY_KEY"\nlinger_ms = 10\n'
        f"backoff_min_s = {backoff[0]}\nbackoff_max_s = {backoff[1]}\nheartbeat_s = 1\n{twin}\n"
        f'[queue]\npath = "queue.sqlite"\n{queue}\n'
        f'[health]\nhost = "127.0.0.1"\nport = {free_port()}\n\n{sources}',
        encoding="utf-8",
    )
    return path


class GatewayProcess:
    """``python -m api.gateway --config FILE`` as a subprocess (so a test can kill -9 it)."""

    def __init__(self, config: Path, key: str | None) -> None:
        self.config = config
        self.key = key
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = config.parent / "gateway.log"
        h = tomllib.loads(config.read_text())["health"]
        self.health_url = f"http://{h['host']}:{h['port']}/health"

    def start(self, timeout: float = 60) -> GatewayProcess:
        """Start and wait for /health to answer."""
        env = {**os.environ, **({"TWIN_GATEWAY_KEY": self.key} if self.key else {})}
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.gateway", "--config", str(self.config)],
            env=env, stdout=out, stderr=out,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-3000:]}")
            try:
                httpx.get(self.health_url, timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"gateway did not answer: {self.log.read_text()[-3000:]}")

    def health(self) -> dict[str, Any]:
        """Return the gateway's /health document."""
        doc: dict[str, Any] = httpx.get(self.health_url, timeout=5).json()
        return doc

    def wait(self, pred: Any, timeout: float = 60, what: str = "condition") -> dict[str, Any]:
        """Poll /health until `pred(doc)`; return the document."""
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                doc = self.health()
                if pred(doc):
                    return doc
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(
            f"gateway: {what} not reached; last health {doc}; log {self.log.read_text()[-2000:]}"
        )

    def kill(self) -> None:
        """kill -9."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
