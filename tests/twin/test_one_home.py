"""grep: H3 id conversions and parent cells live only in `twin/h3grid.py` (one home per concept).

Like ``tests/api/test_settings.py`` for the environment: no module of the product converts H3 ids
inline (``format(c, "x")``, ``int(c, 16)``, h3's ``str_to_int``/``int_to_str``) or imports ``h3``
itself; they call `twin.h3grid` (`hex_of`, `int_of`, `to_str`, `to_int`, `cells_to_parents`).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("twin", "gis_data", "simulations", "api")
#: The H3 edge: the wrapper and the numba port of H3's indexing it loads.
H3_HOME = (ROOT / "twin" / "h3grid.py", ROOT / "twin" / "_h3kernel.py")

H3_INLINE = re.compile(
    r"""format\([^)]*["']x["']\)|int\([^)]*,\s*(base\s*=\s*)?16\)|str_to_int|int_to_str|:x\}"""
    r"""|^\s*(import h3|from h3\b)|\bh3\.cell_to_parent\("""
)


def offenders(pattern: re.Pattern[str], homes: tuple[Path, ...]) -> list[str]:
    """Return ``path:line`` of every product line matching `pattern` outside `homes`."""
    return [
        f"{p.relative_to(ROOT)}:{i}"
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if p not in homes
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]


def test_h3_conversions_only_in_h3grid() -> None:
    assert offenders(H3_INLINE, H3_HOME) == []


def test_the_grep_sees_an_inline_conversion() -> None:
    for line in ('key = format(cell, "x")', "v = int(text, 16)", "c = h3.str_to_int(s)", "import h3"):
        assert H3_INLINE.search(line), line
    assert not H3_INLINE.search('when = t.isoformat()')
