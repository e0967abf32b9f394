"""Write the council briefing: figures to PNG, text and tables to HTML (Jinja2), HTML to PDF (WeasyPrint).

`write_briefing` takes the `Facts` of a period and writes ``briefing.html``, ``briefing.pdf`` and
``img/*.png`` into a folder. The PDF embeds a font with the Vietnamese letters (`figures.font_files`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pandas as pd
import weasyprint

from api.briefing import figures
from api.briefing.collect import Facts, headline
from api.briefing.text import ADDRESSEES, KPI, Lang, T, category, duration, local, num, pct, place_date, t
from twin.city import City
from twin.errors import InputError

_TEMPLATE = Path(__file__).with_name("briefing.html")


@dataclass(frozen=True)
class Briefing:
    """What `write_briefing` wrote."""

    html: Path
    pdf: Path
    images: dict[str, Path]
    summary: list[str]


def coverage(facts: Facts, lang: Lang) -> str:
    """Return the sentence stating what data the period actually holds (not the period's length)."""
    period = duration((facts.end - facts.start).total_seconds(), lang)
    times = facts.events["time"] if len(facts.events) else pd.Series(dtype=object)
    if not len(times):
        return (
            f"{t('coverage', lang)}: không có sự kiện nào trong kỳ báo cáo dài {period}."
            if lang == "vi"
            else f"{t('coverage', lang)}: no event in the {period} reporting period."
        )
    first, last = min(times), max(times)
    span = duration((last - first).total_seconds(), lang)
    return (
        f"{t('coverage', lang)}: sự kiện từ {local(first, lang)} đến {local(last, lang)} "
        f"({span} có dữ liệu trong kỳ báo cáo dài {period}); mọi tỷ lệ tính trên thời gian này."
        if lang == "vi"
        else f"{t('coverage', lang)}: events from {local(first, lang)} to {local(last, lang)} "
        f"({span} of data in a {period} reporting period); every rate is over this time."
    )


def summary(facts: Facts, lang: Lang) -> list[str]:
    """Return the plain-language summary: a few short sentences a council member reads first."""
    vi = lang == "vi"
    out: list[str] = []
    n = len(facts.events)
    if n:
        first, last = min(facts.events["time"]), max(facts.events["time"])
        span = f"{local(first, lang)} – {local(last, lang)}"
        top = facts.by_category.index[0]
        share = facts.by_category.iloc[0] / n
        ward = facts.by_ward.iloc[0]
        out.append(
            f"Trong thời gian có dữ liệu ({span}), camera ghi nhận {num(n, lang)} sự kiện; nhiều nhất là "
            f"{category(top, lang).lower()} ({pct(share, lang)}). Phường "
            f"{ward['name']} có nhiều sự kiện nhất "
            f"({num(ward['total'], lang)}, tức {num(ward['per_10k'], lang, 1)} trên 10.000 dân)."
            if vi
            else f"In the time with data ({span}) the cameras recorded {num(n, lang)} events, most of them "
            f"{category(top, lang).lower()} ({pct(share, lang)}). {ward['name']} ward had the most "
            f"({num(ward['total'], lang)}, {num(ward['per_10k'], lang, 1)} per 10,000 people)."
        )
    else:
        out.append(t("no_events", lang))
    if len(facts.hot):
        wards = ", ".join(dict.fromkeys(w for w in facts.hot["ward"] if w))
        out.append(
            f"Phát hiện {len(facts.hot)} điểm nóng (ô có số sự kiện cao bất "
            f"thường), tập trung ở {wards or '–'}."
            if vi
            else f"{len(facts.hot)} hotspots (cells with unusually many events) "
            f"were found, in {wards or '–'}."
        )
    online = facts.cameras_online
    cam = f"{online}/{facts.cameras_connected}" if online is not None else f"–/{facts.cameras_connected}"
    out.append(
        f"{cam} camera đã kết nối đang hoạt động; thành phố có {facts.cameras_total} camera, "
        f"{facts.cameras_total - facts.cameras_connected} camera chưa kết nối với IOC."
        + (
            f" Tỷ lệ hoạt động trung bình trong thời gian quan sát: {pct(facts.availability, lang)}."
            if facts.availability
            else ""
        )
        if vi
        else f"{cam} connected cameras are online; the city has {facts.cameras_total} cameras, "
        f"{facts.cameras_total - facts.cameras_connected} of them not yet connected to the IOC."
        + (
            f" Mean availability over the observed time: {pct(facts.availability, lang)}."
            if facts.availability
            else ""
        )
    )
    r = facts.reports
    if len(r):
        closed = r[r["status"] == "closed"]
        med = closed["hours_to_close"].median() if len(closed) else math.nan
        out.append(
            f"Người dân gửi {num(len(r), lang)} phản ánh; {num(len(closed), lang)} đã xử lý xong"
            + (f", thời gian xử lý trung vị {num(med, lang, 1)} giờ." if len(closed) else ".")
            if vi
            else f"Citizens filed {num(len(r), lang)} reports; {num(len(closed), lang)} were closed"
            + (f", in a median of {num(med, lang, 1)} hours." if len(closed) else ".")
        )
    else:
        out.append(t("no_reports", lang))
    sc = facts.scenario
    if sc is not None:
        for row in _rows(headline(sc.kpis, list(KPI)))[: 0 if sc.id_a == sc.id_b else 2]:
            vi_name, en_name, unit, _ = KPI[str(row.kpi)]
            name = vi_name if vi else en_name
            change = pct(row.delta / abs(row.a), lang) if row.a else num(row.delta, lang, 1)
            out.append(
                f"Kịch bản “{sc.name_b}”: {name.lower()} thay đổi {change} "
                f"(từ {num(row.a, lang, 1)} thành {num(row.b, lang, 1)} {unit})"
                + ("." if row.significant else "; khác biệt chưa chắc chắn về thống kê.")
                if vi
                else f"Scenario “{sc.name_b}”: {name.lower()} changes by {change} "
                f"(from {num(row.a, lang, 1)} to {num(row.b, lang, 1)} {unit})"
                + ("." if row.significant else "; the difference is not statistically conclusive.")
            )
    return out


@dataclass(frozen=True)
class _Row:
    kpi: str
    a: float
    b: float
    delta: float
    significant: bool
    b_ci_low: float
    b_ci_high: float


def _rows(table: pd.DataFrame) -> list[_Row]:
    return [
        _Row(str(r["kpi"]), float(r["a"]), float(r["b"]), float(r["delta"]), bool(r["significant"]),
             float(r["b_ci_low"]), float(r["b_ci_high"]))
        for r in table.to_dict(orient="records")
    ]  # fmt: skip


def _verdict(row: _Row, better: str, lang: Lang) -> tuple[str, str]:
    if not math.isfinite(row.delta) or abs(row.delta) <= 1e-9 * max(1.0, abs(row.a)):
        return t("unchanged", lang), "uncertain"
    if not row.significant:
        return t("uncertain", lang), "uncertain"
    good = (row.delta < 0) == (better == "lower")
    return (t("better", lang), "better") if good else (t("worse", lang), "worse")


def _scenario_rows(facts: Facts, lang: Lang) -> list[dict[str, str]]:
    sc = facts.scenario
    assert sc is not None
    rows = headline(sc.kpis, list(KPI))
    out = []
    for row in _rows(rows if len(rows) else sc.kpis.head(12)):
        vi_name, en_name, unit, better = KPI.get(str(row.kpi), (str(row.kpi), str(row.kpi), "", "lower"))
        label = (vi_name if lang == "vi" else en_name) + (f" ({unit})" if unit else "")
        digits = 3 if abs(row.a) < 1 else 1
        verdict, css = _verdict(row, better, lang)
        ci = "–"
        if math.isfinite(row.b_ci_low) and math.isfinite(row.b_ci_high):
            ci = f"{num(row.b_ci_low, lang, digits)} – {num(row.b_ci_high, lang, digits)}"
        delta = num(row.delta, lang, digits) + (f" ({pct(row.delta / abs(row.a), lang, 1)})" if row.a else "")
        out.append(
            {
                "label": label,
                "a": num(row.a, lang, digits),
                "b": num(row.b, lang, digits),
                "delta": delta,
                "verdict": verdict,
                "css": css,
                "ci": ci,
            }
        )
    return out


def _methods(facts: Facts, lang: Lang) -> list[str]:
    if lang == "vi":
        items = [
            "Ranh giới 4 phường sau sắp xếp 2025 (Đông Kinh, Lương Văn Tri, Tam "
            "Thanh, Kỳ Lừa) và dân số là số "
            "liệu thật (nguồn công khai, xem bảng dưới).",
            "Mạng lưới đường, vị trí 238 camera (50 camera kết nối) là dữ liệu "
            "TỔNG HỢP do hệ thống sinh ra bên "
            "trong ranh giới thật, vì không có dữ liệu công khai; không phải vị trí camera thật.",
            "Sự kiện từ camera và phản ánh được gắn nhãn tổng hợp khi đến từ bộ "
            "phát lại mô phỏng; tỷ lệ sự kiện "
            f"tổng hợp trong kỳ: {pct(facts.synthetic_share, lang)}.",
            "Điểm nóng: thống kê Getis-Ord Gi* trên lưới lục giác H3 độ phân "
            "giải 9 (khoảng 0,1 km²), lân cận "
            "1 vòng, mức ý nghĩa 5 % sau hiệu chỉnh Benjamini–Hochberg.",
            "Thời gian xử lý phản ánh: từ lúc gửi đến lần cập nhật cuối của phản ánh đã đóng.",
            "Kịch bản: kết quả MÔ PHỎNG (giao thông hỗn hợp xe máy/ô tô, thu gom rác) với nhiều hạt giống "
            "ngẫu nhiên; so sánh theo cặp cùng hạt giống, khoảng tin cậy 95 %.",
            "Giờ hiển thị là giờ Việt Nam (UTC+7).",
        ]
    else:
        items = [
            "The boundaries of the 4 wards after the 2025 reform (Đông Kinh, "
            "Lương Văn Tri, Tam Thanh, Kỳ Lừa) "
            "and their population are real data (public sources, see the table).",
            "The road network and the positions of the 238 cameras (50 connected) are SYNTHETIC, generated "
            "inside the real boundaries because no public data exists; they are not real camera sites.",
            "Camera events and citizen reports are labelled synthetic when they come from the simulated "
            f"replayer; synthetic share of this period's events: {pct(facts.synthetic_share, lang)}.",
            "Hotspots: Getis-Ord Gi* on the H3 grid at resolution 9 (about 0.1 km²), 1-ring neighbours, 5 % "
            "level after Benjamini–Hochberg correction.",
            "Time to close a report: from submission to the last update of a closed report.",
            "Scenarios are SIMULATION results (mixed motorbike/car traffic, waste collection) over several "
            "random seeds, compared pairwise on the same seeds with 95 % confidence intervals.",
            "Times are Vietnam time (UTC+7).",
        ]
    return items


def write_briefing(
    facts: Facts, city: City, out_dir: Path, lang: Lang = "vi", to: str = "province"
) -> Briefing:
    """Write ``briefing.html``, ``briefing.pdf`` and their images into `out_dir`; return the paths.

    `to` is the addressee: ``province`` (the Provincial People's Committee, default) or one ward's
    committee (``dong-kinh``, ``luong-van-tri``, ``tam-thanh``, ``ky-lua``; see `ADDRESSEES`).
    """
    if to not in ADDRESSEES:
        raise InputError("to", f"unknown addressee {to!r}", f"use one of {', '.join(ADDRESSEES)}")
    out_dir = Path(out_dir)
    img_dir = out_dir / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    drawn = {
        "events_map": figures.events_map(facts, city, lang, img_dir / "events_map.png")
        if len(facts.events)
        else None,
        "categories": figures.category_chart(facts, lang, img_dir / "categories.png"),
        "days": figures.days_chart(facts, lang, img_dir / "days.png"),
        "cameras": figures.camera_chart(facts, lang, img_dir / "cameras.png"),
        "scenario_map": figures.scenario_map(facts, city, lang, img_dir / "scenario_map.png"),
    }
    images = {k: v for k, v in drawn.items() if v is not None}
    regular, bold = figures.font_files()
    n = len(facts.events)
    wards = []
    cats = [c for c in facts.by_ward.columns if c not in ("name", "population", "total", "per_10k")]
    for _, w in facts.by_ward.iterrows():
        top = max(cats, key=lambda c: w[c]) if cats and w["total"] > 0 else ""
        wards.append(
            {
                "name": w["name"],
                "population": num(w["population"], lang),
                "total": num(w["total"], lang),
                "per_10k": num(w["per_10k"], lang, 1),
                "top": category(top, lang) if top else "–",
            }
        )
    categories = [
        {"name": category(str(c), lang), "count": num(int(v), lang), "share": pct(v / n, lang, 1)}
        for c, v in facts.by_category.items()
    ]
    hot = [
        {"cell": c, "ward": r["ward"] or "–", "count": num(r["count"], lang), "z": num(r["gi_z"], lang, 2)}
        for c, r in facts.hot.head(10).iterrows()
    ]
    reports = []
    if len(facts.reports):
        for code, g in facts.reports.groupby("service_code"):
            closed = g[g["status"] == "closed"]
            reports.append(
                {
                    "name": category(str(code), lang),
                    "total": num(len(g), lang),
                    "closed": num(len(closed), lang),
                    "median": num(closed["hours_to_close"].median(), lang, 1) if len(closed) else "–",
                }
            )
    online = "–" if facts.cameras_online is None else str(facts.cameras_online)
    cards = [
        {"value": num(n, lang), "label": t("events_total", lang)},
        {"value": f"{online}/{facts.cameras_connected}", "label": t("cameras_online", lang)},
        {"value": num(len(facts.reports), lang), "label": t("reports_total", lang)},
        {"value": num(len(facts.hot), lang), "label": t("hotspots", lang)},
    ]
    scenario = None
    # A scenario is only presented as a comparison of two named runs, never one run on its own.
    if facts.scenario is not None and facts.scenario.id_a != facts.scenario.id_b:
        sc = facts.scenario
        scenario = {
            "name_a": sc.name_a,
            "name_b": sc.name_b,
            "seeds": sc.seeds,
            "ids": f"A = {sc.id_a}, B = {sc.id_b}",
            "kpis": _scenario_rows(facts, lang),
        }
    kind_text = {
        "real": t("real", lang),
        "synthetic": t("synthetic", lang),
        "simulated": t("simulated", lang),
    }
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(_TEMPLATE.read_text(encoding="utf-8")).render(
        lang=lang,
        tr={k: t(k, lang) for k in T},
        font_regular=regular.as_uri(),
        font_bold=bold.as_uri(),
        period=f"{local(facts.start, lang)} – {local(facts.end, lang)}",
        generated=local(datetime.now(UTC), lang),
        place_date=place_date(datetime.now(UTC), lang),
        addressee=ADDRESSEES[to][0 if lang == "vi" else 1],
        coverage=coverage(facts, lang),
        synthetic=facts.synthetic_share > 0 or facts.scenario is not None or facts.cameras_total > 0,
        summary=summary(facts, lang),
        cards=cards,
        events_total=n,
        wards=wards,
        categories=categories,
        hot=hot,
        reports_total=len(facts.reports),
        reports=reports,
        alerts=", ".join(f"{k}: {v}" for k, v in sorted(facts.alerts.items())),
        cam={
            "total": facts.cameras_total,
            "connected": facts.cameras_connected,
            "online": "–" if facts.cameras_online is None else facts.cameras_online,
            "availability": pct(facts.availability, lang, 1),
        },
        scenario=scenario,
        img={k: f"img/{v.name}" for k, v in images.items()} | {k: "" for k in drawn if k not in images},
        methods=_methods(facts, lang),
        sources=[{**s, "kind": kind_text.get(s["kind"], s["kind"])} for s in facts.sources],
    )
    html_path = out_dir / "briefing.html"
    html_path.write_text(html, encoding="utf-8")
    pdf_path = out_dir / "briefing.pdf"
    # WeasyPrint logs every unsupported CSS property at WARNING; they are cosmetic here.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    weasyprint.HTML(string=html, base_url=str(out_dir)).write_pdf(pdf_path)
    return Briefing(html_path, pdf_path, images, summary(facts, lang))


def frame_or_empty(df: pd.DataFrame | None) -> pd.DataFrame:
    """Return `df`, or an empty frame for None."""
    return df if df is not None else pd.DataFrame()
