"""`twin replay`: send the synthetic IOC stream to a running twin through its public HTTP API."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import httpx
import typer

from api.cli.base import app, console, fail, friendly

if TYPE_CHECKING:
    from api.replayer import ReplayStats


async def _replay(
    url: str,
    rate: float,
    duration: float,
    seed: int,
    *,
    key: str | None = None,
    report_key: str | None = None,
) -> ReplayStats:
    from api.replayer import Replayer

    headers = {"X-API-Key": key} if key else None
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
        try:
            await client.get("/health")
        except httpx.HTTPError as e:
            raise fail(
                f"no twin answers at {url} ({type(e).__name__})", "start it with `twin serve`"
            ) from None
        probe = await client.post("/events/batch", json={"events": []})
        if probe.status_code in (401, 403):
            raise fail(
                f"the twin at {url} refuses to take events from "
                + ("this key" if key else "a client without a key"),
                "create a key with `twin keys create --role camera-gateway` and pass it with --key "
                "(or $TWIN_API_KEY)",
            )
        return await Replayer(client, rate=rate, seed=seed, report_key=report_key).run(duration)


@app.command("replay")
@friendly
def replay(  # noqa: PLR0917  (typer options)
    rate: Annotated[float, typer.Option(min=0.1, max=100_000, help="Events per second.")] = 5.0,
    duration: Annotated[float, typer.Option(min=0.1, help="Seconds to run.")] = 60.0,
    url: Annotated[str, typer.Option(help="Base URL of the twin.")] = "http://127.0.0.1:8000",
    seed: Annotated[int, typer.Option(help="Seed of the synthetic stream.")] = 2025,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="TWIN_API_KEY", help="A camera-gateway key (`twin keys create --role camera-gateway`)."
        ),
    ] = None,
    report_key: Annotated[
        str | None,
        typer.Option(
            envvar="TWIN_REPORT_KEY", help="A reporter key for the citizen reports (none: not sent)."
        ),
    ] = None,
) -> None:
    """Send realistic synthetic camera events, heartbeats and citizen reports (labelled synthetic)."""
    with console.status(f"replaying {rate:g} events/s for {duration:g} s to {url}…"):
        stats = asyncio.run(_replay(url, rate, duration, seed, key=key, report_key=report_key))
    summary = stats.as_dict()
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console.print(
        f"[green]sent[/] {stats.events} events, {stats.heartbeats} heartbeats, {stats.reports} reports; "
        f"answers {summary['statuses']}; outcomes {summary['outcomes']}; errors {stats.errors}"
    )
