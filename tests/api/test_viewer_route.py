"""The viewer's HTTP side: "/" and /assets from viewer/dist (cache headers, gzip twins), GET /config."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import viewer
from api.settings import Settings

JS = "console.log('Lạng Sơn');\n".encode() * 200


@pytest.fixture
def dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A built-looking viewer/dist: index.html, one hashed bundle and its .gz twin."""
    d = tmp_path / "dist"
    (d / "assets").mkdir(parents=True)
    (d / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/viewer-abc.js"></script>'
    )
    (d / "assets" / "viewer-abc.js").write_bytes(JS)
    (d / "assets" / "viewer-abc.js.gz").write_bytes(gzip.compress(JS))
    monkeypatch.setattr(viewer, "DIST_DIR", d)
    return d


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(Settings(state_dir=tmp_path / "state")))


def test_index_is_revalidated_with_an_etag(dist: Path, client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert "/assets/viewer-abc.js" in r.text
    again = client.get("/", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_assets_are_immutable_and_sent_gzipped(dist: Path, client: TestClient) -> None:
    r = client.get("/assets/viewer-abc.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-type"].startswith("text/javascript")
    assert int(r.headers["content-length"]) == len(gzip.compress(JS))  # the precompressed twin
    assert r.content == JS  # decoded by the client
    plain = client.get("/assets/viewer-abc.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == JS


@pytest.mark.parametrize(
    "name", ["missing.js", "viewer-abc.js.gz", "..%2Findex.html", "%2e%2e/%2e%2e/etc/passwd"]
)
def test_unknown_or_escaping_asset_paths_are_404(dist: Path, client: TestClient, name: str) -> None:
    r = client.get(f"/assets/{name}")
    assert r.status_code == 404
    assert "make viewer" in r.text


def test_missing_build_says_what_to_run(
    tmp_path: Path, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(viewer, "DIST_DIR", tmp_path / "nothing")
    r = client.get("/")
    assert r.status_code == 503
    assert "make viewer" in r.text
    assert "Bản đồ IOC chưa được build" in r.text


def test_api_routes_are_not_shadowed(dist: Path, client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_config_is_offline_by_default(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(state_dir=tmp_path / "s", h3_res=8))) as c:
        body = c.get("/config").json()
    assert body["basemap_url"] is None
    assert body["h3_res"] == 8
    assert body["default_language"] == "vi"
    assert body["languages"] == ["vi", "en"]
    assert body["timezone"] == "Asia/Ho_Chi_Minh"
    assert 106.6 < body["center"]["lon"] < 106.9
    assert 21.7 < body["center"]["lat"] < 22.0


def test_config_passes_an_online_basemap_through(tmp_path: Path) -> None:
    url = "https://tiles.example.org/style.json"
    with TestClient(create_app(Settings(state_dir=tmp_path / "s", basemap_url=url))) as c:
        assert c.get("/config").json()["basemap_url"] == url


def test_large_json_answers_are_gzipped(dist: Path, client: TestClient) -> None:
    r = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert r.headers.get("content-encoding") == "gzip"


@pytest.mark.skipif(
    not (viewer.DIST_DIR / "index.html").is_file(), reason="viewer not built: run `make viewer`"
)
def test_the_real_build_references_only_its_own_assets(client: TestClient) -> None:
    html = client.get("/").text
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls
    for url in urls:
        if url.startswith(("data:", "#")):
            continue
        assert url.startswith("/assets/"), url  # nothing from a CDN
        assert client.get(url).status_code == 200
    manifest = re.search(r"window.__ASSETS__ = (\{.*?\});", html)
    assert manifest is not None
    assert "maplibre-gl-worker" in manifest.group(1)
