"""The store contract for incidents (issue 16): grouping, conditional updates, history, filters,
snapshots and unit keys. Imported by ``store_contract`` so every backend runs it."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from api.store.base import Store
from api.store.incidents import (
    IncidentChange,
    IncidentQuery,
    IncidentRecord,
    RevisionConflict,
    SnapshotRecord,
)

I0 = datetime(2025, 6, 12, 1, 0, tzinfo=UTC)


def candidate(n: int, *, group: str = "alert:congestion_cluster:8941a2a4c2fffff", at: datetime | None = None,
              **kw: object) -> IncidentRecord:  # fmt: skip
    """Return a new-incident candidate of occurrence `n`."""
    t = at or I0 + timedelta(minutes=n)
    base = IncidentRecord(
        incident_id=f"IN-{n:04d}",
        kind="alert",
        category="congestion_cluster",
        group_key=group,
        status="assigned",
        severity="high",
        title_vi="Ùn tắc",
        title_en="Congestion",
        count=1,
        first_at=t,
        last_at=t,
        created_at=t,
        updated_at=t,
        lon=106.7578,
        lat=21.8478,
        cell=0x8941A2A4C2FFFFF,
        ward_code="06187",
        street="Quốc lộ 1A",
        unit_id="cong-an-ky-lua",
        due_at=t + timedelta(minutes=30),
        sources=(f"alert:AL-{n}",),
        details={"events": 5},
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def occur(store: Store, c: IncidentRecord, window_min: int = 60) -> tuple[IncidentRecord, bool]:
    return store.submit_occurrence(c, c.last_at - timedelta(minutes=window_min)).result(timeout=30)


def change_of(new: IncidentRecord, **kw: object) -> IncidentChange:
    return IncidentChange(new.incident_id, new.revision, new.updated_at, "op [k1]", "operator", "status",
                          **kw)  # type: ignore[arg-type]  # fmt: skip


def test_incident_grouping_within_window(store: Store) -> None:
    first, created = occur(store, candidate(0))
    assert created
    assert first.revision == 1
    again, created = occur(store, candidate(5))
    assert not created
    assert (again.incident_id, again.count, again.revision) == ("IN-0000", 2, 2)
    assert (again.first_at, again.last_at) == (I0, I0 + timedelta(minutes=5))
    assert again.sources == ("alert:AL-0", "alert:AL-5")
    assert store.get_incident("IN-0000") == again
    assert store.incident_of_source("alert:AL-5") == again
    # beyond the window, or another group: a new incident
    assert occur(store, candidate(200))[1]
    assert occur(store, candidate(201, group="alert:camera_silent:LS-CAM-001"))[1]
    # a person's resolution is final: a recurrence opens a new incident ...
    cur = store.get_incident("IN-0200")
    assert cur is not None
    done = replace(cur, status="resolved", revision=2)
    store.update_incident(done, 1, change_of(done, to_status="resolved")).result(timeout=30)
    assert occur(store, candidate(202))[1]
    # ... the system's (condition cleared) reopens the incident
    cur2 = store.get_incident("IN-0201")
    assert cur2 is not None
    auto = replace(cur2, status="resolved", revision=2, details={"auto_resolved": True})
    store.update_incident(auto, 1, change_of(auto, to_status="resolved")).result(timeout=30)
    back, created = occur(store, candidate(203, group="alert:camera_silent:LS-CAM-001"))
    assert not created
    assert back.incident_id == "IN-0201"
    assert (back.status, back.count) == ("assigned", 2)
    assert "auto_resolved" not in back.details
    assert [c.action for c in store.incident_changes("IN-0201")] == ["created", "status", "reopened"]


def test_incident_update_is_conditional(store: Store) -> None:
    inc, _ = occur(store, candidate(0))
    a = replace(inc, status="in_progress", revision=2)
    b = replace(inc, status="resolved", revision=2)
    store.update_incident(
        a, 1, change_of(a, from_status="assigned", to_status="in_progress", note="đi")
    ).result(30)
    with pytest.raises(RevisionConflict) as err:
        store.update_incident(b, 1, change_of(b, to_status="resolved")).result(timeout=30)
    assert err.value.current == 2
    got = store.get_incident(inc.incident_id)
    assert got is not None
    assert (got.status, got.revision) == ("in_progress", 2)
    changes = store.incident_changes(inc.incident_id)
    assert [(c.revision, c.action, c.to_status, c.note) for c in changes] == [
        (1, "created", "assigned", None),
        (2, "status", "in_progress", "đi"),
    ]
    assert changes[1].actor == "op [k1]"


def test_incident_concurrent_writers_never_lose_a_change(store: Store) -> None:
    inc, _ = occur(store, candidate(0))
    results: list[str] = []

    def attempt(i: int) -> None:
        new = replace(inc, status="acknowledged", revision=2, details={"by": i})
        try:
            store.update_incident(new, 1, change_of(new, note=str(i))).result(timeout=30)
            results.append("ok")
        except RevisionConflict:
            results.append("conflict")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 7 + ["ok"]
    assert len(store.incident_changes(inc.incident_id)) == 2


def test_incident_list_filters_newest_first(store: Store) -> None:
    occur(store, candidate(0))
    occur(store, candidate(100, group="report:illegal_dumping:89", kind="report", category="illegal_dumping",
                           unit_id="moi-truong-do-thi", ward_code="05977"))  # fmt: skip
    occur(store, candidate(200, group="alert:camera_silent:LS-CAM-9", category="camera_silent", unit_id=None,
                           status="new", due_at=None))  # fmt: skip
    ids = [i.incident_id for i in store.list_incidents(IncidentQuery())]
    assert ids == ["IN-0200", "IN-0100", "IN-0000"]
    assert [i.incident_id for i in store.list_incidents(IncidentQuery(statuses=("new",)))] == ["IN-0200"]
    assert [i.incident_id for i in store.list_incidents(IncidentQuery(unit_id="moi-truong-do-thi"))] == [
        "IN-0100"
    ]
    assert [i.incident_id for i in store.list_incidents(IncidentQuery(ward_code="05977"))] == ["IN-0100"]
    assert [i.incident_id for i in store.list_incidents(IncidentQuery(category="camera_silent"))] == [
        "IN-0200"
    ]
    overdue = store.list_incidents(IncidentQuery(overdue_at=I0 + timedelta(minutes=60)))
    assert [i.incident_id for i in overdue] == ["IN-0000"]
    assert len(store.list_incidents(IncidentQuery(limit=2))) == 2


def test_snapshots_and_unit_keys(store: Store) -> None:
    data = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 10 + b"\xff\xd9"
    snap = SnapshotRecord("SN-1", data, I0, "k1", event_id="ev-1", sha256="abc")
    store.submit_snapshot(snap).result(timeout=30)
    assert store.get_snapshot("SN-1") == snap
    assert store.snapshots_of_event("ev-1") == ["SN-1"]
    assert store.get_snapshot("SN-2") is None
    assert store.purge_snapshots(I0 + timedelta(seconds=1)).result(timeout=30) == 1
    assert store.get_snapshot("SN-1") is None
    store.bind_unit_key("k1", "cong-an-ky-lua").result(timeout=30)
    store.bind_unit_key("k1", "moi-truong-do-thi").result(timeout=30)
    assert store.unit_of_key("k1") == "moi-truong-do-thi"
    assert store.unit_of_key("k2") is None
