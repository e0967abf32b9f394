"""Traffic calibration over HTTP (issue 14): a job of the scenario job queue (`api.services.jobs`).

``POST /calibrations`` (an operator or planner key) queues a calibration of the counts of a period and
answers 202 with the job; ``GET /calibrations/{id}`` (or ``GET /scenarios/{id}``: the same job) gives
its status and progress, then the fit report; ``GET /calibrations/{id}/files/{name}`` downloads the
calibrated scenario base, the fit report, the camera-hours table and the scatter plot.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import ValidationError

from api.auth.deps import requires
from api.errors import NotFound
from api.routes.scenarios import JobId, _guard, get_manager
from api.schemas.errors import errors
from api.services import calibration
from api.services.jobs import Job, JobManager, QuotaExceededError
from simulations.documents import input_error
from twin.errors import InputError

router = APIRouter(prefix="/calibrations", tags=["calibration"])
_NAMES = "|".join(n.replace(".", r"\.") for n in calibration.FILES)
FileName = Annotated[str, Path(pattern=f"^({_NAMES})$")]
MEDIA = {".json": "application/json", ".csv": "text/csv; charset=utf-8", ".png": "image/png"}


def _body(manager: JobManager, job: Job) -> dict[str, Any]:
    body = job.summary()
    body["url"] = f"/calibrations/{job.id}"
    body["request"] = job.spec
    if job.status == "done":
        folder = manager.result_dir(job.id)
        body["kpis"] = job.kpis
        fit = folder / "fit.json"
        if fit.is_file():
            body["fit"] = json.loads(fit.read_text(encoding="utf-8"))
        have = [n for n in calibration.FILES if (folder / n).is_file()]
        body["files"] = {n: f"/calibrations/{job.id}/files/{n}" for n in have}
    return body


def _calibration(manager: JobManager, job_id: str) -> Job:
    job = manager.get(job_id)
    if job.kind != calibration.KIND:
        raise NotFound("calibration", job_id)
    return job


_BODY = {"application/json": {"schema": calibration.CalibrationRequest.model_json_schema()}}


@router.post("", dependencies=[requires("calibration:run")], status_code=202,
             summary="Start a traffic calibration job on the stored counts of a period",
             responses={**errors(400, 422, 429)},
             openapi_extra={"requestBody": {"required": True, "content": _BODY}})  # fmt: skip
async def submit(request: Request) -> Response:
    """Validate the request and queue the job; answer 202 with it (poll its ``url`` for progress)."""
    try:
        data = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        return _guard(InputError("body", "is not a JSON object"))
    manager = get_manager(request)
    try:
        if not isinstance(data, dict):
            raise InputError("body", "must be a JSON object")
        try:
            req = calibration.CalibrationRequest.model_validate(data)
        except ValidationError as e:
            raise input_error(e, model=calibration.CalibrationRequest) from None
        job = manager.submit(req)
    except (InputError, QuotaExceededError) as e:
        return _guard(e)
    return JSONResponse(_body(manager, job), status_code=202, headers={"Location": f"/calibrations/{job.id}"})


@router.get("/{job_id}", summary="Status, progress and fit of a calibration job",
            dependencies=[requires("scenarios:read")], responses={**errors(404)})  # fmt: skip
def get_job(request: Request, job_id: JobId) -> Response:
    """Return the job: status, progress (%), message; when done its fit report and files."""
    manager = get_manager(request)
    try:
        return JSONResponse(_body(manager, _calibration(manager, job_id)))
    except NotFound as e:
        return _guard(e)


@router.get("/{job_id}/files/{name}", summary="Download a file of a finished calibration",
            dependencies=[requires("scenarios:read")], responses={**errors(404)})  # fmt: skip
def get_file(request: Request, job_id: JobId, name: FileName) -> Response:
    """Return ``calibrated.json`` (a scenario base), ``fit.json``, ``camera_hours.csv`` or ``scatter.png``."""
    manager = get_manager(request)
    try:
        job = _calibration(manager, job_id)
        path = manager.result_dir(job.id) / name
        if job.status != "done" or not path.is_file():
            raise NotFound("file", name)
    except NotFound as e:
        return _guard(e)
    return FileResponse(path, media_type=MEDIA[path.suffix], filename=name)
