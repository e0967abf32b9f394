"""The council briefing: HTML and PDF from a seeded event store, in Vietnamese and English."""

from __future__ import annotations

import json
import re
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
from api.briefing.collect import MIN_HOTSPOT_EVENTS, MIN_SEEDS
from api.briefing.figures import nice_length, scale_label
from api.briefing.periods import containing, period_ending
from api.cli.base import app
from api.store import SQLiteStore, default_dsn
from api.store.base import CameraSnapshot, EventRecord, ReportRecord
from gis_data.city import build_city
from simulations.results import RunResult, StoredResult, save_results
from simulations.scenario import ScenarioSpec
from twin import h3grid
from twin.city import City
from twin.errors import InputError

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KY_LUA = "06187"
#: The last 7 days up to END: a custom window (its previous period is the 7 days before it).
WEEK = parse_period("7d", end=END)


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
    # outside the period: 40 in the week before it (the previous period) and one after it
    for j in range(40):
        events.append(_event(900 + j, market, "accident", END - timedelta(days=7, hours=1 + 4 * j)))
    events.append(_event(999, market, "accident", END + timedelta(hours=1)))
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
    return {"events": 300, "previous": 40, "reports": 12, "closed": 8, "overdue": 4}


def _utc(text: str) -> datetime:
    """Local Lạng Sơn midnight of a day "YYYY-MM-DD" (UTC+7) in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC) - timedelta(hours=7)


#: Decree 09/2019/NĐ-CP Art. 12, as worded there: (kind, a day inside, first day, last day, number, year).
ARTICLE_12 = [
    # monthly: from the 15th of the previous month to the 14th of the reporting month
    ("month", "2026-11-14", "2026-10-15", "2026-11-14", 11, 2026),
    ("month", "2026-11-15", "2026-11-15", "2026-12-14", 12, 2026),
    ("month", "2026-01-03", "2025-12-15", "2026-01-14", 1, 2026),
    ("month", "2024-03-01", "2024-02-15", "2024-03-14", 3, 2024),  # leap February inside
    # quarterly: from the 15th of the month before the quarter to the 14th of its last month
    ("quarter", "2026-01-10", "2025-12-15", "2026-03-14", 1, 2026),
    ("quarter", "2026-03-15", "2026-03-15", "2026-06-14", 2, 2026),
    ("quarter", "2026-09-14", "2026-06-15", "2026-09-14", 3, 2026),
    ("quarter", "2026-12-14", "2026-09-15", "2026-12-14", 4, 2026),
    # six-monthly: 15 December of the previous year to 14 June; 15 June to 14 December
    ("half", "2025-12-15", "2025-12-15", "2026-06-14", 1, 2026),
    ("half", "2026-06-14", "2025-12-15", "2026-06-14", 1, 2026),
    ("half", "2026-06-15", "2026-06-15", "2026-12-14", 2, 2026),
    # yearly: 15 December of the previous year to 14 December of the reporting year
    ("year", "2026-07-01", "2025-12-15", "2026-12-14", 0, 2026),
    ("year", "2026-12-15", "2026-12-15", "2027-12-14", 0, 2027),
]


@pytest.mark.parametrize(("kind", "inside", "first", "last", "number", "year"), ARTICLE_12)
def test_reporting_periods_follow_the_decree_09_cut_offs(
    kind: str, inside: str, first: str, last: str, number: int, year: int
) -> None:
    """Decree 09/2019/NĐ-CP Art. 12: every period's first and last day, from morning to midnight."""
    for at in (_utc(inside), _utc(inside) + timedelta(hours=23, minutes=59)):  # the whole local day
        p = containing(kind, at)
        assert (p.start, p.end, p.number, p.year) == (
            _utc(first),
            _utc(last) + timedelta(days=1),
            number,
            year,
        ), (kind, inside)
    # the period's own words: its first and last day, and the article it follows
    d1, d2 = (datetime.fromisoformat(x).strftime("%d/%m/%Y") for x in (first, last))
    assert p.bounds("vi") == f"từ ngày {d1} đến hết ngày {d2}"
    assert "Điều 12 Nghị định 09/2019/NĐ-CP" in p.rule("vi")
    assert "Article 12 of Decree 09/2019/NĐ-CP" in p.rule("en")
    # the period before ends where this one starts, and is of the same kind
    assert p.previous().end == p.start
    assert p.previous().kind == kind


