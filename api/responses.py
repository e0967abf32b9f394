"""JSON responses serialised with orjson (NaN-safe: non-finite floats become null)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def dumps(content: Any) -> bytes:
    """Serialise `content` to JSON bytes (numpy values allowed; NaN/Infinity become null; UTC as Z)."""
    return orjson.dumps(content, option=_OPTS)


class JSONBytes(Response):
    """A JSON response rendered by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Return the JSON bytes of `content`."""
        return dumps(content)


class GeoJSONResponse(JSONBytes):
    """A GeoJSON (RFC 7946) response."""

    media_type = "application/geo+json"


class LDJSONResponse(JSONBytes):
    """An NGSI-LD (JSON-LD) response."""

    media_type = "application/ld+json"
