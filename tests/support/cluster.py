"""A cluster on loopback: PostgreSQL, N `Server` instances on it and HAProxy in front (tests, benchmarks).

The instances share the store (``TWIN_STORE_DSN``), the session secret and the state folder (scenario
results are files there), and run with ``TWIN_CLUSTER_ENABLED`` (stream bus, alert leader, job
leases) and ``TWIN_CLUSTER_INSTANCES`` (rate limits divided). HAProxy (Debian's, installed by
``scripts/setup-system.sh``) balances round-robin, checks ``/health`` every 500 ms and keeps SSE
connections open (``timeout tunnel``).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.postgres import postgres_server
from tests.support.servers import Server, free_port

#: HAProxy's configuration: one frontend, one round-robin backend of the instances.
HAPROXY_CFG = """\
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    retries 2
    option redispatch
    # Ingest is idempotent by event_id: a request the dying instance never answered is sent again.
    retry-on conn-failure empty-response response-timeout
frontend twin
    bind 127.0.0.1:{port}
    option forwardfor
    default_backend instances
backend instances
    balance roundrobin
    option httpchk GET /health
    default-server inter 500ms fall 2 rise 1
{servers}
"""


def find_haproxy() -> str | None:
    """Return the HAProxy binary, or None when it is not installed."""
    return shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None
    )


@dataclass
class Cluster:
    """A running cluster: its instances, the balancer's URL and an admin key's header."""

    dsn: str
    instances: list[Server]
    port: int
    proc: subprocess.Popen[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The balancer's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def up(self, timeout: float = 30.0) -> None:
        """Wait until HAProxy answers /health (some instance is up behind it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("HAProxy did not answer /health in time")


def _start_haproxy(root: Path, port: int, servers: list[Server]) -> subprocess.Popen[bytes]:
    binary = find_haproxy()
    if binary is None:
        raise RuntimeError("HAProxy is not installed: run scripts/setup-system.sh (apt-get install haproxy)")
    lines = "\n".join(
        f"    server {chr(ord('a') + i)} 127.0.0.1:{s.port} check" for i, s in enumerate(servers)
    )
    cfg = root / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=port, servers=lines))
    return subprocess.Popen(
        [binary, "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@contextlib.contextmanager
def cluster(
    data_dir: Path,
    n: int = 2,
    env: dict[str, str] | None = None,
    dsn: str | None = None,
) -> Iterator[Cluster]:
    """Start PostgreSQL (unless `dsn` is given), `n` instances on it and HAProxy; stop them all on exit."""
    with contextlib.ExitStack() as stack:
        if dsn is None:
            dsn = stack.enter_context(postgres_server("twin_cluster"))
        root = Path(tempfile.mkdtemp(prefix="twin-cluster-"))
        stack.callback(shutil.rmtree, root, True)
        state = root / "state"
        state.mkdir()
        common = {
            "TWIN_STORE_DSN": dsn,
            "TWIN_CLUSTER_ENABLED": "true",
            "TWIN_CLUSTER_INSTANCES": str(n),
            "TWIN_SESSION_SECRET": secrets.token_urlsafe(32),
            "TWIN_STATUS_LOG_S": "0",
            # Behind the balancer the client is the X-Forwarded-For HAProxy adds.
            "TWIN_LIMIT_TRUSTED_PROXIES": '["127.0.0.1"]',
            **(env or {}),
        }
        servers = [
            Server(state, data_dir, {**common, "TWIN_CLUSTER_NAME": f"instance-{chr(ord('a') + i)}"})
            for i in range(n)
        ]
        for s in servers:
            stack.callback(s.stop)
        servers[0].start(timeout=300)  # the first one applies the migrations; the others then start together
        errors: list[BaseException] = []

        def start(s: Server) -> None:
            try:
                s.headers = servers[0].headers
                s.start(timeout=300)
            except BaseException as e:  # noqa: BLE001  (re-raised in the caller's thread)
                errors.append(e)

        threads = [threading.Thread(target=start, args=(s,)) for s in servers[1:]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        port = free_port()
        proc = _start_haproxy(root, port, servers)
        stack.callback(_stop, proc)
        c = Cluster(dsn, servers, port, proc, dict(servers[0].headers))
        c.up()
        yield c


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class SseReader:
    """An SSE client in a thread: collects ``(event type, JSON data text, id)`` frames from `url`.

    With `resume`, a dropped connection is opened again (on whatever instance the balancer picks)
    with the ``Last-Event-ID`` of the last frame that carried an id, as a browser's EventSource does.
    """

    def __init__(self, url: str, headers: dict[str, str], *, resume: bool = False) -> None:
        self.url = url
        self.headers = dict(headers)
        self.resume = resume
        self.frames: list[tuple[str, str, str | None]] = []
        self.reconnects = 0
        self.connected = threading.Event()
        self.last_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sse-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            headers = dict(self.headers)
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            try:
                with httpx.stream("GET", self.url, headers=headers, timeout=httpx.Timeout(5, read=None)) as r:
                    if r.status_code != 200:
                        raise httpx.HTTPError(f"status {r.status_code}")
                    self.connected.set()
                    kind, data, eid = "message", "", None
                    for line in r.iter_lines():
                        if self._stop.is_set():
                            return
                        if not line:
                            if data:
                                self.frames.append((kind, data, eid))
                                if eid is not None:
                                    self.last_id = eid
                            kind, data, eid = "message", "", None
                        elif line.startswith("event:"):
                            kind = line[6:].strip()
                        elif line.startswith("data:"):
                            data += line[5:].strip()
                        elif line.startswith("id:"):
                            eid = line[3:].strip()
            except httpx.HTTPError:
                pass
            if not self.resume:
                return
            self.reconnects += 1
            self._stop.wait(0.2)

    def ids(self, kind: str = "event") -> list[str]:
        """Return the ``id`` of the Features received as `kind` frames, in order."""
        return [str(json.loads(d).get("id")) for k, d, _ in list(self.frames) if k == kind]

    def close(self) -> None:
        """Stop reading (the connection is dropped with the thread)."""
        self._stop.set()


def wait_for(check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """Poll `check()` until it is true; fail naming `what` after `timeout` (a safety limit, not a timing)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
