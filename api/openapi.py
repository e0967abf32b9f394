"""The OpenAPI document as tools read it: every `$ref` resolvable, every status the service sends.

FastAPI's generated document is patched once, when first asked for:

- JSON Schemas given inline (``openapi_extra``, e.g. ``POST /scenarios``) carry their own ``$defs``;
  those move to ``#/components/schemas`` and their ``#/$defs/…`` references follow.
- The 422 answer is the service's `ErrorBody`, not FastAPI's ``HTTPValidationError``.
- What the middleware answers before any route runs is documented on every operation: 429 (rate
  limit, ``Retry-After``), 413 and 400 (body size, Content-Length) where a body is taken; 401 and
  503 where credentials are read (a malformed key; the credentials store not open); 404 where the
  path names something (an unknown id).
- Routes anyone may call say so: their security requirements include ``{}`` (credentials optional).
- GeoReport operations (`api.routes.georeport`) answer their errors as ``[{code, description}]``
  (JSON and XML) and invalid input as 400, never 422.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi import FastAPI

from api.auth.deps import api_routes, route_scopes
from api.auth.policy import is_public
from api.schemas.errors import errors

_ERROR_REF = "#/components/schemas/ErrorBody"
_GEO_REF = "#/components/schemas/Open311Error"
_METHODS = ("get", "put", "post", "delete", "patch")


def _hoist_defs(node: Any, found: dict[str, Any]) -> Any:
    """Return `node` without nested ``$defs`` (collected in `found`), its references rewritten."""
    if isinstance(node, dict):
        for name, schema in (node.pop("$defs", None) or {}).items():
            found[name] = _hoist_defs(schema, found)
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _hoist_defs(v, found))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hoist_defs(v, found) for v in node]
    return node


def _content(schema_ref: str, example: Any) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": schema_ref}, "example": example}}


def _is_georeport(op: dict[str, Any]) -> bool:
    return _GEO_REF in json.dumps(op.get("responses", {}).get("400", {}))


def _georeport_errors(op: dict[str, Any]) -> None:
    """Give every 4xx/5xx answer of a GeoReport operation the spec's error list (JSON and XML)."""
    op["responses"].pop("422", None)
    for code, resp in op["responses"].items():
        # 413 and 429 come from the middleware, before the route: the service's own shape.
        if code[0] in "45" and code not in ("413", "429") and _ERROR_REF in json.dumps(resp):
            resp["content"] = {
                "application/json": {"schema": {"type": "array", "items": {"$ref": _GEO_REF}}},
                "text/xml": {"schema": {"type": "string"}},
            }


def public_operations(app: FastAPI) -> frozenset[tuple[str, str]]:
    """Return (method, path) of the operations anyone may call without credentials."""
    out: set[tuple[str, str]] = set()
    for ctx in api_routes(app):
        scopes = route_scopes(ctx)
        if scopes is None or (scopes and is_public(scopes)):
            out.update((m.lower(), ctx.path_format) for m in ctx.methods or ())
    return frozenset(out)


def patch_openapi(spec: dict[str, Any], public: frozenset[tuple[str, str]] = frozenset()) -> dict[str, Any]:
    """Return FastAPI's generated document with the fixes this module's docstring lists."""
    found: dict[str, Any] = {}
    spec["paths"] = _hoist_defs(spec["paths"], found)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in found.items():
        schemas.setdefault(name, schema)
    entries = {str(k): v for k, v in errors(400, 401, 404, 413, 422, 429, 503).items()}
    for entry in entries.values():
        entry.pop("model", None)
        entry["content"]["application/json"]["schema"] = {"$ref": _ERROR_REF}
    for path, item in spec["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            if (method, path) in public and op.get("security") and {} not in op["security"]:
                op["security"].append({})
            wanted = ["429"]
            if "requestBody" in op:
                wanted += ["413", "400"]
            if op.get("security") or "401" in responses:
                # Credentials are read (a malformed or unknown key is 401 even where none is
                # needed) and looked up in the store (503 while it is not open).
                wanted += ["401", "503"]
            if any(p.get("in") == "path" for p in op.get("parameters", [])):
                wanted.append("404")  # a named thing that does not exist
            if "422" in responses:
                responses["422"] = copy.deepcopy(entries["422"])
            for code in wanted:
                responses.setdefault(code, copy.deepcopy(entries[code]))
            if _is_georeport(op):
                _georeport_errors(op)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}" not in json.dumps(spec):
            schemas.pop(unused, None)
    return spec


def install_openapi(app: FastAPI) -> None:
    """Serve the patched document at ``/openapi.json`` (built once, on first request)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = patch_openapi(generate(), public_operations(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
