"""Limits: token-bucket rate limits (429 + Retry-After), CORS allow-list, query-cost caps, the body cap
on streamed bytes, and the security headers; unit, property and HTTP tests."""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.auth.service import SESSION_COOKIE, Authenticator
from api.errors import MAX_BODY_BYTES, BodySizeLimit
from api.limits import (
    TokenBuckets,
    check_event_query,
    classify,
    retry_after_seconds,
)
from api.middleware import client_key, cors_origins, session_client
from api.settings import LimitSettings, Settings
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city, client, connected)
from tests.api.test_events_support import assert_error_shape, live_client
from tests.support.auth import key_headers
from tests.support.events import event
from twin.city import City
from twin.errors import InputError


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# ------------------------------------------------------------------------------------ token buckets
def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    b = TokenBuckets(LimitSettings(query_rate=2.0, query_burst=5), clock=clock)
    assert [b.take("a", "query") for _ in range(5)] == [0.0] * 5
    wait = b.take("a", "query")
    assert wait == pytest.approx(0.5)  # one token at 2 per second
    assert b.refused["query"] == 1
    assert b.take("b", "query") == 0.0  # another client has its own bucket
    assert b.take("a", "ingest") == 0.0  # and so has another class
    clock.t += 0.5
    assert b.take("a", "query") == 0.0
    assert b.take("a", "query") > 0
    clock.t += 100  # a long quiet spell refills only up to the burst
    assert [b.take("a", "query") for _ in range(5)] == [0.0] * 5
    assert b.take("a", "query") > 0


def test_buckets_are_bounded_least_recently_used_first() -> None:
    b = TokenBuckets(LimitSettings(max_clients=3, query_burst=1), clock=FakeClock())
    for c in "abcd":
        b.take(c, "query")
    assert len(b) == 3
    assert b.take("a", "query") == 0.0  # "a" was evicted: it starts with a full bucket again
    assert b.take("d", "query") > 0  # "d" is still held and empty


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.1, 100),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_rate_times_elapsed(rate: float, burst: int, gaps: list[float]) -> None:
    clock = FakeClock()
    b = TokenBuckets(LimitSettings(query_rate=rate, query_burst=burst), clock=clock)
    start = clock.t
    allowed = 0
    for g in gaps:
        clock.t += g
        wait = b.take("x", "query")
        if wait == 0.0:
            allowed += 1
        else:
            assert wait > 0
            assert wait <= 1 / rate + 1e-9  # never asked to wait longer than one token takes
        assert allowed <= burst + rate * (clock.t - start) + 1e-6


def test_classes_and_retry_after() -> None:
    assert classify("POST", "/events") == "ingest"
    assert classify("POST", "/events/batch") == "ingest"
    assert classify("POST", "/cameras/LS-CAM-001/heartbeat") == "ingest"
    assert classify("POST", "/open311/v2/requests.json") == "report"
    assert classify("GET", "/open311/v2/requests.json") == "query"
    assert classify("GET", "/events") == "query"
    assert classify("POST", "/alerts/a/ack") == "query"
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(2.2) == 3


def test_client_key_prefers_a_hashed_api_key_and_trusts_only_known_proxies() -> None:
    scope: dict[str, Any] = {
        "client": ("10.0.0.5", 5555),
        "headers": [(b"x-forwarded-for", b"1.2.3.4, 5.6.7.8")],
    }
    assert client_key(scope) == "ip:10.0.0.5"  # an untrusted peer cannot choose its identity
    assert client_key(scope, frozenset({"10.0.0.5"})) == "ip:5.6.7.8"
    keyed = {**scope, "headers": [(b"x-api-key", b"secret-token")]}
    k = client_key(keyed)
    assert k.startswith("key:")
    assert "secret" not in k
    bearer = {**scope, "headers": [(b"authorization", b"Bearer secret-token")]}
    assert client_key(bearer) == k


