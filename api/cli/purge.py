"""`twin purge`: apply the retention policy (old events deleted, closed reports' contacts erased)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from api.cli.base import OldDsnOption, StoreDsnOption, app, console, friendly, renamed
from api.settings import Settings


@app.command("purge")
@friendly
def purge_command(  # noqa: PLR0917  (typer maps each CLI option to a parameter)
    events_days: Annotated[
        float | None,
        typer.Option(
            min=0.001, help="Delete events older than this (default $TWIN_RETENTION_EVENTS_DAYS, 90)."
        ),
    ] = None,
    contact_days: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Erase contacts of reports closed longer ago (default $TWIN_RETENTION_CONTACT_DAYS, 30).",
        ),
    ] = None,
    store_dsn: StoreDsnOption = None,
    dsn: OldDsnOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would change.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Delete camera events past their retention period and erase citizens' contact details.

    Safe to run while the service is up (small transactions); schedule it daily (cron or a systemd
    timer). See PRIVACY.md for what is kept and why.
    """
    from api.services.retention import purge
    from api.store import default_dsn

    settings = Settings()
    base = settings.retention
    policy = base.model_copy(
        update={
            "events_days": events_days if events_days is not None else base.events_days,
            "contact_days": contact_days if contact_days is not None else base.contact_days,
        }
    )
    target = (
        renamed(store_dsn, dsn, "--dsn", "--store-dsn")
        or settings.store_dsn
        or default_dsn(settings.state_dir)
    )
    with console.status("applying the retention policy…"):
        report = purge(target, policy, now=datetime.now(UTC), dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    verb = "would delete" if dry_run else "deleted"
    verb2 = "would erase" if dry_run else "erased"
    console.print(
        f"[green]{verb}[/] {report.events_deleted} events that started before "
        f"{report.events_before:%Y-%m-%d %H:%M} UTC; {verb2} the contact details of "
        f"{report.contacts_erased} closed reports (closed before {report.contacts_before:%Y-%m-%d %H:%M} UTC)"
    )
