"""Start-up of authentication: the session secret, the first local operator key, the replayer's keys.

On the first start of a service whose store holds no active admin or operator key, a one-time
sign-in link (``http://127.0.0.1:8000/login?key=…``, a ticket that works once and expires) is
written to ``<state_dir>/login-url.txt`` (mode 0600) so the IOC operator on this machine can open the
live viewer; the log says where it is, never the link itself.
The in-process replayer authenticates like any client: as a camera-gateway key (given in
``TWIN_REPLAY_KEY`` or created) and a reporter key for its synthetic citizen reports, kept in
``<state_dir>/replayer-keys.json`` (0600).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

from api.auth.keys import (
    ALL_CAMERAS,
    CAMERA_ROLE,
    TICKET_HOURS,
    TICKET_PREFIX,
    create_key,
    issue_ticket,
    parse_key,
    state_of,
)
from api.auth.service import Authenticator, Principal
from api.settings import Settings
from api.store.base import CredentialRecord, Store
from api.store.sqlite import SQLiteStore

log = logging.getLogger("twin.auth")

LOGIN_FILE = "login-url.txt"
SECRET_FILE = "session-secret"  # noqa: S105  (a file name, not a secret)
REPLAYER_FILE = "replayer-keys.json"
#: Label of the keys the service creates for its in-process replayer (only admins set labels).
REPLAYER_LABEL = "in-process replayer"


def may_send_synthetic(principal: Principal) -> bool:
    """Return whether a caller may label what it sends synthetic: the service's own replayer keys and
    admins (and everyone with authentication off). A citizen cannot hide a real report as synthetic."""
    return (
        principal.via == "auth-off"
        or principal.has("keys:admin")
        or (principal.key_id is not None and principal.label.startswith(REPLAYER_LABEL + " ("))
    )


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def session_secret(settings: Settings) -> bytes:
    """Return the session-cookie HMAC key: ``TWIN_SESSION_SECRET``, else a random one kept in the
    state folder (so sessions survive a restart)."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    path = Path(settings.state_dir) / SECRET_FILE
    try:
        text = path.read_text().strip()
        if len(text) >= 32:
            return text.encode()
    except FileNotFoundError:
        pass
    text = secrets.token_urlsafe(48)
    write_private(path, text)
    return text.encode()


def login_url(settings: Settings, key: str) -> str:
    """Return the viewer's login URL for `key` on this service."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    return f"http://{host}:{settings.port}/login?key={key}"


def ensure_operator(store: Store, settings: Settings) -> str | None:
    """Create a one-time sign-in link for the local operator when no admin or operator can sign in.

    The link (``/login?key=<ticket>``) is written to ``<state_dir>/login-url.txt`` (0600) and only
    its path and ticket id are logged: the service log is read by more people than the state folder.
    It works once (the viewer session it opens gets its own operator key) and expires after
    `api.auth.keys.TICKET_HOURS`. Returns the URL when one was created.
    """
    path = Path(settings.state_dir) / LOGIN_FILE
    active = [c for c in store.list_credentials() if state_of(c) == "active"]
    if any(c.role in ("admin", "operator") for c in active):
        if path.exists():
            log.info("viewer sign-in: see %s, or `twin keys login-link --role operator`", path)
        return None
    waiting = [c for c in active if c.role == TICKET_PREFIX + "operator"]
    if waiting and path.exists():
        log.warning("open the one-time sign-in link in %s to sign in to the viewer", path)
        return None
    key, rec = create_ticket(store, "operator", "local operator (first start)")
    url = login_url(settings, key)
    write_private(path, url + "\n")
    log.warning(
        "no operator can sign in yet: a one-time sign-in link (id %s, valid %g h) is in %s; "
        "open it in a browser on this machine",
        rec.key_id,
        TICKET_HOURS,
        path,
    )
    return url


def create_ticket(
    store: Store, role: str, label: str = "", timeout: float = 30
) -> tuple[str, CredentialRecord]:
    """Create a one-time sign-in ticket in `store` durably; return its text (shown once) and record."""
    text, rec = issue_ticket(role, label)
    store.submit_credential(rec).result(timeout=timeout)
    return text, rec


def _usable(store: Store, key: str | None, role: str) -> bool:
    parts = parse_key(key) if key else None
    if parts is None:
        return False
    rec = store.get_credential(parts.key_id)
    if rec is None or rec.role != role or state_of(rec) != "active":
        return False
    # A camera-gateway key kept from before keys were bound to cameras speaks for none: replace it.
    return role != CAMERA_ROLE or store.cameras_of_key(rec.key_id) is not None


def replayer_keys(store: Store, settings: Settings) -> dict[str, str]:
    """Return the in-process replayer's keys by role (camera-gateway, reporter), creating any missing."""
    path = Path(settings.state_dir) / REPLAYER_FILE
    try:
        kept: dict[str, str] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        kept = {}
    given = settings.replay_key.get_secret_value() if settings.replay_key is not None else None
    keys: dict[str, str] = {}
    changed = False
    for role in ("camera-gateway", "reporter"):
        candidate = given if role == "camera-gateway" and given else kept.get(role)
        if _usable(store, candidate, role):
            keys[role] = str(candidate)
            continue
        if role == "camera-gateway" and given:
            log.error("TWIN_REPLAY_KEY is not an active camera-gateway key of this service; creating one")
        # The replayer replays the whole synthetic registry: its key speaks for every camera.
        cameras = [ALL_CAMERAS] if role == CAMERA_ROLE else None
        keys[role], _ = create_key(store, role, f"{REPLAYER_LABEL} ({role})", cameras=cameras)
        changed = True
    if changed:
        write_private(path, json.dumps({r: k for r, k in keys.items() if not (given and k == given)}))
    return keys


def start_auth(store: Store, settings: Settings) -> Authenticator:
    """Return the authenticator of an opened store; create the first operator key if needed."""
    auth = Authenticator(
        store,
        session_secret(settings),
        session_s=settings.session_hours * 3600,
        inline=isinstance(store, SQLiteStore),
    )
    if settings.auth:
        ensure_operator(store, settings)
    return auth
