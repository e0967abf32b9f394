"""Pure ASGI middlewares that protect the service: rate limits, CORS allow-list, security headers.

`install_limits(app, settings)` wires them in the order that matters (outermost first): CORS, so even
a refusal carries the CORS answer an allowed browser needs; security headers; then the rate limiter,
which answers 429 with ``Retry-After`` before any body is read. The body-size cap (413 on the streamed
bytes, chunked bodies too) is `api.errors.BodySizeLimit`, installed by the app itself.

Rate limits are token buckets per client and request class (`api.limits`): the client is the API key
when a request sends one (``X-API-Key`` or ``Authorization: Bearer``; hashed, never kept in clear) and
the peer address otherwise, or the last ``X-Forwarded-For`` hop when the peer is a trusted proxy.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body
from api.limits import TokenBuckets, classify, retry_after_seconds
from api.services.responses import dumps
from api.settings import LimitSettings, Settings
from twin.errors import InputError

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
        wait = self.buckets.take(client_key(scope, self.trusted), cls)
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        rate, burst = self.limits.rate_of(cls)
        retry = retry_after_seconds(wait)
        body = dumps(
            error_body(
                "rate_limited",
                [
                    {
                        "field": "request",
                        "reason": f"more than {rate:g} {cls} requests per second (burst {burst})",
                        "type": "http_429",
                    }
                ],
                f"slow down: retry after {retry} s; batch events with POST /events/batch",
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry).encode()),
                    (b"ratelimit-limit", str(burst).encode()),
                    (b"ratelimit-remaining", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """ASGI middleware: add ``nosniff``, ``DENY`` framing and ``no-referrer`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and add the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


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
    limits = limits or settings.limits
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
