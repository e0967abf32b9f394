"""`twin brief`: the council report (HTML, PDF, tables) of a reporting period, optionally with a scenario."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer

from api.cli.base import DataDirOption, StoreDsnOption, app, console, friendly
from api.settings import Settings
from twin.errors import InputError


@app.command("brief")
@friendly
def brief(
    *,
    out: Annotated[
        Path, typer.Option(help="Folder for briefing.html (one file), briefing.pdf, briefing.xlsx, tables/.")
    ],
    period: Annotated[
        str,
        typer.Option(
            help="week, month, quarter, half (six months) or year: the last one closed by --end, with "
            "the cut-offs of Decree 09/2019/NĐ-CP Art. 12 (a month runs from the 15th of the previous "
            "month to the 14th); or a window like 24h, 7d."
        ),
    ] = "week",
    scenario: Annotated[
        str | None, typer.Option(help="Job id of the scenario to present (B, with --vs); default: none.")
    ] = None,
    vs: Annotated[
        str | None, typer.Option("--vs", help="Job id it is compared with (A, the reference).")
    ] = None,
    lang: Annotated[str, typer.Option(help="vi (Vietnamese, default) or en.")] = "vi",
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Addressee: province (UBND tỉnh, default), dong-kinh, luong-van-tri, tam-thanh, ky-lua.",
        ),
    ] = "province",
    end: Annotated[
        datetime | None,
        typer.Option(
            help="Report as of this time (UTC, default now): the period is the last one closed by then.",
            formats=["%Y-%m-%dT%H:%M"],
        ),
    ] = None,
    store_dsn: StoreDsnOption = None,
    state_dir: Annotated[Path | None, typer.Option(help="State folder (default $TWIN_STATE_DIR).")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write the council briefing: key figures, maps, charts, a summary and a methods page."""
    from api.briefing import collect, parse_period, write_briefing
    from api.briefing.text import ADDRESSEES
    from api.services.forecast import summary_until
    from api.services.scenarios import stored_result
    from api.store import default_dsn, open_store
    from gis_data.city import build_city

    if to not in ADDRESSEES:
        raise InputError("to", f"unknown addressee {to!r}", f"use one of {', '.join(ADDRESSEES)}")
    if lang not in ("vi", "en"):
        raise InputError("lang", f"must be vi or en, got {lang!r}")
    if (scenario is None) != (vs is None):
        raise InputError("scenario", "give both --scenario B and --vs A, or neither")
    settings = Settings()
    state = state_dir or settings.state_dir
    data = data_dir or settings.data.dir
    stop = end.replace(tzinfo=UTC) if end is not None else datetime.now(UTC)
    chosen = parse_period(period, end=stop)
    with console.status("building the city model…"):
        city = build_city(data, road_source=settings.road_source, seed=settings.seed, res=settings.h3_res)
    store = open_store(store_dsn or settings.store_dsn or default_dsn(state), res=settings.h3_res)
    try:
        pair = None
        if scenario is not None and vs is not None:
            pair = (stored_result(store, state, vs), stored_result(store, state, scenario), vs, scenario)
        # Without --scenario/--vs no run is presented: the latest job is not a planning scenario.
        with console.status("reading live data…"):
            facts = collect(store, city, period=chosen, scenario=pair)
        with console.status("forecasting the next hour from the traffic counts…"):
            facts.forecast = summary_until(store, city, state, chosen.end)
    finally:
        store.close()
    lang_t: Literal["vi", "en"] = "vi" if lang == "vi" else "en"
    with console.status("drawing maps and writing the PDF…"):
        result = write_briefing(facts, city, out, lang_t, to=to)
    if facts.scenario_refused:
        console.print(f"[yellow]scenario not presented[/]: {facts.scenario_refused}")
    for line in result.summary:
        console.print(f"• {line}")
    console.print(f"[green]wrote[/] {result.html}, {result.pdf} and {len(result.tables)} tables")
