"""FastAPI dependencies that authenticate a request and enforce the scopes its route declares.

A route declares its scopes in its decorator, ``dependencies=[requires("events:write")]``, or takes the
caller as a parameter, ``principal: Annotated[Principal, requires("aggregates:read")]``; routes anyone
may call declare ``dependencies=[Depends(open_access)]``. Credentials are read from
``Authorization: Bearer <key>``, ``X-API-Key: <key>`` or the viewer's session cookie (set by
``GET /login``). Without credentials a request is the ``public`` role, allowed only where the route's
scopes are public; otherwise 401 with ``WWW-Authenticate``. A role without a needed scope gets 403.
Both answers use the service's error shape ``{error, detail: [{field, reason, type}], hint}``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, NamedTuple

from fastapi import Depends, FastAPI, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import (
    APIKeyCookie,
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBearer,
    SecurityScopes,
)

from api.auth.keys import CAMERA_ROLE
from api.auth.policy import is_public, roles_with
from api.auth.service import (
    ANONYMOUS,
    AUTH_OFF,
    SESSION_COOKIE,
    Authenticator,
    Forbidden,
    Principal,
    Unauthorized,
    check_speaks_for,
)
from api.deps import settings_of
from api.errors import StoreUnavailable, error_body
from api.responses import JSONBytes

_API_KEY = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key `lst_<id>_<secret>` (`twin keys create --role ROLE`).",
)
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="Bearer",
    bearerFormat="lst_<id>_<secret>",
    description="The same API key as a bearer token.",
)
_SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="Session",
    description="The viewer's session cookie, set by `GET /login?key=…` (HttpOnly, SameSite=Strict).",
)
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def authenticator_of(app: FastAPI) -> Authenticator:
    """Return the app's authenticator; 503 when the credentials store is not open."""
    auth = getattr(app.state, "auth", None)
    if not isinstance(auth, Authenticator):
        reason = getattr(app.state, "live_error", None)
        raise StoreUnavailable(
            "the credentials store is not open" + (f": {reason}" if reason else ""),
        )
    return auth


async def require_speaks_for(
    request: Request, principal: Principal, camera_ids: Sequence[str], prefix: str = ""
) -> None:
    """403 unless `principal` may speak for every camera in `camera_ids` (camera-bound keys)."""
    if principal.role != CAMERA_ROLE or principal.key_id is None:
        return
    auth = authenticator_of(request.app)
    scope = (
        auth.camera_scope(principal) if auth.inline else await asyncio.to_thread(auth.camera_scope, principal)
    )
    check_speaks_for(principal, scope, camera_ids, prefix)


def _same_origin(request: Request, origin: str) -> bool:
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    allowed = set(settings_of(request.app).cors_origins)
    return origin.rstrip("/") in {own, *allowed}


class Presented(NamedTuple):
    """The credentials a request presents: an ``X-API-Key``, a bearer token, a session cookie."""

    api_key: str | None
    bearer: HTTPAuthorizationCredentials | None
    session: str | None


