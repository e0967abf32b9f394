"""The store contract for traffic counts (issue 14): idempotent upserts by (camera, interval, direction),
corrections, all-or-nothing batches and the time/camera query. Imported by ``store_contract`` so every
backend runs it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from api.store.base import Store
from api.store.traffic_counts import TrafficCountQuery, TrafficCountRecord

C0 = datetime(2025, 6, 12, 0, 0, tzinfo=UTC)


def count_of(
    i: int, *, camera: str = "LS-CAM-007", direction: str = "NB", **kw: object
) -> TrafficCountRecord:
    """Return the 5-min count number `i` of one camera and direction."""
    base = TrafficCountRecord(
        camera_id=camera, start=C0 + timedelta(minutes=5 * i), direction=direction, interval_s=300,
        link_id=17, motorbike=100 + i, car=12, bus=1, truck=3, received_at=C0 + timedelta(minutes=5 * i + 5),
        mean_speed_kmh=23.5, synthetic=True,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def _all(store: Store, **kw: object) -> list[TrafficCountRecord]:
    return store.traffic_counts(TrafficCountQuery(since=C0, until=C0 + timedelta(days=1), **kw))  # type: ignore[arg-type]


def test_traffic_counts_round_trip_and_idempotency(store: Store) -> None:
    recs = [count_of(0), count_of(0, direction="SB", mean_speed_kmh=None), count_of(1)]
    assert store.submit_traffic_counts(recs).result(timeout=30) == ["created"] * 3
    got = _all(store)
    assert got == sorted(recs, key=lambda r: (r.start, r.camera_id, r.direction))
    assert got[1].mean_speed_kmh is None
    assert got[0].total == 116
    # the same batch again: nothing changes; a recount of one interval is a correction
    assert store.submit_traffic_counts(recs).result(timeout=30) == ["duplicate"] * 3
    fixed = replace(recs[0], motorbike=90, received_at=C0 + timedelta(hours=1))
    assert store.submit_traffic_counts([fixed, recs[2]]).result(timeout=30) == ["updated", "duplicate"]
    got = _all(store)
    assert len(got) == 3
    assert got[0] == fixed


def test_traffic_counts_key_repeated_in_one_batch(store: Store) -> None:
    a = count_of(2)
    b = replace(a, car=40)
    assert store.submit_traffic_counts([a, b]).result(timeout=30) == ["created", "updated"]
    assert [r.car for r in _all(store)] == [40]


def test_traffic_counts_query_by_time_and_camera(store: Store) -> None:
    recs = [count_of(i, camera=c) for i in range(6) for c in ("LS-CAM-001", "LS-CAM-002")]
    store.submit_traffic_counts(recs).result(timeout=30)
    got = store.traffic_counts(TrafficCountQuery(C0 + timedelta(minutes=10), C0 + timedelta(minutes=20)))
    assert [(r.camera_id, r.start.minute) for r in got] == [
        ("LS-CAM-001", 10), ("LS-CAM-002", 10), ("LS-CAM-001", 15), ("LS-CAM-002", 15),
    ]  # fmt: skip
    only = _all(store, cameras=("LS-CAM-002",))
    assert len(only) == 6
    assert {r.camera_id for r in only} == {"LS-CAM-002"}
    assert len(_all(store, limit=4)) == 4


def test_traffic_counts_end_is_the_end_of_the_latest_interval(store: Store) -> None:
    assert store.traffic_counts_end(C0 + timedelta(days=1)) is None
    store.submit_traffic_counts([count_of(i) for i in range(4)]).result(timeout=30)
    assert store.traffic_counts_end(C0 + timedelta(days=1)) == C0 + timedelta(minutes=20)
    assert store.traffic_counts_end(C0 + timedelta(minutes=10)) == C0 + timedelta(minutes=10)