# ------------------------------------------------------------------------------- query-cost caps
def test_event_query_caps() -> None:
    lim = LimitSettings(max_time_range_days=7, max_bbox_deg2=0.5)
    now = datetime(2025, 6, 12, tzinfo=UTC)
    check_event_query(lim, None, None, None, now=now)
    check_event_query(lim, now - timedelta(days=7), None, (106.7, 21.8, 106.8, 21.9), now=now)
    with pytest.raises(InputError, match="since") as e:
        check_event_query(lim, now - timedelta(days=8), None, None, now=now)
    assert e.value.hint
    with pytest.raises(InputError, match="since"):
        check_event_query(lim, now - timedelta(days=30), now - timedelta(days=20), None, now=now)
    with pytest.raises(InputError, match="until"):
        check_event_query(lim, now, now - timedelta(hours=1), None, now=now)
    with pytest.raises(InputError, match="bbox"):
        check_event_query(lim, None, None, (106.0, 21.0, 107.0, 22.0), now=now)


def test_cors_allow_list_refuses_wildcards_and_non_origins() -> None:
    assert cors_origins(Settings(cors_origins=["https://ioc.langson.example/"])) == [
        "https://ioc.langson.example"
    ]
    for bad in (["*"], ["https://*.example"], ["ioc.example"], ["https://ioc.example/path"]):
        with pytest.raises(InputError, match="cors_origins"):
            cors_origins(Settings(cors_origins=bad))


# ------------------------------------------------------------------------------ body cap (ASGI)
async def test_streamed_body_is_cut_at_the_cap_without_reading_the_rest() -> None:
    reads = 0
    total_chunks = 1000
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            if not msg.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": reads < total_chunks}

    async def send(msg: MutableMapping[str, Any]) -> None:
        sent.append(dict(msg))

    scope = {"type": "http", "method": "POST", "path": "/events/batch", "headers": []}  # chunked: no length
    await BodySizeLimit(app, max_bytes=1024 * 1024)(scope, receive, send)
    assert sent[0]["status"] == 413
    assert reads <= 1024 * 1024 // 65536 + 1  # stopped right after the cap: never buffered 64 MB
    assert len(sent) == 2


# ----------------------------------------------------------------------------------------- HTTP
@pytest.fixture
def tight(
    monkeypatch: pytest.MonkeyPatch, city: City, tmp_path: Path, data_dir: Path
) -> Iterator[TestClient]:
    """A service with tiny limits: 3 ingest requests then 1 per 100 s; 2 reports; 7-day queries."""
    monkeypatch.setenv("TWIN_LIMIT_INGEST_RATE", "0.01")
    monkeypatch.setenv("TWIN_LIMIT_INGEST_BURST", "3")
    monkeypatch.setenv("TWIN_LIMIT_REPORT_RATE", "0.01")
    monkeypatch.setenv("TWIN_LIMIT_REPORT_BURST", "2")
    monkeypatch.setenv("TWIN_LIMIT_MAX_TIME_RANGE_DAYS", "7")
    monkeypatch.setenv("TWIN_CORS_ORIGINS", '["https://ioc.langson.example"]')
    with live_client(city, tmp_path, data_dir, tick_s=3600) as c:
        yield c


