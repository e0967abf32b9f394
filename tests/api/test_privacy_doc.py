"""PRIVACY.md says who can see each kind of record; the code's policy (`api.auth.policy`) must agree.

Issue 18 found PRIVACY.md calling alerts and camera health public when they were not. Each row of its
table names the scope that guards the record (`alerts:read`) and the roles that may read it; this test
reads the table and checks both against the roles the policy gives that scope, so the page cannot drift
from the code again.
"""

from __future__ import annotations

import re
from pathlib import Path

from api.auth.policy import ROLES, SCOPES, is_public, roles_with

ROOT = Path(__file__).resolve().parents[2]


def _rows() -> dict[str, str]:
    """Record name → its "Who can see it" cell, from PRIVACY.md's table of what is stored."""
    rows = {}
    for line in (ROOT / "PRIVACY.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| **"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[re.sub(r"\*\*(.+?)\*\*.*", r"\1", cells[0])] = cells[-1]
    return rows


def test_who_can_see_each_record_is_what_the_policy_grants() -> None:
    rows = _rows()
    assert {"Camera detections", "Camera health", "Alerts", "Citizen reports"} <= set(rows)
    checked = 0
    for name, cell in rows.items():
        ticks = re.findall(r"`([^`]+)`", cell)
        scopes = [t for t in ticks if t in SCOPES]
        roles = {t for t in ticks if t in ROLES}
        if not scopes:
            continue
        checked += 1
        scope = scopes[0]
        if "anyone" in cell or cell.lower().startswith("public"):
            assert is_public((scope,)), (name, scope)
            continue
        assert not is_public((scope,)), (name, scope, "the page says not public")
        assert roles == set(roles_with((scope,))), (name, scope, roles, roles_with((scope,)))
    assert checked >= 8
