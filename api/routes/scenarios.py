"""Planners' scenarios over HTTP: submit, watch, cancel, download results, compare two runs.

``POST /scenarios`` takes a scenario spec (JSON, or TOML with ``Content-Type: application/toml``) and
answers 202 with the job id; the job runs in a background worker process. ``GET /scenarios/{id}``
reports status and progress (%), then KPIs and layers. Layers download as GeoJSON, GeoParquet or CSV;
``GET /scenarios/{a}/compare/{b}`` gives KPI deltas b − a (a the baseline, b the scenario) and H3
difference layers.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.auth.deps import requires
from api.auth.service import Principal
from api.errors import NotFound, error_body
from api.schemas.errors import errors
from api.services import scenarios
from api.services.jobs import Job, JobManager, QuotaExceededError, manager_of
from api.settings import Settings
from gis_data import io
from simulations import results
from simulations.documents import DocumentSyntaxError, parse_document
from simulations.results import SAFE_NAME, MissingResultError, StoredResult
from simulations.scenario import ScenarioSpec
from twin.errors import InputError

#: Export formats (`gis_data.io`; ``parquet`` is the old name of ``geoparquet``, still accepted).
Format = Literal["geojson", "geoparquet", "parquet", "csv"]
TableFormat = Literal["csv", "geoparquet", "parquet"]
JobId = Annotated[str, Path(pattern=r"^[0-9A-Za-z_-]{1,64}$", description="job id")]
LayerName = Annotated[str, Path(pattern=SAFE_NAME, description="<kind>.<layer>")]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    manager: JobManager | None = getattr(app.state, "scenario_jobs", None)
    if manager is not None:
        manager.close()


router = APIRouter(prefix="/scenarios", tags=["scenarios"], lifespan=_lifespan)
audit = logging.getLogger("twin.audit")

#: The request body of the routes that take a scenario document (JSON, or the same as TOML).
_DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ScenarioSpec.json_schema()},
            "application/toml": {"schema": ScenarioSpec.json_schema()},
        },
    }
}


def get_manager(request: Request) -> JobManager:
    """Return the app's job manager, creating it from the settings on first use."""
    return manager_of(request.app)


def _problem(
    status: int, error: str, field: str, reason: str, hint: str | None, **headers: str
) -> JSONResponse:
    body = error_body(error, [{"field": field, "reason": reason, "type": error}], hint)
    return JSONResponse(body, status_code=status, headers=headers or None)


def _guard(exc: Exception) -> JSONResponse:
    """Turn the service's errors into the one error body shape (works with or without app handlers)."""
    if isinstance(exc, QuotaExceededError):
        return _problem(429, "quota_exceeded", "scenarios", exc.message, exc.hint, **{"Retry-After": "30"})
    if isinstance(exc, NotFound):
        return _problem(404, "not_found", exc.kind, exc.message, exc.hint)
    if isinstance(exc, MissingResultError):
        return _problem(404, "not_found", exc.kind, exc.message, exc.hint)
    if isinstance(exc, InputError):
        return _problem(422, "invalid_input", exc.field, exc.reason, exc.hint)
    raise exc


def _links(job_id: str, names: list[str], base: str = "") -> list[dict[str, Any]]:
    prefix = f"/scenarios/{job_id}{base}/layers"
    return [{"name": n, "urls": {f: f"{prefix}/{n}?format={f}" for f in io.FORMATS}} for n in names]


def _job_body(manager: JobManager, job: Job, full: bool = True) -> dict[str, Any]:
    body = job.summary()
    body["url"] = f"/scenarios/{job.id}"
    if not full:
        return body
    body["spec"] = job.spec
    if job.status == "done":
        try:
            res = StoredResult.open(manager.result_dir(job.id))
        except MissingResultError:
            return body
        body["kpis"] = res.kpis
        body["runs"] = res.doc.get("runs", [])
        body["layers"] = [
            {**link, **res.doc["layers"][link["name"]]} for link in _links(job.id, res.layer_names)
        ]
        body["tables"] = [
            {"name": t, "url": f"/scenarios/{job.id}/tables/{t}?format=csv", **res.doc["tables"][t]}
            for t in res.table_names
        ]
    return body


