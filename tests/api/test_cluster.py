"""Two instances on one PostgreSQL behind HAProxy (all started by the test): the stream crosses
instances, alert rules fire once (and keep firing once after the leader is killed), scenario jobs are
claimed once and a dead instance's job is failed, sessions and keys hold on every instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, connected)
from tests.support.cluster import Cluster, SseReader, cluster, find_haproxy, wait_for
from tests.support.events import event
from tests.support.postgres import find_bindir
from tests.support.servers import Server

pytestmark = pytest.mark.postgres

#: A small real scenario (one seed, one hour of traffic).
SPEC = {
    "schema_version": 1, "name": "cụm / cluster", "kind": "traffic", "seeds": [1], "horizon": "1h",
    "changes": [{"type": "set", "param": "traffic.demand.multiplier", "value": 1.2}],
}  # fmt: skip


@pytest.fixture(scope="module")
def twins(data_dir: Path) -> Iterator[Cluster]:
    """PostgreSQL, instances a and b, HAProxy: fast ticks and short job leases."""
    if find_bindir() is None or find_haproxy() is None:
        pytest.fail("PostgreSQL or HAProxy missing: scripts/setup-system.sh installs them")
    env = {"TWIN_LIVE_TICK_S": "0.5", "TWIN_CLUSTER_JOB_LEASE_S": "10", "TWIN_JOBS_MAX_CONCURRENT": "1"}
    with cluster(data_dir, 2, env) as c:
        yield c


def health(s: Server) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{s.url}/health", timeout=10).json()
    return body


def post(url: str, headers: dict[str, str], body: dict[str, Any]) -> None:
    r = httpx.post(f"{url}/events", json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text


def alerts_of(c: Cluster, key: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{c.url}/alerts", params={"limit": 500}, headers=c.headers, timeout=30)
    assert r.status_code == 200, r.text
    items = [f["properties"] for f in r.json()["features"]]
    return [a for a in items if a["rule"] == "congestion_cluster" and a["key"] == key]


def test_both_instances_are_up_and_one_leads(twins: Cluster) -> None:
    wait_for(lambda: all(health(s)["cluster"]["stream"]["state"] == "connected" for s in twins.instances),
             "both stream buses connected")  # fmt: skip
    wait_for(lambda: sum(health(s)["cluster"]["leader"] for s in twins.instances) == 1, "one leader")
    states = [health(s) for s in twins.instances]
    assert [h["status"] for h in states] == ["ok", "ok"]
    assert {h["cluster"]["instance"] for h in states} == {"instance-a", "instance-b"}


def test_a_client_on_one_instance_sees_events_posted_to_the_other(
    twins: Cluster, connected: list[str]
) -> None:
    a, b = twins.instances
    reader = SseReader(f"{a.url}/stream?types=event,alert", a.headers)
    try:
        assert reader.connected.wait(30)
        wait_for(lambda: health(b)["cluster"]["stream"]["remote_subscribers"] >= 1, "b to hear of a's client")
        # Vietnamese text, near the 4 KiB cap of attributes: several notifications carry the burst.
        big = {f"ghi_chú_{j}": "đường " * 40 for j in range(4)}
        sent = [event(i, connected[1], category="other") for i in range(3)]
        sent += [event(i, connected[1], category="other", attributes=big) for i in (3, 4)]
        for body in sent:
            post(b.url, b.headers, body)
        wait_for(lambda: len(reader.ids()) >= len(sent), "the events on a's stream")
        assert reader.ids() == [e["event_id"] for e in sent]
        last = json.loads([d for k, d, _ in reader.frames if k == "event"][-1])
        assert last["properties"]["attributes"] == big
    finally:
        reader.close()


def test_keys_and_sessions_hold_on_every_instance(twins: Cluster) -> None:
    a, b = twins.instances
    key = twins.headers["X-API-Key"]
    r = httpx.get(f"{a.url}/login", params={"key": key}, headers={"Sec-Fetch-Site": "none"}, timeout=30)
    assert r.status_code == 303, r.text
    cookie = r.cookies.get("twin_session")
    assert cookie
    for s in (a, b):
        who = httpx.get(f"{s.url}/auth/whoami", cookies={"twin_session": cookie}, timeout=30).json()
        assert who["role"] == "admin", who


def test_a_rule_fires_once_across_instances_and_again_once_after_the_leader_dies(
    twins: Cluster, connected: list[str]
) -> None:
    a, b = twins.instances
    cam = connected[2]
    # Five congestion events in the camera's cell, alternately on both instances: one alert.
    for i in range(5):
        s = (a, b)[i % 2]
        post(s.url, s.headers, event(100 + i, cam))
    r = httpx.get(f"{a.url}/events", params={"camera_id": cam, "limit": 10}, headers=a.headers, timeout=30)
    cell = r.json()["features"][0]["properties"]["cell"]
    wait_for(lambda: alerts_of(twins, cell), "the congestion alert")
    # More events in the same cell, and a few ticks of both instances: still one alert.
    for i in range(5, 8):
        s = (a, b)[i % 2]
        post(s.url, s.headers, event(100 + i, cam))
    leader = next(s for s in twins.instances if health(s)["cluster"]["leader"])
    since = health(leader)["cluster"]["leader_for_s"]
    wait_for(lambda: health(leader)["cluster"]["leader_for_s"] >= since + 2, "a few more ticks of the leader")
    assert len(alerts_of(twins, cell)) == 1
    # Kill -9 the leader: the other takes over, and a new cluster of events raises one alert.
    survivor = b if leader is a else a
    leader.kill()
    wait_for(lambda: health(survivor)["cluster"]["leader"], "the survivor to take the lead")
    cam2 = connected[3]
    for i in range(5):
        post(twins.url, twins.headers, event(200 + i, cam2))
    r = httpx.get(f"{twins.url}/events", params={"camera_id": cam2, "limit": 10}, headers=twins.headers)
    cell2 = r.json()["features"][0]["properties"]["cell"]
    wait_for(lambda: alerts_of(twins, cell2), "the alert from the new leader")
    assert len(alerts_of(twins, cell)) == 1  # the first alert was not raised again by the new leader
    assert len(alerts_of(twins, cell2)) == 1
    leader.start(timeout=300)  # back for the next tests, as a follower
    wait_for(lambda: health(leader)["cluster"]["stream"]["state"] == "connected", "the restarted instance")


def test_jobs_are_claimed_once_and_a_dead_instances_job_fails(twins: Cluster) -> None:
    for s in twins.instances:  # each instance's dispatcher starts with its first scenarios request
        assert httpx.get(f"{s.url}/scenarios", headers=twins.headers, timeout=30).status_code == 200
    ids = []
    for _ in range(1):
        r = httpx.post(f"{twins.url}/scenarios", json=SPEC, headers=twins.headers, timeout=30)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])

    def states() -> dict[str, str]:
        return {i: states_of(twins, i) for i in ids}

    wait_for(
        lambda: set(states().values()) <= {"done", "failed", "cancelled"}, "the jobs to end", timeout=900
    )
    assert set(states().values()) == {"done"}, [
        httpx.get(f"{twins.url}/scenarios/{i}", headers=twins.headers, timeout=30).json() for i in ids
    ]
    with psycopg.connect(twins.dsn) as conn:
        rows = conn.execute(
            "SELECT job_id, owner, started_us FROM scenario_jobs WHERE job_id = ANY(%s)", (ids,)
        ).fetchall()
    assert len(rows) == 1
    assert all(owner in {"instance-a", "instance-b"} for _, owner, _ in rows)
    # A job running on an instance that is killed: failed by the other once its lease runs out.
    r = httpx.post(f"{twins.url}/scenarios", json={**SPEC, "seeds": list(range(1, 40))},
                   headers=twins.headers, timeout=30)  # fmt: skip
    assert r.status_code == 202, r.text
    job = r.json()["id"]

    def owner() -> str | None:
        with psycopg.connect(twins.dsn) as conn:
            row = conn.execute(
                "SELECT owner FROM scenario_jobs WHERE job_id = %s AND status = 'running'", (job,)
            ).fetchone()
        return row[0] if row else None

    wait_for(owner, "the long job to start")
    running_on = next(s for s in twins.instances if s.extra_env["TWIN_CLUSTER_NAME"] == owner())
    running_on.kill()
    wait_for(lambda: states_of(twins, job) == "failed", "the dead instance's job to fail", timeout=120)
    got = httpx.get(f"{twins.url}/scenarios/{job}", headers=twins.headers, timeout=30).json()
    assert "lease ran out" in (got.get("error") or "")


def states_of(c: Cluster, job: str) -> str:
    return str(httpx.get(f"{c.url}/scenarios/{job}", headers=c.headers, timeout=30).json()["status"])
