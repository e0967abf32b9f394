"""Write the council briefing: figures to PNG, text and tables to HTML (Jinja2), HTML to PDF (WeasyPrint).

`write_briefing` takes the `Facts` of a period and writes ``briefing.html`` (one self-contained file:
the figures are inline ``data:`` URIs), ``briefing.pdf`` and the structured tables (``tables/*.csv``,
``briefing.xlsx``) into a folder. The PDF embeds a font with the Vietnamese letters
(`figures.font_files`).
"""

from __future__ import annotations

import base64
import logging
import math
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pandas as pd
import weasyprint

from api.briefing import figures, tables
from api.briefing.collect import MIN_HOTSPOT_EVENTS, MIN_SEEDS, Facts, headline
from api.briefing.text import (
    ADDRESSEES,
    DATASETS,
    KPI,
    REFUSALS,
    Lang,
    T,
    category,
    duration,
    local,
    num,
    pct,
    place_date,
    source_text,
    t,
)
from api.services.incidents import STATUS_LABELS
from simulations.traffic.forecast import METHODS
from twin.city import City
from twin.errors import InputError

_TEMPLATE = Path(__file__).with_name("briefing.html")


@dataclass(frozen=True)
class Briefing:
    """What `write_briefing` wrote."""

    html: Path
    pdf: Path
    images: list[str]  # the figures drawn (inline in the HTML)
    summary: list[str]
    tables: list[Path]  # tables/*.csv and briefing.xlsx


def coverage(facts: Facts, lang: Lang) -> str:
    """Return the sentence stating what data the period actually holds (not the period's length)."""
    period = duration(facts.period.length.total_seconds(), lang)
    obs = facts.observed
    if obs.first is None or obs.last is None:
        return (
            f"{t('coverage', lang)}: không có sự kiện nào trong kỳ báo cáo dài {period}."
            if lang == "vi"
            else f"{t('coverage', lang)}: no event in the {period} reporting period."
        )
    span = duration(obs.span.total_seconds(), lang)
    share = pct(obs.span / facts.period.length, lang, 1)
    return (
        f"{t('coverage', lang)}: dữ liệu từ {local(obs.first, lang)} đến {local(obs.last, lang)} "
        f"({span} có dữ liệu trong kỳ báo cáo dài {period}, tức {share}); mọi tỷ lệ tính trên thời gian này."
        if lang == "vi"
        else f"{t('coverage', lang)}: data from {local(obs.first, lang)} to {local(obs.last, lang)} "
        f"({span} of data in a reporting period of {period}, {share}); every rate is over this time."
    )


def _change(now: float, before: float, lang: Lang, digits: int = 0) -> str:
    """Return "+12 (+30 %)" for a change from `before` to `now` (– when either is unknown)."""
    if not (math.isfinite(now) and math.isfinite(before)):
        return "–"
    d = now - before
    sign = "+" if d > 0 else ""
    rel = f" ({sign}{pct(d / before, lang)})" if before else ""
    return f"{sign}{num(d, lang, digits)}{rel}"