@router.post(
    "",
    status_code=202,
    summary="Submit a scenario job",
    openapi_extra=_DOCUMENT_BODY,
)
async def submit(
    request: Request,
    principal: Annotated[Principal, requires("scenarios:write")],
    with_baseline: Annotated[
        bool, Query(description="Also queue the scenario without its changes, to compare against.")
    ] = False,
) -> Response:
    """Validate the spec and queue it; answer 202 with the job (poll its ``url`` for progress).

    With ``with_baseline=true`` the baseline (same base, sections and seeds, no changes) is queued
    first, and the answer carries ``baseline_id`` and the ``compare_url`` to open when both are done.
    """
    data = await _document(request)
    if isinstance(data, Response):
        return data
    manager = get_manager(request)
    try:
        spec = _spec_of(data)
        base = manager.submit(spec.without_changes()) if with_baseline else None
        try:
            job = manager.submit(spec)
        except QuotaExceededError:
            if base is not None:
                manager.cancel(base.id)  # all or nothing
            raise
    except (InputError, QuotaExceededError) as e:
        return _guard(e)
    audit.info("scenario job %s submitted by key %s (%s)", job.id, principal.key_id, principal.role)
    body = _job_body(manager, job, full=False)
    if base is not None:
        body["baseline_id"] = base.id
        body["compare_url"] = f"/scenarios/{base.id}/compare/{job.id}"
    return JSONResponse(body, status_code=202, headers={"Location": f"/scenarios/{job.id}"})


