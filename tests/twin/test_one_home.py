"""grep: H3 ids and the metric projection each have one home in `twin/` (one home per concept).

Like ``tests/api/test_settings.py`` for the environment: no module of the product converts H3 ids
inline (``format(c, "x")``, ``int(c, 16)``, h3's ``str_to_int``/``int_to_str``) or imports ``h3``
itself; they call `twin.h3grid` (`hex_of`, `int_of`, `to_str`, `to_int`, `cells_to_parents`). And none
projects to metres itself (an Earth radius, a metres-per-degree constant, the UTM code, a pyproj
`Transformer`, a cos(latitude)): they call `twin.crs` (`local_metres`, `distance_m`, `metres_per_degree`,
`haversine_m`, `to_metric_xy`, `METRIC`, `plot_aspect`).
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

GEO_HOME = (ROOT / "twin" / "crs.py", ROOT / "twin" / "_h3kernel.py")
GEO_INLINE = re.compile(
    r"6_?371_?0|111_?(320|319|195)|EPSG:32648|\bTransformer\b|(deg2rad|radians)\(21\.8|cos\([^)]*\blat"
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
    assert not H3_INLINE.search("when = t.isoformat()")


def test_metric_projection_only_in_crs() -> None:
    assert offenders(GEO_INLINE, GEO_HOME) == []


def test_the_grep_sees_an_inline_projection() -> None:
    for line in (
        "r = 6_371_008.8",
        "_M_PER_DEG = 111_320.0",
        'METRIC_CRS = "EPSG:32648"',
        "from pyproj import Transformer",
        "k = np.cos(np.deg2rad(21.85))",
        "dx = d * math.cos(math.radians(cam.lat))",
    ):
        assert GEO_INLINE.search(line), line
    assert not GEO_INLINE.search("ns = np.abs(np.cos(self.l_bearing))")


def test_the_viewer_uses_the_servers_cells() -> None:
    """The viewer draws and counts the cells the server computed: no H3 library in its sources."""
    sources = sorted((ROOT / "viewer" / "src").glob("*.js"))
    assert sources
    assert [p.name for p in sources if "h3-js" in p.read_text(encoding="utf-8")] == []


#: Lạng Sơn time: `twin.crs` holds the zone and the offset (`LOCAL_TZ`, `LOCAL_OFFSET`, `LOCAL_ZONE`).
TIME_HOME = (ROOT / "twin" / "crs.py",)
TIME_INLINE = re.compile(
    r"""hours\s*=\s*7\b|\b7\s*\*\s*3600\b|\b3600\s*\*\s*7\b|\b25_?200\b|["']Asia/Ho_Chi_Minh["']|ZoneInfo\("""
    r"""|timezone\(\s*timedelta"""
)


def test_local_time_only_in_crs() -> None:
    assert offenders(TIME_INLINE, TIME_HOME) == []


def test_the_grep_sees_an_inline_local_offset() -> None:
    for line in (
        "LOCAL = timedelta(hours=7)",
        "LOCAL_OFFSET_S = 7 * 3600",
        'LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")',
        '"timezone": "Asia/Ho_Chi_Minh",',
        "ICT = timezone(timedelta(hours=7))",
    ):
        assert TIME_INLINE.search(line), line
    assert not TIME_INLINE.search("window = timedelta(hours=72)")
