"""Identities over HTTP: the viewer's login exchange, who-am-I, API keys (admin) and the purge (admin).

``GET /login?key=…`` is the browser's way in (like Jupyter's token URL): it checks the key once, sets
an HttpOnly, SameSite=Strict session cookie and redirects to the viewer, so the key leaves the
address bar at once. Machines send the key on every request instead (``Authorization: Bearer`` or
``X-API-Key``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from api.auth import keys as keys_mod
from api.auth.deps import OPEN, PrincipalDep, authenticator_of, requires
from api.auth.policy import KEY_ROLES, ROLE_HELP
from api.auth.service import SESSION_COOKIE, Principal
from api.deps import settings_of
from api.errors import NotFound
from api.schemas.errors import errors
from api.services.retention import purge
from api.store import default_dsn
from api.store.base import CredentialRecord, now_utc

router = APIRouter(tags=["auth"])
audit = logging.getLogger("twin.audit")


class WhoAmI(BaseModel):
    """The caller as the service sees it."""

    role: str = Field(examples=["operator"])
    scopes: list[str] = Field(examples=[["events:read", "alerts:write"]])
    key_id: str | None = Field(default=None, examples=["3fa2b1c09d4e"])
    label: str = Field(default="", examples=["IOC wall screen"])
    via: str = Field(description="key, session, anonymous or auth-off", examples=["session"])
    auth: bool = Field(description="False when the service runs with TWIN_AUTH=off")


class KeyInfo(BaseModel):
    """An API key as listed (never its secret)."""

    key_id: str = Field(examples=["3fa2b1c09d4e"])
    role: str = Field(examples=["camera-gateway"])
    label: str = Field(examples=["gateway Kỳ Lừa"])
    state: str = Field(description="active, revoked or expired", examples=["active"])
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class KeyCreated(KeyInfo):
    """A new key: ``key`` is shown this once and never again."""

    key: str = Field(examples=["lst_3fa2b1c09d4e_" + "x" * 43])


class KeyIn(BaseModel):
    """What key to create."""

    model_config = {"extra": "forbid"}

    role: str = Field(description=f"One of: {', '.join(KEY_ROLES)}", examples=["camera-gateway"])
    label: str = Field(default="", max_length=keys_mod.MAX_LABEL, examples=["gateway Kỳ Lừa"])
    expires_days: float | None = Field(default=None, gt=0, le=3650, examples=[90])


class PurgeIn(BaseModel):
    """Options of an on-demand purge (periods come from ``TWIN_RETENTION_*``)."""

    model_config = {"extra": "forbid"}

    dry_run: bool = False


def key_info(rec: CredentialRecord) -> dict[str, Any]:
    """Return a key's listing (no hash, no secret)."""
    return {
        "key_id": rec.key_id,
        "role": rec.role,
        "label": rec.label,
        "state": keys_mod.state_of(rec),
        "created_at": rec.created_at,
        "expires_at": rec.expires_at,
        "revoked_at": rec.revoked_at,
        "last_used_at": rec.last_used_at,
    }


