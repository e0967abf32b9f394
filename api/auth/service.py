"""The authenticator: checks keys and session cookies against the store, and signs sessions.

One `Authenticator` lives on ``app.state.auth`` while the store is open. It answers a `Principal`
(role, scopes, key id) or raises `Unauthorized` with a reason and what to do. Key checks read the
store on every request (a primary-key lookup), so a revoked or expired key is refused at once,
whichever process revoked it. "Last used" is written at most once a minute per key, off the
request path.

Sessions are for the browser viewer: ``GET /login?key=…`` checks the key once and sets an HttpOnly,
SameSite=Strict cookie ``v1.<key_id>.<expires>.<hmac>`` signed with the service's session secret. The
cookie holds no secret of the key; each request re-checks that the key behind it is still active.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from api.auth.keys import (
    ALL_CAMERAS,
    CAMERA_ROLE,
    TICKET_PREFIX,
    is_ticket,
    issue,
    matches,
    parse_key,
    state_of,
)
from api.auth.policy import ROLES
from api.store.base import CredentialRecord, Store, now_utc
from twin.errors import TwinError

log = logging.getLogger("twin.auth")

SESSION_COOKIE = "twin_session"
#: Write a key's "last used" time at most this often.
TOUCH_EVERY_S = 60.0


_TICKET_HINT = (
    "sign-in links work once and expire; ask for a new one "
    "(`twin keys login-link --role operator`), or restart `twin serve` on a store with no operator key"
)


class Unauthorized(TwinError):  # noqa: N818  (HTTP status name)
    """No usable credentials: 401 with ``WWW-Authenticate``."""

    def __init__(self, reason: str, hint: str | None = None, *, invalid: bool = False) -> None:
        super().__init__(
            reason,
            hint=hint
            or "send `Authorization: Bearer <key>` or `X-API-Key: <key>`; create a key with "
            "`twin keys create --role ROLE`, or open the login link printed by `twin serve`",
        )
        self.reason = reason
        self.invalid = invalid


class Forbidden(TwinError):  # noqa: N818  (HTTP status name)
    """Valid credentials whose role lacks a scope the route needs: 403."""

    def __init__(self, field: str, reason: str, hint: str | None = None) -> None:
        super().__init__(reason, hint=hint)
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role and its scopes, and the key behind it (None when anonymous)."""

    role: str
    scopes: frozenset[str]
    key_id: str | None = None
    label: str = ""
    via: str = "anonymous"  # key | session | anonymous | auth-off

    def has(self, scope: str) -> bool:
        """Return whether the principal holds `scope`."""
        return scope in self.scopes

    @property
    def actor(self) -> str:
        """Return who acts, as recorded on what they do (``acknowledged_by``): key id and label."""
        if self.key_id is None:
            return self.label or self.via
        return f"{self.label} [{self.key_id}]" if self.label else self.key_id


ANONYMOUS = Principal("public", ROLES["public"])
AUTH_OFF = Principal("admin", ROLES["admin"], label="auth off (TWIN_AUTH=off)", via="auth-off")


def _check_active(rec: CredentialRecord, *, ticket: bool = False) -> None:
    state = state_of(rec)
    if state == "active":
        return
    if ticket:
        used = "has been used already" if state == "revoked" else "has expired"
        raise Unauthorized(f"this sign-in link {used}", _TICKET_HINT, invalid=True)
    raise Unauthorized(
        f"the API key {rec.key_id} is {state}",
        "ask an admin for a new key (`twin keys create --role ROLE`)",
        invalid=True,
    )


#: Seconds a key's camera binding is kept in memory before it is read from the store again.
CAMERA_SCOPE_TTL_S = 30.0


def check_speaks_for(
    principal: Principal, scope: frozenset[str] | None, camera_ids: Sequence[str], prefix: str = ""
) -> None:
    """Refuse (403) when a camera id is outside `scope` (`Authenticator.camera_scope`).

    `prefix` names the item in a batch (``events.`` gives ``events.3.camera_id``); one camera outside
    the key's binding refuses the whole request, before anything is stored.
    """
    if scope is None:
        return
    for i, cam in enumerate(camera_ids):
        if cam in scope:
            continue
        where = f"{prefix}{i}." if prefix else ""
        if not scope:
            hint = (
                "this camera-gateway key names no camera (it predates camera binding): create a new one "
                "with `twin keys create --role camera-gateway --cameras ID,ID…`"
            )
        else:
            hint = "send events of this camera with the key of the gateway that serves it"
        raise Forbidden(f"{where}camera_id", f"key {principal.key_id} may not speak for camera {cam}", hint)


