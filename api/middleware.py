"""Pure ASGI middlewares that protect the service: rate limits, CORS allow-list, security headers.

`install_limits(app, settings)` wires them in the order that matters (outermost first): CORS, so even
a refusal carries the CORS answer an allowed browser needs; security headers; then the rate limiter,
which answers 429 with ``Retry-After`` before any body is read. The body-size cap (413 on the streamed
bytes, chunked bodies too) is `api.errors.BodySizeLimit`, installed by the app itself.

Rate limits are token buckets per client and request class (`api.limits`): the client is the API key
when a request sends one (``X-API-Key`` or ``Authorization: Bearer``; hashed, never kept in clear) and
the peer address otherwise, or the last ``X-Forwarded-For`` hop when the peer is a trusted proxy
(`twin serve` gives uvicorn the same list, so nobody else's header is believed). Anonymous reads
are also charged what they cost: the server time each took goes to the client's cost bucket
(``TWIN_LIMIT_COST_RATE_MS`` per second), and a client in debt gets 429 until it has paid, so cheap
requests that are expensive to answer cannot crowd out ingest.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth.service import SESSION_COOKIE
from api.errors import send_error
from api.limits import TokenBuckets, classify, retry_after_seconds
from api.settings import LimitSettings, RateClass, Settings
from twin.errors import InputError

log = logging.getLogger("twin.http")

#: Request headers a browser may send cross-origin (simple headers need no listing).
CORS_HEADERS = ("content-type", "accept", "authorization", "x-api-key", "last-event-id")
#: Response headers a cross-origin script may read.
CORS_EXPOSE = ("retry-after", "link", "ratelimit-limit", "ratelimit-remaining")
#: Headers added to every HTTP response.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def session_client(scope: Scope) -> str | None:
    """Return the rate-limit key of a request signed in with a valid session cookie, else None.

    A browser signed in by the login link is its key's client (like a request with the key itself),
    not an anonymous address: the viewer's start-up burst must not be charged to the cost bucket of
    anonymous reads. Only a cookie whose signature holds counts, so a forged one stays anonymous.
    """
    app = scope.get("app")
    auth = getattr(getattr(app, "state", None), "auth", None)
    if auth is None:
        return None
    prefix = SESSION_COOKIE.encode() + b"="
    for name, value in scope.get("headers", []):
        if name != b"cookie":
            continue
        for raw in value.split(b";"):
            part = raw.strip()
            if part.startswith(prefix):
                key_id: str | None = auth.session_key_id(part[len(prefix) :].decode("latin-1"))
                if key_id is not None:
                    return "key:" + key_id
    return None


def client_key(scope: Scope, trusted_proxies: frozenset[str] = frozenset()) -> str:
    """Return the rate-limit key of a request: a hashed API key, else the client address.

    Parameters
    ----------
    scope
        The ASGI HTTP scope.
    trusted_proxies
        Peer addresses whose ``X-Forwarded-For`` is believed (its last hop is the client).
    """
    forwarded = None
    for name, value in scope.get("headers", []):
        if name == b"x-api-key" or (name == b"authorization" and value[:7].lower() == b"bearer "):
            token = value if name == b"x-api-key" else value[7:]
            return "key:" + hashlib.sha256(token.strip()).hexdigest()[:32]
        if name == b"x-forwarded-for":
            forwarded = value
    peer = scope.get("client")
    host = str(peer[0]) if peer else "unknown"
    if forwarded is not None and host in trusted_proxies:
        hops = [h.strip() for h in forwarded.decode("latin-1").split(",") if h.strip()]
        if hops:
            return "ip:" + str(hops[-1])
    return "ip:" + host


class RateLimit:
    """ASGI middleware: answer 429 with ``Retry-After`` when a client's bucket for its request class
    is empty. WebSocket and lifespan traffic pass untouched; ``/health`` is never limited.

    Parameters
    ----------
    app
        The wrapped ASGI app.
    limits
        Rates and bursts (`api.settings.LimitSettings`).
    buckets
        The bucket store (a fresh one by default; pass one to share or inspect it).
    """

    def __init__(self, app: ASGIApp, limits: LimitSettings, buckets: TokenBuckets | None = None) -> None:
        self.app = app
        self.limits = limits
        self.buckets = buckets or TokenBuckets(limits)
        self.trusted = frozenset(limits.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 429."""
        if scope["type"] != "http" or not self.limits.enabled or scope.get("path") == "/health":
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", "GET"))
        if method == "OPTIONS":  # CORS preflights are answered by the CORS layer
            await self.app(scope, receive, send)
            return
        cls = classify(method, str(scope.get("path", "")))
        client = session_client(scope) or client_key(scope, self.trusted)
        wait = self.buckets.take(client, cls)
        costed = cls == "query" and client.startswith("ip:")
        if wait <= 0 and costed:
            wait = self.buckets.in_debt(client, "cost")
            if wait > 0:
                cls = "cost"
        if wait <= 0:
            if costed:
                await self._costed(client, scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        await self._refuse(cls, wait, send)

    async def _costed(self, client: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Run an anonymous read and charge its server time (ms) to the client's cost bucket."""
        t0 = time.perf_counter()
        streaming = False

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start":
                streaming = any(
                    k.lower() == b"content-type" and v.startswith(b"text/event-stream")
                    for k, v in message.get("headers", [])
                )
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not streaming:  # an SSE connection lasts; what it costs is its messages, not its age
                # One request is charged at most a fifth of the burst: a cold cache (the first build
                # of a layer, a numba compile) must not lock out whoever happened to ask first.
                took = (time.perf_counter() - t0) * 1000
                self.buckets.charge(client, "cost", min(took, self.limits.cost_burst_ms / 5))

    async def _refuse(self, cls: RateClass, wait: float, send: Send) -> None:
        """Answer 429 with ``Retry-After`` for a client whose bucket of `cls` is empty."""
        rate, burst = self.limits.rate_of(cls)
        retry = retry_after_seconds(wait)
        reason = (
            f"more than {rate:g} ms of server time per second on anonymous requests (burst {burst} ms)"
            if cls == "cost"
            else f"more than {rate:g} {cls} requests per second (burst {burst})"
        )
        hint = (
            f"slow down: retry after {retry} s; the full layers are cached, their variants cost more"
            if cls == "cost"
            else f"slow down: retry after {retry} s; batch events with POST /events/batch"
        )
        limits = [
            (b"retry-after", str(retry).encode()),
            (b"ratelimit-limit", str(burst).encode()),
            (b"ratelimit-remaining", b"0"),
        ]
        await send_error(send, 429, "rate_limited", field="request", reason=reason, hint=hint, headers=limits)


class SecurityHeaders:
    """ASGI middleware: add ``nosniff``, ``DENY`` framing and ``no-referrer`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and add the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            # An unexpected failure: Starlette's outermost handler would answer a bare text 500 without
            # these headers. Answer the service's JSON error shape with them, and log the traceback.
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await send_error(
                send,
                500,
                "internal_error",
                field="request",
                reason="the service failed here",
                hint="this is a bug of the service; the log has the details",
                headers=SECURITY_HEADERS,
            )


def cors_origins(settings: Settings) -> list[str]:
    """Return the explicit CORS allow-list of `settings`; a wildcard is refused.

    Raises
    ------
    InputError
        Naming ``cors_origins`` when it contains ``*`` or an origin that is not ``scheme://host[:port]``.
    """
    out: list[str] = []
    for origin in settings.cors_origins:
        o = origin.strip().rstrip("/")
        if o == "*" or "*" in o:
            raise InputError(
                "cors_origins",
                "a wildcard would let any web page call the API",
                hint="list the viewer origins explicitly, e.g. TWIN_CORS_ORIGINS='[\"https://ioc.example\"]'",
            )
        scheme, sep, rest = o.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
            raise InputError("cors_origins", f"{origin!r} is not an origin (scheme://host[:port])")
        out.append(o)
    return out


def install_limits(app: FastAPI, settings: Settings, limits: LimitSettings | None = None) -> TokenBuckets:
    """Add the rate limiter, security headers and CORS allow-list to `app`; return the buckets.

    Call it after every other ``add_middleware`` (Starlette runs the last added first). The limits
    are also put on ``app.state.limits`` for the routes' query-cost checks.

    Parameters
    ----------
    app
        The FastAPI app.
    settings
        Service settings (``cors_origins``).
    limits
        Rate limits and query caps (default: ``settings.limits``, from ``TWIN_LIMIT_*``).
    """
    # One of N instances behind a balancer enforces 1/N of each limit (TWIN_CLUSTER_INSTANCES).
    limits = (limits or settings.limits).per_instance(settings.cluster.instances)
    buckets = TokenBuckets(limits)
    app.state.limits = limits
    app.state.rate_buckets = buckets
    app.add_middleware(RateLimit, limits=limits, buckets=buckets)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins(settings),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=list(CORS_HEADERS),
        expose_headers=list(CORS_EXPOSE),
        allow_credentials=False,
        max_age=600,
    )
    return buckets


__all__ = [
    "RateLimit",
    "SecurityHeaders",
    "client_key",
    "cors_origins",
    "install_limits",
]
