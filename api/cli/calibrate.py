"""`twin calibrate traffic`: fit the traffic model's demand to the cameras' traffic counts in the store.

Output folder layout (``--out``)::

    calibrated.json     the calibrated demand as a scenario base (`twin simulate traffic --scenario`)
    fit.json            the fit report: method, cameras fitted / held out / silent, period, GEH share,
                        RMSE %, R² on held-out and fitted cameras (and the prior's, for reference)
    camera_hours.csv    observed vs simulated (calibrated and prior) vehicles per camera-hour
    scatter.png         observed vs simulated per camera-hour
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli.base import DataDirOption, StoreDsnOption, app, console, friendly
from api.services.calibration import MAX_HOURS
from api.settings import Settings
from twin.crs import LOCAL_OFFSET
from twin.errors import InputError

calibrate_app = typer.Typer(help="Calibrate the models to observations.", no_args_is_help=True)
app.add_typer(calibrate_app, name="calibrate")



@calibrate_app.command("traffic")
@friendly
def calibrate_traffic(  # noqa: PLR0917  (CLI options)
    since: Annotated[
        datetime, typer.Option(help="Start of the counts (UTC, whole hour).", formats=["%Y-%m-%dT%H:%M"])
    ],
    until: Annotated[
        datetime, typer.Option(help="End of the counts (UTC, whole hour).", formats=["%Y-%m-%dT%H:%M"])
    ],
    holdout: Annotated[float, typer.Option(help="Share of cameras held out to test the fit.")] = 0.3,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out/calibration"),
    scenario: Annotated[Path | None, typer.Option(help="Prior scenario (default: the baseline).")] = None,
    outer: Annotated[
        int, typer.Option(help="Bi-level iterations (model run + re-routing).", min=1, max=5)
    ] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the demand, the model and the held-out draw.")] = 2025,
    store_dsn: StoreDsnOption = None,
    state_dir: Annotated[Path | None, typer.Option(help="State folder (default $TWIN_STATE_DIR).")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Fit zone production/attraction, hourly factors and the class split to the counts; report the fit."""
    from pydantic import ValidationError

    from api.services import calibration
    from api.store import default_dsn, open_store
    from gis_data.city import build_city
    from simulations.documents import input_error
    from simulations.traffic.params import TrafficParams

    try:
        req = calibration.CalibrationRequest(
            since=since, until=until, holdout=holdout, outer=outer, seed=seed,
            prior=TrafficParams.from_file(scenario).to_dict() if scenario else None,
        )  # fmt: skip
    except ValidationError as e:
        raise input_error(e) from None
    settings = Settings()
    state = state_dir or settings.state_dir
    with console.status("building the city model…"):
        city = build_city(data_dir or settings.data.dir, road_source=settings.road_source, seed=settings.seed,
                          res=settings.h3_res)  # fmt: skip
    store = open_store(store_dsn or settings.store_dsn or default_dsn(state), res=settings.h3_res)
    try:
        with console.status("calibrating…") as status:
            def say(f: float, m: str) -> None:
                status.update(f"calibrating: {m} ({100 * f:.0f} %)")

            rep = calibration.run(store, req, city, out, progress=say)
    finally:
        store.close()
    h, f = rep["held_out"], rep["fitted"]
    console.print(
        f"held-out cameras ({len(rep['cameras_held_out'])}): {100 * h['geh_lt5_share']:.1f} % of "
        f"{h['n']} camera-hours GEH < 5, RMSE {h['rmse_pct']:.1f} %, R² {h['r2']:.3f}\n"
        f"fitted cameras ({len(rep['cameras_fitted'])}): {100 * f['geh_lt5_share']:.1f} % GEH < 5, "
        f"RMSE {f['rmse_pct']:.1f} %, R² {f['r2']:.3f}; prior on held-out: "
        f"{100 * rep['prior_held_out']['geh_lt5_share']:.1f} % GEH < 5\n"
        f"silent cameras: {len(rep['cameras_silent'])}; hours dropped (under half counted): "
        f"{rep['missing']['dropped_hours']}, scaled up: {rep['missing']['scaled_hours']}; "
        f"{rep['wall_s']:.0f} s"
    )
    console.print(f"[green]wrote[/] {out}/calibrated.json, fit.json, camera_hours.csv, scatter.png")


@calibrate_app.command("send-truth")
@friendly
def send_truth(  # noqa: PLR0917  (CLI options)
    since: Annotated[datetime, typer.Option(help="Start (UTC, whole hour).", formats=["%Y-%m-%dT%H:%M"])],
    hours: Annotated[int, typer.Option(help="Hours of counts.", min=1, max=MAX_HOURS)] = 3,
    url: Annotated[str, typer.Option(help="Base URL of the twin.")] = "http://127.0.0.1:8000",
    key: Annotated[str | None, typer.Option(envvar="TWIN_API_KEY", help="A camera-gateway key.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the hidden truth.")] = 7,
    data_dir: DataDirOption = None,
) -> None:
    """Send the cameras' counts of the hidden ground truth (a synthetic traffic run) to a running twin."""
    import asyncio

    import httpx

    from api.replayer import send_traffic_counts
    from api.services.traffic_counts import messages_of
    from gis_data.city import build_city
    from simulations.traffic.calibrate import truth_counts
    from simulations.traffic.params import TrafficParams
    from twin.cameras import watched_links

    t0 = since.replace(tzinfo=UTC)
    if t0.minute:
        raise InputError("since", "must be a whole hour")
    settings = Settings()
    city = build_city(data_dir or settings.data.dir, road_source=settings.road_source, seed=settings.seed,
                      res=settings.h3_res)  # fmt: skip
    cams = city.cameras[city.cameras["connected"]]
    local = t0 + LOCAL_OFFSET
    with console.status("running the hidden truth (synthetic)…"):
        watch = watched_links(cams, city.network)
        table, truth = truth_counts(TrafficParams(), city.network, city.cells(), watch,
                                    start_local_s=local.hour * 3600, hours=hours, seed=seed)  # fmt: skip
    items = messages_of(table, t0)

    async def go() -> int:
        headers = {"X-API-Key": key} if key else None
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
            return await send_traffic_counts(client, items)

    stored = asyncio.run(go())
    console.print(f"sent {len(items):,} interval counts of {truth.name} ({stored:,} rows stored) to {url}")
