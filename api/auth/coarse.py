"""What the public sees of live aggregates: a capped H3 resolution and no thinly populated cells.

Routes that serve both the public and staff call these with the caller's `Principal`: without the
``aggregates:fine`` scope the resolution is capped at `PUBLIC_MAX_RES` (a finer request is answered
at the cap, and the answer says so), cells with fewer than `PUBLIC_MIN_COUNT` events are left
out and so are the categories of a cell with fewer than that, so that no answer points at a single
detection.
"""

from __future__ import annotations

from typing import Any

from api.auth.policy import PUBLIC_MAX_RES, PUBLIC_MIN_COUNT
from api.auth.service import Principal
from api.responses import GeoJSONResponse


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
    kept = []
    for f in feats:
        props = f["properties"]
        if int(props.get("count", 0)) < PUBLIC_MIN_COUNT:
            continue
        by = props.get("by_category")
        if isinstance(by, dict):
            # The threshold holds per category too: a cell of 5 must not say "1 accident".
            props = {**props, "by_category": {k: n for k, n in by.items() if int(n) >= PUBLIC_MIN_COUNT}}
            kept.append({**f, "properties": props})
        else:
            kept.append(f)
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
        "note": "public view: coarse cells only, cells and categories with fewer than "
        f"{PUBLIC_MIN_COUNT} events left out; sign in (operator or planner) for full resolution",
    }


def cell_collection(
    principal: Principal,
    features: list[dict[str, Any]],
    *,
    requested: int | None,
    served: int,
    suppressed: int,
    **members: Any,
) -> GeoJSONResponse:
    """Answer a FeatureCollection of cells at res `served` (then its other `members`), led by the
    ``access`` note when `principal` gets the coarse view."""
    extra = {"access": access_note(principal, requested, served, suppressed)} if is_coarse(principal) else {}
    return GeoJSONResponse(
        {**extra, "type": "FeatureCollection", "features": features, "res": served, **members}
    )