def test_the_last_closed_period_and_the_local_midnight_cut_off() -> None:
    month = period_ending("month", END)  # 20 Nov 2026: the last closed month is "November"
    assert (month.start, month.end) == (_utc("2026-10-15"), _utc("2026-11-15"))
    assert month.name("vi") == "tháng 11 năm 2026"
    assert month.bounds("vi") == "từ ngày 15/10/2026 đến hết ngày 14/11/2026"
    assert (month.previous().start, month.previous().end) == (_utc("2026-09-15"), _utc("2026-10-15"))
    quarter = period_ending("quarter", END)  # Q4 closes on 14 Dec: the last closed is Q3
    assert (quarter.start, quarter.end, quarter.number) == (_utc("2026-06-15"), _utc("2026-09-15"), 3)
    assert quarter.name("vi") == "quý III năm 2026"
    half = period_ending("half", END)  # H2 closes on 14 Dec: the last closed is the first half
    assert (half.start, half.end, half.number) == (_utc("2025-12-15"), _utc("2026-06-15"), 1)
    assert half.name("vi") == "6 tháng đầu năm 2026"
    assert half.name("en") == "the first half of 2026"
    assert (half.previous().start, half.previous().number) == (_utc("2025-06-15"), 2)
    year = period_ending("year", END)
    assert (year.start, year.end, year.year) == (_utc("2024-12-15"), _utc("2025-12-15"), 2025)
    week = period_ending("week", END)  # Friday 20 Nov: the last closed week is Mon 9 – Sun 15 Nov
    assert (week.start, week.end) == (_utc("2026-11-09"), _utc("2026-11-16"))
    assert "không quy định kỳ tuần" in week.rule("vi")
    # a cut-off is local midnight: 16:59 UTC on the 14th is still in the month, 17:00 is not
    assert containing("month", _utc("2026-11-15") - timedelta(minutes=1)).number == 11
    assert containing("month", _utc("2026-11-15")).number == 12
    assert period_ending("month", _utc("2026-11-15")).number == 11  # closed exactly at the cut-off


def test_parse_period() -> None:
    assert parse_period("7d", end=END).length == timedelta(days=7)
    assert parse_period("24h", end=END).length == timedelta(hours=24)
    assert parse_period("2w", end=END).length == timedelta(weeks=2)
    assert parse_period("month", end=END) == period_ending("month", END)
    assert parse_period("half", end=END) == period_ending("half", END)
    assert WEEK.previous().end == WEEK.start
    for bad in ("0d", "fortnight", "400d"):
        with pytest.raises(InputError):
            parse_period(bad, end=END)


def test_facts_known_counts(tmp_path: Path, city: City) -> None:
    counts = seed_store(tmp_path / "events.sqlite3", city)
    store = SQLiteStore(tmp_path / "events.sqlite3")
    try:
        facts = collect(store, city, period=WEEK)
    finally:
        store.close()
    assert len(facts.events) == counts["events"]  # the events outside the period are left out
    assert facts.previous is not None
    assert facts.previous.events == counts["previous"]
    assert facts.previous.by_ward.get(KY_LUA) == counts["previous"]
    # the observed time is the data's, not the period's: events and snapshots span < 7 days
    assert facts.observed.first is not None
    assert facts.observed.span < timedelta(days=7)
    assert facts.observed.per_day(700) > 100
    assert int(facts.by_category.sum()) == counts["events"]
    assert facts.by_ward.index[0] == KY_LUA  # the market camera's ward leads
    assert int(facts.by_ward["total"].sum()) == counts["events"]
    assert facts.synthetic_share == 1.0
    assert len(facts.reports) == counts["reports"]
    closed = facts.reports[facts.reports["status"] == "closed"]
    assert len(closed) == counts["closed"]
    # closed reports i = 1, 2, 4, 5, 7, 8, 10, 11 took 2(i + 1) = 4, 6, 10, 12, 16, 18, 22, 24 h → median 14 h
    assert closed["hours_to_close"].median() == pytest.approx(14.0)
    assert (
        facts.cameras_online == 46
    )  # the latest snapshot before the end (h = 6; the period is [start, end))
    assert facts.cameras_total == 238
    assert facts.cameras_connected == 50
    assert 0.9 <= (facts.availability or 0) <= 1.0
    assert len(facts.hot) >= 1  # the market camera's cell
    assert "Kỳ Lừa" in set(facts.hot["ward"])
    assert (facts.hot["count"] >= MIN_HOTSPOT_EVENTS).all()  # cells with 0–4 events are left out
    assert facts.hot["place"].str.len().gt(0).all()  # named by the nearest street or site
    # citizen reports by unit (units.toml routing) and against the targets (48 h dumping, 72 h roads)
    units = set(facts.reports["unit_id"])
    assert units == {"moi-truong-do-thi", "quan-ly-do-thi"}
    assert int(facts.reports["on_time"].sum()) == counts["closed"]  # all closed within 2–24 h
    assert int(facts.reports["overdue"].sum()) == counts["overdue"]  # the 4 open ones are past due


