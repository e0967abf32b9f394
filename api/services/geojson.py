"""GeoJSON (RFC 7946) renderings of events, cells, cameras and alerts for the API and the stream."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import lru_cache
from typing import Any

import shapely

from api.services.city import CameraInfo
from api.services.health import CameraState
from api.store.base import AlertRecord, EventRecord
from twin import h3grid
from twin.numbers import finite_or_none


def iso(t: datetime | None) -> str | None:
    """Return an ISO 8601 UTC string ending in Z (None stays None)."""
    if t is None:
        return None
    return t.isoformat().replace("+00:00", "Z")


def event_feature(e: EventRecord, res: int, *, ring: bool = False) -> dict[str, Any]:
    """Return an event as a GeoJSON Feature (properties carry the cell at `res` as hex).

    With `ring`, ``cell_boundary`` is the cell's closed ring (`cell_ring`): a client draws and counts
    the cell the service computed instead of indexing the position itself (a page of events carries
    the rings once, see `cell_rings`). Times stay datetimes: `api.responses.dumps` writes them as
    ISO 8601 with ``Z``.
    """
    cell = h3grid.hex_of(e.cells.get(res))
    props: dict[str, Any] = {
        "event_id": e.event_id,
        "camera_id": e.camera_id,
        "category": e.category,
        "severity": e.severity,
        "confidence": e.confidence,
        "lifecycle": e.lifecycle,
        "start_time": e.start_time,
        "end_time": e.end_time,
        "cell": cell,
        "ward_code": e.ward_code,
        "attributes": e.attributes,
        "synthetic": e.synthetic,
        "received_at": e.received_at,
        "updated_at": e.updated_at,
        "revision": e.revision,
        "sent_by": e.sent_by,
    }
    if ring:
        props["cell_boundary"] = cell_ring(cell) if cell is not None else None
    return {
        "type": "Feature",
        "id": e.event_id,
        "geometry": {"type": "Point", "coordinates": [e.lon, e.lat]},
        "properties": props,
    }


def cell_rings(features: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    """Return the ring of each distinct cell of event `features` (a page's ``cell_boundaries``)."""
    cells = {f["properties"]["cell"] for f in features} - {None}
    return {c: cell_ring(c) for c in sorted(cells)}


@lru_cache(maxsize=100_000)
def cell_ring(cell: str) -> list[list[float]]:
    """Return the closed ring of an H3 cell, lon/lat rounded to 7 decimals (1 cm); shared, do not change."""
    return [[round(x, 7), round(y, 7)] for x, y in polygon_coords(cell)[0]]


def polygon_coords(cell: str) -> list[list[list[float]]]:
    """Return the GeoJSON Polygon coordinates of an H3 cell (closed ring, counter-clockwise)."""
    poly = h3grid.cell_to_polygon(cell)
    return [[[float(x), float(y)] for x, y in shapely.get_coordinates(poly.exterior)]]


def cell_features(counts: dict[str, Counter[str]]) -> list[dict[str, Any]]:
    """Return one Polygon feature per counted cell, busiest first."""
    feats = []
    for cell, by_cat in sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        feats.append(
            {
                "type": "Feature",
                "id": cell,
                "geometry": {"type": "Polygon", "coordinates": polygon_coords(cell)},
                "properties": {
                    "cell": cell,
                    "count": int(sum(by_cat.values())),
                    "by_category": {k: int(v) for k, v in sorted(by_cat.items())},
                },
            }
        )
    return feats


def camera_feature(info: CameraInfo, state: CameraState) -> dict[str, Any]:
    """Return a camera with its live status as a GeoJSON Feature."""
    return {
        "type": "Feature",
        "id": info.camera_id,
        "geometry": {"type": "Point", "coordinates": [info.lon, info.lat]},
        "properties": {
            "camera_id": info.camera_id,
            "name": info.name,
            "ward_code": info.ward_code,
            "kind": info.kind,
            "connected": state.connected,
            "status": state.status,
            "last_seen": iso(state.last_seen),
            "heading_deg": finite_or_none(info.props.get("heading_deg")),
            "fov_deg": finite_or_none(info.props.get("fov_deg")),
            "range_m": finite_or_none(info.props.get("range_m")),
            "synthetic": True,
        },
    }


def alert_dict(a: AlertRecord) -> dict[str, Any]:
    """Return an alert as JSON."""
    return {
        "alert_id": a.alert_id,
        "rule": a.rule,
        "key": a.key,
        "status": a.status,
        "severity": a.severity,
        "title": a.title,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
        "cell": h3grid.hex_of(a.cell),
        "camera_id": a.camera_id,
        "lon": a.lon,
        "lat": a.lat,
        "details": a.details,
        "acknowledged_by": a.acknowledged_by,
        "note": a.note,
    }


def alert_feature(a: AlertRecord) -> dict[str, Any]:
    """Return an alert as a GeoJSON Feature (null geometry if it has no position)."""
    geom = (
        {"type": "Point", "coordinates": [a.lon, a.lat]} if a.lon is not None and a.lat is not None else None
    )
    return {"type": "Feature", "id": a.alert_id, "geometry": geom, "properties": alert_dict(a)}
