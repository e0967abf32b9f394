"""The one error body every route answers with, and the OpenAPI `responses=` entries that document it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorItem(BaseModel):
    """One problem: which field, why, and a machine-readable type."""

    field: str = Field(examples=["events.3.position.lat"])
    reason: str = Field(examples=["Input should be less than or equal to 90"])
    type: str = Field(examples=["less_than_equal"])


class ErrorBody(BaseModel):
    """An error answer: a code, the problems, and what to do."""

    error: str = Field(examples=["validation_error"])
    detail: list[ErrorItem]
    hint: str | None = Field(default=None, examples=["fix the named fields and retry"])


def _example(error: str, field: str, reason: str, typ: str, hint: str | None) -> dict[str, Any]:
    return {
        "error": error,
        "detail": [{"field": field, "reason": reason, "type": typ}],
        "hint": hint,
    }


_EXAMPLES: dict[int, tuple[str, dict[str, Any]]] = {
    400: (
        "Malformed JSON",
        _example("malformed_json", "body", "malformed JSON", "json_invalid", "send a valid JSON document"),
    ),
    401: (
        "Unknown, revoked or expired credentials",
        _example(
            "unauthorized",
            "credentials",
            "the API key is not known to this service",
            "http_401",
            "send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
        ),
    ),
    403: (
        "Forbidden",
        _example(
            "forbidden", "origin", "a sign-in cannot be posted from https://evil.example", "http_403", None
        ),
    ),
    404: (
        "Not found",
        _example("not_found", "event", "event 'x' not found", "not_found", "list the existing events first"),
    ),
    409: (
        "Conflict with stored state",
        _example(
            "conflict",
            "event_id",
            "event_id already used for camera LS-CAM-001 / category congestion",
            "conflict",
            "use a new id for a different object",
        ),
    ),
    412: (
        "Stale revision (If-Match)",
        _example(
            "precondition_failed",
            "If-Match",
            "the incident is at revision 4, not 3",
            "http_412",
            "reload the resource and send its current revision in If-Match",
        ),
    ),
    429: (
        "Rate limited (Retry-After)",
        _example(
            "rate_limited",
            "request",
            "more than 20 query requests per second (burst 40)",
            "http_429",
            "slow down: retry after 1 s",
        ),
    ),
    428: (
        "Revision required (If-Match)",
        _example(
            "precondition_required",
            "If-Match",
            "send the incident's revision (its ETag) in If-Match",
            "http_428",
            "reload the resource and send its current revision in If-Match",
        ),
    ),
    413: (
        "Body too large",
        _example(
            "body_too_large",
            "body",
            "request body larger than 2097152 bytes",
            "http_413",
            "send smaller batches (at most 500 events)",
        ),
    ),
    422: (
        "Invalid field",
        _example(
            "validation_error",
            "position.lat",
            "Input should be a finite number",
            "finite_number",
            "fix the named fields and retry",
        ),
    ),
    503: (
        "Store busy (retry)",
        _example(
            "store_unavailable",
            "store",
            "the event store is busy (locked by another writer)",
            "StoreBusy",
            "retry after the Retry-After delay",
        ),
    ),
    507: (
        "Disk full",
        _example(
            "store_unavailable",
            "store",
            "the event store's disk is full",
            "StoreFull",
            "free disk space under the state directory, then retry",
        ),
    ),
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI ``responses=`` entries (schema and example) of the given error codes."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        summary, example = _EXAMPLES[code]
        entry: dict[str, Any] = {
            "model": ErrorBody,
            "description": summary,
            "content": {"application/json": {"example": example}},
        }
        if code in (429, 503, 507):
            entry["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
            }
        out[code] = entry
    return out