def summary(facts: Facts, lang: Lang) -> list[str]:
    """Return the plain-language summary: a few short sentences a council member reads first."""
    vi = lang == "vi"
    out: list[str] = []
    n = len(facts.events)
    obs = facts.observed
    if n:
        top = facts.by_category.index[0]
        share = facts.by_category.iloc[0] / n
        ward = facts.by_ward.iloc[0]
        rate = obs.per_day(n)
        per_day = (
            (f", trung bình {num(rate, lang, 1)} sự kiện mỗi ngày có dữ liệu" if vi
             else f", {num(rate, lang, 1)} a day of data")
            if math.isfinite(rate) else ""
        )  # fmt: skip
        out.append(
            f"Trong {facts.period.name(lang)}, camera ghi nhận {num(n, lang)} sự kiện{per_day}; "
            "nhiều nhất là "
            f"{category(top, lang).lower()} ({pct(share, lang)}). Phường {ward['name']} có nhiều sự kiện "
            f"nhất ({num(ward['total'], lang)}, tức {num(ward['per_10k'], lang, 1)} trên 10.000 dân)."
            if vi
            else f"In {facts.period.name(lang)} the cameras recorded {num(n, lang)} events{per_day}, most of "
            f"them {category(top, lang).lower()} ({pct(share, lang)}). {ward['name']} ward had the most "
            f"({num(ward['total'], lang)}, {num(ward['per_10k'], lang, 1)} per 10,000 people)."
        )
    else:
        out.append(t("no_events", lang))
    prev = facts.previous
    if prev is not None and n and prev.events:
        now_rate, before_rate = obs.per_day(n), prev.observed.per_day(prev.events)
        if math.isfinite(now_rate) and math.isfinite(before_rate) and before_rate:
            change = pct((now_rate - before_rate) / before_rate, lang)
            up = now_rate >= before_rate
            out.append(
                "So với kỳ trước, số sự kiện mỗi ngày có dữ liệu "
                f"{'tăng' if up else 'giảm'} {change.lstrip('-')}."
                if vi
                else f"Per day of data, events {'rose' if up else 'fell'} by {change.lstrip('-')} on the "
                "previous period."
            )
    if len(facts.hot):
        places = ", ".join(dict.fromkeys(_place(r, lang) for _, r in facts.hot.head(3).iterrows()))
        out.append(
            f"Phát hiện {len(facts.hot)} điểm nóng (nơi có số sự kiện cao bất thường), nổi bật: {places}."
            if vi
            else f"{len(facts.hot)} {'hotspot' if len(facts.hot) == 1 else 'hotspots'} (places with "
            f"unusually many events) {'was' if len(facts.hot) == 1 else 'were'} found: {places}."
        )
    online = facts.cameras_online
    cam = f"{online}/{facts.cameras_connected}" if online is not None else f"–/{facts.cameras_connected}"
    out.append(
        f"{cam} camera đã kết nối đang hoạt động; toàn địa bàn có {facts.cameras_total} camera, "
        f"{facts.cameras_total - facts.cameras_connected} camera chưa kết nối với IOC."
        + (
            f" Tỷ lệ hoạt động trung bình trong thời gian quan sát: {pct(facts.availability, lang)}."
            if facts.availability
            else ""
        )
        if vi
        else f"{cam} connected cameras are online; the area has {facts.cameras_total} cameras, "
        f"{facts.cameras_total - facts.cameras_connected} of them not yet connected to the IOC."
        + (
            f" Mean availability over the observed time: {pct(facts.availability, lang)}."
            if facts.availability
            else ""
        )
    )
    r = facts.reports
    if len(r):
        done = r["status"].isin(["resolved", "closed"])
        on_time = int(r["on_time"].sum())
        overdue = int(r["overdue"].sum())
        out.append(
            f"Người dân gửi {num(len(r), lang)} phản ánh; {num(int(done.sum()), lang)} đã xử lý xong, "
            f"{num(on_time, lang)} đúng hạn ({pct(on_time / len(r), lang)}); {num(overdue, lang)} phản ánh "
            "đã quá hạn mà chưa xử lý xong."
            if vi
            else f"Citizens filed {num(len(r), lang)} {'report' if len(r) == 1 else 'reports'}; "
            f"{num(int(done.sum()), lang)} closed, "
            f"{num(on_time, lang)} on time ({pct(on_time / len(r), lang)}); {num(overdue, lang)} are past "
            "their target and still open."
        )
    else:
        out.append(t("no_reports", lang))
    sc = facts.scenario
    if sc is not None:
        for row in _rows(headline(sc.kpis, list(KPI)))[:2]:
            vi_name, en_name, unit_vi, unit_en, _ = KPI[str(row.kpi)]
            name, unit = (vi_name, unit_vi) if vi else (en_name, unit_en)
            change = pct(row.delta / abs(row.a), lang) if row.a else num(row.delta, lang, 1)
            a_txt, b_txt = _value(row.a, unit, lang), _value(row.b, unit, lang)
            out.append(
                f"Kịch bản “{sc.name_b}”: {name.lower()} thay đổi {change} (từ {a_txt} thành {b_txt})"
                + ("." if row.significant else "; khác biệt chưa chắc chắn về thống kê.")
                if vi
                else f"Scenario “{sc.name_b}”: {name.lower()} changes by {change} (from {a_txt} to {b_txt})"
                + ("." if row.significant else "; the difference is not statistically conclusive.")
            )
    return out


