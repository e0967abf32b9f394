"""A real Mosquitto broker for tests and benchmarks: a free loopback port, a temp config, persistence on."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def mosquitto_bin() -> str | None:
    """Return the broker's path (Debian installs it in /usr/sbin), or None."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if Path(p).exists()), None
    )


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    """A running broker; `restart` stops it (SIGTERM: it saves its persistence file) and starts it again."""

    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port`` for the gateway's config."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        exe = mosquitto_bin()
        if exe is None:
            raise RuntimeError("mosquitto is not installed (scripts/setup-system.sh installs it)")
        conf = self.workdir / "mosquitto.conf"
        # started as root, mosquitto drops to the `mosquitto` user, which cannot write its persistence
        # file into a root-owned temp dir: sessions and queued QoS 1 messages would not survive a restart
        user = "user root\n" if os.geteuid() == 0 else ""
        conf.write_text(
            f"{user}listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.workdir}/\nautosave_interval 1\n"
            "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest stderr\nlog_type error\n"
            "log_type warning\n",
            encoding="utf-8",
        )
        log = (self.workdir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(self.workdir / 'mosquitto.log').read_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start within 10 s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down `down_s` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()


@contextmanager
def mosquitto(workdir: Path) -> Iterator[Broker]:
    """Run a broker in `workdir` for the duration of the block."""
    workdir.mkdir(parents=True, exist_ok=True)
    b = Broker(free_port(), workdir)
    b.start()
    try:
        yield b
    finally:
        b.stop()
