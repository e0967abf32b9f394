"""Service errors (store full, busy, not found, conflict) and the handlers that turn errors into 4xx/5xx.

Every error body has one shape, `api.schemas.errors.ErrorBody`: ``{"error", "detail": [{field, reason,
type}], "hint"}``. The validation handler never echoes the input back, so a NaN in a request cannot make
the JSON encoder fail (the FastAPI trap that turns a 422 into a 500).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.responses import JSONBytes, dumps
from twin.errors import InputError, TwinError

#: Body size cap of every request (bytes, counted on the streamed body): over 1 MB is a 413 (issue 8). A
#: batch of 500 typical events is ~100 kB; 500 events with the largest attributes (4 kB each) are not.
MAX_BODY_BYTES = 1_000_000


class StoreError(TwinError):
    """The event store could not complete a read or a write.

    A subclass names its status, its Retry-After delay, its default message and its hint.
    """

    status_code = 503
    retry_after = 1
    default_message = "the event store failed"
    default_hint: str | None = None

    def __init__(self, message: str | None = None) -> None:
        super().__init__(self.default_message if message is None else message, hint=self.default_hint)


class StoreFull(StoreError):  # noqa: N818  (named in the store contract)
    """The store's disk is full; nothing of the failed request was written."""

    status_code = 507
    retry_after = 30
    default_message = "the event store's disk is full"
    default_hint = "free disk space under the state directory, then retry"


class StoreBusy(StoreError):  # noqa: N818  (named in the store contract)
    """The database is locked by another writer; the request was not written and can be retried."""

    default_message = "the event store is busy (locked by another writer)"
    default_hint = "retry after the Retry-After delay"


class StoreUnavailable(StoreError):  # noqa: N818  (named in the store contract)
    """The store is closed or failed with an I/O error."""

    retry_after = 5
    default_message = "the event store is unavailable"
    default_hint = "retry later; operators should check the service log"


class NotFound(TwinError):  # noqa: N818  (named in the store contract)
    """A resource (event, alert, camera, request) that does not exist."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found", hint=f"list the existing {kind}s first")
        self.kind = kind
        self.ident = ident


class Conflict(TwinError):  # noqa: N818  (named in the store contract)
    """A request that contradicts the stored state (e.g. an event id reused for another camera)."""

    def __init__(self, field: str, reason: str, hint: str = "use a new id for a different object") -> None:
        super().__init__(f"{field}: {reason}", hint=hint)
        self.field = field
        self.reason = reason


def parse_form(body: bytes, max_fields: int = 200) -> dict[str, str]:
    """Return an ``application/x-www-form-urlencoded`` body as a dict (the last value of a repeated
    name wins); raise `InputError` naming ``body`` when it is not valid UTF-8 or has too many fields."""
    from urllib.parse import parse_qsl  # noqa: PLC0415  (only the few form routes need it)

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("body", "a form body must be UTF-8") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=max_fields)
    except ValueError as e:
        raise InputError("body", f"not a form body ({e})") from None
    return dict(pairs)


class PreconditionFailed(TwinError):  # noqa: N818  (HTTP status name)
    """A conditional write whose ``If-Match`` revision is stale (412) or missing (428)."""

    def __init__(self, field: str, reason: str, *, status_code: int = 412, hint: str | None = None) -> None:
        super().__init__(
            f"{field}: {reason}", hint=hint or "reload the resource and send its current revision in If-Match"
        )
        self.field = field
        self.reason = reason
        self.status_code = status_code


def error_body(error: str, detail: list[dict[str, str]], hint: str | None = None) -> dict[str, Any]:
    """Return the one error body shape."""
    return {"error": error, "detail": detail, "hint": hint}


async def send_error(
    send: Send,
    status: int,
    error: str,
    *,
    field: str,
    reason: str,
    hint: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer an error of the one body shape straight on ASGI `send` (from middleware, outside the
    app's handlers), with `headers` after the content type and length."""
    body = dumps(error_body(error, [{"field": field, "reason": reason, "type": f"http_{status}"}], hint))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _safe_reason(msg: str) -> str:
    # pydantic messages never include the input value, but be certain nothing non-finite leaks.
    return msg.replace("nan", "NaN") if "nan" in msg and "NaN" not in msg else msg


