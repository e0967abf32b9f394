"""Reporting periods and their cut-off dates, as the state reporting regime sets them.

Decree 09/2019/NĐ-CP of 24 January 2019 on the reporting regime of state administrative agencies
("Nghị định quy định về chế độ báo cáo của cơ quan hành chính nhà nước"; English text:
english.luatvietnam.vn, "Decree No. 09/2019/ND-CP ... prescribing reporting regimes applicable to
state administrative agencies"), **Article 12, the time for closing the data of periodic reports**
("thời gian chốt số liệu báo cáo định kỳ"). Its four periods, as the decree words them and as the
regimes issued under it repeat them (e.g. Circular 09/2019/TT-NHNN, Circular 05/2023/TT-BYT; Lạng
Sơn's own regime, Decision 52/2025/QĐ-UBND of 7 July 2025, "Quy định chế độ báo cáo định kỳ phục vụ
mục tiêu quản lý trên địa bàn tỉnh Lạng Sơn", cites the decree):

* **monthly** (`month`, "báo cáo định kỳ hằng tháng"): from the 15th of the previous month to the
  14th of the month of the reporting period ("tính từ ngày 15 tháng trước đến ngày 14 của tháng
  thuộc kỳ báo cáo");
* **quarterly** (`quarter`, "hằng quý"): from the 15th of the month before the reporting period to
  the 14th of the last month of the quarter ("tính từ ngày 15 của tháng trước kỳ báo cáo đến ngày 14
  của tháng cuối quý thuộc kỳ báo cáo"); Q1: 15 December of the previous year – 14 March;
* **six-monthly** (`half`, "06 tháng"): the first half from 15 December of the year before to 14 June
  ("tính từ ngày 15 của tháng 12 năm trước kỳ báo cáo đến ngày 14 của tháng 6 thuộc kỳ báo cáo"), the
  second half from 15 June to 14 December ("từ ngày 15 của tháng 6 đến ngày 14 của tháng 12");
* **yearly** (`year`, "hằng năm"): from 15 December of the year before to 14 December of the
  reporting year ("tính từ ngày 15 của tháng 12 năm trước kỳ báo cáo đến ngày 14 của tháng 12 thuộc
  kỳ báo cáo").

The decree sets no weekly period; a **weekly** (`week`) report here runs Monday 00:00 to Sunday
24:00 (the IOC's week), and says so on the page. Days are Lạng Sơn days (UTC+7, no daylight
saving: `twin.crs.LOCAL_OFFSET`); every bound is stored and compared in UTC. A period is half-open,
``[start, end)``: "to the 14th" means to the end of the 14th, so the next period opens at 00:00 on
the 15th.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from api.briefing.text import Lang, pairs
from twin.crs import LOCAL_OFFSET
from twin.errors import InputError

Kind = Literal["week", "month", "quarter", "half", "year", "custom"]
#: The regime's periods (``twin brief --period``), Vietnamese and English names.
KINDS = pairs("periods")
#: A period's name and its cut-off rule, by kind (`words.toml`).
_NAMES = pairs("period_names")
_RULES = pairs("period_rules")
#: Day of the month on which a period of the regime begins (and the day before, the 14th, it ends).
CUTOFF_DAY = 15
_ROLLING = re.compile(r"^\s*(\d+)\s*([hdw])\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """One reporting period ``[start, end)`` (aware UTC) of a kind, with its number in the year."""

    kind: Kind
    start: datetime
    end: datetime
    year: int
    number: int  # week of the year, month 1–12, quarter 1–4, half 1–2, or 0 for a year / custom window

    @property
    def length(self) -> timedelta:
        """Return how long the period is."""
        return self.end - self.start

    def previous(self) -> Period:
        """Return the period before this one (of the same kind; a custom window of the same length)."""
        if self.kind == "custom":
            return Period("custom", self.start - self.length, self.start, self.year, 0)
        return period_ending(self.kind, self.start)

    def name(self, lang: Lang) -> str:
        """Return the period's name ("tháng 11 năm 2026", "Q4 2026", "week 47 of 2026")."""
        vi, en = _NAMES[self.kind]
        n = self.number
        first = n == 1
        return (vi if lang == "vi" else en).format(
            n=n,
            y=self.year,
            month=f"{date(self.year, n, 1):%B}" if self.kind == "month" else "",
            roman=("I", "II", "III", "IV")[n - 1] if self.kind == "quarter" else "",
            half_vi="đầu" if first else "cuối",
            half_en="first" if first else "second",
        )

    def bounds(self, lang: Lang) -> str:
        """Return the first and last local day ("từ ngày 15/10/2026 đến hết ngày 14/11/2026")."""
        first = (self.start + LOCAL_OFFSET).date()
        last = (self.end + LOCAL_OFFSET - timedelta(microseconds=1)).date()
        if self.kind == "custom":
            a, b = self.start + LOCAL_OFFSET, self.end + LOCAL_OFFSET
            return (
                f"từ {a:%H:%M} ngày {a:%d/%m/%Y} đến {b:%H:%M} ngày {b:%d/%m/%Y}"
                if lang == "vi"
                else f"from {a:%H:%M} on {a:%d %b %Y} to {b:%H:%M} on {b:%d %b %Y}"
            )
        return (
            f"từ ngày {first:%d/%m/%Y} đến hết ngày {last:%d/%m/%Y}"
            if lang == "vi"
            else f"from {first:%d %b %Y} to the end of {last:%d %b %Y}"
        )

    def rule(self, lang: Lang) -> str:
        """Return the cut-off rule this period follows, in one sentence with its source."""
        vi, en = _RULES[self.kind]
        return vi if lang == "vi" else en


