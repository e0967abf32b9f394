"""API keys: random, shown once, prefix-identifiable, stored as a hash.

A key reads ``lst_<key_id>_<secret>``: ``lst_`` marks it as a Lạng Sơn twin key (secret scanners and
log filters can find it), ``key_id`` is 12 hex digits that name the key in listings, logs and the
database, and ``secret`` is 43 base62 characters (256 bits from `secrets`). Only the SHA-256 of
``key_id:secret`` is stored: a high-entropy secret needs no slow password hash, and a copy of the
database gives no usable key. Verification looks the id up and compares hashes in constant time,
on every request, so a revocation (from the CLI, another process or the admin API) holds at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from api.auth.policy import KEY_ROLES
from api.errors import Conflict
from api.schemas.events import CAMERA_PATTERN
from api.store.base import CredentialRecord, Store, now_utc
from twin.errors import InputError

PREFIX = "lst_"
ID_HEX = 12
SECRET_LEN = 43
_BASE62 = string.ascii_letters + string.digits
#: Longest key text accepted at all (anything longer is refused before hashing).
MAX_KEY_LEN = 128
#: Longest label.
MAX_LABEL = 80

KeyState = Literal["active", "revoked", "expired"]

#: Role prefix of a one-time sign-in ticket: ``login:operator`` opens one operator viewer session, once.
TICKET_PREFIX = "login:"
#: How long a one-time sign-in link stays valid when nobody opens it.
TICKET_HOURS = 24.0


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """The parts of a key as presented: its public id and its secret."""

    key_id: str
    secret: str


def parse_key(token: str) -> ParsedKey | None:
    """Return the id and secret of a well-formed key, or None (wrong prefix, length or alphabet)."""
    t = token.strip()
    if len(t) > MAX_KEY_LEN or not t.startswith(PREFIX):
        return None
    body = t[len(PREFIX) :]
    key_id, sep, secret = body.partition("_")
    if not sep or len(key_id) != ID_HEX or len(secret) != SECRET_LEN:
        return None
    if any(c not in string.hexdigits.lower()[:16] for c in key_id):
        return None
    if any(c not in _BASE62 for c in secret):
        return None
    return ParsedKey(key_id, secret)


def hash_secret(key_id: str, secret: str) -> str:
    """Return the stored hash of a key's secret (SHA-256 of ``key_id:secret``, hex)."""
    return hashlib.sha256(f"{key_id}:{secret}".encode()).hexdigest()


