"""Start a throwaway PostgreSQL server on loopback for the store tests.

Uses the Debian server binaries installed by ``scripts/setup-system.sh``. The cluster lives in a
temporary folder, listens on 127.0.0.1 on a free port with trust auth for the local test user, and is
stopped (fast shutdown) and removed afterwards. As root, the server runs as the ``postgres`` user
(PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def find_bindir() -> Path | None:
    """Return the newest PostgreSQL server bin folder, or None if no server is installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[4]))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> tuple[list[str], int | None, int | None]:
    if os.geteuid() != 0:
        return [], None, None
    pw = pwd.getpwnam("postgres")
    return ["runuser", "-u", "postgres", "--"], pw.pw_uid, pw.pw_gid


@contextlib.contextmanager
def postgres_server(dbname: str = "twin_test") -> Iterator[str]:
    """Yield the DSN of a fresh PostgreSQL server with database `dbname`; stop it on exit."""
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(
            "no PostgreSQL server installed: run scripts/setup-system.sh (apt-get install postgresql)"
        )
    prefix, uid, gid = _as_user()
    root = Path(tempfile.mkdtemp(prefix="twin-pg-"))
    data = root / "data"
    if uid is not None and gid is not None:
        os.chown(root, uid, gid)
    port = _free_port()
    user = "postgres" if uid is not None else pwd.getpwuid(os.geteuid()).pw_name
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    try:
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8"],
            check=True,
            capture_output=True,
            env=env,
        )
        opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c fsync=on"
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(root / "log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        dsn = f"postgresql://{user}@127.0.0.1:{port}/{dbname}"
        deadline = time.monotonic() + 20
        while True:
            r = subprocess.run(
                [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, dbname],
                capture_output=True,
                env=env,
                check=False,
            )
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {r.stderr.decode()[-500:]}")
            time.sleep(0.2)
        yield dsn
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                env=env,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