async def read_credentials(
    api_key: Annotated[str | None, Security(_API_KEY)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
    session: Annotated[str | None, Security(_SESSION)],
) -> Presented:
    """Dependency: read the credentials of the request (the security schemes of the OpenAPI document)."""
    return Presented(api_key, bearer, session)


async def identify(
    request: Request,
    api_key: str | None,
    bearer: HTTPAuthorizationCredentials | None,
    session: str | None,
    public_route: bool,
) -> Principal:
    """Return who is calling: the key's principal, the session's, or the anonymous public."""
    token = bearer.credentials if bearer is not None else api_key
    if token is None:  # GeoReport's ``api_key`` form field (`api.routes.open311.form_api_key`)
        token = getattr(request.state, "form_api_key", None)
    if token is None and request.headers.get("authorization"):
        raise Unauthorized(
            "the Authorization header is not `Bearer <key>`",
            "send `Authorization: Bearer <key>`",
            invalid=True,
        )
    if token is not None:
        auth = authenticator_of(request.app)
        return auth.verify_key(token) if auth.inline else await run_in_threadpool(auth.verify_key, token)
    if session:
        if request.method in _UNSAFE:
            # SameSite=Strict already keeps the cookie off cross-site requests; refuse any that slip by.
            origin = request.headers.get("origin")
            if origin is not None and not _same_origin(request, origin):
                raise Forbidden("origin", f"a session cookie cannot be used from {origin}")
        auth = authenticator_of(request.app)
        try:
            return (
                auth.verify_session(session)
                if auth.inline
                else await run_in_threadpool(auth.verify_session, session)
            )
        except Unauthorized:
            if public_route:
                return ANONYMOUS
            raise
    return ANONYMOUS


async def authorize(
    security_scopes: SecurityScopes,
    request: Request,
    presented: Annotated[Presented, Depends(read_credentials)],
) -> Principal:
    """Dependency: authenticate the request and check it holds every scope its route declares."""
    if not settings_of(request.app).auth:
        return AUTH_OFF
    needed = tuple(security_scopes.scopes)
    principal = await identify(request, *presented, is_public(needed))
    missing = [s for s in needed if not principal.has(s)]
    if missing:
        roles = ", ".join(r for r in roles_with(needed) if r != "public")
        if principal.key_id is None:
            raise Unauthorized(f"this route needs credentials with scope {', '.join(missing)}")
        raise Forbidden(
            "scope",
            f"the {principal.role} role lacks scope {', '.join(missing)}",
            f"use a key of role {roles}" if roles else "no role holds these scopes",
        )
    request.state.principal = principal
    return principal


def requires(*scopes: str) -> Any:
    """Return the dependency that declares (and enforces) a route's scopes."""
    return Security(authorize, scopes=list(scopes))


def open_access() -> None:
    """Dependency: declares a route anyone may call (no credentials are checked)."""


async def current_principal(
    request: Request, presented: Annotated[Presented, Depends(read_credentials)]
) -> Principal:
    """Dependency of open routes that still want to know who calls (anonymous when nobody)."""
    if not settings_of(request.app).auth:
        return AUTH_OFF
    return await identify(request, *presented, True)


OPEN = Depends(open_access)
PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def _on_unauthorized(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, Unauthorized)
    challenge = 'Bearer realm="langson-twin"' + (', error="invalid_token"' if exc.invalid else "")
    detail = [{"field": "credentials", "reason": exc.reason, "type": "http_401"}]
    return JSONBytes(
        error_body("unauthorized", detail, exc.hint), status_code=401, headers={"WWW-Authenticate": challenge}
    )


async def _on_forbidden(request: Request, exc: Exception) -> JSONBytes:
    assert isinstance(exc, Forbidden)
    detail = [{"field": exc.field, "reason": exc.reason, "type": "http_403"}]
    return JSONBytes(error_body("forbidden", detail, exc.hint), status_code=403)


def api_routes(app: FastAPI) -> list[Any]:
    """Return every API route of `app` as FastAPI serves it (included routers resolved)."""
    return [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]


def route_scopes(route: Any) -> tuple[str, ...] | Literal[False] | None:
    """Return the scopes a route declares, None when it declares `open_access`, False when nothing."""

    def walk(dep: Dependant) -> tuple[str, ...] | Literal[False] | None:
        for sub in dep.dependencies:
            call = inspect.unwrap(sub.call) if sub.call is not None else None
            if call is authorize:
                return tuple(sub.own_oauth_scopes or ())
            if call is open_access:
                return None
            found = walk(sub)
            if found is not False:
                return found
        return False

    return walk(route.dependant)


def _auth_responses(scopes: tuple[str, ...]) -> dict[int | str, dict[str, Any]]:
    forbidden = error_body(
        "forbidden",
        [{"field": "scope", "reason": "the camera-gateway role lacks scope events:read", "type": "http_403"}],
        "use a key of role operator, admin",
    )
    unauthorized = error_body(
        "unauthorized",
        [
            {
                "field": "credentials",
                "reason": "this route needs credentials with scope events:read",
                "type": "http_401",
            }
        ],
        "send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
    )
    challenge = {"description": 'Bearer realm="langson-twin"', "schema": {"type": "string"}}
    return {
        401: {
            "description": "A key or session that is unknown, revoked or expired (no credentials is fine)"
            if is_public(scopes)
            else "No credentials, or a key that is unknown, revoked or expired",
            "headers": {"WWW-Authenticate": challenge},
            "content": {"application/json": {"schema": _ERROR_REF, "example": unauthorized}},
        },
        403: {
            "description": "The key's role lacks a scope of this route",
            "content": {"application/json": {"schema": _ERROR_REF, "example": forbidden}},
        },
    }


class RedactKeys(logging.Filter):
    """Log filter: replace API keys in log lines (e.g. uvicorn's access line of ``/login?key=…``)."""

    _KEY = re.compile(r"lst_[0-9a-f]{12}_[A-Za-z0-9]+")

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact keys in the record's arguments and message; never drop the record."""
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._KEY.sub(_redacted, a) if isinstance(a, str) and "lst_" in a else a for a in record.args
            )
        if isinstance(record.msg, str) and "lst_" in record.msg:
            record.msg = self._KEY.sub(_redacted, record.msg)
        return True


def _redacted(m: re.Match[str]) -> str:
    return m.group(0)[:16] + "_…"


def install_auth(app: FastAPI) -> None:
    """Register the 401/403 handlers, document them on every guarded route, and keep keys out of
    uvicorn's access log. Call after every router is included."""
    app.add_exception_handler(Unauthorized, _on_unauthorized)
    app.add_exception_handler(Forbidden, _on_forbidden)
    for ctx in api_routes(app):
        scopes = route_scopes(ctx)
        if scopes:
            # Both the declared route and its served (included) copy carry the documented answers.
            for responses in (ctx.original_route.responses, ctx.responses):
                for code, entry in _auth_responses(scopes).items():
                    responses.setdefault(code, entry)
    for name in ("uvicorn.access", "uvicorn.error", "twin"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in logger.filters):
            logger.addFilter(RedactKeys())
