"""A category table with one more category than the product's: the "adding a category is one edit" check.

`with_extra_category(tmp)` writes ``categories.toml`` plus one ``[[category]]`` (the only edit a person
would make) into `tmp` and returns its path; `installed(path)` makes it the table in use for the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from api.schemas import categories

#: The added category: a landslide, which cameras on the hill roads detect and citizens can report.
EXTRA_CODE = "landslide"
EXTRA_ROW = """
[[category]]
code = "landslide"
vi = "Sạt lở đất"
en = "Landslide"
color = "#00897b"
icon = "▲"
severity = "high"
camera = true
alert = { category = "naturalDisaster" }

[category.open311]
group = "thiên tai / hazards"
agency = "Ban chỉ huy phòng chống thiên tai / Disaster prevention board"
keywords = "sạt lở, đất đá, landslide"
"""


def with_extra_category(folder: Path) -> Path:
    """Write the product's table plus `EXTRA_ROW` into `folder`; return the file."""
    path = folder / "categories.toml"
    path.write_text(categories.TABLE_FILE.read_text(encoding="utf-8") + EXTRA_ROW, encoding="utf-8")
    return path


@contextlib.contextmanager
def installed(path: Path) -> Iterator[categories.CategoryTable]:
    """Use the table at `path` inside the block, then the one used before."""
    table = categories.read_table(path)
    old = categories.use_table(table)
    try:
        yield table
    finally:
        categories.use_table(old)