def validation_detail(errors: list[Any]) -> list[dict[str, str]]:
    """Convert pydantic/FastAPI errors to ``[{field, reason, type}]`` without the input values."""
    out = []
    for e in errors:
        loc = e.get("loc", ()) if isinstance(e, dict) else ()
        msg = str(e.get("msg", "invalid")) if isinstance(e, dict) else str(e)
        typ = str(e.get("type", "value_error")) if isinstance(e, dict) else "value_error"
        out.append({"field": _field_of(tuple(loc)), "reason": _safe_reason(msg), "type": typ})
    return out


async def _on_validation(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(isinstance(e, dict) and e.get("type") == "json_invalid" for e in errors):
        detail = [{"field": "body", "reason": "malformed JSON", "type": "json_invalid"}]
        return JSONBytes(error_body("malformed_json", detail, "send a valid JSON document"), status_code=400)
    return JSONBytes(
        error_body("validation_error", validation_detail(errors), "fix the named fields and retry"),
        status_code=422,
    )


async def _on_input(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, InputError)
    detail = [{"field": exc.field, "reason": exc.reason, "type": type(exc).__name__}]
    return JSONBytes(error_body("invalid_input", detail, exc.hint), status_code=422)


async def _on_store(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, StoreError)
    detail = [{"field": "store", "reason": exc.message, "type": type(exc).__name__}]
    return JSONBytes(
        error_body("store_unavailable", detail, exc.hint),
        status_code=exc.status_code,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _on_not_found(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, NotFound)
    detail = [{"field": exc.kind, "reason": exc.message, "type": "not_found"}]
    return JSONBytes(error_body("not_found", detail, exc.hint), status_code=404)


async def _on_conflict(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, Conflict)
    detail = [{"field": exc.field, "reason": exc.reason, "type": "conflict"}]
    return JSONBytes(error_body("conflict", detail, exc.hint), status_code=409)


async def _on_precondition(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, PreconditionFailed)
    detail = [{"field": exc.field, "reason": exc.reason, "type": f"http_{exc.status_code}"}]
    name = "precondition_failed" if exc.status_code == 412 else "precondition_required"
    return JSONBytes(error_body(name, detail, exc.hint), status_code=exc.status_code)


#: What FastAPI says when the JSON parser itself fails (a RecursionError on deep nesting, say).
_BODY_PARSE_FAILED = "There was an error parsing the body"


async def _on_http(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, StarletteHTTPException)
    reason = str(exc.detail)
    if exc.status_code == 400 and reason == _BODY_PARSE_FAILED:
        reason = "malformed JSON (or nested too deeply)"
        detail = [{"field": "body", "reason": reason, "type": "json_invalid"}]
        return JSONBytes(error_body("malformed_json", detail, "send a valid JSON document"), status_code=400)
    detail = [{"field": "request", "reason": reason, "type": f"http_{exc.status_code}"}]
    return JSONBytes(error_body("http_error", detail, None), status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the `ErrorBody` shape and the right status."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(InputError, _on_input)
    app.add_exception_handler(StoreError, _on_store)
    app.add_exception_handler(NotFound, _on_not_found)
    app.add_exception_handler(Conflict, _on_conflict)
    app.add_exception_handler(PreconditionFailed, _on_precondition)
    app.add_exception_handler(StarletteHTTPException, _on_http)


class BodySizeLimit:
    """ASGI middleware: answer 413 to request bodies over `max_bytes`, declared or streamed (chunked).

    Parameters
    ----------
    app
        The wrapped ASGI app.
    max_bytes
        The cap, in bytes.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 once the body is known to be too large."""
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes or declared < 0:
                    await self._reject(send, declared < 0)
                    return
        seen = 0
        started = False
        rejected = False

        async def counting_receive() -> Message:
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer 413 now; the app's own error answer to the aborted read is dropped.
                    if not started and not rejected:
                        rejected = True
                        await self._reject(send, False)
                    raise _TooLarge
            return message

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if rejected:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started and not rejected:
                await self._reject(send, False)

    async def _reject(self, send: Send, bad_header: bool) -> None:
        if bad_header:
            status, reason = 400, "invalid Content-Length header"
        else:
            status, reason = 413, f"request body larger than {self.max_bytes} bytes"
        error = "body_too_large" if status == 413 else "bad_request"
        hint = "send smaller batches (at most 500 events)"
        await send_error(send, status, error, field="body", reason=reason, hint=hint)


class _TooLarge(Exception):  # noqa: N818  (named in the store contract)
    """Raised inside the ASGI receive when a streamed body passes the cap."""


Handler = Callable[[Request, Exception], Awaitable[JSONBytes]]
