"""The twin served by a real uvicorn in a subprocess on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.auth import store_key


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real uvicorn serving the twin in a subprocess (one worker, loopback), for e2e and crash tests.

    Parameters
    ----------
    state_dir
        Where the SQLite store lives (kept across restarts).
    data_dir
        The data cache.
    env
        Extra environment (e.g. ``TWIN_LIVE_QUEUE_SIZE``).
    """

    def __init__(self, state_dir: Path, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.data_dir = data_dir
        self.extra_env = env or {}
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        #: An admin key's header, created in the store before the first start.
        self.headers: dict[str, str] = {}

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> Server:
        """Start uvicorn and wait until /health answers."""
        if not self.headers:
            dsn = self.extra_env.get("TWIN_STORE_DSN")
            self.headers = {"X-API-Key": store_key(self.state_dir, "admin", dsn)}
        self.port = self.port or free_port()  # a restart keeps its port (a balancer knows it)
        env = {
            **os.environ,
            "TWIN_STATE_DIR": str(self.state_dir),
            "TWIN_DATA_DIR": str(self.data_dir),
            "TWIN_REPLAY": "false",
            **self.extra_env,
        }
        cmd = [
            sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # fine-grained: the reliability harness times restarts with this
        self.kill()
        raise RuntimeError("uvicorn did not answer /health in time")

    def kill(self) -> None:
        """Kill -9 the server (no shutdown, no flush)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), killing it if it hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
