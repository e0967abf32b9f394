"""Browser-test fixtures: the real app under uvicorn on a free loopback port, and headless Chromium.

The server is the real `api.app:create_app` (uvicorn subprocess, temp state dir, replay off) over the
data cache of the session, with fast scenario jobs (see `tests.e2e.app_factory`). Chromium is
Debian's ``/usr/bin/chromium`` driven by Playwright; tests are
skipped with a reason when either the browser or the built viewer (``make viewer``) is missing.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
import pytest

from api.auth.keys import create_key
from api.store import default_dsn, open_store

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "viewer" / "dist" / "index.html"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("TWIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A uvicorn process serving the twin; `stop()` / `start()` simulate an outage."""

    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    routes: set[str] = field(default_factory=set)
    #: The app factory uvicorn serves (the benchmark serves the plain `api.app:create_app`).
    factory: str = "tests.e2e.app_factory:create_test_app"
    #: An admin key created in the server's store before it starts (the browser logs in with it).
    key: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """Return the header that sends the admin key (none when the server runs without auth)."""
        return {"X-API-Key": self.key} if self.key else {}

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0, *, warm: bool = True) -> None:
        """Start uvicorn and wait until GET /health answers (and the city model is built, if `warm`)."""
        cmd = [sys.executable, "-m", "uvicorn", self.factory, "--factory",
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"the server did not answer /health in {timeout} s; see {self.log}")
        if warm:  # build the city model now, once, rather than inside the first page load
            httpx.get(f"{self.url}/layers/wards_2025", timeout=120)
        spec = httpx.get(f"{self.url}/openapi.json", timeout=10).json()
        self.routes = {f"{m.upper()} {p}" for p, ops in spec.get("paths", {}).items() for m in ops}

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def has(self, route: str) -> bool:
        """Return whether the OpenAPI schema lists `route` ("GET /cameras")."""
        return route in self.routes

    def require(self, *routes: str) -> None:
        """Skip the test when an endpoint it needs is not served (yet)."""
        missing = [r for r in routes if not self.has(r)]
        if missing:
            pytest.skip(f"the app does not serve {', '.join(missing)} yet (contract 4)")


class Link:
    """A TCP relay between the browser and the server that can be cut: an outage as the page sees it.

    `cut()` drops every open connection (the SSE stream included) and refuses new ones, as a crashed
    server or a pulled cable would; `restore()` accepts again. The server itself keeps running.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.port = free_port()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    @property
    def url(self) -> str:
        """Return the base URL the browser uses."""
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        """Listen again on the same port."""
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(64)
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def cut(self) -> None:
        """Close the listener and every relayed connection."""
        if self._listener is not None:
            # shutdown() wakes the accept() blocked in the relay thread; close() alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self._conns.clear()

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return  # the listener was closed by cut()
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, up))
            threading.Thread(target=self._pump, args=(client, up), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                for s in (a, b):
                    self._conns.discard(s)
                    s.close()


def _server(tmp: Path, data_dir: Path, factory: str = "tests.e2e.app_factory:create_test_app") -> Server:
    """Return a (stopped) server over `data_dir` with its own state dir under `tmp` and an admin key.

    `factory` ``api.app:create_app`` serves the plain app: its scenario jobs run the real models.
    """
    env = {
        **os.environ,
        "TWIN_DATA_DIR": str(data_dir),
        "TWIN_STATE_DIR": str(tmp / "state"),
        "TWIN_REPLAY": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("TWIN_BASEMAP_URL", None)
    return Server(
        port=free_port(), env=env, log=tmp / "server.log", key=admin_key(tmp / "state"), factory=factory
    )


def admin_key(state: Path) -> str:
    """Create an admin key in the store a server will open under `state`; the browser logs in with it."""
    store = open_store(default_dsn(state))
    try:
        key, _ = create_key(store, "admin", "browser tests")
    finally:
        store.close()
    LOGIN["key"] = key
    return key


#: The key `open_viewer` signs in with (the session server's admin key).
LOGIN: dict[str, str] = {}


@pytest.fixture(scope="session")
def browser_ok() -> None:
    """Skip browser tests when Chromium, Playwright or the viewer build is missing."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed: run scripts/setup-system.sh (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed: make python")
    if not DIST.is_file():
        pytest.skip("the viewer is not built: run `make viewer`")


@pytest.fixture(scope="session")
def server(browser_ok: None, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Server]:
    """The twin served on a free port for the whole session."""
    srv = _server(tmp_path_factory.mktemp("e2e"), data_dir)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def link(server: Server) -> Iterator[Link]:
    """A cuttable relay in front of the server (the page talks to the server through it)."""
    relay = Link(server.port)
    yield relay
    relay.cut()


@pytest.fixture(scope="session")
def chromium(browser_ok: None) -> Iterator[Any]:
    """One headless Chromium for the session."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415  (optional test dependency)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Page:
    """A page of the viewer plus every URL it requested."""

    page: Any
    requests: list[str]

    def foreign_requests(self) -> list[str]:
        """Return the requests that left localhost (data: and blob: URLs stay in the page)."""
        out = []
        for url in self.requests:
            u = urlparse(url)
            if u.scheme in ("data", "blob", "about"):
                continue
            if u.hostname not in LOCAL_HOSTS:
                out.append(url)
        return out

    def screenshot(self, name: str) -> Path:
        """Save a screenshot under test-artifacts/ and return its path."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def state(self, expr: str) -> Any:
        """Evaluate `expr` with `S` bound to window.__viewer."""
        return self.page.evaluate(f"(() => {{ const S = window.__viewer; return {expr}; }})()")


def open_viewer(
    chromium: Any, url: str, *, width: int = 1280, height: int = 800, query: str = "", key: str | None = None
) -> Page:
    """Open the viewer in a fresh context (signed in with `key`, default the session server's admin key)
    and wait for body[data-ready="1"]."""
    # bypass_csp lets Playwright evaluate its wait predicates; the page itself keeps its strict CSP.
    ctx = chromium.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True, bypass_csp=True
    )
    page = ctx.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    key = key or LOGIN.get("key")
    if key:  # sign in as an operator would: the login link sets the session cookie
        page.goto(f"{url}/login?" + urlencode({"key": key, "next": f"/{query}"}))
    else:
        page.goto(f"{url}/{query}")
    page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=60_000)
    return Page(page, requests)


def wait_done(server: Server, job_id: str, limit_s: float = 300.0) -> None:
    """Wait for scenario job `job_id` to finish (`limit_s`: a safety limit for a stuck job, not a timing
    assertion; the shared machine may be slow)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        body = httpx.get(f"{server.url}/scenarios/{job_id}", timeout=10, headers=server.headers).json()
        assert "status" in body, body
        if body["status"] == "done":
            return
        assert body["status"] in ("queued", "running"), body
        time.sleep(0.1)
    pytest.fail(f"scenario job {job_id} did not finish")


def show_difference(p: Page, baseline: str, metric: str) -> list[float]:
    """Compare the shown run with `baseline` in the viewer, pick `metric`; return the drawn cell values."""
    p.page.focus("#sel-compare")
    p.page.select_option("#sel-compare", baseline)
    p.page.wait_for_function("window.__viewer.compare.cells.length > 0 && !!window.__viewer.compare.doc")
    p.page.select_option("#sel-compare-metric", metric)
    p.page.wait_for_function(f"window.__viewer.compare.metric === '{metric}'")
    return [float(v) for v in p.state("S.compare.cells.map(d => d.value)")]
