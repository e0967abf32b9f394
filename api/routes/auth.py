"""Identities over HTTP: the viewer's login exchange, who-am-I, API keys (admin) and the purge (admin).

``GET /login?key=…`` is the browser's way in (like Jupyter's token URL): it checks the key once, sets
an HttpOnly, SameSite=Strict session cookie and redirects to the viewer, so the key leaves the
address bar at once. Machines send the key on every request instead (``Authorization: Bearer`` or
``X-API-Key``).
"""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from api.auth import keys as keys_mod
from api.auth.deps import OPEN, PrincipalDep, authenticator_of, requires
from api.auth.policy import KEY_ROLES, ROLE_HELP
from api.auth.service import SESSION_COOKIE, Forbidden, Principal
from api.deps import settings_of
from api.errors import NotFound, parse_form
from api.schemas.errors import errors
from api.services.retention import purge
from api.store import default_dsn
from api.store.base import CredentialRecord, now_utc
from twin.errors import InputError

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
    cameras: list[str] | None = Field(
        default=None,
        description='Camera-gateway keys: the cameras the key may speak for ("*": every camera).',
        examples=[["LS-CAM-001", "LS-CAM-002"]],
    )


class KeyCreated(KeyInfo):
    """A new key: ``key`` is shown this once and never again."""

    key: str = Field(examples=["lst_3fa2b1c09d4e_" + "x" * 43])


class KeyIn(BaseModel):
    """What key to create."""

    model_config = {"extra": "forbid"}

    role: str = Field(description=f"One of: {', '.join(KEY_ROLES)}", examples=["camera-gateway"])
    label: str = Field(default="", max_length=keys_mod.MAX_LABEL, examples=["gateway Kỳ Lừa"])
    expires_days: float | None = Field(default=None, gt=0, le=3650, examples=[90])
    cameras: list[str] | None = Field(
        default=None,
        max_length=10_000,
        description="Required for camera-gateway keys: the registry ids of the cameras the key may speak "
        'for, or ["*"] for every camera. Events and heartbeats for any other camera are 403.',
        examples=[["LS-CAM-001", "LS-CAM-002"]],
    )


class PurgeIn(BaseModel):
    """Options of an on-demand purge (periods come from ``TWIN_RETENTION_*``)."""

    model_config = {"extra": "forbid"}

    dry_run: bool = False


