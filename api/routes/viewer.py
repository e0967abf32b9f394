"""Serve the IOC web viewer (viewer/dist) at "/" and its runtime configuration at GET /config.

The viewer is a static bundle built by ``make viewer`` (esbuild). Built assets carry a content hash in
their file name, so they are served with a one-year immutable cache; ``index.html`` is revalidated on
every load (ETag). Each asset has a ``.gz`` twin written by the build, sent to clients that accept gzip.
When the bundle has not been built, "/" answers a short page that says which command builds it.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

import twin
from api.auth.deps import OPEN
from api.schemas import categories
from api.settings import Settings
from twin.crs import LOCAL_TZ

router = APIRouter(tags=["viewer"])

#: Where ``make viewer`` writes the bundle (the repository's viewer/dist).
DIST_DIR = Path(__file__).resolve().parents[2] / "viewer" / "dist"

#: The city centre (old Thành phố Lạng Sơn) and a zoom that frames the 4 wards.
CITY_CENTER = (106.7578, 21.8478)
CITY_ZOOM = 12.2

_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"

_MISSING_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Lạng Sơn — bản đồ IOC chưa được build</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:4rem auto;padding:0 1rem}}
code{{background:#eee;padding:.1rem .3rem}}</style></head>
<body data-ready="0"><h1>Bản đồ IOC chưa được build / The IOC viewer is not built</h1>
<p>Chạy <code>make viewer</code> (hoặc <code>make run</code>) trong thư mục dự án rồi tải lại trang.</p>
<p>Run <code>make viewer</code> (or <code>make run</code>) in the project folder, then reload this page.</p>
<p>Expected the bundle in <code>{dist}</code>. The API itself is up: see <a href="/docs">/docs</a>.</p>
</body></html>"""

for _ext, _type in ((".mjs", "text/javascript"), (".js", "text/javascript"), (".map", "application/json")):
    mimetypes.add_type(_type, _ext)


def get_settings(request: Request) -> Settings:
    """Return the app's settings (set by the lifespan), or the environment's when there is none."""
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else Settings()


def _etag(path: Path) -> str:
    st = path.stat()
    return '"' + hashlib.blake2s(f"{st.st_mtime_ns}:{st.st_size}".encode(), digest_size=8).hexdigest() + '"'


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


def _serve(path: Path, request: Request, cache: str) -> Response:
    """Return `path` (its precompressed ``.gz`` twin when the client takes gzip) with cache headers."""
    etag = _etag(path)
    headers = {"Cache-Control": cache, "ETag": etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    gz = path.with_name(path.name + ".gz")
    if _accepts_gzip(request) and gz.is_file():
        headers["Content-Encoding"] = "gzip"
        return FileResponse(gz, media_type=media_type, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers)


@router.get(
    "/",
    include_in_schema=False,
    response_model=None,
    dependencies=[OPEN],
)
def index(request: Request) -> Response:
    """Return the viewer page, or a page saying to run ``make viewer`` when it is not built."""
    page = DIST_DIR / "index.html"
    if not page.is_file():
        return HTMLResponse(_MISSING_PAGE.format(dist=DIST_DIR), status_code=503)
    return _serve(page, request, _REVALIDATE)


@router.get(
    "/assets/{name:path}",
    include_in_schema=False,
    response_model=None,
    dependencies=[OPEN],
)
def asset(name: str, request: Request) -> Response:
    """Return one built asset (bundle, worker, stylesheet, icons) with a long immutable cache."""
    root = (DIST_DIR / "assets").resolve()
    try:  # a NUL byte or an over-long name is no file of ours (os calls raise ValueError / OSError)
        path = (root / name).resolve()
        found = path.is_relative_to(root) and not name.endswith(".gz") and path.is_file()
    except (ValueError, OSError):
        found = False
    if not found:
        return Response(
            f"viewer asset {name[:80]!r} not found; rebuild the viewer with `make viewer`",
            status_code=404,
            media_type="text/plain",
        )
    return _serve(path, request, _IMMUTABLE)


@router.get(
    "/config",
    summary="Runtime configuration of the web viewer",
    dependencies=[OPEN],
)
def config(settings: Annotated[Settings, Depends(get_settings)]) -> dict[str, Any]:
    """Return what the viewer needs at start-up: basemap, H3 resolution, map centre, languages, categories.

    ``categories`` is the category table (``api/schemas/categories.toml``): code, Vietnamese and English
    labels, colour, icon, default severity, whether cameras detect it (``camera``), its Smart Data
    Models ``Alert`` mapping and, for what citizens can report, its Open311 service.

    ``basemap_url`` is null unless ``TWIN_BASEMAP_URL`` is set: the viewer then draws its base map from
    the twin's own layers and makes no request outside this server.
    """
    return {
        "version": twin.__version__,
        "basemap_url": settings.basemap_url,
        "h3_res": settings.h3_res,
        "center": {"lon": CITY_CENTER[0], "lat": CITY_CENTER[1]},
        "zoom": CITY_ZOOM,
        "languages": ["vi", "en"],
        "default_language": "vi",
        "timezone": LOCAL_TZ,
        "replay": settings.replay,
        "categories": categories.table().config(),
    }
