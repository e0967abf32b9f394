"""The council briefing: HTML and PDF from a seeded event store, in Vietnamese and English."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from api.briefing import collect, parse_period, write_briefing
from api.cli.base import app
from api.services import jobs
from api.store import SQLiteStore, default_dsn
from api.store.base import CameraSnapshot, EventRecord, ReportRecord
from gis_data.city import build_city
from simulations.results import RunResult
from simulations.scenario import ScenarioSpec
from twin import h3grid
from twin.city import City
from twin.errors import InputError

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KY_LUA = "06187"


@pytest.fixture(scope="module")
def city(data_dir: Path) -> City:
    """The default city model."""
    return build_city(data_dir)


def _event(i: int, cam: pd.Series, category: str, at: datetime) -> EventRecord:
    lon, lat = float(cam.geometry.x), float(cam.geometry.y)
    cells = {r: int(h3grid.latlng_to_cells([lat], [lon], r)[0]) for r in (7, 8, 9)}
    return EventRecord(
        event_id=f"ev-{i:05d}",
        camera_id=str(cam["camera_id"]),
        category=category,
        severity="low",
        confidence=0.9,
        lifecycle="end",
        start_time=at,
        end_time=at + timedelta(minutes=5),
        lon=lon,
        lat=lat,
        cells=cells,
        ward_code=str(cam["ward_code"]),
        attributes={"synthetic": True},
        synthetic=True,
        received_at=at,
        updated_at=at,
    )


def seed_store(path: Path, city: City) -> dict[str, int]:
    """Fill a SQLite store with a week of synthetic events, snapshots and reports; return counts."""
    rng = np.random.default_rng(7)
    cams = city.cameras[city.cameras["ward_code"].isin(city.core_wards.index)].reset_index(drop=True)
    market = cams[cams["ward_code"] == KY_LUA].iloc[0]
    cats = ["congestion", "accident", "illegal_dumping", "crowding"]
    events = []
    for i in range(300):
        at = END - timedelta(hours=float(rng.uniform(1, 167)))
        cam = market if i < 120 else cams.iloc[int(rng.integers(len(cams)))]
        events.append(_event(i, cam, "crowding" if i < 120 else cats[int(rng.integers(4))], at))
    # two events outside the period: before it and after it
    events.append(_event(900, market, "accident", END - timedelta(days=9)))
    events.append(_event(901, market, "accident", END + timedelta(hours=1)))
    store = SQLiteStore(path)
    try:
        store.submit_events(events).result()
        for h in range(0, 168, 6):
            at = END - timedelta(hours=h)
            store.submit_camera_snapshot(CameraSnapshot(at, 45 + h % 5, 50, 238)).result()
        for i in range(12):
            opened = END - timedelta(days=6) + timedelta(hours=10 * i)
            closed = i % 3 != 0
            store.submit_report(
                ReportRecord(
                    request_id=f"r-{i}",
                    service_code="illegal_dumping" if i % 2 else "road_damage",
                    status="closed" if closed else "open",
                    description="Rác đổ trộm ven sông Kỳ Cùng",
                    lon=float(market.geometry.x),
                    lat=float(market.geometry.y),
                    cell=int(h3grid.latlng_to_cells([market.geometry.y], [market.geometry.x], 9)[0]),
                    ward_code=KY_LUA,
                    address=None,
                    requested_at=opened,
                    updated_at=opened + timedelta(hours=2 * (i + 1)) if closed else opened,
                    synthetic=True,
                )
            ).result()
    finally:
        store.close()
    return {"events": 300, "reports": 12, "closed": 8}


def test_parse_period() -> None:
    assert parse_period("7d") == timedelta(days=7)
    assert parse_period("24h") == timedelta(hours=24)
    assert parse_period("2w") == timedelta(weeks=2)
    for bad in ("0d", "week", "400d"):
        with pytest.raises(InputError):
            parse_period(bad)


def test_facts_known_counts(tmp_path: Path, city: City) -> None:
    counts = seed_store(tmp_path / "events.sqlite3", city)
    store = SQLiteStore(tmp_path / "events.sqlite3")
    try:
        facts = collect(store, city, end=END, period=timedelta(days=7))
    finally:
        store.close()
    assert len(facts.events) == counts["events"]  # the two events outside the period are left out
    assert int(facts.by_category.sum()) == counts["events"]
    assert facts.by_ward.index[0] == KY_LUA  # the market camera's ward leads
    assert int(facts.by_ward["total"].sum()) == counts["events"]
    assert facts.synthetic_share == 1.0
    assert len(facts.reports) == counts["reports"]
    closed = facts.reports[facts.reports["status"] == "closed"]
    assert len(closed) == counts["closed"]
    # closed reports i = 1, 2, 4, 5, 7, 8, 10, 11 took 2(i + 1) = 4, 6, 10, 12, 16, 18, 22, 24 h → median 14 h
    assert closed["hours_to_close"].median() == pytest.approx(14.0)
    assert facts.cameras_online == 45  # the latest snapshot (h = 0)
    assert facts.cameras_total == 238
    assert facts.cameras_connected == 50
    assert 0.9 <= (facts.availability or 0) <= 1.0
    assert len(facts.hot) >= 1  # the market camera's cell
    assert "Kỳ Lừa" in set(facts.hot["ward"])


def _toy_result(path: Path, name: str, congestion: float, closed: bool, city: City) -> jobs.StoredResult:
    cells = city.cells(9).head(40)
    layer = gpd.GeoDataFrame(
        {"mean_congestion_index": np.linspace(1.0, 1.5, len(cells)) * congestion, "vehicle_km": 10.0},
        geometry=cells.geometry.to_numpy(),
        crs=4326,
    )
    links = city.network.links.head(30)[["name", "geometry"]].copy()
    links["closed_any"] = closed
    spec = ScenarioSpec.from_dict({"name": name, "kind": "traffic", "seeds": [1, 2]})
    results = {
        "traffic": [
            RunResult(
                "traffic",
                {},
                s,
                {"mean_delay_s": 80.0 * congestion + s, "mean_speed_kmh": 30.0 / congestion},
                layers={"cells": layer, "links": gpd.GeoDataFrame(links, geometry="geometry", crs=4326)},
            )
            for s in (1, 2)
        ]
    }
    jobs.save_results(path, spec, results)
    return jobs.StoredResult.open(path)


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def _pages(pdf: Path, tmp: Path) -> list[tuple[str, float]]:
    """Render every page to PNG (pdftoppm) and read it (pdftotext): (text, ink ratio) per page."""
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-png", str(pdf), str(tmp / pdf.stem)], check=True)
    pngs = sorted(tmp.glob(f"{pdf.stem}-*.png"))
    out = []
    for i, png in enumerate(pngs, start=1):
        pixels = np.asarray(Image.open(png).convert("L"))
        text = subprocess.run(
            ["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        out.append((text, float((pixels < 200).mean())))
    return out


def _check_filable(pdf: Path, tmp: Path, lang: str, addressee: str) -> str:
    """Check the Decree 30/2020 header, the period and coverage lines and that no page is near-empty."""
    pages = _pages(pdf, tmp)
    assert pages
    first = " ".join(pages[0][0].split())
    vi = lang == "vi"
    header = (
        ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "UBND TỈNH LẠNG SƠN",
         "Số: …/BC-IOC", "Lạng Sơn, ngày", "tháng", "năm", "BÁO CÁO", "Kính gửi: " + addressee,
         "Kỳ báo cáo:", "Phạm vi dữ liệu thực có:"]
        if vi
        else ["SOCIALIST REPUBLIC OF VIET NAM", "Independence - Freedom - Happiness", "No.: …/BC-IOC",
              "Lạng Sơn,", "REPORT", "To: " + addressee, "Period:", "Data actually observed:"]
    )  # fmt: skip
    for needle in header:
        assert needle in first, needle
    whole = " ".join(" ".join(t.split()) for t, _ in pages)
    assert ("Nơi nhận:" if vi else "Recipients:") in whole
    assert ("GIÁM ĐỐC" if vi else "DIRECTOR") in whole
    for bad in ("HĐND", "thành phố Lạng Sơn", "Trong 7 ngày qua", "Over the last 7 days", "City briefing"):
        assert bad not in whole, bad
    for i, (_, ink) in enumerate(pages, start=1):
        assert ink > 0.015, f"page {i} is near-empty (ink {ink:.4f})"
    return whole


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
def test_briefing_in_english_with_a_scenario(tmp_path: Path, city: City) -> None:
    seed_store(tmp_path / "events.sqlite3", city)
    a = _toy_result(tmp_path / "a", "Hiện trạng", 1.0, False, city)
    b = _toy_result(tmp_path / "b", "Đóng cầu Kỳ Lừa", 1.2, True, city)
    store = SQLiteStore(tmp_path / "events.sqlite3")
    try:
        facts = collect(store, city, end=END, period=timedelta(days=7), scenario=(a, b, "job-a", "job-b"))
    finally:
        store.close()
    assert facts.scenario is not None
    assert facts.scenario.diff_column == "mean_congestion_index_delta"
    out = write_briefing(facts, city, tmp_path / "en", "en", to="ky-lua")
    assert set(out.images) == {"events_map", "categories", "days", "cameras", "scenario_map"}
    text = _check_filable(out.pdf, tmp_path, "en", "People's Committee of Kỳ Lừa ward")
    for needle in (
        "The urban situation and smart-city operations",
        "Kỳ Lừa",
        "Đông Kinh",
        "Methods and data",
        "Đóng cầu Kỳ Lừa",
        "Mean delay per trip",
        "worse",
        "synthetic",
    ):
        assert needle in text, needle
    assert any("Đóng cầu Kỳ Lừa" in s and "20" in s for s in out.summary)  # +20 % delay


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
def test_twin_brief_cli_writes_a_vietnamese_pdf_that_renders(
    tmp_path: Path, city: City, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    seed_store(Path(default_dsn(state).removeprefix("sqlite:///")), city)
    monkeypatch.setenv("TWIN_STATE_DIR", str(state))
    monkeypatch.setenv("TWIN_DATA_DIR", str(data_dir))
    out = tmp_path / "brief"
    result = CliRunner().invoke(
        app, ["brief", "--out", str(out), "--period", "7d", "--end", "2026-11-20T12:00"]
    )
    assert result.exit_code == 0, result.output
    html = (out / "briefing.html").read_text(encoding="utf-8")
    assert 'lang="vi"' in html
    assert "img/events_map.png" in html
    text = _check_filable(out / "briefing.pdf", tmp_path, "vi", "Ủy ban nhân dân tỉnh Lạng Sơn")
    assert "Kỳ này" not in text
    assert "Báo cáo này không trình bày kịch bản" in text  # no --scenario: no "latest run" presented
    for needle in (
        "Tình hình đô thị và vận hành",
        "Kỳ Lừa",
        "Đông Kinh",
        "Lương Văn Tri",
        "Tam Thanh",
        "Phương pháp và dữ liệu",
        "Điểm nóng",
        "Phản ánh của người dân",
        "tổng hợp",
    ):
        assert needle in text, needle
    fonts = subprocess.run(
        ["pdffonts", str(out / "briefing.pdf")], check=True, capture_output=True, text=True
    ).stdout
    assert " yes " in fonts  # the font is embedded
    bad = CliRunner().invoke(app, ["brief", "--out", str(out), "--scenario", "x"])
    assert bad.exit_code == 2
    assert "--vs" in bad.output
    bad_to = CliRunner().invoke(app, ["brief", "--out", str(out), "--to", "thanh-pho"])
    assert bad_to.exit_code == 2
    assert "to" in bad_to.output


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_one_run_alone_is_not_presented_as_the_scenario(tmp_path: Path, city: City) -> None:
    a = _toy_result(tmp_path / "a", "Hiện trạng 2026", 1.0, False, city)
    store = SQLiteStore(tmp_path / "events.sqlite3")  # an empty store: a quiet week
    try:
        facts = collect(store, city, end=END, period=timedelta(days=1), scenario=(a, a, "job-a", "job-a"))
    finally:
        store.close()
    out = write_briefing(facts, city, tmp_path / "vi", "vi")
    text = _pdf_text(out.pdf)
    assert "Báo cáo này không trình bày kịch bản" in text
    assert "Thời gian trễ trung bình mỗi chuyến" not in text
    assert "Không có sự kiện nào trong kỳ." in text
    assert "không có sự kiện nào trong kỳ báo cáo dài 24,0 giờ" in " ".join(text.split())