def _safe_next(target: str) -> str:
    """Return `target` if it is a path on this site, else "/" (no open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        return "/"
    return target


@router.get(
    "/login",
    summary="Viewer sign-in: exchange a key for a session cookie, then go to the viewer",
    status_code=303,
    response_class=RedirectResponse,
    dependencies=[OPEN],
    responses={303: {"description": "Signed in; the cookie is set and the browser goes to `next`"}},
)
async def login(
    request: Request,
    key: Annotated[str, Query(max_length=keys_mod.MAX_KEY_LEN, description="An API key")],
    next_: Annotated[str, Query(alias="next", max_length=512, description="Path to go to")] = "/",
) -> Response:
    """Check `key`, set the HttpOnly, SameSite=Strict session cookie and redirect to `next`."""
    target = _safe_next(next_)
    if not settings_of(request.app).auth:
        return RedirectResponse(target, status_code=303)
    auth = authenticator_of(request.app)
    principal = await asyncio.to_thread(auth.verify_key, key)
    value, max_age = await asyncio.to_thread(auth.session_for, principal)
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    resp.headers["Cache-Control"] = "no-store"
    audit.info("sign-in: key %s (%s) opened a viewer session", principal.key_id, principal.role)
    return resp


@router.post(
    "/logout", summary="Viewer sign-out: clear the session cookie", status_code=204, dependencies=[OPEN]
)
def logout() -> Response:
    """Clear the session cookie (the key itself stays valid; revoke it to end it everywhere)."""
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return resp


@router.get(
    "/auth/whoami", summary="Who the service takes the caller for", response_model=WhoAmI, dependencies=[OPEN]
)
def whoami(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    """Return the caller's role and scopes (``public`` without credentials)."""
    return {
        "role": principal.role,
        "scopes": sorted(principal.scopes),
        "key_id": principal.key_id,
        "label": principal.label,
        "via": principal.via,
        "auth": settings_of(request.app).auth,
    }


@router.get(
    "/auth/keys", summary="Admin: list API keys", response_model=list[KeyInfo], responses={**errors(503)}
)
def list_keys(
    request: Request, principal: Annotated[Principal, requires("keys:admin")]
) -> list[dict[str, Any]]:
    """Return every key (id, role, label, state, times), newest first; secrets are never stored."""
    return [key_info(c) for c in authenticator_of(request.app).store.list_credentials()]


@router.post(
    "/auth/keys",
    summary="Admin: create an API key (shown once)",
    description="Create a key; the answer carries it this once (only its hash is stored). Roles: "
    + "; ".join(f"`{r}`: {ROLE_HELP[r]}" for r in KEY_ROLES)
    + ".",
    status_code=201,
    response_model=KeyCreated,
    responses={**errors(422, 503, 507)},
)
async def create_key(
    request: Request, body: KeyIn, principal: Annotated[Principal, requires("keys:admin")]
) -> dict[str, Any]:
    """Create a key of `role`; the answer carries the key this once (only its hash is stored)."""
    store = authenticator_of(request.app).store
    text, rec = keys_mod.issue(body.role, body.label, expires_days=body.expires_days)
    await asyncio.wrap_future(store.submit_credential(rec))
    audit.info("key %s (%s) created by key %s", rec.key_id, rec.role, principal.key_id)
    return {**key_info(rec), "key": text}


@router.post(
    "/auth/keys/{key_id}/revoke",
    summary="Admin: revoke an API key (at once)",
    response_model=KeyInfo,
    responses={**errors(404, 503, 507)},
)
async def revoke_key(
    request: Request, key_id: str, principal: Annotated[Principal, requires("keys:admin")]
) -> dict[str, Any]:
    """Revoke a key: every later request with it (or a session opened with it) gets 401."""
    store = authenticator_of(request.app).store
    if not await asyncio.wrap_future(store.revoke_credential(key_id, now_utc())):
        raise NotFound("API key", key_id)
    rec = await asyncio.to_thread(store.get_credential, key_id)
    if rec is None:  # pragma: no cover  (revoked rows are never deleted)
        raise NotFound("API key", key_id)
    audit.info("key %s (%s) revoked by key %s", key_id, rec.role, principal.key_id)
    return key_info(rec)


@router.post(
    "/admin/purge",
    summary="Admin: apply the retention policy now",
    responses={**errors(422, 503, 507)},
)
async def purge_now(
    request: Request,
    principal: Annotated[Principal, requires("retention:purge")],
    body: Annotated[PurgeIn | None, Body()] = None,
) -> dict[str, Any]:
    """Delete events past their retention period and erase closed reports' contacts (see PRIVACY.md)."""
    s = settings_of(request.app)
    dsn = s.store_dsn or default_dsn(s.state_dir)
    dry = body.dry_run if body is not None else False
    report = await asyncio.to_thread(purge, dsn, s.retention, dry_run=dry)
    audit.info("purge (dry run %s) by key %s", dry, principal.key_id)
    return report.as_dict()