def principal_of(rec: CredentialRecord, via: str) -> Principal:
    """Return the principal of a stored key."""
    return Principal(rec.role, ROLES.get(rec.role, frozenset()), rec.key_id, rec.label, via)


@dataclass
class Authenticator:
    """Checks credentials against `store`; signs and checks session cookies with `session_secret`.

    Parameters
    ----------
    store
        The store holding the credentials table.
    session_secret
        The HMAC key of session cookies (≥ 32 random bytes).
    session_s
        Lifetime of a session cookie in seconds (capped by the key's own expiry).
    inline
        Whether lookups are cheap enough to run on the event loop (an embedded SQLite store).
    """

    store: Store
    session_secret: bytes
    session_s: float = 12 * 3600
    #: Check keys on the event loop (SQLite: a lookup of microseconds) rather than in a thread.
    inline: bool = True
    _touched: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _camera_scopes: dict[str, tuple[frozenset[str] | None, float]] = field(default_factory=dict)

    def camera_scope(self, principal: Principal) -> frozenset[str] | None:
        """Return the cameras `principal` may speak for, or None when it may speak for any camera.

        A camera-gateway key speaks for the cameras bound to it (``"*"``: every camera) and for none
        when it is not bound (a key created before keys named their cameras). Other roles that may
        send events (admin) and auth-off speak for any camera. Bindings are read from the store and
        kept for `CAMERA_SCOPE_TTL_S` seconds.
        """
        if principal.role != CAMERA_ROLE or principal.key_id is None:
            return None
        now = time.monotonic()
        hit = self._camera_scopes.get(principal.key_id)
        if hit is not None and now - hit[1] < CAMERA_SCOPE_TTL_S:
            return hit[0]
        bound = self.store.cameras_of_key(principal.key_id) or frozenset()
        scope = None if ALL_CAMERAS in bound else bound
        if len(self._camera_scopes) > 10_000:
            self._camera_scopes.clear()
        self._camera_scopes[principal.key_id] = (scope, now)
        return scope

    def _lookup(self, key_id: str) -> CredentialRecord:
        rec = self.store.get_credential(key_id)
        if rec is None:
            raise Unauthorized("the API key is not known to this service", invalid=True)
        _check_active(rec)
        return rec

    def _checked(self, token: str) -> CredentialRecord:
        """Return the record of a presented key whose secret matches, active or not.

        A wrong secret is "not known" whatever the state of the key id it names: only the holder of
        the secret learns that a key is revoked or expired (no key-state oracle).
        """
        parts = parse_key(token)
        if parts is None:
            raise Unauthorized(
                "the API key is malformed (expected lst_<id>_<secret>)",
                "copy the whole key printed by `twin keys create`",
                invalid=True,
            )
        rec = self.store.get_credential(parts.key_id)
        if rec is None or not matches(rec, parts):
            raise Unauthorized("the API key is not known to this service", invalid=True)
        return rec

    def verify_key(self, token: str) -> Principal:
        """Return the principal of an API key, or raise `Unauthorized` (malformed, unknown, wrong
        secret, revoked, expired, or a one-time sign-in link)."""
        rec = self._checked(token)
        if is_ticket(rec):
            raise Unauthorized(
                "a one-time sign-in link is not an API key",
                "open the link in a browser, or create a key with `twin keys create --role ROLE`",
                invalid=True,
            )
        _check_active(rec)
        self._touch(rec.key_id)
        return principal_of(rec, "key")

    def describe(self, token: str) -> CredentialRecord:
        """Return the record behind a key or an unused sign-in ticket, checked but not consumed."""
        rec = self._checked(token)
        _check_active(rec, ticket=is_ticket(rec))
        return rec

    def redeem(self, token: str, timeout: float = 30) -> Principal:
        """Return the principal a viewer session opens for: a key's own, or a ticket's, once.

        A one-time sign-in ticket (`api.auth.keys.issue_ticket`) is consumed by its first use (a
        second gets 401) and replaced by a fresh key of its role whose secret nobody holds; the
        session is bound to that key and ends when it expires (the session lifetime) or is revoked.
        """
        rec = self._checked(token)
        if not is_ticket(rec):
            _check_active(rec)
            self._touch(rec.key_id)
            return principal_of(rec, "key")
        _check_active(rec, ticket=True)
        if not self.store.consume_credential(rec.key_id, now_utc()).result(timeout=timeout):
            raise Unauthorized("this sign-in link has been used already", _TICKET_HINT, invalid=True)
        role = rec.role.removeprefix(TICKET_PREFIX)
        _, session_key = issue(
            role, f"viewer session (sign-in link {rec.key_id})", expires_days=self.session_s / 86_400
        )
        self.store.submit_credential(session_key).result(timeout=timeout)
        log.info("sign-in link %s used: %s session key %s", rec.key_id, role, session_key.key_id)
        return principal_of(session_key, "key")

    # --------------------------------------------------------------------------------- sessions
    def _mac(self, payload: str) -> str:
        digest = hmac.new(self.session_secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def session_for(self, principal: Principal, now: float | None = None) -> tuple[str, int]:
        """Return a session cookie value for a key's principal and its lifetime in seconds."""
        if principal.key_id is None:
            raise Unauthorized("only a key can open a session")
        now = time.time() if now is None else now
        ttl = self.session_s
        rec = self.store.get_credential(principal.key_id)
        if rec is not None and rec.expires_at is not None:
            ttl = min(ttl, rec.expires_at.timestamp() - now)
        exp = int(now + max(1.0, ttl))
        payload = f"v1.{principal.key_id}.{exp}"
        return f"{payload}.{self._mac(payload)}", int(exp - now)

    def session_key_id(self, cookie: str) -> str | None:
        """Return the key id of a session cookie whose signature holds, else None.

        One HMAC, no store lookup: what the rate limiter needs to count a signed-in browser as its
        key rather than as an anonymous address (expiry and revocation are checked by the route).
        """
        parts = cookie.split(".")
        if len(parts) != 4 or parts[0] != "v1":
            return None
        return parts[1] if hmac.compare_digest(parts[3], self._mac(".".join(parts[:3]))) else None

    def verify_session(self, cookie: str, now: float | None = None) -> Principal:
        """Return the principal of a session cookie, or raise `Unauthorized`."""
        hint = "open the login link printed by `twin serve` again (or /login?key=…)"
        parts = cookie.split(".")
        if len(parts) != 4 or parts[0] != "v1" or not parts[2].isdigit():
            raise Unauthorized("the session cookie is malformed", hint, invalid=True)
        payload = ".".join(parts[:3])
        if not hmac.compare_digest(parts[3], self._mac(payload)):
            raise Unauthorized("the session cookie is not valid here", hint, invalid=True)
        if int(parts[2]) <= (time.time() if now is None else now):
            raise Unauthorized("the session has expired", hint, invalid=True)
        rec = self._lookup(parts[1])
        self._touch(rec.key_id)
        return principal_of(rec, "session")

    # ------------------------------------------------------------------------------- last used
    def _touch(self, key_id: str) -> None:
        mono = time.monotonic()
        with self._lock:
            last = self._touched.get(key_id)
            if last is not None and mono - last < TOUCH_EVERY_S:
                return
            self._touched[key_id] = mono
        try:
            fut = self.store.touch_credential(key_id, now_utc())
        except TwinError as e:  # pragma: no cover  (a closed store refuses through the future)
            log.warning("could not record the use of key %s: %s", key_id, e)
            return
        fut.add_done_callback(_log_failure(key_id))


def _log_failure(key_id: str) -> Callable[[Future[None]], None]:
    def done(fut: Future[None]) -> None:
        exc = fut.exception()
        if exc is not None:
            log.warning("could not record the use of key %s: %s", key_id, exc)

    return done
