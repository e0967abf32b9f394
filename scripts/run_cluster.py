"""`make run-cluster`: N twin instances on one PostgreSQL behind HAProxy on loopback, until Ctrl-C.

    .venv/bin/python scripts/run_cluster.py [--instances 2] [--dsn postgresql://…]

Without ``--dsn`` a throwaway PostgreSQL server is started (its data is removed at exit); with it, the
instances use that database. Prints the balancer's URL and an admin key; the instances' own ports are
in the list it prints (kill one with ``kill -9 <pid>`` to watch the failover).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.cli.data import fetch_data
from api.settings import Settings
from tests.support.cluster import cluster


def main() -> None:
    """Start the cluster and wait for Ctrl-C."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--dsn", default=None, help="an existing PostgreSQL database (default: a throwaway one)")
    args = ap.parse_args()
    settings = Settings()
    fetch_data(settings)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"starting PostgreSQL, {args.instances} instances and HAProxy…", flush=True)
    with cluster(settings.data.dir, args.instances, {"TWIN_REPLAY": "true"}, dsn=args.dsn) as c:
        print(f"cluster at {c.url}  (admin key: {c.headers['X-API-Key']})")
        for s in c.instances:
            pid = s.proc.pid if s.proc else "?"
            print(f"  {s.extra_env['TWIN_CLUSTER_NAME']}: {s.url} (pid {pid})")
        print("Ctrl-C stops everything", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()


if __name__ == "__main__":
    main()