def new_key() -> tuple[str, ParsedKey]:
    """Return a fresh key's text and its parts."""
    key_id = secrets.token_hex(ID_HEX // 2)
    secret = "".join(secrets.choice(_BASE62) for _ in range(SECRET_LEN))
    return f"{PREFIX}{key_id}_{secret}", ParsedKey(key_id, secret)


def check_role(role: str) -> str:
    """Return `role` if keys can be issued for it; raise `InputError` naming the known roles."""
    if role not in KEY_ROLES:
        raise InputError(
            "role",
            f"unknown role {role!r}; keys can be created for: {', '.join(KEY_ROLES)}",
            hint="the public role needs no key",
        )
    return role


def check_label(label: str) -> str:
    """Return a cleaned label; raise `InputError` when it is too long or has control characters."""
    s = label.strip()
    if len(s) > MAX_LABEL:
        raise InputError("label", f"longer than {MAX_LABEL} characters")
    if any(ord(c) < 32 for c in s):
        raise InputError("label", "contains control characters")
    return s


def issue(
    role: str, label: str = "", *, expires_days: float | None = None, now: datetime | None = None
) -> tuple[str, CredentialRecord]:
    """Return a new key's text (to show once) and the record to store (its hash only)."""
    check_role(role)
    label = check_label(label)
    if expires_days is not None and not expires_days > 0:
        raise InputError("expires_days", "must be a positive number of days")
    now = now or now_utc()
    text, parts = new_key()
    rec = CredentialRecord(
        key_id=parts.key_id,
        secret_hash=hash_secret(parts.key_id, parts.secret),
        role=role,
        label=label,
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days is not None else None,
    )
    return text, rec


def is_ticket(rec: CredentialRecord) -> bool:
    """Return whether a record is a one-time sign-in ticket (not an API key)."""
    return rec.role.startswith(TICKET_PREFIX)


def issue_ticket(
    role: str, label: str = "", *, hours: float = TICKET_HOURS, now: datetime | None = None
) -> tuple[str, CredentialRecord]:
    """Return a one-time sign-in ticket for a viewer session of `role` (text shown once, and its record).

    A ticket looks like a key but holds no scope: it is refused as an API key, and ``/login``
    consumes it on first use (`api.auth.service.Authenticator.redeem`). It expires after `hours`.
    """
    check_role(role)
    label = check_label(label)
    now = now or now_utc()
    text, parts = new_key()
    rec = CredentialRecord(
        key_id=parts.key_id,
        secret_hash=hash_secret(parts.key_id, parts.secret),
        role=TICKET_PREFIX + role,
        label=label,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    return text, rec


def check_revocable(store: Store, key_id: str, now: datetime | None = None) -> None:
    """Refuse to revoke the last active admin key (nobody could manage keys over the API after it).

    Raises
    ------
    api.errors.Conflict
        Naming ``key_id``, with what to do instead.
    """
    rec = store.get_credential(key_id)
    if rec is None or rec.role != "admin" or state_of(rec, now) != "active":
        return
    admins = [c for c in store.list_credentials() if c.role == "admin" and state_of(c, now) == "active"]
    if len(admins) <= 1:
        raise Conflict(
            "key_id",
            f"{key_id} is the last active admin key",
            "create another admin key first (`twin keys create --role admin`), then revoke this one",
        )


#: The role whose keys speak for cameras: each such key names the cameras it may speak for.
CAMERA_ROLE = "camera-gateway"
#: A binding to every camera of the registry (the in-process replayer; a gateway of a whole NVR).
ALL_CAMERAS = "*"
_CAMERA_ID = re.compile(CAMERA_PATTERN)


def check_cameras(role: str, cameras: Sequence[str] | None) -> tuple[str, ...] | None:
    """Return the cameras a new key of `role` is bound to (sorted, unique), or None for other roles.

    A camera-gateway key must name its cameras (or ``"*"``, all of them): events and heartbeats for
    any other camera are refused with 403, so a leaked site key cannot speak for the whole city.

    Raises
    ------
    twin.errors.InputError
        On ``cameras``: missing for a camera-gateway key, given for another role, or a malformed id.
    """
    if role != CAMERA_ROLE:
        if cameras:
            raise InputError("cameras", f"only {CAMERA_ROLE} keys are bound to cameras, not {role} keys")
        return None
    ids = tuple(sorted({c.strip() for c in cameras or () if c.strip()}))
    if not ids:
        raise InputError(
            "cameras",
            "a camera-gateway key must name the cameras it may speak for",
            'list the registry ids (e.g. LS-CAM-001,LS-CAM-002), or "*" for every camera',
        )
    if ALL_CAMERAS in ids and len(ids) > 1:
        raise InputError("cameras", '"*" (every camera) cannot be combined with camera ids')
    for c in ids:
        if c != ALL_CAMERAS and not _CAMERA_ID.match(c):
            raise InputError("cameras", f"{c!r} is not a camera id ({CAMERA_PATTERN})")
    return ids


def create_key(
    store: Store,
    role: str,
    label: str = "",
    *,
    expires_days: float | None = None,
    cameras: Sequence[str] | None = None,
    timeout: float = 30,
) -> tuple[str, CredentialRecord]:
    """Create a key in `store` durably (bound to `cameras` for a camera-gateway key, see
    `check_cameras`); return its text (shown once) and its record."""
    bound = check_cameras(role, cameras)
    text, rec = issue(role, label, expires_days=expires_days)
    store.submit_credential(rec).result(timeout=timeout)
    if bound is not None:
        store.bind_key_cameras(rec.key_id, bound).result(timeout=timeout)
    return text, rec


def state_of(rec: CredentialRecord, now: datetime | None = None) -> KeyState:
    """Return whether a key is active, revoked or expired at `now`."""
    now = now or now_utc()
    if rec.revoked_at is not None and rec.revoked_at <= now:
        return "revoked"
    if rec.expires_at is not None and rec.expires_at <= now:
        return "expired"
    return "active"


def matches(rec: CredentialRecord, parts: ParsedKey) -> bool:
    """Return whether the presented secret hashes to the stored hash (constant-time compare)."""
    return hmac.compare_digest(rec.secret_hash, hash_secret(parts.key_id, parts.secret))