def key_info(rec: CredentialRecord, cameras: frozenset[str] | None = None) -> dict[str, Any]:
    """Return a key's listing (no hash, no secret); `cameras`: its camera binding, if any."""
    return {
        "cameras": sorted(cameras) if cameras is not None else None,
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


_CONFIRM_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Đăng nhập / Sign in — Lạng Sơn IOC</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
button{{font:inherit;padding:.5rem 1.2rem}}</style></head>
<body><h1>Đăng nhập bản đồ IOC / Sign in to the IOC viewer</h1>
<p>Bạn sắp đăng nhập với vai trò <b>{role}</b> ({label}).<br>
You are about to sign in as <b>{role}</b> ({label}).</p>
<p>Nếu bạn không tự mở liên kết này, hãy đóng trang. / If you did not open this link yourself, close
this page: someone may be trying to sign your browser in as them.</p>
<form method="post" action="/login"><input type="hidden" name="key" value="{key}">
<input type="hidden" name="next" value="{next}"><button type="submit">Đăng nhập / Sign in</button></form>
</body></html>"""


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def _signed_in(request: Request, principal: Principal, value: str, max_age: int, target: str) -> Response:
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


async def _open_session(request: Request, key: str, target: str) -> Response:
    auth = authenticator_of(request.app)
    principal = await asyncio.to_thread(auth.redeem, key)
    value, max_age = await asyncio.to_thread(auth.session_for, principal)
    return _signed_in(request, principal, value, max_age, target)


@router.get(
    "/login",
    summary="Viewer sign-in: exchange a key or a one-time link for a session cookie",
    description="Opened by the user (typed, pasted or from another program: `Sec-Fetch-Site: none`) "
    "it signs in at once and redirects to `next`. Reached from a web page, or from a client that "
    "does not say, it answers a confirmation page naming the role and label instead, whose button "
    "POSTs to `/login`: a foreign page cannot sign a browser in with a key of its choosing (login "
    "CSRF). A one-time sign-in link works once.",
    response_class=HTMLResponse,
    dependencies=[OPEN],
    responses={
        200: {"description": "The confirmation page", "content": {"text/html": {}}},
        303: {"description": "Signed in; the cookie is set and the browser goes to `next`"},
        **errors(401, 422),
    },
)
async def login(
    request: Request,
    key: Annotated[str, Query(max_length=keys_mod.MAX_KEY_LEN, description="An API key or sign-in link")],
    next_: Annotated[str, Query(alias="next", max_length=512, description="Path to go to")] = "/",
) -> Response:
    """Sign in at once when the user opened the link, else ask for confirmation."""
    target = _safe_next(next_)
    if not settings_of(request.app).auth:
        return RedirectResponse(target, status_code=303)
    if request.headers.get("sec-fetch-site") == "none":
        return await _open_session(request, key, target)
    rec = await asyncio.to_thread(authenticator_of(request.app).describe, key)
    page = _CONFIRM_PAGE.format(
        role=html.escape(rec.role.removeprefix(keys_mod.TICKET_PREFIX)),
        label=html.escape(rec.label or rec.key_id),
        key=html.escape(key, quote=True),
        next=html.escape(target, quote=True),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Content-Security-Policy": _CSP})


#: The confirmation page runs no script and may only post to this site.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"


@router.post(
    "/login",
    summary="Viewer sign-in, confirmed: the form of the confirmation page",
    dependencies=[OPEN],
    status_code=303,
    response_class=RedirectResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["key"],
                        "properties": {
                            "key": {"type": "string", "maxLength": keys_mod.MAX_KEY_LEN},
                            "next": {"type": "string", "maxLength": 512},
                        },
                    }
                }
            },
        }
    },
    responses={
        303: {"description": "Signed in; the cookie is set and the browser goes to `next`"},
        **errors(401, 403, 413, 422),
    },
)
async def login_confirmed(request: Request) -> Response:
    """Open the session from the confirmation form; refused when posted from another site."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if (origin is not None and origin.rstrip("/") != _own_origin(request)) or fetch_site in (
        "cross-site",
        "same-site",
    ):
        raise Forbidden("origin", f"a sign-in cannot be posted from {origin or fetch_site}")
    form = parse_form(await request.body())
    key = form.get("key", "")
    if not key:
        raise InputError("key", "missing: the API key or sign-in link to sign in with")
    if len(key) > keys_mod.MAX_KEY_LEN:
        raise InputError("key", f"longer than {keys_mod.MAX_KEY_LEN} characters")
    target = _safe_next(form.get("next", "/"))
    if not settings_of(request.app).auth:
        return RedirectResponse(target, status_code=303)
    return await _open_session(request, key, target)


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
    store = authenticator_of(request.app).store
    return [key_info(c, store.cameras_of_key(c.key_id)) for c in store.list_credentials()]


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
    cameras = keys_mod.check_cameras(body.role, body.cameras)
    live = getattr(request.app.state, "live", None)
    registry = getattr(getattr(live, "ctx", None), "cameras", None)
    if cameras is not None and registry is not None:
        unknown = [c for c in cameras if c != keys_mod.ALL_CAMERAS and c not in registry]
        if unknown:
            raise InputError("cameras", f"not in the camera registry: {', '.join(unknown[:5])}")
    text, rec = keys_mod.issue(body.role, body.label, expires_days=body.expires_days)
    await asyncio.wrap_future(store.submit_credential(rec))
    if cameras is not None:
        await asyncio.wrap_future(store.bind_key_cameras(rec.key_id, cameras))
    audit.info("key %s (%s) created by key %s", rec.key_id, rec.role, principal.key_id)
    bound = frozenset(cameras) if cameras is not None else None
    return {**key_info(rec, bound), "key": text}


@router.post(
    "/auth/keys/{key_id}/revoke",
    summary="Admin: revoke an API key (at once)",
    response_model=KeyInfo,
    responses={**errors(404, 409, 503, 507)},
)
async def revoke_key(
    request: Request, key_id: str, principal: Annotated[Principal, requires("keys:admin")]
) -> dict[str, Any]:
    """Revoke a key: every later request with it (or a session opened with it) gets 401."""
    store = authenticator_of(request.app).store
    await asyncio.to_thread(keys_mod.check_revocable, store, key_id)
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