def _toy_result(
    path: Path, name: str, congestion: float, closed: bool, city: City, seeds: int = MIN_SEEDS
) -> StoredResult:
    cells = city.cells(9).head(40)
    layer = gpd.GeoDataFrame(
        {"mean_congestion_index": np.linspace(1.0, 1.5, len(cells)) * congestion, "vehicle_km": 10.0},
        geometry=cells.geometry.to_numpy(),
        crs=4326,
    )
    links = city.network.links.head(30)[["name", "geometry"]].copy()
    links["closed_any"] = closed
    spec = ScenarioSpec.from_dict({"name": name, "kind": "traffic", "seeds": list(range(1, seeds + 1))})
    results = {
        "traffic": [
            RunResult(
                "traffic",
                {},
                s,
                {"mean_delay_s": 80.0 * congestion + s * s, "mean_speed_kmh": 30.0 / congestion + 0.1 * s},
                layers={"cells": layer, "links": gpd.GeoDataFrame(links, geometry="geometry", crs=4326)},
            )
            for s in range(1, seeds + 1)
        ]
    }
    save_results(path, spec, results)
    return StoredResult.open(path)


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def _pages(pdf: Path, tmp: Path) -> list[tuple[str, float, float]]:
    """Render every page to PNG (pdftoppm) and read it (pdftotext).

    Per page: its text, the ink ratio (share of dark pixels) and how far down the page the body
    reaches (the lowest inked row above the footer, as a share of the body's height).
    """
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-png", str(pdf), str(tmp / pdf.stem)], check=True)
    pngs = sorted(tmp.glob(f"{pdf.stem}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    out = []
    for i, png in enumerate(pngs, start=1):
        pixels = np.asarray(Image.open(png).convert("L"))
        rows = np.flatnonzero((pixels < 200).any(axis=1))
        h = pixels.shape[0]
        body = rows[rows < 0.93 * h]  # the footer (page number) sits in the bottom margin
        filled = float((body.max() - body.min()) / (0.93 * h - body.min())) if len(body) else 0.0
        text = subprocess.run(
            ["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf), "-"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        out.append((text, float((pixels < 200).mean()), filled))
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
         "Kỳ báo cáo:", "Phạm vi dữ liệu thực có: dữ liệu từ", "mọi tỷ lệ tính trên thời gian này",
         "Nghị định 09/2019/NĐ-CP"]
        if vi
        else ["SOCIALIST REPUBLIC OF VIET NAM", "Independence - Freedom - Happiness", "No.: …/BC-IOC",
              "Lạng Sơn,", "REPORT", "To: " + addressee, "Period:", "Data actually observed: data from",
              "every rate is over this time", "Decree 09/2019/NĐ-CP"]
    )  # fmt: skip
    for needle in header:
        assert needle in first, needle
    whole = " ".join(" ".join(t.split()) for t, _, _ in pages)
    assert ("Nơi nhận:" if vi else "Recipients:") in whole
    assert ("GIÁM ĐỐC" if vi else "DIRECTOR") in whole
    for bad in ("HĐND", "thành phố Lạng Sơn", "Trong 7 ngày qua", "Over the last 7 days", "City briefing",
                "hạt giống", "xe/veh", "(s)", "8f2", "893"):  # fmt: skip
        assert bad not in whole, bad  # "8f2…"/"893…": no H3 id names a place
    for needle in (("Đề xuất, kiến nghị", "Nhiệm vụ kỳ tới", "So sánh với kỳ trước", "Tình hình từng phường",
                    "Theo đơn vị xử lý") if vi else ("Recommendations", "Tasks for the next period",
                    "Compared with the previous period", "Ward by ward", "By handling unit")):  # fmt: skip
        assert needle in whole, needle
    for i, (_, ink, filled) in enumerate(pages, start=1):
        assert ink > 0.015, f"page {i} is near-empty (ink {ink:.4f})"
        if i < len(pages):  # every page but the last is at least two-thirds full
            assert filled > 0.66, f"page {i} is filled only {filled:.0%} of its height"
    return whole


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
def test_briefing_in_english_with_a_scenario(tmp_path: Path, city: City) -> None:
    seed_store(tmp_path / "events.sqlite3", city)
    a = _toy_result(tmp_path / "a", "Hiện trạng", 1.0, False, city)
    b = _toy_result(tmp_path / "b", "Đóng cầu Kỳ Lừa", 1.2, True, city)
    store = SQLiteStore(tmp_path / "events.sqlite3")
    try:
        facts = collect(store, city, period=WEEK, scenario=(a, b, "job-a", "job-b"))
    finally:
        store.close()
    assert facts.scenario is not None
    assert facts.scenario.diff_column == "mean_congestion_index_delta"
    out = write_briefing(facts, city, tmp_path / "en", "en", to="ky-lua")
    assert set(out.images) == {"events_map", "categories", "days", "cameras", "scenario_map"}
    text = _check_filable(out.pdf, tmp_path, "en", "People's Committee of Kỳ Lừa ward")
    # the interval of the paired difference, in its own column, explained in one sentence
    assert "95 % interval of the change" in text
    assert "the true change B − A would lie in this range with 95 % confidence" in text
    # mean delay: B − A = 16 s on every seed (80 × 0.2): the interval is 16.0 to 16.0
    assert "16.0 to 16.0" in text
    html = out.html.read_text(encoding="utf-8")
    assert "data:image/png;base64," in html
    assert 'src="img/' not in html  # one self-contained file
    assert "file://" not in html  # no font or image file of the machine that wrote it
    assert not (out.html.parent / "img").exists()
    _check_tables(out.tables, scenario=True)
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
    assert any("Đóng cầu Kỳ Lừa" in s and "18\u00a0%" in s for s in out.summary)  # +17.6 % delay (91 → 107 s)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
def test_monthly_report_in_vietnamese_with_a_scenario(tmp_path: Path, city: City) -> None:
    """A regime period (the month to 14 Nov) that the data covers only in part, with a scenario."""
    seed_store(tmp_path / "events.sqlite3", city)
    a = _toy_result(tmp_path / "a", "Hiện trạng", 1.0, False, city)
    b = _toy_result(tmp_path / "b", "Đóng cầu Kỳ Lừa", 1.2, True, city)
    month = parse_period("month", end=datetime(2026, 11, 25, tzinfo=UTC))  # 15 Oct – 14 Nov 2026
    store = SQLiteStore(tmp_path / "events.sqlite3")
    try:
        facts = collect(store, city, period=month, scenario=(a, b, "job-a", "job-b"))
    finally:
        store.close()
    out = write_briefing(facts, city, tmp_path / "vi", "vi", to="luong-van-tri")
    text = _check_filable(out.pdf, tmp_path, "vi", "Ủy ban nhân dân phường Lương Văn Tri")
    assert "Kỳ báo cáo: tháng 11 năm 2026 (từ ngày 15/10/2026 đến hết ngày 14/11/2026)" in text
    assert (
        "Thời gian chốt số liệu theo Điều 12 Nghị định 09/2019/NĐ-CP: từ ngày 15 tháng trước đến ngày 14 "
        "tháng thuộc kỳ báo cáo." in text
    )
    # the seeded data reach back to 6 Nov 23:00 UTC and the month closes at 14 Nov 17:00 UTC: under 8
    # of its 31 days hold data, and the page says so
    m = re.search(r"\((\d+,\d) ngày có dữ liệu trong kỳ báo cáo dài 31,0 ngày, tức (\d+,\d) %\)", text)
    assert m, text[:2000]
    assert 7.0 < float(m.group(1).replace(",", ".")) <= 7.75
    days, share = (float(g.replace(",", ".")) for g in m.groups())
    assert share == pytest.approx(100 * days / 31, abs=0.2)
    # the interval column and its one-sentence meaning, in Vietnamese number format
    assert "Khoảng tin cậy 95 % của thay đổi" in text
    assert "thay đổi thật B − A nằm trong khoảng này với độ tin cậy 95 %" in text
    assert "16,0 đến 16,0" in text
    assert "(giây)" in text
    assert "(km/giờ)" in text


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
    assert html.count("data:image/png;base64,") >= 4  # map and charts inline: one file
    text = _check_filable(out / "briefing.pdf", tmp_path, "vi", "Ủy ban nhân dân tỉnh Lạng Sơn")
    assert "Thời gian chốt số liệu theo Điều 12" not in text  # a custom 7-day window says it is one
    assert "không phải kỳ báo cáo theo Nghị định 09/2019/NĐ-CP" in text
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
    # place and date, "Nơi nhận": a real italic face (Decree 30/2020/NĐ-CP)
    assert "Italic" in fonts or "Oblique" in fonts
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
        facts = collect(store, city, period=parse_period("24h", end=END), scenario=(a, a, "job-a", "job-a"))
    finally:
        store.close()
    assert facts.scenario is None
    assert facts.scenario_refused_code == "same_run"
    out = write_briefing(facts, city, tmp_path / "vi", "vi")
    text = _pdf_text(out.pdf)
    assert "Không trình bày kết quả kịch bản" in text
    assert "cùng một lần chạy" in text
    assert "Thời gian trễ trung bình mỗi chuyến" not in text
    assert "Không có sự kiện nào trong kỳ." in text
    assert "không có sự kiện nào trong kỳ báo cáo dài 24,0 giờ" in " ".join(text.split())


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_too_few_seeds_or_no_baseline_is_a_clear_refusal(tmp_path: Path, city: City) -> None:
    a = _toy_result(tmp_path / "a", "Hiện trạng", 1.0, False, city, seeds=2)
    b = _toy_result(tmp_path / "b", "Đóng cầu", 1.2, True, city, seeds=2)
    store = SQLiteStore(tmp_path / "events.sqlite3")
    try:
        facts = collect(store, city, period=WEEK, scenario=(a, b, "job-a", "job-b"))
        assert facts.scenario is None
        assert facts.scenario_refused_code == "seeds"
        # a reference that changes the city is not a baseline
        spec = ScenarioSpec.from_dict(
            {"name": "x", "kind": "traffic", "seeds": [1, 2, 3, 4, 5],
             "changes": [{"type": "scale", "param": "traffic.demand.multiplier", "factor": 1.1}]}
        )  # fmt: skip
        a5 = _toy_result(tmp_path / "a5", "Hiện trạng", 1.0, False, city)
        (a5.path / "spec.json").write_text(json.dumps(spec.to_dict()), encoding="utf-8")
        b5 = _toy_result(tmp_path / "b5", "Đóng cầu", 1.2, True, city)
        assert collect(store, city, period=WEEK, scenario=(a5, b5, "a5", "b5")).scenario_refused_code == (
            "not_baseline"
        )
    finally:
        store.close()
    out = write_briefing(facts, city, tmp_path / "en", "en")
    text = " ".join(_pdf_text(out.pdf).split())
    assert "share too few random runs for a paired comparison (at least 5 needed)" in text
    assert "Mean delay per trip" not in text


def _check_tables(paths: list[Path], *, scenario: bool) -> None:
    """The structured tables: CSV without an unnamed index column, and the same sheets in the XLSX."""
    csvs = {p.stem: p for p in paths if p.suffix == ".csv"}
    assert {"period", "comparison", "wards", "categories", "hotspots", "reports_by_unit"} <= set(csvs)
    assert ("scenario" in csvs) == scenario
    for name, path in csvs.items():
        assert path.read_bytes().startswith(b"\xef\xbb\xbf"), name  # UTF-8 BOM for Excel
        frame = pd.read_csv(path, encoding="utf-8-sig")
        assert not any(str(c).startswith("Unnamed") for c in frame.columns), name
        assert "synthetic" in frame.columns, name
    wards = pd.read_csv(csvs["wards"], encoding="utf-8-sig", dtype={"ward_code": str})
    assert set(wards["ward_code"]) == {"05977", "05983", "05986", KY_LUA}
    assert int(wards.loc[wards["ward_code"] == KY_LUA, "events_previous"].iloc[0]) == 40
    units = pd.read_csv(csvs["reports_by_unit"], encoding="utf-8-sig")
    assert int(units["received"].sum()) == 12
    assert int(units["overdue"].sum()) == 4
    from openpyxl import load_workbook  # noqa: PLC0415

    book = load_workbook(next(p for p in paths if p.suffix == ".xlsx"), read_only=True)
    assert set(csvs) == set(book.sheetnames)
    rows = list(book["wards"].iter_rows(values_only=True))
    assert rows[0][0] == "ward_code"
    assert len(rows) == 5


def test_map_scale_bars_take_round_lengths_in_local_words() -> None:
    assert nice_length(1800.0) == 1000.0
    assert nice_length(2600.0) == 2000.0
    assert nice_length(740.0) == 500.0
    assert scale_label(2000.0, "vi") == "2 km"
    assert scale_label(500.0, "en") == "500 m"
    assert scale_label(2500.0, "vi") == "2,5 km"