def _utc(day: date) -> datetime:
    """Return local midnight at the start of `day` (UTC+7) as aware UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - LOCAL_OFFSET


def _month_start(year: int, month: int) -> date:
    """Return the first day of the regime's month `month` of `year`: the 15th of the month before."""
    prev_year, prev_month = (year - 1, 12) if month == 1 else (year, month - 1)
    return date(prev_year, prev_month, CUTOFF_DAY)


def containing(kind: str, at: datetime) -> Period:
    """Return the period of `kind` that contains the instant `at` (aware)."""
    if kind not in KINDS:
        raise InputError("period", f"unknown period {kind!r}", f"use one of {', '.join(KINDS)} or 24h, 7d")
    loc = (at.astimezone(UTC) + LOCAL_OFFSET).date()
    if kind == "week":
        monday = loc - timedelta(days=loc.weekday())
        iso = monday.isocalendar()
        return Period("week", _utc(monday), _utc(monday + timedelta(days=7)), iso.year, iso.week)
    # the regime's month m runs [15 of m−1, 15 of m): a day on or after the 15th is in the next month
    year, month = loc.year, loc.month
    if loc.day >= CUTOFF_DAY:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if kind == "month":
        nxt = (year + 1, 1) if month == 12 else (year, month + 1)
        return Period("month", _utc(_month_start(year, month)), _utc(_month_start(*nxt)), year, month)
    if kind == "quarter":
        q = (month - 1) // 3 + 1
        first = 3 * q - 2
        nxt = (year + 1, 1) if q == 4 else (year, first + 3)
        return Period("quarter", _utc(_month_start(year, first)), _utc(_month_start(*nxt)), year, q)
    if kind == "half":
        h = 1 if month <= 6 else 2
        nxt = (year, 7) if h == 1 else (year + 1, 1)
        return Period("half", _utc(_month_start(year, 6 * h - 5)), _utc(_month_start(*nxt)), year, h)
    return Period("year", _utc(_month_start(year, 1)), _utc(_month_start(year + 1, 1)), year, 0)


def period_ending(kind: str, end: datetime) -> Period:
    """Return the last period of `kind` that has closed by `end` (its end ≤ `end`)."""
    # the period holding `end` has not closed yet (or starts at `end`): the one before it has
    return containing(kind, containing(kind, end).start - timedelta(microseconds=1))


def parse_period(text: str, *, end: datetime | None = None) -> Period:
    """Return the period `text` names: a kind of the regime (the last one closed by `end`, default
    now) or a rolling window ``24h``, ``7d``, ``2w`` ending at `end`.
    """
    stop = end if end is not None else datetime.now(UTC)
    word = text.strip().lower()
    if word in KINDS:
        return period_ending(word, stop)
    m = _ROLLING.match(text)
    if not m or int(m.group(1)) == 0:
        raise InputError(
            "period", f"{text!r} is not a period", f"use one of {', '.join(KINDS)} or a window like 24h, 7d"
        )
    n, unit = int(m.group(1)), m.group(2).lower()
    delta = {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]
    if delta > timedelta(days=366):
        raise InputError("period", "a briefing covers at most one year")
    return Period("custom", stop - delta, stop, (stop + LOCAL_OFFSET).year, 0)
