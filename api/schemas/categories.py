"""The one table of categories: codes, labels, colours, icons, Smart Data Models and Open311 mappings.

The table is data, kept in ``categories.toml`` beside this module, because everything that names a
category reads the same rows — the Python service and the JavaScript viewer (through ``GET /config``)
alike — and a person adds a category by adding one ``[[category]]`` there, with no code to edit. This
module is its only reader: it checks every row once (a bad row fails at start-up, naming the row and
the field) and answers the questions the rest of the twin asks:

- the event schema (`api.schemas.events.Category`) accepts the codes of the rows with ``camera = true``;
- ``GET /config`` sends `CategoryTable.config` to the viewer (legend, colours, labels, icons);
- the replayer draws event categories and their default severity from it;
- the briefing labels categories with `CategoryTable.label`;
- NGSI-LD renders each event as a Smart Data Models ``Alert`` with the row's ``category`` and
  ``subCategory`` (`AlertMapping`);
- Open311 lists the rows with an ``open311`` table as GeoReport services;
- the traffic forecast closes the road links within ``closes_road_m`` of an open incident of a row
  that has it (`api.services.forecast.incident_closures`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Where the table lives.
TABLE_FILE = Path(__file__).with_name("categories.toml")

Severity = Literal["info", "low", "medium", "high", "critical"]
#: The categories of the Smart Data Models ``Alert`` (dataModel.Alert ``alert-schema.json``).
AlertCategory = Literal[
    "traffic", "naturalDisaster", "weather", "environment", "health", "security", "agriculture"
]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AlertMapping(_Row):
    """How a category appears as a Smart Data Models ``Alert``."""

    category: AlertCategory
    sub_category: str | None = Field(default=None, alias="subCategory", min_length=1, max_length=64)


class Open311Service(_Row):
    """What GeoReport v2 says of a category citizens can report."""

    group: str = Field(min_length=1, max_length=120)
    agency: str = Field(min_length=1, max_length=200)
    keywords: str = Field(default="", max_length=400)


class CategoryRow(_Row):
    """One category."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    vi: str = Field(min_length=1, max_length=120)
    en: str = Field(min_length=1, max_length=120)
    color: str = Field(pattern=r"^#[0-9a-fA-F]{6}$")
    icon: str = Field(min_length=1, max_length=2)
    severity: Severity | None = None
    camera: bool = False
    alert: AlertMapping
    open311: Open311Service | None = None
    closes_road_m: float | None = Field(default=None, gt=0.0, le=1000.0)

    @property
    def rgb(self) -> tuple[int, int, int]:
        """Return the colour as (red, green, blue) 0–255."""
        r, g, b = bytes.fromhex(self.color[1:7])
        return r, g, b

    def config(self) -> dict[str, object]:
        """Return the row as ``GET /config`` sends it (JSON names of the Alert mapping)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class CategoryTable:
    """The rows of the table, in file order, and the views of them each consumer needs."""

    def __init__(self, rows: list[CategoryRow] | tuple[CategoryRow, ...]) -> None:
        self.rows = tuple(rows)
        self.by_code = {r.code: r for r in self.rows}
        if len(self.by_code) != len(self.rows):
            codes = [r.code for r in self.rows]
            dup = next(c for c in codes if codes.count(c) > 1)
            raise ValueError(f"category {dup!r} is listed twice")
        #: The codes of the event categories (cameras detect them), in table order.
        self.event_codes = tuple(r.code for r in self.rows if r.camera)
        #: The rows citizens can report through Open311, in table order.
        self.services = tuple(r for r in self.rows if r.open311 is not None)
        if not self.event_codes:
            raise ValueError("the table has no event category (no row with camera = true)")

    def get(self, code: str) -> CategoryRow | None:
        """Return the row of `code`, or None."""
        return self.by_code.get(code)

    def label(self, code: str, lang: Literal["vi", "en"]) -> str:
        """Return the label of `code` in `lang` (the code itself when the table does not know it)."""
        row = self.by_code.get(code)
        return code if row is None else row.vi if lang == "vi" else row.en

    def config(self) -> list[dict[str, object]]:
        """Return every row as ``GET /config`` sends it to the viewer."""
        return [r.config() for r in self.rows]


def read_table(path: Path) -> CategoryTable:
    """Read and check a category table file.

    Raises
    ------
    ValueError
        Naming the file, the row and the field when the file is not a valid table.
    """
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: cannot read the category table ({e})") from None
    raw = doc.get("category")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{path}: no [[category]] rows")
    rows = []
    for i, item in enumerate(raw):
        try:
            rows.append(CategoryRow.model_validate(item))
        except ValidationError as e:
            err = e.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "row"
            name = item.get("code", f"#{i + 1}") if isinstance(item, dict) else f"#{i + 1}"
            raise ValueError(f"{path}: category {name}: {where}: {err['msg']}") from None
    try:
        return CategoryTable(rows)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


_current: CategoryTable | None = None


def table() -> CategoryTable:
    """Return the table in use (``categories.toml``, read on first use)."""
    global _current  # noqa: PLW0603  (the one table of the process, read once)
    if _current is None:
        _current = read_table(TABLE_FILE)
    return _current


def use_table(new: CategoryTable | None) -> CategoryTable | None:
    """Make `new` the table in use (None: ``categories.toml`` again); return the one it replaces.

    For an app factory that serves another table (a test's, with one more category); everything reads
    the table through `table()` when it validates or renders, so the change reaches every consumer.
    """
    global _current
    old, _current = _current, new
    return old
