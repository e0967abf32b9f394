"""Server-Sent Events: GET /stream with the same filters as /events; a stalled client never blocks ingest.

Every message has an ``id:``; the stream opens with ``retry:`` (the reconnection delay). A client
that reconnects with ``Last-Event-ID`` (browsers send it by themselves; ``last_event_id=`` in the
query does the same for clients that open a new EventSource) first gets what it missed, once and in
order, or one ``reload`` message when that is no longer kept (`api.services.bus`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from api.routes.declare import read_route
from api.routes.events import parse_categories
from api.services.bus import KINDS, StreamFilter
from api.services.deps import LiveDep
from twin.city import parse_bbox
from twin.errors import InputError

router = APIRouter(tags=["stream"])

#: Seconds between keep-alive comments (proxies drop idle connections).
PING_S = 15
#: Messages arriving within this many seconds of the first go out in one write (latency ≤ 50 ms).
COALESCE_S = 0.05
#: About this many queued frames are joined into one write (a batch's burst stays whole).
MAX_FRAMES_PER_WRITE = 256
#: The reconnection delay the stream asks of clients (SSE ``retry:``, milliseconds).
RETRY_MS = 3000


@read_route(
    router,
    "/stream",
    "events:read",
    "Live stream of events, alerts, camera status and citizen reports (SSE)",
    {
        "description": "text/event-stream: `retry:` first, then messages with `id:`, `event:` "
        "(event | alert | camera | report | incident | forecast | job, or `reload` when a resumption "
        "cannot be served: load the state again) and one `data:` line of JSON",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": f"retry: {RETRY_MS}\n\n"
                'id: 18c2f0a1b2c3-42\nevent: event\ndata: {"type": "Feature", "id": "a-1", ...}\n\n',
            }
        },
    },
    response_class=EventSourceResponse,
)
async def stream(  # noqa: PLR0917  (FastAPI query parameters)
    live: LiveDep,
    category: Annotated[str | None, Query(description="Categories, comma-separated")] = None,
    ward: Annotated[str | None, Query(max_length=16, description="Ward code")] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north")] = None,
    types: Annotated[
        str | None, Query(description=f"Message types, comma-separated ({', '.join(KINDS)})")
    ] = None,
    last_event_id: Annotated[
        str | None, Query(max_length=80, description="Resume after this id (as the Last-Event-ID header)")
    ] = None,
    last_event_id_header: Annotated[
        str | None,
        Header(alias="Last-Event-ID", max_length=80, description="Resume after this id (sent on reconnect)"),
    ] = None,
) -> EventSourceResponse:
    """Subscribe to live messages; each subscriber has a bounded queue (overflow is dropped, counted)."""
    kinds = frozenset(KINDS)
    if types:
        kinds = frozenset(t.strip() for t in types.split(",") if t.strip())
        bad = sorted(kinds - set(KINDS))
        if bad:
            raise InputError("types", f"unknown {bad[0]!r}; known: {', '.join(KINDS)}")
    flt = StreamFilter(
        categories=frozenset(parse_categories(category)),
        ward_code=ward,
        bbox=parse_bbox(bbox) if bbox else None,
        kinds=kinds,
    )
    sub = live.bus.subscribe(flt, last_event_id_header or last_event_id)

    async def messages() -> AsyncIterator[bytes]:
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            while True:
                first = await sub.next_chunk(MAX_FRAMES_PER_WRITE)
                # Gather what else arrives within a short window and send it in one write: at a
                # thousand events a second a subscriber costs ~20 writes a second, not a thousand.
                await asyncio.sleep(COALESCE_S)
                yield first + await sub.next_chunk(MAX_FRAMES_PER_WRITE) if sub.pending else first
        finally:
            live.bus.unsubscribe(sub)

    return EventSourceResponse(messages(), ping=PING_S, headers={"Cache-Control": "no-store"})
