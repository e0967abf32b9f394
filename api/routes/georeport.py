"""GeoReport v2 wire formats: XML beside JSON, and the spec's error body ``[{code, description}]``.

Routes of the Open311 router use `GeoReportRoute`: whatever error the service raises (validation,
credentials, not found, store busy…) is first answered by the service's own handler, then re-shaped
into GeoReport's error list in the format the path asks for (``.xml`` or ``.json``); the status code
and headers (``Retry-After``, ``WWW-Authenticate``) stay. Invalid input is a 400, as the spec says.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from api.responses import JSONBytes
from api.schemas.open311 import Open311Error

Format = Literal["json", "xml"]

#: The media types of the two formats (UTF-8, as the spec requires).
MEDIA = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}

#: The XML element of each item of a list field (GeoReport's XML names the items).
_ITEM = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _fill(el: ET.Element, value: Any, name: str) -> None:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _fill(ET.SubElement(el, key), sub, key)
    elif isinstance(value, list | tuple):
        item = _ITEM.get(name, "item")
        for sub in value:
            _fill(ET.SubElement(el, item), sub, item)
    elif value is not None:
        el.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    """Return `value` as a GeoReport XML document under `root` (a list's items named by `_ITEM`)."""
    el = ET.Element(root)
    _fill(el, value, root)
    body: bytes = ET.tostring(el, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def respond(fmt: Format, root: str, value: Any, status_code: int = 200) -> Response:
    """Return `value` (a list or a mapping; pydantic models allowed) in the asked format."""
    value = [_plain(v) for v in value] if isinstance(value, list) else _plain(value)
    if fmt == "xml":
        return Response(to_xml(root, value), status_code=status_code, media_type=MEDIA["xml"])
    return JSONBytes(value, status_code=status_code, media_type=MEDIA["json"])


def errors_of(body: Mapping[str, Any], status: int) -> list[dict[str, Any]]:
    """Return the service's error body ``{error, detail, hint}`` as GeoReport's ``[{code, description}]``."""
    items = body.get("detail") or [{"field": "request", "reason": body.get("error", "error")}]
    texts = [f"{item.get('field', 'request')}: {item.get('reason', '')}" for item in items]
    if body.get("hint"):
        texts[-1] += f" ({body['hint']})"
    return [{"code": status, "description": text} for text in texts]


async def _service_answer(request: Request, exc: Exception) -> Response | None:
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            got: Response = await handler(request, exc)
            return got
    return None


def path_format(path: str) -> Format:
    """Return the format a GeoReport path asks for (JSON unless it ends in ``.xml``)."""
    return "xml" if path.endswith(".xml") else "json"


class GeoReportRoute(APIRoute):
    """A route whose errors are GeoReport's ``[{code, description}]`` in the path's format."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                answer = await _service_answer(request, exc)
                if answer is None:
                    raise
                status = 400 if answer.status_code == 422 else answer.status_code
                body = orjson.loads(bytes(answer.body))
                resp = respond(path_format(request.url.path), "errors", errors_of(body, status), status)
                for name in ("retry-after", "www-authenticate"):
                    if name in answer.headers:
                        resp.headers[name] = answer.headers[name]
                return resp

        return route


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI ``responses=`` of GeoReport errors (JSON list and XML) for `codes`."""
    names = {
        400: "Invalid input",
        401: "No or unknown credentials",
        403: "Role lacks the scope",
        404: "Not found",
        503: "Store busy (Retry-After)",
        507: "Disk full (Retry-After)",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        example = [{"code": code, "description": "service_code: unknown service 'ufo'"}]
        entry: dict[str, Any] = {
            "model": list[Open311Error],
            "description": names.get(code, "Error") + " — GeoReport's error list",
            "content": {
                "application/json": {"example": example},
                "text/xml": {"schema": {"type": "string"}},
            },
        }
        if code in (503, 507):
            entry["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
            }
        out[code] = entry
    return out