def test_over_the_rate_is_429_with_retry_after(tight: TestClient, connected: list[str]) -> None:
    cam = connected[0]
    assert [tight.post("/events", json=event(i, cam)).status_code for i in range(3)] == [200] * 3
    r = tight.post("/events", json=event(3, cam))
    body = assert_error_shape(r, 429, "request")
    assert body["error"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 100
    assert r.headers["ratelimit-remaining"] == "0"
    # Nothing of the refused request was written.
    assert tight.get("/events/" + event(3, cam)["event_id"]).status_code == 404
    # Reads have their own bucket; another client (its own API key) its own ingest bucket.
    assert tight.get("/events").status_code == 200
    other = key_headers(tight.app, "camera-gateway", "gateway 2")
    assert tight.post("/events", json=event(3, cam), headers=other).status_code == 200
    assert tight.get("/health").status_code == 200


def test_citizen_report_flood_is_limited(tight: TestClient) -> None:
    services = tight.get("/open311/v2/services.json").json()
    code = services[0]["service_code"]
    body = {"service_code": code, "lat": 21.853, "long": 106.761, "description": "Rác đổ ven đường"}
    statuses = [tight.post("/open311/v2/requests.json", json=body).status_code for _ in range(3)]
    assert statuses == [201, 201, 429], statuses


def test_cors_allow_list(tight: TestClient) -> None:
    ok = tight.get("/health", headers={"Origin": "https://ioc.langson.example"})
    assert ok.headers["access-control-allow-origin"] == "https://ioc.langson.example"
    bad = tight.get("/health", headers={"Origin": "https://evil.example"})
    assert bad.status_code == 200
    assert "access-control-allow-origin" not in bad.headers
    pre = tight.options(
        "/events",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in pre.headers
    pre_ok = tight.options(
        "/events",
        headers={
            "Origin": "https://ioc.langson.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert pre_ok.status_code == 200
    assert pre_ok.headers["access-control-allow-origin"] == "https://ioc.langson.example"
    assert "POST" in pre_ok.headers["access-control-allow-methods"]


def test_security_headers_on_every_answer(tight: TestClient) -> None:
    for r in (tight.get("/health"), tight.get("/events/nope"), tight.get("/events", params={"limit": 0})):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"


def test_costly_event_queries_are_422(tight: TestClient) -> None:
    old = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    assert_error_shape(tight.get("/events", params={"since": old}), 422, "since")
    assert_error_shape(tight.get("/events", params={"bbox": "100,10,110,25"}), 422, "bbox")
    recent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    assert tight.get("/events", params={"since": recent, "bbox": "106.7,21.8,106.8,21.9"}).status_code == 200


# ------------------------------------------------------------------------- the 1 MB cap over HTTP
def _chunked(body: bytes, size: int = 65536) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def _padded_batch(events: list[dict[str, Any]], total: int) -> bytes:
    """Return a valid batch body of exactly `total` bytes (JSON whitespace pads it)."""
    head = json.dumps({"events": events}).encode()
    assert len(head) < total
    return head[:-1] + b" " * (total - len(head)) + b"}"


def test_body_of_1mb_passes_and_1mb_plus_one_chunked_is_413(client: TestClient, connected: list[str]) -> None:
    assert MAX_BODY_BYTES == 1_000_000  # "over 1 MB → 413" (issue 8)
    evs = [event(i, connected[i % 5], event_id=f"cap-{i}") for i in range(20)]
    at_cap = _padded_batch(evs, MAX_BODY_BYTES)
    assert len(at_cap) == MAX_BODY_BYTES
    h = {"content-type": "application/json"}
    # Chunked (no Content-Length): the cap is counted on the streamed bytes.
    r = client.post("/events/batch", content=_chunked(at_cap), headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"created": 20}
    over = _padded_batch([event(0, connected[0], event_id="cap-over")], MAX_BODY_BYTES + 1)
    r = client.post("/events/batch", content=_chunked(over), headers=h)
    body = assert_error_shape(r, 413, "body")
    assert str(MAX_BODY_BYTES) in body["detail"][0]["reason"]
    # Declared length over the cap: refused before reading; nothing of either refused body was stored.
    assert_error_shape(client.post("/events/batch", content=over, headers=h), 413, "body")
    assert client.get("/events", params={"limit": 1000}).json()["count"] == 20


# ------------------------------------------------------------------------------- the cost bucket
def test_cost_bucket_is_paid_after_the_fact_and_refills() -> None:
    clock = FakeClock()
    b = TokenBuckets(LimitSettings(cost_rate_ms=100.0, cost_burst_ms=500.0), clock=clock)
    assert b.in_debt("a", "cost") == 0.0
    b.charge("a", "cost", 450)  # one expensive request: still in credit
    assert b.in_debt("a", "cost") == 0.0
    b.charge("a", "cost", 200)  # now 150 ms in debt
    wait = b.in_debt("a", "cost")
    assert wait == pytest.approx(1.51)  # until the bucket holds a token again, at 100 ms/s
    assert b.in_debt("b", "cost") == 0.0  # other clients pay their own
    b.charge("a", "cost", 1e9)  # the debt is bounded by one burst
    clock.t += 5.1
    assert b.in_debt("a", "cost") == 0.0


def test_anonymous_random_layer_variants_are_limited_by_what_they_cost(
    city: City, tmp_path: Path, data_dir: Path, connected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWIN_LIMIT_COST_RATE_MS", "10")
    monkeypatch.setenv("TWIN_LIMIT_COST_BURST_MS", "200")
    with live_client(city, tmp_path, data_dir) as c:
        anon = TestClient(c.app)
        statuses = []
        for i in range(60):
            # random variants and windows: nothing of it can be served from a cache
            w = 106.70 + (i * 7919 % 500) / 10_000
            box = f"{w:.4f},21.80,{w + 0.05:.4f},21.88"
            r = anon.get("/layers/roads", params={"simplify": 1 + (i * 7919 % 4900) / 100, "bbox": box})
            statuses.append(r.status_code)
            if r.status_code == 429:
                body = assert_error_shape(r, 429, "request")
                assert "server time" in json.dumps(body)
                assert int(r.headers["retry-after"]) >= 1
                break
        assert statuses[0] == 200
        assert statuses[-1] == 429
        # Keys have their own budgets: a gateway still sends, an operator still reads.
        gw = key_headers(c.app, "camera-gateway")
        assert c.post("/events", json=event(1, connected[0]), headers=gw).status_code == 200
        assert c.get("/layers/roads", params={"simplify": 3.3}).status_code == 200


def test_random_simplify_values_share_a_few_cached_variants(client: TestClient) -> None:
    served = {
        client.get("/layers/wards_2025", params={"simplify": v}).json()["display"]["simplify_m"]
        for v in (1.0, 1.37, 1.99, 2.0, 4.99, 7.5, 49.9)
    }
    assert served == {1.0, 2.0, 5.0, 20.0}


def test_a_signed_in_browser_is_limited_as_its_key_and_a_forged_cookie_stays_anonymous() -> None:
    """The viewer's session cookie names its key for the limiter; only a valid signature counts."""
    auth = Authenticator(store=None, session_secret=b"s" * 32)  # type: ignore[arg-type]
    payload = "v1.0123456789ab.9999999999"
    good = f"{payload}.{auth._mac(payload)}"
    app = SimpleNamespace(state=SimpleNamespace(auth=auth))

    def scope(cookie: str) -> dict[str, object]:
        header = f"theme=dark; {SESSION_COOKIE}={cookie}".encode()
        return {"type": "http", "app": app, "client": ("127.0.0.1", 5000), "headers": [(b"cookie", header)]}

    assert session_client(scope(good)) == "key:0123456789ab"
    forged = f"{payload}.{'A' * 43}"
    assert session_client(scope(forged)) is None
    assert client_key(scope(forged)) == "ip:127.0.0.1"
    assert session_client({"type": "http", "headers": []}) is None  # no app state: anonymous


def test_each_of_n_instances_enforces_a_share_of_every_limit() -> None:
    one = LimitSettings()
    half = one.per_instance(2)
    assert (half.ingest_rate, half.ingest_burst) == (one.ingest_rate / 2, one.ingest_burst // 2)
    assert (half.query_rate, half.report_rate, half.cost_rate_ms) == (
        one.query_rate / 2, one.report_rate / 2, one.cost_rate_ms / 2,
    )  # fmt: skip
    assert half.max_bbox_deg2 == one.max_bbox_deg2  # query caps are per request, not divided
    assert one.per_instance(1) is one
