"""`twin gateway --config FILE` runs a camera gateway; `twin gateway status` asks a running one."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from api.cli.base import app, console, fail, friendly

gateway_app = typer.Typer(
    help="Camera gateway: Frigate (MQTT), ONVIF and Hikvision ISAPI → the twin, with store-and-forward.",
    invoke_without_command=True,
)
app.add_typer(gateway_app, name="gateway")


@gateway_app.callback()
@friendly
def gateway(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="The gateway's TOML file (see examples/gateway.toml).")
    ] = None,
) -> None:
    """Run the gateway until SIGTERM/Ctrl-C (what is queued waits for the next start)."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        raise fail("--config is required", "twin gateway --config examples/gateway.toml")
    import asyncio

    from api.gateway.config import load_config
    from api.gateway.runner import Gateway

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(config)
    asyncio.run(Gateway(cfg).run())


@gateway_app.command("status")
@friendly
def status(
    url: Annotated[str, typer.Option(help="The gateway's health URL.")] = "http://127.0.0.1:8787/health",
    config: Annotated[Path | None, typer.Option(help="Take the health address from this TOML file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the health document as JSON.")] = False,
) -> None:
    """Print a running gateway's sources, twin link and queue; exit 1 when degraded."""
    import httpx

    if config is not None:
        from api.gateway.config import load_config

        h = load_config(config).health
        url = f"http://{h.host}:{h.port}/health"
    try:
        r = httpx.get(url, timeout=5)
        doc = r.json()
    except (httpx.HTTPError, ValueError) as e:
        raise fail(
            f"no gateway answers at {url} ({type(e).__name__})", "start it: twin gateway --config …"
        ) from None
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        q, t = doc["queue"], doc["twin"]
        colour = "green" if doc["status"] == "ok" else "yellow"
        console.print(
            f"gateway [bold]{doc['gateway']}[/]: [{colour}]{doc['status']}[/]  (up {doc['uptime_s']:.0f} s)"
        )
        for p in doc["problems"]:
            console.print(f"  [yellow]![/] {p}")
        console.print(
            f"  twin {t['url']}: {t['state']}, {t['sent']:,} sent in {t['batches']:,} batches, "
            f"{t['retries']:,} retries, {t['dead_letters']} dead letters, {t['heartbeats']:,} heartbeats"
        )
        console.print(
            f"  queue: {q['depth']:,} waiting ({q['bytes'] / 1e6:.1f} MB of {q['max_bytes'] / 1e6:.0f} MB), "
            f"{q['refused_full']:,} refused when full"
        )
        for s in doc["sources"]:
            refused = ", ".join(f"{k} {v}" for k, v in sorted(s["refused"].items())) or "none"
            console.print(
                f"  source {s['name']} ({s['kind']}): {s['state']} since {s['since']}, "
                f"{s['received']:,} received, {s['queued']:,} queued, refused: {refused}"
            )
    raise typer.Exit(0 if doc["status"] == "ok" else 1)
