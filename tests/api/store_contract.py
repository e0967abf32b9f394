"""The store contract suite: every `api.store.base.Store` backend must pass these tests.

A backend's test module provides a ``store`` fixture (an open, empty store at res 9) and imports this
module's tests (``from tests.api.store_contract import *``). SQLite runs them in
``test_store_sqlite.py``; a PostgreSQL backend joins by adding its fixture param there.
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from api.errors import StoreUnavailable
from api.store.base import (
    AlertRecord,
    CameraSnapshot,
    CredentialRecord,
    EventQuery,
    EventRecord,
    ReportRecord,
    Store,
    decode_cursor,
)
from api.store.jobs import JobRecord
from twin import h3grid
from twin.errors import InputError

T0 = datetime(2025, 6, 12, 0, 0, tzinfo=UTC)
CENTRE = (106.7578, 21.8478)


def make_event(
    i: int = 0,
    *,
    event_id: str | None = None,
    camera: str = "LS-CAM-001",
    category: str = "congestion",
    lifecycle: str = "new",
    start: datetime | None = None,
    lon: float = CENTRE[0],
    lat: float = CENTRE[1],
    ward: str = "05977",
    res: int = 9,
    **kw: object,
) -> EventRecord:
    """Return a valid event record (cells computed with the real H3 grid)."""
    fine = int(h3grid.latlng_to_cells([lat], [lon], res)[0])
    cells = {res: fine}
    for r in range(7, res):
        cells[r] = int(h3grid.cell_to_parent(format(fine, "x"), r), 16)
    base = EventRecord(
        event_id=event_id or f"ev-{i:05d}",
        camera_id=camera,
        category=category,
        severity="medium",
        confidence=0.8,
        lifecycle=lifecycle,
        start_time=start or T0 + timedelta(seconds=i),
        end_time=None,
        lon=lon,
        lat=lat,
        cells=cells,
        ward_code=ward,
        attributes={"vehicles": i, "synthetic": True, "tên": "Đông Kinh"},
        synthetic=True,
        received_at=T0,
        updated_at=T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def write(store: Store, events: list[EventRecord]) -> list[str]:
    """Write events and return their outcomes."""
    return [r.outcome for r in store.submit_events(events).result(timeout=30)]


def test_created_event_round_trips(store: Store) -> None:
    ev = make_event(1)
    assert write(store, [ev]) == ["created"]
    got = store.get_event(ev.event_id)
    assert got is not None
    assert got.start_time == ev.start_time
    assert got.start_time.tzinfo is not None
    assert got.cells == ev.cells
    assert got.attributes == ev.attributes  # Vietnamese keys and values kept
    assert (got.lon, got.lat, got.ward_code, got.revision) == (ev.lon, ev.lat, "05977", 1)
    assert store.get_event("nope") is None


def test_replay_is_idempotent(store: Store) -> None:
    events = [make_event(i) for i in range(20)]
    assert write(store, events) == ["created"] * 20
    assert write(store, events) == ["duplicate"] * 20
    assert store.count_events() == 20


def test_lifecycle_upserts_one_row(store: Store) -> None:
    ev = make_event(3)
    later = T0 + timedelta(minutes=5)
    upd = replace(ev, lifecycle="update", severity="high", start_time=ev.start_time + timedelta(seconds=30))
    end = replace(ev, lifecycle="end", end_time=later)
    assert write(store, [ev]) == ["created"]
    assert write(store, [upd]) == ["updated"]
    assert write(store, [end]) == ["updated"]
    got = store.get_event(ev.event_id)
    assert got is not None
    assert (got.lifecycle, got.end_time, got.revision) == ("end", later, 3)
    assert got.start_time == ev.start_time  # the first start wins
    # A replayed `new` or `update` after `end` is stale: nothing changes.
    assert write(store, [ev, upd]) == ["stale", "stale"]
    assert store.count_events() == 1


def test_out_of_order_messages_are_stale_by_their_own_order(store: Store) -> None:
    """Messages are ordered by their sequence or observed time, not by when they arrive."""
    ev = make_event(7, sequence=1, observed_at=T0)
    newer = replace(
        ev, lifecycle="update", severity="high", sequence=3, observed_at=T0 + timedelta(seconds=30)
    )
    older = replace(
        ev, lifecycle="update", severity="low", sequence=2, observed_at=T0 + timedelta(seconds=10)
    )
    assert write(store, [ev]) == ["created"]
    assert write(store, [newer]) == ["updated"]
    results = store.submit_events([older]).result(timeout=30)
    assert [r.outcome for r in results] == ["stale"]  # the delayed update arrives last
    assert "sequence 2" in results[0].reason
    got = store.get_event(ev.event_id)
    assert got is not None
    assert (got.severity, got.sequence, got.revision) == ("high", 3, 2)
    assert got.observed_at == T0 + timedelta(seconds=30)
    # Without sequence numbers, the camera's observed time orders them.
    b = make_event(8, observed_at=T0)
    b_new = replace(b, lifecycle="update", confidence=0.99, observed_at=T0 + timedelta(seconds=20))
    b_old = replace(b, lifecycle="update", confidence=0.5, observed_at=T0 + timedelta(seconds=5))
    assert write(store, [b, b_new, b_old]) == ["created", "updated", "stale"]
    got = store.get_event(b.event_id)
    assert got is not None
    assert got.confidence == 0.99
    # A second `end` never moves end_time back (even with no order given); a later one is applied.
    c = make_event(9)
    end = replace(c, lifecycle="end", end_time=T0 + timedelta(minutes=10))
    early_end = replace(c, lifecycle="end", end_time=T0 + timedelta(minutes=2))
    assert write(store, [c, end, early_end]) == ["created", "updated", "stale"]
    got = store.get_event(c.event_id)
    assert got is not None
    assert got.end_time == T0 + timedelta(minutes=10)
    late_end = replace(c, lifecycle="end", end_time=T0 + timedelta(minutes=12))
    assert write(store, [late_end]) == ["updated"]
    # A retried message is a duplicate whatever its number.
    assert write(store, [replace(newer, sequence=3)]) == ["duplicate"]


def test_same_id_twice_in_one_write(store: Store) -> None:
    ev = make_event(4)
    upd = replace(ev, lifecycle="update", confidence=0.95)
    assert write(store, [ev, upd, upd]) == ["created", "updated", "duplicate"]
    got = store.get_event(ev.event_id)
    assert got is not None
    assert got.confidence == 0.95
    assert got.revision == 2
    assert store.count_events() == 1


def test_conflicting_reuse_of_an_id_is_refused(store: Store) -> None:
    ev = make_event(5)
    write(store, [ev])
    assert write(store, [replace(ev, camera_id="LS-CAM-002")]) == ["conflict"]
    assert write(store, [replace(ev, category="accident")]) == ["conflict"]
    got = store.get_event(ev.event_id)
    assert got is not None
    assert got.camera_id == "LS-CAM-001"
    assert got.category == "congestion"


def test_query_filters(store: Store) -> None:
    far = (106.70, 21.80)
    events = [
        make_event(0, category="congestion", camera="LS-CAM-001"),
        make_event(1, category="accident", camera="LS-CAM-002", ward="05983"),
        make_event(2, category="crowding", camera="LS-CAM-001", lon=far[0], lat=far[1], ward="06187"),
        make_event(3, category="congestion", camera="LS-CAM-003", start=T0 + timedelta(hours=2)),
    ]
    write(store, events)

    def ids(**kw: object) -> list[str]:
        return [e.event_id for e in store.query_events(EventQuery(**kw)).events]  # type: ignore[arg-type]

    assert ids() == ["ev-00003", "ev-00002", "ev-00001", "ev-00000"]
    assert ids(categories=("congestion",)) == ["ev-00003", "ev-00000"]
    assert ids(categories=("accident", "crowding")) == ["ev-00002", "ev-00001"]
    assert ids(camera_id="LS-CAM-001") == ["ev-00002", "ev-00000"]
    assert ids(ward_code="05983") == ["ev-00001"]
    assert ids(bbox=(106.69, 21.79, 106.71, 21.81)) == ["ev-00002"]
    assert ids(since=T0 + timedelta(seconds=1), until=T0 + timedelta(hours=1)) == ["ev-00002", "ev-00001"]
    cell9 = events[2].cells[9]
    assert ids(cell=(9, cell9)) == ["ev-00002"]
    assert ids(cell=(7, events[0].cells[7])) == ["ev-00003", "ev-00001", "ev-00000"]


def test_cell_queries_at_every_resolution_match_the_events_cells(store: Store) -> None:
    """A cell at any stored resolution finds exactly the events inside it, neighbours excluded (one
    index on the finest cell, coarser cells by range: issue 20). Synthetic points around the centre."""
    rnd = random.Random(20)
    events = [
        make_event(i, lon=CENTRE[0] + rnd.uniform(-0.08, 0.08), lat=CENTRE[1] + rnd.uniform(-0.08, 0.08))
        for i in range(120)
    ]
    write(store, events)
    for res in (7, 8, 9):
        cells = {e.cells[res] for e in events}
        assert len(cells) > 1
        for cell in cells:
            want = sorted((e.event_id for e in events if e.cells[res] == cell), reverse=True)
            page = store.query_events(EventQuery(cell=(res, cell), limit=500))
            assert [e.event_id for e in page.events] == want, (res, hex(cell))
    # a cell given at another resolution than its own matches nothing (as an equality did)
    assert store.query_events(EventQuery(cell=(8, events[0].cells[9]))).events == []


def test_keyset_paging_visits_every_event_once(store: Store) -> None:
    # Equal start times on purpose: the id breaks ties.
    events = [make_event(i, start=T0 + timedelta(seconds=i // 3)) for i in range(47)]
    write(store, events)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.query_events(EventQuery(limit=10, cursor=cursor))
        seen += [e.event_id for e in page.events]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        decode_cursor(cursor)
    assert pages == 5
    assert len(seen) == len(set(seen)) == 47
    # Newest first: no ordering inversion across pages.
    starts = [store.get_event(i).start_time for i in seen]  # type: ignore[union-attr]
    assert starts == sorted(starts, reverse=True)


def test_bad_cursor_is_an_input_error(store: Store) -> None:
    with pytest.raises(InputError, match="cursor"):
        store.query_events(EventQuery(cursor="not-a-cursor!"))


def test_events_since_oldest_first(store: Store) -> None:
    write(store, [make_event(i, start=T0 + timedelta(minutes=10 - i)) for i in range(10)])
    got = store.events_since(T0 + timedelta(minutes=5))
    assert [e.start_time for e in got] == sorted(e.start_time for e in got)
    assert len(got) == 6


def test_heartbeats_keep_the_latest(store: Store) -> None:
    store.submit_heartbeats([("LS-CAM-001", T0), ("LS-CAM-002", T0)]).result(timeout=30)
    store.submit_heartbeats([("LS-CAM-001", T0 + timedelta(minutes=1))]).result(timeout=30)
    store.submit_heartbeats([("LS-CAM-001", T0 - timedelta(minutes=1))]).result(timeout=30)
    seen = store.camera_last_seen()
    assert seen == {"LS-CAM-001": T0 + timedelta(minutes=1), "LS-CAM-002": T0}


def test_camera_history(store: Store) -> None:
    for i in range(5):
        store.submit_camera_snapshot(CameraSnapshot(T0 + timedelta(minutes=i), 40 + i, 50, 238)).result(
            timeout=30
        )
    hist = store.camera_history(T0 + timedelta(minutes=1), limit=3)
    assert [h.online for h in hist] == [42, 43, 44]
    assert hist[0].total == 238


def test_alerts_round_trip(store: Store) -> None:
    a = AlertRecord(
        alert_id="AL-1",
        rule="congestion_cluster",
        key="89xyz",
        status="open",
        severity="high",
        title="Ùn tắc",
        created_at=T0,
        updated_at=T0,
        cell=123,
        lon=106.75,
        lat=21.84,
        details={"events": 5},
    )
    store.submit_alert(a).result(timeout=30)
    store.submit_alert(replace(a, alert_id="AL-2", created_at=T0 + timedelta(seconds=1))).result(timeout=30)
    store.submit_alert(replace(a, status="acknowledged", acknowledged_by="op1")).result(timeout=30)
    assert store.get_alert("AL-1") == replace(a, status="acknowledged", acknowledged_by="op1")
    assert [x.alert_id for x in store.list_alerts()] == ["AL-2", "AL-1"]
    assert [x.alert_id for x in store.list_alerts("open")] == ["AL-2"]
    assert store.get_alert("AL-404") is None


def test_reports_round_trip(store: Store) -> None:
    r = ReportRecord(
        request_id="R-1",
        service_code="environmental_sanitation",
        status="open",
        description="Rác đổ ven sông Kỳ Cùng",
        lon=106.76,
        lat=21.85,
        cell=617700000000000000,
        ward_code="05983",
        address="Kỳ Lừa",
        requested_at=T0,
        updated_at=T0,
        contact={"email": "a@example.org"},
        media_url="https://example.org/rac.jpg",
        attributes={"severity": "serious"},
    )
    store.submit_report(r).result(timeout=30)
    store.submit_report(replace(r, request_id="R-2", requested_at=T0 + timedelta(hours=1))).result(timeout=30)
    assert store.get_report("R-1") == r
    assert [x.request_id for x in store.list_reports()] == ["R-2", "R-1"]
    assert [x.request_id for x in store.list_reports(since=T0 + timedelta(minutes=1))] == ["R-2"]
    assert store.list_reports(status="closed") == []


def test_credentials_round_trip_revoke_and_touch(store: Store) -> None:
    c = CredentialRecord(
        key_id="0123456789ab",
        secret_hash="ab" * 32,
        role="operator",
        label="IOC wall",
        created_at=T0,
        expires_at=T0 + timedelta(days=30),
    )
    store.submit_credential(c).result(timeout=30)
    later = replace(c, key_id="ba9876543210", role="camera-gateway", created_at=T0 + timedelta(hours=1))
    store.submit_credential(replace(later, expires_at=None)).result(timeout=30)
    assert store.get_credential("0123456789ab") == c
    assert store.get_credential("nope") is None
    assert [x.key_id for x in store.list_credentials()] == ["ba9876543210", "0123456789ab"]
    # Last use: a later time wins, an earlier one is ignored.
    store.touch_credential(c.key_id, T0 + timedelta(minutes=5)).result(timeout=30)
    store.touch_credential(c.key_id, T0 + timedelta(minutes=1)).result(timeout=30)
    got = store.get_credential(c.key_id)
    assert got is not None
    assert got.last_used_at == T0 + timedelta(minutes=5)
    # Revocation is recorded once: a second revoke keeps the first time; an unknown id says so.
    assert store.revoke_credential(c.key_id, T0 + timedelta(hours=2)).result(timeout=30) is True
    assert store.revoke_credential(c.key_id, T0 + timedelta(hours=3)).result(timeout=30) is True
    assert store.revoke_credential("nope", T0).result(timeout=30) is False
    got = store.get_credential(c.key_id)
    assert got is not None
    assert got.revoked_at == T0 + timedelta(hours=2)
    other = store.get_credential("ba9876543210")
    assert other is not None
    assert other.revoked_at is None
    assert other.expires_at is None
    # A one-time use: of two consumptions exactly the first wins, and it does not move the time.
    assert store.consume_credential("ba9876543210", T0 + timedelta(hours=4)).result(timeout=30) is True
    assert store.consume_credential("ba9876543210", T0 + timedelta(hours=5)).result(timeout=30) is False
    assert store.consume_credential(c.key_id, T0 + timedelta(hours=6)).result(timeout=30) is False
    assert store.consume_credential("nope", T0).result(timeout=30) is False
    used = store.get_credential("ba9876543210")
    assert used is not None
    assert used.revoked_at == T0 + timedelta(hours=4)


def test_key_camera_bindings_and_the_sender_of_events(store: Store) -> None:
    # A key bound to cameras lists them; rebinding replaces; an unbound key says None.
    assert store.cameras_of_key("0123456789ab") is None
    store.bind_key_cameras("0123456789ab", ["LS-CAM-002", "LS-CAM-001", "LS-CAM-001"]).result(timeout=30)
    assert store.cameras_of_key("0123456789ab") == {"LS-CAM-001", "LS-CAM-002"}
    store.bind_key_cameras("0123456789ab", ["*"]).result(timeout=30)
    assert store.cameras_of_key("0123456789ab") == {"*"}
    # The key that sent an event's first message stays its sender; a later message does not move it.
    ev = replace(make_event(7), sent_by="0123456789ab")
    assert write(store, [ev]) == ["created"]
    assert write(store, [replace(ev, lifecycle="update", severity="high", sent_by="ba9876543210")]) == [
        "updated"
    ]
    got = store.get_event(ev.event_id)
    assert got is not None
    assert (got.sent_by, got.severity) == ("0123456789ab", "high")
    assert store.get_event(write_id := make_event(8).event_id) is None, write_id
    assert write(store, [make_event(8)]) == ["created"]
    unsent = store.get_event(make_event(8).event_id)
    assert unsent is not None
    assert unsent.sent_by is None


def test_report_owners(store: Store) -> None:
    base = ReportRecord(
        request_id="R-1",
        service_code="road_damage",
        status="open",
        description="Ổ gà",
        lon=106.76,
        lat=21.85,
        cell=617700000000000000,
        ward_code="05983",
        address=None,
        requested_at=T0,
        updated_at=T0,
    )
    for i, owner in enumerate(["k-alice", "k-bob", "k-alice", None]):
        r = replace(base, request_id=f"R-{i}", requested_at=T0 + timedelta(minutes=i))
        if owner is not None:
            store.submit_report_owner(r.request_id, owner).result(timeout=30)
        store.submit_report(r).result(timeout=30)
    assert [r.request_id for r in store.list_reports_of("k-alice")] == ["R-2", "R-0"]
    assert [r.request_id for r in store.list_reports_of("k-alice", limit=1)] == ["R-2"]
    assert [r.request_id for r in store.list_reports_of("k-bob")] == ["R-1"]
    assert store.list_reports_of("k-nobody") == []
    assert store.report_owner("R-1") == "k-bob"
    assert store.report_owner("R-3") is None
    # An operator's update replaces the report row; the owner stays.
    store.submit_report(replace(base, request_id="R-0", status="closed")).result(timeout=30)
    assert store.report_owner("R-0") == "k-alice"
    assert [r.status for r in store.list_reports_of("k-alice")] == ["open", "closed"]


def test_concurrent_writers_all_durable(store: Store) -> None:
    n_threads, per = 8, 25
    outcomes: list[str] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        futs = [store.submit_events([make_event(t * 1000 + i)]) for i in range(per)]
        got = [f.result(timeout=60)[0].outcome for f in futs]
        with lock:
            outcomes.extend(got)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert outcomes == ["created"] * (n_threads * per)
    assert store.count_events() == n_threads * per
    assert store.check_integrity() == "ok"


def test_closed_store_refuses(store: Store) -> None:
    store.close()
    with pytest.raises(StoreUnavailable):
        store.submit_events([make_event(1)]).result(timeout=5)
    with pytest.raises(StoreUnavailable):
        store.get_event("x")


# -- scenario jobs (api.store.jobs) ------------------------------------------------------------------
def _job(i: int, *, at: datetime | None = None) -> JobRecord:
    return JobRecord(
        id=f"job-{i:03d}", name=f"Kịch bản {i}", kind="traffic", status="queued",
        created_at=at or T0 + timedelta(seconds=i), spec={"name": f"Kịch bản {i}", "kind": "traffic"},
    )  # fmt: skip


def test_jobs_round_trip_and_list_newest_first(store: Store) -> None:
    for i in range(3):
        store.submit_job(_job(i)).result(timeout=30)
    got = store.get_job("job-001")
    assert got is not None
    assert (got.name, got.status, got.spec["name"], got.created_at) == (
        "Kịch bản 1", "queued", "Kịch bản 1", T0 + timedelta(seconds=1)
    )  # fmt: skip
    assert store.get_job("nope") is None
    assert [j.id for j in store.list_jobs()] == ["job-002", "job-001", "job-000"]
    assert [j.id for j in store.list_jobs("queued", limit=2)] == ["job-002", "job-001"]
    assert store.count_jobs("queued") == 3
    assert store.count_jobs("running") == 0


def test_claim_takes_the_oldest_queued_job_once(store: Store) -> None:
    for i in (2, 0, 1):
        store.submit_job(_job(i)).result(timeout=30)
    claimed = [store.claim_job(100 + k).result(timeout=30) for k in range(4)]
    assert [c.id if c else None for c in claimed] == ["job-000", "job-001", "job-002", None]
    first = store.get_job("job-000")
    assert first is not None
    assert (first.status, first.pid, first.message) == ("running", 100, "starting")
    assert first.started_at is not None


def test_concurrent_claims_never_start_a_job_twice(store: Store) -> None:
    for i in range(20):
        store.submit_job(_job(i)).result(timeout=30)
    got: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        while (job := store.claim_job(None).result(timeout=30)) is not None:
            with lock:
                got.append(job.id)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(got) == [f"job-{i:03d}" for i in range(20)]


def test_a_job_whose_lease_ran_out_is_failed_once_and_stays_failed(store: Store) -> None:
    for i in range(3):
        store.submit_job(_job(i)).result(timeout=30)
    mine = store.claim_job(1, owner="a:1", lease_s=3600).result(timeout=30)
    dead = store.claim_job(2, owner="b:2", lease_s=-1).result(timeout=30)  # its lease has run out
    assert mine is not None
    assert dead is not None
    assert store.renew_job_leases("a:1", 3600).result(timeout=30)
    assert store.fail_expired_jobs().result(timeout=30) == [dead.id]
    assert store.fail_expired_jobs().result(timeout=30) == []  # failed once, by whoever came first
    failed = store.get_job(dead.id)
    assert failed is not None
    assert failed.status == "failed"
    assert failed.error is not None
    assert "lease ran out" in failed.error
    # The dead instance's worker finishing late changes nothing; the renewed job still runs.
    assert not store.finish_job(dead.id, {}, []).result(timeout=30)
    still = store.get_job(mine.id)
    assert still is not None
    assert still.status == "running"


def test_job_status_changes_are_conditional(store: Store) -> None:
    for i in range(3):
        store.submit_job(_job(i)).result(timeout=30)
    assert store.start_job("job-000", 7).result(timeout=30)
    assert not store.start_job("job-000", 8).result(timeout=30)  # already running
    assert store.set_job_progress("job-000", 0.5, "nửa đường").result(timeout=30)
    assert store.set_job_progress("job-000", 0.2, "late report").result(timeout=30)
    j = store.get_job("job-000")
    assert j is not None
    assert (j.progress, j.message) == (0.5, "late report")  # never backwards
    assert store.finish_job("job-000", {"traffic.trips": {"mean": 3.0}}, ["traffic.links"]).result(timeout=30)
    done = store.get_job("job-000")
    assert done is not None
    assert (done.status, done.progress, done.kpis, done.layers, done.final) == (
        "done", 1.0, {"traffic.trips": {"mean": 3.0}}, ["traffic.links"], True
    )  # fmt: skip
    assert done.finished_at is not None
    # A finished job never moves again; a cancelled one stays cancelled when its worker finishes.
    assert not store.cancel_job("job-000").result(timeout=30)
    assert not store.fail_job("job-000", "late").result(timeout=30)
    assert store.cancel_job("job-001").result(timeout=30)
    assert not store.start_job("job-001", 9).result(timeout=30)
    assert not store.finish_job("job-001", {}, []).result(timeout=30)
    assert not store.set_job_progress("job-001", 0.9, "x").result(timeout=30)
    cancelled = store.get_job("job-001")
    assert cancelled is not None
    assert cancelled.status == "cancelled"
    assert store.fail_job("job-002", "boom: " + "x" * 5000).result(timeout=30)
    failed = store.get_job("job-002")
    assert failed is not None
    assert failed.status == "failed"
    assert failed.error is not None
    assert len(failed.error) == 4000
    assert store.set_job_pid("job-002", 42).result(timeout=30)
    assert store.count_jobs("failed") == 1


from tests.api.store_contract_incidents import *  # noqa: E402, F403  (the incident part of the contract)
from tests.api.store_contract_traffic_counts import *  # noqa: E402, F403  (the traffic-count part of the contract)
