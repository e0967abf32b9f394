"""`twin keys create|list|revoke`: API keys in the service's store (shown once, stored hashed)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.base import OldDsnOption, StoreDsnOption, console, fail, friendly, keys_app, renamed

if TYPE_CHECKING:
    from api.store.base import Store

_ROLES = "camera-gateway, reporter, operator, planner, admin"


def _store(store_dsn: str | None, old_dsn: str | None) -> Store:
    """Open the service's store (imports inside: `twin --help` stays fast)."""
    from api.settings import Settings
    from api.store import default_dsn, open_store

    settings = Settings()
    dsn = renamed(store_dsn, old_dsn, "--dsn", "--store-dsn")
    return open_store(dsn or settings.store_dsn or default_dsn(settings.state_dir), res=settings.h3_res)


@keys_app.command("create")
@friendly
def create(  # noqa: PLR0917  (typer options)
    role: Annotated[str, typer.Option(help=f"Role of the key: {_ROLES}.")],
    label: Annotated[str, typer.Option(help="What the key is for, e.g. 'gateway Kỳ Lừa'.")] = "",
    expires: Annotated[
        float | None, typer.Option(min=0.001, help="Days until the key expires (default: never).")
    ] = None,
    store_dsn: StoreDsnOption = None,
    dsn: OldDsnOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key and its record as JSON.")] = False,
    unit: Annotated[
        str | None, typer.Option(help="For --role unit: the city unit the key works for (see GET /units).")
    ] = None,
    cameras: Annotated[
        str | None,
        typer.Option(
            help="For --role camera-gateway (required): the cameras the key may speak for, comma-separated "
            "registry ids (LS-CAM-001,LS-CAM-002) or '*' for every camera."
        ),
    ] = None,
) -> None:
    """Create an API key and print it once: only its hash is stored, it cannot be shown again."""
    from api.auth.bootstrap import login_url
    from api.auth.keys import create_key
    from api.services.incidents import UnitDirectory
    from api.settings import Settings
    from twin.errors import InputError

    if (role == "unit") != (unit is not None):
        raise InputError("unit", "give --unit with --role unit (and only then)")
    if unit is not None:
        UnitDirectory.load().check_unit(unit, "unit")
    store = _store(store_dsn, dsn)
    try:
        bound = cameras.split(",") if cameras is not None else None
        key, rec = create_key(store, role, label, expires_days=expires, cameras=bound)
        if unit is not None:
            store.bind_unit_key(rec.key_id, unit).result()
    finally:
        store.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "key": key,
                    "key_id": rec.key_id,
                    "role": rec.role,
                    "label": rec.label,
                    "expires_at": rec.expires_at.isoformat() if rec.expires_at else None,
                    "cameras": sorted(set(bound)) if bound else None,
                }
            )
        )
        return
    typer.echo(key)
    until = f", expires {rec.expires_at:%Y-%m-%d %H:%M} UTC" if rec.expires_at else ""
    console.print(f"[green]created[/] {rec.role} key {rec.key_id}{until}; copy it now, it is not shown again")
    console.print("send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`")
    if rec.role in ("operator", "planner", "admin", "reporter", "unit"):
        console.print(f"viewer sign-in link: {login_url(Settings(), key)}")


@keys_app.command("login-link")
@friendly
def login_link(
    role: Annotated[str, typer.Option(help="Role of the session: operator, planner, admin, reporter.")],
    label: Annotated[str, typer.Option(help="Who the link is for.")] = "",
    store_dsn: StoreDsnOption = None,
    dsn: OldDsnOption = None,
) -> None:
    """Print a one-time viewer sign-in link: it works once and expires after 24 hours."""
    from api.auth.bootstrap import create_ticket, login_url
    from api.auth.keys import TICKET_HOURS
    from api.settings import Settings

    store = _store(store_dsn, dsn)
    try:
        ticket, rec = create_ticket(store, role, label)
    finally:
        store.close()
    typer.echo(login_url(Settings(), ticket))
    console.print(
        f"[green]created[/] one-time sign-in link {rec.key_id} for a {role} session; "
        f"it works once and expires in {TICKET_HOURS:g} h"
    )


@keys_app.command("list")
@friendly
def list_keys(
    store_dsn: StoreDsnOption = None,
    dsn: OldDsnOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """List the API keys: id, role, label, state and times (never the secrets)."""
    from api.auth.keys import state_of

    store = _store(store_dsn, dsn)
    try:
        recs = store.list_credentials()
        bindings = {c.key_id: store.cameras_of_key(c.key_id) for c in recs}
    finally:
        store.close()
    rows = [
        {
            "key_id": c.key_id,
            "role": c.role,
            "label": c.label,
            "state": state_of(c),
            "created_at": c.created_at.isoformat(),
            "expires_at": c.expires_at.isoformat() if c.expires_at else None,
            "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
            "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
            "cameras": sorted(b) if (b := bindings[c.key_id]) is not None else None,
        }
        for c in recs
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        console.print("no keys yet: create one with `twin keys create --role ROLE`")
        return
    for r in rows:
        used = r["last_used_at"][:16] if r["last_used_at"] else "never used"
        cams = r["cameras"]
        scope = f"  cameras: {','.join(cams[:4])}{'…' if len(cams) > 4 else ''}" if cams else ""
        typer.echo(f"{r['key_id']}  {r['role']:<14} {r['state']:<8} {used:<16}  {r['label']}{scope}")


@keys_app.command("revoke")
@friendly
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the 12 hex digits after lst_).")],
    store_dsn: StoreDsnOption = None,
    dsn: OldDsnOption = None,
) -> None:
    """Revoke a key: the running service refuses it (and sessions opened with it) from the next request."""
    from api.auth.keys import parse_key
    from api.store.base import now_utc

    parts = parse_key(key_id)
    ident = parts.key_id if parts is not None else key_id.strip()
    from api.auth.keys import check_revocable

    store = _store(store_dsn, dsn)
    try:
        check_revocable(store, ident)
        found = store.revoke_credential(ident, now_utc()).result(timeout=30)
    finally:
        store.close()
    if not found:
        raise fail(f"no API key {ident!r} in this store", "list the keys with `twin keys list`")
    console.print(f"[green]revoked[/] key {ident}")
