"""Words of the council briefing in Vietnamese (default) and English, and number formatting.

Vietnamese numbers group thousands with a dot and use a decimal comma (1.234,5); English the
other way round. Times people read are local (Asia/Ho_Chi_Minh, UTC+7).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from api.schemas import categories
from simulations.documents import read_document
from twin.crs import LOCAL_OFFSET

Lang = Literal["vi", "en"]

#: Every word of the briefing, by section: ``words.toml`` beside this module, read once.
WORDS: dict[str, dict[str, list[str]]] = read_document(
    Path(__file__).with_name("words.toml"), "briefing words"
)


def pairs(section: str) -> dict[str, tuple[str, str]]:
    """Return a section of `WORDS` whose entries are (Vietnamese, English)."""
    return {key: (vi, en) for key, (vi, en) in WORDS[section].items()}


#: Headings, labels and sentences of the page (`t`).
T = pairs("text")
#: Headline KPIs of a scenario comparison: name → (Vietnamese, English, unit vi, unit en, better
#: "lower"/"higher"). A unit "%" means the KPI is a share in [0, 1] shown as a percentage.
KPI: dict[str, tuple[str, str, str, str, str]] = {
    name: (vi, en, unit_vi, unit_en, better)
    for name, (vi, en, unit_vi, unit_en, better) in WORDS["kpi"].items()
}
#: Why named scenario runs are not presented (`collect.scenario_refusal`), in words.
REFUSALS = pairs("refusals")
#: Datasets of the methods page: key → (Vietnamese, English).
DATASETS = pairs("datasets")
#: Who the report is addressed to (`twin brief --to`): since 1 July 2025 the wards report to the province.
ADDRESSEES = pairs("addressees")


def source_text(src: dict[str, Any], lang: Lang) -> str:
    """Return the source column of the methods page's data table in `lang`."""
    vi = lang == "vi"
    name, count = src["name"], src.get("count")
    if name == "cameras":
        return (
            f"danh mục sinh tự động ({count} vị trí, {src.get('connected')} kết nối)"
            if vi
            else f"generated registry ({count} sites, {src.get('connected')} connected)"
        )
    if name == "events":
        share = pct(float(src.get("share") or 0.0), lang)
        return (
            f"{num(int(count or 0), lang)} sự kiện ({share} gắn nhãn tổng hợp)"
            if vi
            else f"{num(int(count or 0), lang)} events ({share} labelled synthetic)"
        )
    if name == "reports":
        return f"{num(int(count or 0), lang)} {'phản ánh' if vi else 'requests'}"
    text = str(src.get("source", ""))
    if name == "wards_2025" and "sapnhap" in text:  # the provenance's URL and its English note
        base = text.split(" (", maxsplit=1)[0]
        return (
            f"{base} (ranh giới theo bản đồ tham chiếu sapnhap.bando.com.vn)"
            if vi
            else f"{base} (boundaries from the sapnhap.bando.com.vn reference map)"
        )
    if name == "roads" and src.get("kind") == "synthetic":
        return (
            "sinh tự động bên trong ranh giới thật của các phường (lưới phố dày ở khu đô thị cũ, các "
            "quốc lộ, các cầu qua sông Kỳ Cùng); không phải số liệu khảo sát"
            if vi
            else "generated inside the real ward boundaries (dense streets in the old urban core, the "
            "national roads, the Kỳ Cùng bridges); not surveyed"
        )
    return text


def place_date(ts: datetime, lang: Lang) -> str:
    """Return the place and date line of an administrative document (Decree 30/2020/NĐ-CP), local time."""
    loc = ts + LOCAL_OFFSET
    if lang == "vi":
        return f"Lạng Sơn, ngày {loc:%d} tháng {loc:%m} năm {loc:%Y}"
    return f"Lạng Sơn, {loc.day} {loc:%B %Y}"


def duration(seconds: float, lang: Lang) -> str:
    """Return a length of time in hours (under two days) or days, in words of `lang`."""
    hours = seconds / 3600
    if hours < 48:
        return f"{num(hours, lang, 1)} {'giờ' if lang == 'vi' else 'hours'}"
    return f"{num(hours / 24, lang, 1)} {'ngày' if lang == 'vi' else 'days'}"


def t(key: str, lang: Lang) -> str:
    """Return the text of `key` in `lang`."""
    vi, en = T[key]
    return vi if lang == "vi" else en


def category(name: str, lang: Lang) -> str:
    """Return the readable name of a category (event or Open311 service), from the category table."""
    return categories.table().label(name, lang)


def num(x: float | int | None, lang: Lang, digits: int = 0) -> str:
    """Format a number with the language's separators (``–`` for missing)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    text = f"{x:,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")
    return text


def pct(x: float | None, lang: Lang, digits: int = 0) -> str:
    """Format a share in [0, 1] as a percentage."""
    if x is None or not math.isfinite(x):
        return "–"
    return f"{num(100.0 * x, lang, digits)}\u00a0%"  # no line break between a number and its %


def local(ts: datetime, lang: Lang, with_time: bool = True) -> str:
    """Format an aware UTC time as local Lạng Sơn time (UTC+7)."""
    loc = ts + LOCAL_OFFSET
    day = f"{loc:%d/%m/%Y}" if lang == "vi" else f"{loc:%d %b %Y}"
    return f"{day} {loc:%H:%M}" if with_time else day
