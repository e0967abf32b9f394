"""What the public sees of live aggregates: a capped H3 resolution and no thinly populated cells.

Routes that serve both the public and staff call these with the caller's `Principal`: without the
``aggregates:fine`` scope the resolution is capped at `PUBLIC_MAX_RES` (a finer request is answered
at the cap, and the answer says so) and cells with fewer than `PUBLIC_MIN_COUNT` events are left
out, so that no answer points at a single detection.
"""

from __future__ import annotations

from typing import Any

from api.auth.policy import PUBLIC_MAX_RES, PUBLIC_MIN_COUNT
from api.auth.service import Principal


def is_coarse(principal: Principal) -> bool:
    """Return whether the caller gets the public, coarse view."""
    return not principal.has("aggregates:fine")


def cap_res(principal: Principal, res: int) -> int:
    """Return the resolution the caller may have: `res`, or the public cap."""
    return min(res, PUBLIC_MAX_RES) if is_coarse(principal) else res


def coarse_features(principal: Principal, feats: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Return the features the caller may see and how many cells were left out (public: count ≥ k)."""
    if not is_coarse(principal):
        return feats, 0
    kept = [f for f in feats if int(f["properties"].get("count", 0)) >= PUBLIC_MIN_COUNT]
    return kept, len(feats) - len(kept)


def access_note(principal: Principal, requested: int | None, served: int, suppressed: int) -> dict[str, Any]:
    """Return the ``access`` member of a coarse answer (what was capped or left out, and why)."""
    return {
        "view": "public",
        "max_res": PUBLIC_MAX_RES,
        "requested_res": requested,
        "res": served,
        "min_count": PUBLIC_MIN_COUNT,
        "suppressed_cells": suppressed,
        "note": "public view: coarse cells only; sign in (operator or planner) for full resolution",
    }
