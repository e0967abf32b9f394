"""The briefing's structured tables, for a reporting system to ingest: CSV files and one XLSX workbook.

Numbers stay numbers (no thousands separators, shares in [0, 1]), codes stay codes (ward codes,
unit ids, service codes) beside their names, times are ISO 8601 in UTC with the local (UTC+7) time
in its own column. Each CSV is the project's CSV view (`gis_data.io`: UTF-8 with a BOM, no unnamed
index column, ``source``/``synthetic`` provenance columns); the workbook has one sheet per table.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from api.briefing.collect import Facts
from api.briefing.text import Lang, category
from gis_data import io
from twin.crs import LOCAL_OFFSET

#: Table name → sheet title (≤ 31 characters, Excel's limit).
SHEETS = {
    "period": "period",
    "comparison": "comparison",
    "wards": "wards",
    "categories": "categories",
    "hotspots": "hotspots",
    "reports_by_unit": "reports_by_unit",
    "scenario": "scenario",
}


def _iso(ts: datetime | None) -> str:
    return "" if ts is None else ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(ts: datetime | None) -> str:
    return "" if ts is None else (ts + LOCAL_OFFSET).strftime("%Y-%m-%dT%H:%M:%S+07:00")


def tables(facts: Facts, lang: Lang) -> dict[str, pd.DataFrame]:
    """Return the briefing's tables by name (see `SHEETS`); names of things in `lang`."""
    p, obs, prev = facts.period, facts.observed, facts.previous
    n = len(facts.events)
    out: dict[str, pd.DataFrame] = {}
    out["period"] = pd.DataFrame(
        [
            {
                "kind": p.kind,
                "name": p.name(lang),
                "start_utc": _iso(p.start),
                "end_utc": _iso(p.end),
                "start_local": _local(p.start),
                "end_local": _local(p.end),
                "observed_first_utc": _iso(obs.first),
                "observed_last_utc": _iso(obs.last),
                "observed_hours": obs.span.total_seconds() / 3600,
                "period_hours": p.length.total_seconds() / 3600,
                "rule": p.rule(lang),
            }
        ]
    )
    r = facts.reports
    done = r["status"].isin(["resolved", "closed"])
    rows = [
        ("events", float(n), float(prev.events) if prev else None),
        ("events_per_day", obs.per_day(n), prev.observed.per_day(prev.events) if prev else None),
        ("reports", float(len(r)), float(prev.reports) if prev else None),
        ("reports_closed", float(done.sum()), float(prev.reports_closed) if prev else None),
        ("reports_on_time", float(r["on_time"].sum()), float(prev.reports_on_time) if prev else None),
        ("hotspots", float(len(facts.hot)), float(prev.hotspots) if prev else None),
        ("camera_availability", facts.availability, prev.availability if prev else None),
    ]
    out["comparison"] = pd.DataFrame(rows, columns=["indicator", "this_period", "previous_period"])
    wards = facts.by_ward.reset_index(names="ward_code")
    before = prev.by_ward if prev is not None else pd.Series(dtype=float)
    reports = r.groupby("ward_code")
    out["wards"] = pd.DataFrame(
        {
            "ward_code": wards["ward_code"],
            "ward": wards["name"],
            "population": wards["population"],
            "events": wards["total"].astype(int),
            "events_per_day": wards["per_day"],
            "events_per_10k": wards["per_10k"],
            "events_previous": [int(before.get(c, 0)) for c in wards["ward_code"]],
            "reports": [len(reports.get_group(c)) if c in reports.groups else 0 for c in wards["ward_code"]],
            "reports_overdue": [
                int(reports.get_group(c)["overdue"].sum()) if c in reports.groups else 0
                for c in wards["ward_code"]
            ],
        }
    )
    out["categories"] = pd.DataFrame(
        {
            "category": facts.by_category.index.astype(str),
            "name": [category(str(c), lang) for c in facts.by_category.index],
            "events": facts.by_category.to_numpy(dtype=int),
            "share": facts.by_category.to_numpy(dtype=float) / max(n, 1),
        }
    )
    hot = facts.hot.reset_index(names="h3_cell")
    out["hotspots"] = hot[["h3_cell", "ward_code", "ward", "place", "count", "gi_z", "p_fdr"]].rename(
        columns={"count": "events"}
    )
    units = []
    for unit_id, g in r.groupby("unit_id", sort=False):
        d = g["status"].isin(["resolved", "closed"])
        unit = facts.directory.units.get(str(unit_id))
        units.append(
            {
                "unit_id": str(unit_id),
                "unit": (unit.name_vi if lang == "vi" else unit.name_en) if unit else "",
                "received": len(g),
                "closed": int(d.sum()),
                "closed_on_time": int(g["on_time"].sum()),
                "open": int((~d).sum()),
                "overdue": int(g["overdue"].sum()),
                "target_hours": float(g["target_hours"].max()),
                "median_hours_to_close": float(g.loc[d, "hours_to_close"].median()) if d.any() else None,
            }
        )
    out["reports_by_unit"] = pd.DataFrame(
        units,
        columns=["unit_id", "unit", "received", "closed", "closed_on_time", "open", "overdue",
                 "target_hours", "median_hours_to_close"],
    )  # fmt: skip
    if facts.scenario is not None:
        k = facts.scenario.kpis
        cols = [c for c in ("kpi", "a", "b", "delta", "delta_pct", "delta_ci_low", "delta_ci_high", "test",
                            "p_value", "significant") if c in k.columns]  # fmt: skip
        sc = k[cols].copy()
        sc.insert(0, "run_b", facts.scenario.id_b)
        sc.insert(0, "run_a", facts.scenario.id_a)
        out["scenario"] = sc.reset_index(drop=True)
    return out


def write_tables(named: dict[str, pd.DataFrame], out_dir: Path, facts: Facts) -> list[Path]:
    """Write ``tables/<name>.csv`` and ``briefing.xlsx`` (one sheet per table); return the paths."""
    prov = {
        "source": "synthetic" if facts.synthetic_share > 0 else "real",
        "synthetic": facts.synthetic_share > 0,
    }
    folder = Path(out_dir) / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    written = [io.write(frame, folder / f"{name}.csv", "csv", prov=prov) for name, frame in named.items()]
    xlsx = Path(out_dir) / "briefing.xlsx"
    with io.atomic_path(xlsx) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as book:
        for name, frame in named.items():
            io.to_csv_frame(frame, prov).to_excel(book, sheet_name=SHEETS[name], index=False)
    return [*written, xlsx]