def _place(row: pd.Series, lang: Lang) -> str:
    """Return a hotspot's place in words: the nearest street or site and the ward."""
    ward = str(row.get("ward") or "")
    place = str(row.get("place") or "")
    ward_txt = (f"phường {ward}" if lang == "vi" else f"{ward} ward") if ward else ""
    return ", ".join(p for p in (place, ward_txt) if p) or "–"


def _value(x: float, unit: str, lang: Lang) -> str:
    """Return a KPI value with its unit; shares (unit "%") as percentages."""
    if unit == "%":
        return pct(x, lang, 1)
    digits = 3 if abs(x) < 1 else 1
    return f"{num(x, lang, digits)} {unit}".strip()


@dataclass(frozen=True)
class _Row:
    kpi: str
    a: float
    b: float
    delta: float
    significant: bool
    delta_ci_low: float
    delta_ci_high: float


def _rows(table: pd.DataFrame) -> list[_Row]:
    def f(v: object) -> float:
        return float(v) if isinstance(v, int | float) else math.nan

    return [
        _Row(str(r["kpi"]), f(r["a"]), f(r["b"]), f(r["delta"]), bool(r["significant"]),
             f(r.get("delta_ci_low")), f(r.get("delta_ci_high")))
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
    """The KPI table: A, B, the change and the 95 % interval of the paired difference B − A."""
    sc = facts.scenario
    assert sc is not None
    rows = headline(sc.kpis, list(KPI))
    out = []
    for row in _rows(rows if len(rows) else sc.kpis.head(12)):
        vi_name, en_name, unit_vi, unit_en, better = KPI.get(
            str(row.kpi), (str(row.kpi), str(row.kpi), "", "", "lower")
        )
        name, unit = (vi_name, unit_vi) if lang == "vi" else (en_name, unit_en)
        label = name + (f" ({unit})" if unit else "")
        scale = 100.0 if unit == "%" else 1.0
        digits = 3 if abs(row.a * scale) < 1 else 1
        verdict, css = _verdict(row, better, lang)
        ci = "–"
        if math.isfinite(row.delta_ci_low) and math.isfinite(row.delta_ci_high):
            low, high = (
                num(row.delta_ci_low * scale, lang, digits),
                num(row.delta_ci_high * scale, lang, digits),
            )
            ci = f"{low} đến {high}"
            ci = ci if lang == "vi" else ci.replace(" đến ", " to ")
        delta = num(row.delta * scale, lang, digits) + (
            f" ({pct(row.delta / abs(row.a), lang, 1)})" if row.a and unit != "%" else ""
        )
        out.append(
            {
                "label": label,
                "a": num(row.a * scale, lang, digits),
                "b": num(row.b * scale, lang, digits),
                "delta": delta,
                "ci": ci,
                "verdict": verdict,
                "css": css,
            }
        )
    return out


def _comparison(facts: Facts, lang: Lang) -> list[dict[str, str]]:
    """This period against the previous one: counts, rates per day of data, on-time share."""
    prev = facts.previous
    if prev is None:
        return []
    n, obs = len(facts.events), facts.observed
    r = facts.reports
    on_time = int(r["on_time"].sum()) if len(r) else 0
    rows = [
        (t("events_total", lang), float(n), float(prev.events), 0),
        (f"{t('events_total', lang)} — {t('per_day', lang)}", obs.per_day(n),
         prev.observed.per_day(prev.events), 1),
        (t("reports_total", lang), float(len(r)), float(prev.reports), 0),
        (t("on_time", lang), float(on_time), float(prev.reports_on_time), 0),
        (t("hotspots", lang), float(len(facts.hot)), float(prev.hotspots), 0),
    ]  # fmt: skip
    out = [
        {"label": label, "now": num(a, lang, d), "before": num(b, lang, d), "change": _change(a, b, lang, d)}
        for label, a, b, d in rows
    ]
    if facts.availability is not None or prev.availability is not None:
        now_a = facts.availability if facts.availability is not None else math.nan
        before_a = prev.availability if prev.availability is not None else math.nan
        change = "–"
        if math.isfinite(now_a) and math.isfinite(before_a):
            pts = 100 * (now_a - before_a)
            change = f"{'+' if pts > 0 else ''}{num(pts, lang, 1)} {'điểm %' if lang == 'vi' else 'points'}"
        out.append({"label": t("availability", lang), "now": pct(now_a, lang, 1),
                    "before": pct(before_a, lang, 1), "change": change})  # fmt: skip
    return out


def _unit_name(facts: Facts, unit_id: str, lang: Lang) -> str:
    unit = facts.directory.units.get(unit_id)
    if unit is None:
        return unit_id or "–"
    return unit.name_vi if lang == "vi" else unit.name_en


def _hours(h: float, lang: Lang) -> str:
    """Return a target time in hours or days ("48 giờ", "3 ngày")."""
    if not math.isfinite(h):
        return "–"
    if h >= 48 and h % 24 == 0:
        return f"{num(h / 24, lang)} {'ngày' if lang == 'vi' else 'days'}"
    return f"{num(h, lang, 0 if h == int(h) else 1)} {'giờ' if lang == 'vi' else 'hours'}"


def _unit_rows(facts: Facts, lang: Lang) -> list[dict[str, str]]:
    """Citizen reports per handling unit against their targets (units.toml)."""
    r = facts.reports
    out = []
    for unit_id, g in r.groupby("unit_id", sort=False):
        done = g["status"].isin(["resolved", "closed"])
        on_time = int(g["on_time"].sum())
        targets = sorted(set(g["target_hours"].dropna()))
        out.append(
            {
                "unit": _unit_name(facts, str(unit_id), lang),
                "received": num(len(g), lang),
                "on_time": num(on_time, lang),
                "late": num(int(done.sum()) - on_time, lang),
                "open": num(int((~done).sum()), lang),
                "overdue": num(int(g["overdue"].sum()), lang),
                "share": pct(on_time / len(g), lang),
                "target": ", ".join(_hours(h, lang) for h in targets) or "–",
                "median": num(g.loc[done, "hours_to_close"].median(), lang, 1) if done.any() else "–",
                "_n": str(len(g)),
            }
        )
    return sorted(out, key=lambda u: -int(u["_n"]))


def _status_rows(facts: Facts, lang: Lang) -> list[dict[str, str]]:
    counts = facts.reports["status"].value_counts()
    return [
        {"status": STATUS_LABELS[s][0 if lang == "vi" else 1], "count": num(int(counts[s]), lang)}
        for s in STATUS_LABELS
        if s in counts.index
    ]


def _ward_sections(facts: Facts, lang: Lang) -> list[dict[str, object]]:
    """One section per ward: its events against the previous period, hotspots and citizen reports."""
    cats = [
        c for c in facts.by_ward.columns if c not in ("name", "population", "total", "per_10k", "per_day")
    ]
    out: list[dict[str, object]] = []
    prev = facts.previous
    for code, w in facts.by_ward.iterrows():
        before = float(prev.by_ward.get(code, 0)) if prev is not None else math.nan
        top = max(cats, key=lambda c: w[c]) if cats and w["total"] > 0 else ""
        hot = facts.hot[facts.hot["ward_code"] == code]
        reps = facts.reports[facts.reports["ward_code"] == code]
        done = reps["status"].isin(["resolved", "closed"])
        out.append(
            {
                "name": str(w["name"]),
                "population": num(w["population"], lang),
                "events": num(w["total"], lang),
                "per_day": num(w["per_day"], lang, 1),
                "per_10k": num(w["per_10k"], lang, 1),
                "before": num(before, lang),
                "change": _change(float(w["total"]), before, lang),
                "top": category(top, lang) if top else "–",
                "line": t("ward_line", lang).format(
                    events=num(w["total"], lang),
                    before=num(before, lang),
                    change=_change(float(w["total"]), before, lang),
                    top=category(top, lang).lower() if top else "–",
                ),
                "hot": [
                    {"place": _place(h, lang), "count": num(h["count"], lang)}
                    for _, h in hot.head(5).iterrows()
                ],
                "reports": num(len(reps), lang),
                "closed": num(int(done.sum()), lang),
                "on_time": num(int(reps["on_time"].sum()), lang),
                "overdue": num(int(reps["overdue"].sum()), lang),
            }
        )
    return out


def recommendations(facts: Facts, lang: Lang) -> tuple[list[str], list[str]]:
    """Return (recommendations, tasks for the next period), drawn from this period's facts."""
    vi = lang == "vi"
    recs: list[str] = []
    tasks: list[str] = []
    nxt = facts.period.previous()  # only for its length; the next period follows this one
    next_end = facts.period.end + (facts.period.end - nxt.end)
    overdue = facts.reports.loc[facts.reports["overdue"].astype(bool)]
    by_unit = overdue.groupby("unit_id").size().sort_values(ascending=False)
    for unit_id, n in by_unit.items():
        name = _unit_name(facts, str(unit_id), lang)
        recs.append(
            f"Đề nghị {name} xử lý dứt điểm {num(int(n), lang)} phản ánh đã quá hạn "
            "và báo cáo kết quả về IOC."
            if vi
            else f"{name} to close its {num(int(n), lang)} overdue reports and report back to the IOC."
        )
    for _, h in facts.hot.head(3).iterrows():
        cat = facts.events.loc[facts.events["cell"] == h.name, "category"]
        what = category(str(cat.mode().iloc[0]), lang).lower() if len(cat) else ""
        recs.append(
            f"Tăng cường kiểm tra, phân luồng tại {_place(h, lang)} "
            f"({num(h['count'], lang)} sự kiện, chủ yếu {what})."
            if vi
            else f"More patrols and traffic management at {_place(h, lang)} ({num(h['count'], lang)} events, "
            f"mostly {what})."
        )
    offline = None if facts.cameras_online is None else facts.cameras_connected - facts.cameras_online
    if offline:
        recs.append(
            f"Tổ kỹ thuật IOC kiểm tra, khôi phục {offline} camera đã kết nối nhưng không hoạt động."
            if vi
            else f"IOC Technical Team to check and restore the {offline} connected cameras that are offline."
        )
    if facts.observed.span < 0.9 * facts.period.length:
        recs.append(
            "Bảo đảm thu thập dữ liệu liên tục: kỳ này chỉ có dữ liệu trong "
            f"{pct(facts.observed.span / facts.period.length, lang)} thời gian, "
            "số liệu chưa đại diện cho cả kỳ."
            if vi
            else "Keep the data flowing: this period has data for only "
            f"{pct(facts.observed.span / facts.period.length, lang)} of its time, so its figures do not "
            "represent the whole period."
        )
    if not recs:
        recs.append("Duy trì công tác theo dõi, xử lý như kỳ này." if vi else "Keep up this period's work.")
    due = local(next_end, lang, with_time=False)
    tasks.append(
        f"Các đơn vị cập nhật kết quả xử lý phản ánh trên hệ thống trước khi chốt số liệu kỳ tới ({due})."
        if vi
        else f"Units to record the outcome of every report in the system before the next cut-off ({due})."
    )
    if len(facts.hot):
        tasks.append(
            "IOC theo dõi các điểm nóng nêu trên và báo cáo diễn biến trong kỳ tới."
            if vi
            else "The IOC to follow the hotspots above and report on them next period."
        )
    unconnected = facts.cameras_total - facts.cameras_connected
    if unconnected:
        tasks.append(
            f"Lập kế hoạch kết nối thêm camera trong số {unconnected} camera "
            "chưa kết nối (xếp hạng bằng lệnh twin cameras next)."
            if vi
            else f"Plan the next cameras to connect among the {unconnected} "
            "not yet connected (ranked by twin cameras next)."
        )
    return recs, tasks


def _forecast(facts: Facts, lang: Lang) -> dict[str, object] | None:
    """The "next hour" part of the camera section: the forecast per horizon against both baselines."""
    fc = facts.forecast
    if not fc:
        return None
    rests = fc.get("rests_on") or {}
    if rests.get("calibration"):
        share = pct((rests.get("held_out") or {}).get("geh_lt5_share"), lang)
        basis = t("fc_calibrated", lang).format(job=rests["calibration"], share=share)
    else:
        basis = t("fc_prior", lang)
    rows, links = [], 0
    for h in fc.get("horizons_min", []):
        tot = fc["counted_totals_veh_h"].get(str(h), {})
        err = fc.get("backtest", {}).get("errors", {}).get(str(h), {})
        links = max(links, int(tot.get("links", 0)))
        mae = [f"{num(e['mae_pct'], lang)} %" if e else "–" for e in (err.get(m) for m in METHODS)]
        rows.append({"h": f"+{h} min", "nowcast": num(tot.get("nowcast"), lang),
                     "persistence": num(tot.get("persistence"), lang),
                     "historical": num(tot.get("historical"), lang), "mae": " / ".join(mae)})  # fmt: skip
    made, as_of = (local(datetime.fromisoformat(fc[k]), lang) for k in ("made_at", "as_of"))
    return {"intro": t("fc_intro", lang).format(made=made, as_of=as_of, rests=basis), "rows": rows,
            "note": t("fc_note", lang).format(n=links)}  # fmt: skip


def _methods(facts: Facts, lang: Lang) -> list[str]:
    share = pct(facts.synthetic_share, lang)
    before = facts.previous.period.bounds(lang) if facts.previous else "–"
    if lang == "vi":
        return [
            "Ranh giới 4 phường sau sắp xếp 2025 (Đông Kinh, Lương Văn Tri, Tam Thanh, Kỳ Lừa) và dân số "
            "là số liệu thật (nguồn công khai, xem bảng dưới).",
            "Mạng lưới đường, vị trí 238 camera (50 camera kết nối) là dữ liệu TỔNG HỢP do hệ thống sinh ra "
            "bên trong ranh giới thật, vì không có dữ liệu công khai; không phải vị trí camera thật.",
            "Sự kiện từ camera và phản ánh được gắn nhãn tổng hợp khi đến từ bộ phát lại mô phỏng; tỷ lệ sự "
            f"kiện tổng hợp trong kỳ: {share}.",
            f"{facts.period.rule(lang)} Kỳ trước: {before}.",
            "Mọi tỷ lệ (sự kiện mỗi ngày, tỷ lệ hoạt động của camera) tính trên thời gian thực có dữ liệu, "
            "không tính trên độ dài kỳ báo cáo.",
            "Điểm nóng: thống kê Getis-Ord Gi* trên lưới lục giác H3 độ phân giải 9 (khoảng 0,1 km²), lân "
            "cận 1 vòng, mức ý nghĩa 5 % sau hiệu chỉnh Benjamini–Hochberg; chỉ nêu ô có từ "
            f"{MIN_HOTSPOT_EVENTS} sự kiện trở lên, gọi tên theo phường và đường phố hoặc địa điểm gần nhất "
            "(trong 250 m).",
            "Phản ánh: đơn vị xử lý và thời hạn theo quy chế phân công (api/services/units.toml); đúng hạn "
            "là xử lý xong trong thời hạn của lĩnh vực.",
            "Kịch bản: kết quả MÔ PHỎNG (giao thông hỗn hợp xe máy/ô tô, thu gom rác); chỉ trình bày khi "
            f"có phương án hiện trạng đã chạy xong và ít nhất {MIN_SEEDS} lượt chạy ngẫu nhiên chung; so "
            "sánh theo cặp trên cùng lượt chạy, khoảng tin cậy 95 % của chênh lệch.",
            "Thời gian: lưu trữ theo giờ UTC, hiển thị theo giờ Việt Nam (UTC+7).",
        ]
    return [
        "The boundaries of the 4 wards after the 2025 reform (Đông Kinh, Lương Văn Tri, Tam Thanh, Kỳ Lừa) "
        "and their population are real data (public sources, see the table).",
        "The road network and the positions of the 238 cameras (50 connected) are SYNTHETIC, generated "
        "inside the real boundaries because no public data exists; they are not real camera sites.",
        "Camera events and citizen reports are labelled synthetic when they come from the simulated "
        f"replayer; synthetic share of this period's events: {share}.",
        f"{facts.period.rule(lang)} Previous period: {before}.",
        "Every rate (events per day, camera availability) is over the time that actually has data, not "
        "over the length of the reporting period.",
        "Hotspots: Getis-Ord Gi* on the H3 grid at resolution 9 (about 0.1 km²), 1-ring neighbours, 5 % "
        f"level after Benjamini–Hochberg correction; only cells with at least {MIN_HOTSPOT_EVENTS} events "
        "are listed, named by ward and the nearest street or site (within 250 m).",
        "Citizen reports: handling unit and target time from the routing rules (api/services/units.toml); "
        "on time means closed within the service's target.",
        "Scenarios are SIMULATION results (mixed motorbike/car traffic, waste collection), presented only "
        f"beside a finished baseline with at least {MIN_SEEDS} random runs in common; compared pairwise on "
        "the same runs, with the 95 % interval of the difference.",
        "Times are stored in UTC and shown in Vietnam time (UTC+7).",
    ]


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_briefing(
    facts: Facts, city: City, out_dir: Path, lang: Lang = "vi", to: str = "province"
) -> Briefing:
    """Write ``briefing.html`` (one file, images inline), ``briefing.pdf`` and the tables into `out_dir`.

    `to` is the addressee: ``province`` (the Provincial People's Committee, default) or one ward's
    committee (``dong-kinh``, ``luong-van-tri``, ``tam-thanh``, ``ky-lua``; see `ADDRESSEES`). The
    tables (`api.briefing.tables`) go to ``tables/*.csv`` and ``briefing.xlsx``.
    """
    if to not in ADDRESSEES:
        raise InputError("to", f"unknown addressee {to!r}", f"use one of {', '.join(ADDRESSEES)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="briefing-img-") as tmp:
        img_dir = Path(tmp)
        drawn = {
            "events_map": figures.events_map(facts, city, lang, img_dir / "events_map.png")
            if len(facts.events)
            else None,
            "categories": figures.category_chart(facts, lang, img_dir / "categories.png"),
            "days": figures.days_chart(facts, lang, img_dir / "days.png"),
            "cameras": figures.camera_chart(facts, lang, img_dir / "cameras.png"),
            "scenario_map": figures.scenario_map(facts, city, lang, img_dir / "scenario_map.png"),
        }
        images = {k: _data_uri(v) for k, v in drawn.items() if v is not None}
    regular, bold = figures.font_files()
    italics = figures.italic_files(regular)
    n = len(facts.events)
    categories = [
        {"name": category(str(c), lang), "count": num(int(v), lang), "share": pct(v / n, lang, 1)}
        for c, v in facts.by_category.items()
    ]
    hot = [
        {"place": _place(r, lang), "count": num(r["count"], lang), "z": num(r["gi_z"], lang, 2)}
        for _, r in facts.hot.head(10).iterrows()
    ]
    scenario = None
    if facts.scenario is not None:
        sc = facts.scenario
        scenario = {
            "name_a": sc.name_a,
            "name_b": sc.name_b,
            "seeds": sc.seeds,
            "ids": f"A = {sc.id_a}, B = {sc.id_b}",
            "kpis": _scenario_rows(facts, lang),
        }
    refused = None
    if facts.scenario_refused_code is not None:
        vi_why, en_why = REFUSALS[facts.scenario_refused_code]
        why = (vi_why if lang == "vi" else en_why).format(n=MIN_SEEDS)
        refused = t("refused", lang).format(why=why)
    kind_text = {
        "real": t("real", lang),
        "synthetic": t("synthetic", lang),
        "simulated": t("simulated", lang),
    }
    recs, tasks = recommendations(facts, lang)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    fonts = {
        "font_regular": regular.as_uri(),
        "font_bold": bold.as_uri(),
        "font_italic": italics[0].as_uri() if italics else None,
        "font_bold_italic": italics[1].as_uri() if italics else None,
    }
    page = env.from_string(_TEMPLATE.read_text(encoding="utf-8"))
    words = {
        "lang": lang,
        "tr": {k: t(k, lang) for k in T},
        "period_name": facts.period.name(lang),
        "period": facts.period.bounds(lang),
        "period_rule": facts.period.rule(lang),
        "generated": local(datetime.now(UTC), lang),
        "place_date": place_date(datetime.now(UTC), lang),
        "addressee": ADDRESSEES[to][0 if lang == "vi" else 1],
        "coverage": coverage(facts, lang),
        "synthetic": facts.synthetic_share > 0 or facts.scenario is not None or facts.cameras_total > 0,
        "summary": summary(facts, lang),
        "comparison": _comparison(facts, lang),
        "prev_period": facts.previous.period.bounds(lang) if facts.previous else "",
        "events_total": n,
        "wards": _ward_sections(facts, lang),
        "categories": categories,
        "hot": hot,
        "hot_left_out": t("hot_left_out", lang).format(n=facts.hot_left_out, m=MIN_HOTSPOT_EVENTS)
        if facts.hot_left_out
        else "",
        "reports_total": len(facts.reports),
        "units": _unit_rows(facts, lang),
        "statuses": _status_rows(facts, lang),
        "alerts": ", ".join(f"{k}: {v}" for k, v in sorted(facts.alerts.items())),
        "cam": {
            "total": facts.cameras_total,
            "connected": facts.cameras_connected,
            "online": "–" if facts.cameras_online is None else facts.cameras_online,
            "availability": pct(facts.availability, lang, 1),
        },
        "scenario": scenario,
        "forecast": _forecast(facts, lang),
        "refused": refused,
        "recommendations": recs,
        "tasks": tasks,
        "img": images | {k: "" for k in drawn if k not in images},
        "methods": _methods(facts, lang),
        "sources": [
            {
                "name": DATASETS.get(s["name"], (s["name"], s["name"]))[0 if lang == "vi" else 1],
                "kind": kind_text.get(s["kind"], s["kind"]),
                "source": source_text(s, lang),
            }
            for s in facts.sources
        ],
    }
    html_path = out_dir / "briefing.html"
    # one file: images inline and no font file named (it would point into this machine's disk)
    html_path.write_text(page.render(**words, **dict.fromkeys(fonts)), encoding="utf-8")
    html = page.render(**words, **fonts)
    pdf_path = out_dir / "briefing.pdf"
    # WeasyPrint logs every unsupported CSS property at WARNING; they are cosmetic here.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    weasyprint.HTML(string=html, base_url=str(out_dir)).write_pdf(pdf_path)
    written = tables.write_tables(tables.tables(facts, lang), out_dir, facts)
    return Briefing(html_path, pdf_path, list(images), summary(facts, lang), written)
