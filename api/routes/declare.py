"""How a route is declared for OpenAPI: the scope it needs, its 200 entry and its error answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.types import DecoratedCallable

from api.auth.deps import requires
from api.auth.service import Principal
from api.schemas.errors import errors

#: Where the examples of located answers stand (the Lê Lợi crossroads, city centre).
EXAMPLE_POINT: dict[str, Any] = {"type": "Point", "coordinates": [106.7578, 21.8478]}
#: The error answers of a read: a bad query (422) and a busy store (503).
READ_ERRORS = (422, 503)
#: The error answers of a write that names a stored object.
WRITE_ERRORS = (400, 404, 413, 422, 503, 507)

#: Who may send camera events and heartbeats (gateways, the replayer): the principal names the sender.
EventWriter = Annotated[Principal, requires("events:write")]


def json_ok(description: str, example: Any) -> dict[str, Any]:
    """Return the OpenAPI 200 entry of a JSON answer: its description and an example body."""
    return {"description": description, "content": {"application/json": {"example": example}}}


def read_route(
    router: APIRouter,
    path: str,
    scope: str,
    summary: str,
    ok: dict[str, Any],
    *,
    codes: Iterable[int] = READ_ERRORS,
    responses: Mapping[int | str, dict[str, Any]] | None = None,
    **options: Any,
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """Declare ``GET path`` that needs ``scope``: the 200 entry ``ok``, then ``responses`` (answers of
    its own), then the shared error answers ``codes``; ``options`` go to FastAPI as they are."""
    return router.get(
        path,
        dependencies=[requires(scope)],
        summary=summary,
        responses={200: ok, **(responses or {}), **errors(*codes)},
        **options,
    )
