"""Traffic counts in the live service: check them against the camera registry, store them, export them.

(The live *event* counts per H3 cell are `api.services.counts`; this is the cameras' classified
vehicle counts, `api.schemas.traffic_counts`.) A camera may count only the directions of travel the
registry says it watches (``count_directions`` / ``count_links`` of the camera registry, built by
`twin.cameras.with_watched_links`); each direction's row records the link it counted, so the
calibration (`simulations.traffic.calibrate`) reads the counts per link.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from api.schemas.traffic_counts import TrafficCountBatchIn, TrafficCountIn
from api.services.city import CityContext
from api.store.base import Store
from api.store.traffic_counts import COUNT_CLASSES, TrafficCountQuery, TrafficCountRecord
from twin import provenance
from twin.crs import LOCAL_OFFSET, WGS84
from twin.errors import InputError


def watched(ctx: CityContext, camera_id: str) -> dict[str, int]:
    """Return direction → link id of what camera `camera_id` counts (empty if it sees no road)."""
    info = ctx.cameras.get(camera_id)
    if info is None:
        return {}
    links = info.props.get("count_links")
    dirs = info.props.get("count_directions")
    if links is None or dirs is None:
        return {}
    return {str(d): int(link) for d, link in zip(dirs, links, strict=True)}


def to_records(ctx: CityContext, counts: Sequence[TrafficCountIn], now: datetime) -> list[TrafficCountRecord]:
    """Return one record per item and direction; raise `InputError` naming the first bad field.

    Unknown cameras, cameras that watch no road and directions a camera does not watch are refused
    (``counts.3.camera_id``, ``counts.4.directions.WB``).
    """
    out: list[TrafficCountRecord] = []
    for i, c in enumerate(counts):
        where = f"counts.{i}"
        if c.camera_id not in ctx.cameras:
            raise InputError(
                f"{where}.camera_id",
                f"unknown camera {c.camera_id!r}",
                hint="use a camera id of the city registry (GET /cameras)",
            )
        sees = watched(ctx, c.camera_id)
        if not sees:
            raise InputError(
                f"{where}.camera_id",
                f"camera {c.camera_id} watches no road, so it cannot count traffic",
                hint="see count_directions in GET /layers/cameras",
            )
        start = c.interval_start.astimezone(UTC)
        for direction, k in c.directions.items():
            if direction not in sees:
                raise InputError(
                    f"{where}.directions.{direction}",
                    f"camera {c.camera_id} does not watch traffic heading {direction}; "
                    f"it counts {', '.join(sorted(sees))}",
                    hint="see count_directions in GET /layers/cameras",
                )
            out.append(
                TrafficCountRecord(
                    camera_id=c.camera_id,
                    start=start,
                    direction=direction,
                    interval_s=60 * c.interval_min,
                    link_id=sees[direction],
                    motorbike=k.motorbike,
                    car=k.car,
                    bus=k.bus,
                    truck=k.truck,
                    received_at=now,
                    mean_speed_kmh=k.mean_speed_kmh,
                    synthetic=c.synthetic,
                )
            )
    return out


async def ingest(store: Store, ctx: CityContext, batch: TrafficCountBatchIn, now: datetime) -> dict[str, Any]:
    """Check a batch against the registry and store it durably; return the per-outcome row counts."""
    records = to_records(ctx, batch.counts, now)
    outcomes = await asyncio.wrap_future(store.submit_traffic_counts(records))
    return {"accepted": len(batch.counts), "rows": dict(Counter(outcomes))}


#: Columns of the exported table, in order (geometry last).
COLUMNS: tuple[str, ...] = (
    "camera_id", "interval_start", "interval_min", "direction", "link_id", *COUNT_CLASSES, "total",
    "mean_speed_kmh", "synthetic", "received_at",
)  # fmt: skip


def frame(
    ctx: CityContext, records: Sequence[TrafficCountRecord], query: TrafficCountQuery
) -> gpd.GeoDataFrame:
    """Return `records` as a layer (one Point feature per camera × interval × direction) with provenance."""
    rows = [
        {
            "camera_id": r.camera_id,
            "interval_start": r.start.isoformat().replace("+00:00", "Z"),
            "interval_min": r.interval_s // 60,
            "direction": r.direction,
            "link_id": r.link_id,
            **{k: getattr(r, k) for k in COUNT_CLASSES},
            "total": r.total,
            "mean_speed_kmh": r.mean_speed_kmh,
            "synthetic": r.synthetic,
            "received_at": r.received_at.isoformat().replace("+00:00", "Z"),
        }
        for r in records
    ]
    cams = ctx.cameras
    geoms = [shapely.Point(cams[r.camera_id].lon, cams[r.camera_id].lat) if r.camera_id in cams else None
             for r in records]  # fmt: skip
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    out = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, crs=WGS84), crs=WGS84)
    synthetic = bool(records) and all(r.synthetic for r in records)
    provenance.attach(
        out,
        provenance.Provenance(
            name="traffic_counts",
            source="synthetic" if synthetic else "real",
            licence="CC-BY-4.0",
            description=(
                "Camera traffic counts per interval, direction and vehicle class, intervals starting "
                f"{query.since.isoformat()} to {query.until.isoformat()}"
                + (" (synthetic: the replayer's hidden ground truth)" if synthetic else "")
            ),
            synthetic=synthetic,
            inputs=("cameras",),
            params={
                "since": query.since.isoformat(),
                "until": query.until.isoformat(),
                "cameras": list(query.cameras),
            },
        ),
    )
    return out


def model_table(records: Sequence[TrafficCountRecord], day_start: datetime) -> pd.DataFrame:
    """Return counts as the calibration reads them: ``t_s`` = local seconds after `day_start`'s midnight.

    Columns ``camera_id, direction, link_id, t_s, interval_s, synthetic`` and the classes.
    """
    midnight = (day_start.astimezone(UTC) + LOCAL_OFFSET).replace(
        hour=0, minute=0, second=0, microsecond=0
    ) - LOCAL_OFFSET
    return pd.DataFrame(
        {
            "camera_id": [r.camera_id for r in records],
            "direction": [r.direction for r in records],
            "link_id": [r.link_id for r in records],
            "t_s": [int((r.start - midnight).total_seconds()) for r in records],
            "interval_s": [r.interval_s for r in records],
            **{k: [getattr(r, k) for r in records] for k in COUNT_CLASSES},
            "synthetic": [r.synthetic for r in records],
        }
    )


def messages_of(table: pd.DataFrame, day: datetime, *, synthetic: bool = True) -> list[dict[str, Any]]:
    """Return the ``POST /counts`` items of a model-time count table (`model_table`'s columns).

    `day` is any time of the local day whose midnight ``t_s`` counts from.
    """
    local = day.astimezone(UTC) + LOCAL_OFFSET
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) - LOCAL_OFFSET
    out: list[dict[str, Any]] = []
    for key, grp in table.groupby(["camera_id", "t_s", "interval_s"], sort=True):
        camera, t_s, interval_s = (str(x) for x in key)  # type: ignore[union-attr]
        start = midnight + pd.Timedelta(seconds=int(t_s))
        out.append(
            {
                "camera_id": str(camera),
                "interval_start": start.isoformat().replace("+00:00", "Z"),
                "interval_min": int(interval_s) // 60,
                "directions": {
                    str(r.direction): {k: int(getattr(r, k)) for k in COUNT_CLASSES} for r in grp.itertuples()
                },
                "synthetic": synthetic,
            }
        )
    return out