@router.get(
    "",
    summary="List scenario jobs",
    dependencies=[requires("scenarios:read")],
)
def list_jobs(
    request: Request,
    status: Annotated[Literal["queued", "running", "done", "failed", "cancelled"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Return the jobs, newest first (status, progress %, error)."""
    manager = get_manager(request)
    return {"scenarios": [_job_body(manager, j, full=False) for j in manager.jobs(limit, status)]}


@router.get(
    "/{job_id}",
    summary="Status, progress and results of a job",
    dependencies=[requires("scenarios:read")],
)
def get_job(request: Request, job_id: JobId) -> Response:
    """Return the job: status, progress (%), error; when done its KPIs, layers and tables."""
    manager = get_manager(request)
    try:
        job = manager.get(job_id)
    except NotFound as e:
        return _guard(e)
    return JSONResponse(_job_body(manager, job))


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a queued or running job",
)
def cancel_job(
    request: Request, job_id: JobId, principal: Annotated[Principal, requires("scenarios:write")]
) -> Response:
    """Cancel the job (its worker stops at once); a finished job is returned unchanged."""
    manager = get_manager(request)
    try:
        job = manager.cancel(job_id)
    except NotFound as e:
        return _guard(e)
    audit.info("scenario job %s cancelled by key %s (%s)", job_id, principal.key_id, principal.role)
    return JSONResponse(_job_body(manager, job, full=False))


def _send(frame: pd.DataFrame, name: str, fmt: str, prov: dict[str, Any], extra: dict[str, Any]) -> Response:
    """Answer with `frame` exported by `gis_data.io` (the CLI's and the layer routes' formats)."""
    kind = io.check_format(fmt)
    data = io.encode(frame, kind, prov=prov, members={"name": name, **extra})
    media = io.MEDIA[kind]
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{extra.get('id', 'scenario')}_{name}") + media.suffix
    return Response(
        data, media_type=media.media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )  # fmt: skip


@router.get(
    "/{job_id}/layers/{name}",
    summary="Download a result layer",
    dependencies=[requires("scenarios:read")],
)
def get_layer(
    request: Request,
    job_id: JobId,
    name: LayerName,
    format: Annotated[
        Format, Query(description="geojson, geoparquet (alias parquet) or csv (geometry_wkt)")
    ] = "geojson",
) -> Response:
    """Return one layer of a finished job as GeoJSON, GeoParquet or CSV (geometry as WKT)."""
    manager = get_manager(request)
    try:
        res = manager.result(job_id)
        gdf = res.layer(name)
    except (NotFound, MissingResultError, InputError) as e:
        return _guard(e)
    return _send(
        gdf, name, format, gdf.attrs.get("provenance", {}), {"id": job_id, "scenario": res.doc.get("name")}
    )


@router.get(
    "/{job_id}/tables/{name}",
    summary="Download a result table",
    dependencies=[requires("scenarios:read")],
)
def get_table(
    request: Request,
    job_id: JobId,
    name: LayerName,
    format: Annotated[
        TableFormat, Query(description="csv or geoparquet (plain Parquet; alias parquet)")
    ] = "csv",
) -> Response:
    """Return one tidy table of a finished job (first seed) as CSV or Parquet."""
    manager = get_manager(request)
    try:
        df = manager.result(job_id).table(name)
    except (NotFound, MissingResultError, InputError) as e:
        return _guard(e)
    prov = {"source": "simulated", "synthetic": True}
    return _send(df, name, format, prov, {"id": job_id})


def _pair(manager: JobManager, a: str, b: str) -> tuple[StoredResult, StoredResult]:
    return manager.result(a), manager.result(b)


@router.get(
    "/{a}/compare/{b}",
    summary="Compare two finished jobs",
    dependencies=[requires("scenarios:read")],
)
def compare(
    request: Request,
    a: JobId,
    b: JobId,
    res: Annotated[
        int | None,
        Query(ge=7, le=11, description="H3 resolution of the difference layers (default TWIN_H3_RES)"),
    ] = None,
) -> Response:
    """Return KPI deltas b − a (read a as the baseline, b as the scenario: scenario − baseline) with the
    95 % interval of the paired difference over common seeds, Holm-adjusted p-values, units and
    labels in Vietnamese and English, and the H3 difference layers (b − a)."""
    manager = get_manager(request)
    try:
        ra, rb = _pair(manager, a, b)
    except (NotFound, InputError) as e:
        return _guard(e)
    common = sorted(set(ra.layer_names) & set(rb.layer_names))
    res = _res(request, res)
    body = results.comparison_document(ra.compare(rb), _run_ref(a, ra), _run_ref(b, rb))
    body["res"] = res
    body["layers"] = [
        {**link, "urls": {f: u + f"&res={res}" for f, u in link["urls"].items()}}
        for link in _links(a, common, base=f"/compare/{b}")
    ]
    return JSONResponse(body)


def _run_ref(job_id: str, r: StoredResult) -> dict[str, Any]:
    return {"id": job_id, "name": r.doc.get("name"), "seeds": r.doc.get("seeds", [])}


@router.get(
    "/{a}/compare/{b}/layers/{name}",
    summary="Download an H3 difference layer",
    dependencies=[requires("scenarios:read")],
)
def compare_layer(
    request: Request,
    a: JobId,
    b: JobId,
    name: LayerName,
    *,
    res: Annotated[int | None, Query(ge=7, le=11, description="default TWIN_H3_RES")] = None,
    format: Annotated[Format, Query()] = "geojson",
) -> Response:
    """Return the H3 cells with each numeric column of layer `name` in a, in b, and b − a."""
    manager = get_manager(request)
    r = _res(request, res)
    try:
        ra, rb = _pair(manager, a, b)
        diff = results.cell_difference(ra.layer(name), rb.layer(name), r, name, runs=(a, b))
    except (NotFound, MissingResultError, InputError) as e:
        return _guard(e)
    return _send(diff, f"{name}_diff_r{r}", format, diff.attrs.get("provenance", {}), {"id": f"{a}_vs_{b}"})


def _res(request: Request, res: int | None) -> int:
    """Return the H3 resolution asked for, else the service's (``TWIN_H3_RES``)."""
    if res is not None:
        return res
    settings: Settings = getattr(request.app.state, "settings", None) or Settings()
    return int(settings.h3_res)


async def _document(request: Request) -> dict[str, Any] | Response:
    """Return the scenario document of the body (JSON, or TOML by content type), or the 400/422 answer."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _problem(
            400, "malformed_body", "body", "the body is not UTF-8 text", "send UTF-8 JSON or TOML"
        )
    fmt = "toml" if ctype in ("application/toml", "text/toml", "text/x-toml") else "json"
    try:
        return parse_document(text, fmt, "body")
    except DocumentSyntaxError as e:  # malformed (400), unlike a document of the wrong shape (422)
        return _problem(400, "malformed_body", "body", e.reason, "send a valid document")
    except InputError as e:
        return _guard(e)


def _spec_of(data: dict[str, Any]) -> ScenarioSpec:
    """Validate a document received over HTTP (finite numbers, the defaults as base) as a spec."""
    _check_finite(data, "")
    if data.get("base", "baseline") != "baseline":
        # The service reads no files named by a request: a file base is merged by the CLI.
        raise InputError(
            "base",
            "must be 'baseline' over HTTP",
            hint="send the full spec (`twin scenario run` merges file bases)",
        )
    return ScenarioSpec.from_dict(data)


@router.post(
    "/validate",
    dependencies=[requires("scenarios:write")],
    summary="Check a scenario document without running it",
    openapi_extra=_DOCUMENT_BODY,
    responses=errors(422),
)
async def validate(request: Request) -> Response:
    """Check the document as a run would (`twin scenario validate`: the same messages, roads resolved
    on the city network) and answer 200 with the document as read (``document``, JSON: what a TOML
    upload holds), the links each closure selects, the mode-split notes and a one-line summary; or the
    422 naming the field, with the nearest valid value or name."""
    data = await _document(request)
    if isinstance(data, Response):
        return data
    settings: Settings = getattr(request.app.state, "settings", None) or Settings()
    try:
        spec = _spec_of(data)
        checked = await run_in_threadpool(scenarios.check, spec, settings.data.dir, int(settings.h3_res))
    except InputError as e:
        return _guard(e)
    return JSONResponse({
        "valid": True, "summary": checked.summary(), "document": data, "notes": checked.notes,
        "closures": [{"label": label, "links": ids} for label, ids in checked.closures],
    })  # fmt: skip


def _check_finite(node: Any, where: str) -> None:
    """Refuse NaN and Infinity anywhere in a document (JSON has neither; Python's parser allows them)."""
    if isinstance(node, float) and not math.isfinite(node):
        raise InputError(where or "body", "numbers must be finite (no NaN or Infinity)")
    if isinstance(node, dict):
        for k, v in node.items():
            _check_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, f"{where}[{i}]")
