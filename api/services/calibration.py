"""Traffic calibration from the stored counts: one home for the CLI (`twin calibrate traffic`) and the
HTTP job (``POST /calibrations``, run by the scenario job queue `api.services.jobs`).

A calibration reads the cameras' counts of a period from the store, fits the traffic model's demand
(`simulations.traffic.calibrate.calibrate`) and writes, in its output folder::

    calibrated.json     the calibrated demand as a scenario base (`twin simulate traffic --scenario`)
    fit.json            the fit report: method, cameras fitted / held out / silent, period, GEH share,
                        RMSE %, R² on held-out and fitted cameras (and the prior's, for reference)
    camera_hours.csv    observed vs simulated (calibrated and prior) vehicles per camera-hour
    scatter.png         observed vs simulated per camera-hour

The newest finished calibration job is the demand the nowcast (`api.services.forecast`) rests on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from twin.crs import LOCAL_OFFSET
from twin.errors import InputError

if TYPE_CHECKING:  # the CLI reads this module's limits without loading the store and the city model
    from api.store import Store
    from simulations.results import Progress
    from twin.city import City

#: The job kind of a calibration in the scenario job queue.
KIND: Final = "calibration"
#: The longest period one calibration fits (the model simulates it in one run).
MAX_HOURS = 6
FILES = ("calibrated.json", "fit.json", "camera_hours.csv", "scatter.png")


class CalibrationRequest(BaseModel):
    """What a calibration fits: the counts of [since, until) (UTC, whole hours), how many held out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["calibration"] = KIND
    name: str = Field("traffic calibration", min_length=1, max_length=200)
    since: datetime = Field(description="start of the counts (UTC, whole hour)")
    until: datetime = Field(description="end of the counts (UTC, whole hour), 1–6 h after since")
    holdout: float = Field(0.3, ge=0.0, lt=1.0, description="share of cameras held out to test the fit")
    outer: int = Field(2, ge=1, le=5, description="bi-level iterations (model run + re-routing)")
    seed: int = Field(2025, description="seed of the demand, the model and the held-out draw")
    prior: dict[str, Any] | None = Field(None, description="prior traffic parameters (default: baseline)")

    @field_validator("since", "until")
    @classmethod
    def _whole_hour(cls, v: datetime) -> datetime:
        v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        if v.minute or v.second or v.microsecond:
            raise ValueError("must be a whole hour (e.g. 2026-12-03T00:00Z)")
        return v

    @model_validator(mode="after")
    def _period(self) -> CalibrationRequest:
        hours = (self.until - self.since) / timedelta(hours=1)
        if not 1 <= hours <= MAX_HOURS:
            raise InputError("until", f"must be 1–{MAX_HOURS} whole hours after since, not {hours:g}")
        return self

    @property
    def hours(self) -> int:
        """Return the period's length in hours."""
        return int((self.until - self.since) / timedelta(hours=1))

    def to_dict(self) -> dict[str, Any]:
        """Return the request as the job's spec (JSON)."""
        return self.model_dump(mode="json")


def run(
    store: Store, req: CalibrationRequest, city: City, out: Path, progress: Progress | None = None
) -> dict[str, Any]:
    """Calibrate on the stored counts of `req`'s period, write the four files to `out`, return the report."""
    from api.services.traffic_counts import model_table  # noqa: PLC0415
    from api.store.traffic_counts import TrafficCountQuery  # noqa: PLC0415
    from gis_data.io import atomic_path  # noqa: PLC0415
    from simulations.traffic.calibrate import calibrate  # noqa: PLC0415
    from simulations.traffic.params import TrafficParams  # noqa: PLC0415
    from simulations.traffic.plots import calibration_scatter  # noqa: PLC0415

    say = progress or (lambda _f, _m: None)
    prior = TrafficParams.from_dict(req.prior, where="prior") if req.prior else TrafficParams()
    say(0.01, "reading the counts")
    records = store.traffic_counts(TrafficCountQuery(since=req.since, until=req.until))
    table = model_table(records, req.since)
    cams = city.cameras
    expected = [str(c) for c, links, on in zip(cams["camera_id"], cams["count_links"], cams["connected"],
                                                strict=True) if len(links) and bool(on)]  # fmt: skip
    start_local = (req.since + LOCAL_OFFSET).hour * 3600
    cal = calibrate(
        table, prior=prior, network=city.network, cells=city.cells(), start_local_s=start_local,
        hours=req.hours, holdout=req.holdout, seed=req.seed, outer=req.outer, cameras=expected,
        progress=lambda f, m: say(0.02 + 0.93 * f, m),
    )  # fmt: skip
    rep = {**cal.report, "since": req.since.isoformat(), "until": req.until.isoformat(),
           "counts": len(records), "prior": prior.name}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    base = cal.fit.params.to_dict()
    base["description"] += f"; counts {req.since.isoformat()} – {req.until.isoformat()}"
    say(0.97, "writing the calibrated base and the fit report")
    for name, doc in (("calibrated.json", base), ("fit.json", rep)):
        with atomic_path(out / name) as tmp:
            tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    with atomic_path(out / "camera_hours.csv") as tmp:
        cal.camera_hours.assign(synthetic=rep["synthetic"]).to_csv(tmp, index=False)
    calibration_scatter(cal.camera_hours, out / "scatter.png")
    return rep


def kpis(report: dict[str, Any]) -> dict[str, float]:
    """Return the job's headline figures: GEH < 5 shares, RMSE %, R² (held-out, fitted, prior) and wall."""
    out: dict[str, float] = {}
    for part in ("held_out", "fitted", "prior_held_out"):
        for k in ("geh_lt5_share", "rmse_pct", "r2"):
            out[f"{part}.{k}"] = float(report[part][k])
    out["wall_s"] = float(report["wall_s"])
    return out


def latest(store: Store, state_dir: Path) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """Return (job id, calibrated base, fit report) of the newest finished calibration job, if any."""
    for job in store.list_jobs("done", 200):
        if job.kind != KIND:
            continue
        folder = Path(state_dir) / "scenarios" / job.id
        try:
            base = json.loads((folder / "calibrated.json").read_text(encoding="utf-8"))
            fit = json.loads((folder / "fit.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return job.id, base, fit
    return None
