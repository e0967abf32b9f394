"""Traffic counts as the API takes them: a camera's classified vehicle counts per interval and direction.

Not the live *event* counts per H3 cell (`api.services.counts`). One message is one camera's interval
of 1–15 min with, per direction of travel it watches (``NB``/``EB``/``SB``/``WB``, see
`twin.cameras.watched_links`), the vehicles of each class (motorbike, car, bus, truck) and optionally
their mean speed. (camera, interval start, direction) is the idempotency key.

The wire format (types, ranges, unknown fields and classes) and the clock (intervals that have not
ended yet, with the events' 5-minute skew allowance) are checked here, for the whole batch at once;
what needs the camera registry (a known camera, directions it watches) by
`api.services.traffic_counts.to_records`. One bad item refuses the batch, naming its field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from api.schemas.events import CAMERA_PATTERN, EARLIEST, LATEST_YEAR, MAX_BATCH, MAX_FUTURE, _raise

Direction = Literal["NB", "EB", "SB", "WB"]
#: The most vehicles of one class one camera may count in one direction in 15 min (a 4-lane road at
#: saturation passes ~2,000 PCU in 15 min, i.e. ~7,000 motorbikes).
MAX_COUNT = 20_000

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


class ClassCounts(BaseModel):
    """Vehicles of each class counted in one direction over the interval, and their mean speed."""

    model_config = ConfigDict(extra="forbid")

    motorbike: Count = 0
    car: Count = 0
    bus: Count = 0
    truck: Count = 0
    mean_speed_kmh: float | None = Field(default=None, ge=0.0, le=150.0, allow_inf_nan=False)


class TrafficCountIn(BaseModel):
    """One camera's counts over one interval, per direction of travel."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "camera_id": "LS-CAM-007",
                    "interval_start": "2025-06-12T00:00:00Z",
                    "interval_min": 5,
                    "directions": {
                        "NB": {"motorbike": 212, "car": 27, "bus": 1, "truck": 6, "mean_speed_kmh": 24.5},
                        "SB": {"motorbike": 180, "car": 22, "bus": 2, "truck": 5},
                    },
                }
            ]
        },
    )

    camera_id: str = Field(pattern=CAMERA_PATTERN, description="A camera of the city registry.")
    interval_start: AwareDatetime = Field(
        description="Start of the interval, on a whole minute (zone required)."
    )
    interval_min: int = Field(ge=1, le=15, description="Length of the interval in minutes (1–15).")
    directions: dict[Direction, ClassCounts] = Field(
        min_length=1, description="Counts per direction of travel the camera watches."
    )
    synthetic: bool = Field(default=False, description="True for generated counts (the replayer).")

    @property
    def interval_end(self) -> datetime:
        """When the interval ended."""
        return self.interval_start + timedelta(minutes=self.interval_min)


def _interval_problem(c: TrafficCountIn, latest: datetime) -> str | None:
    start = c.interval_start
    if not 2000 <= start.year <= LATEST_YEAR or start.astimezone(UTC) < EARLIEST:
        return f"is out of range ({EARLIEST.date()} to {LATEST_YEAR})"
    if start.second or start.microsecond:
        return "must be on a whole minute (seconds 00)"
    if c.interval_end.astimezone(UTC) > latest:
        return "the interval ends more than 5 minutes in the future: count an interval after it ends"
    return None


def check_counts(counts: list[TrafficCountIn]) -> list[TrafficCountIn]:
    """Check the intervals of a batch against one clock read; errors are located per item."""
    latest = datetime.now(UTC) + MAX_FUTURE
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for i, c in enumerate(counts):
        reason = _interval_problem(c, latest)
        if reason:
            problems.append(((i, "interval_start"), reason))
    if problems:
        _raise(problems, "TrafficCountBatchIn")
    return counts


class TrafficCountBatchIn(BaseModel):
    """Up to 500 interval counts written together (all or nothing)."""

    model_config = ConfigDict(extra="forbid")

    counts: Annotated[list[TrafficCountIn], AfterValidator(check_counts)] = Field(
        min_length=1, max_length=MAX_BATCH
    )


COUNT_BATCH_ADAPTER: TypeAdapter[TrafficCountBatchIn] = TypeAdapter(TrafficCountBatchIn)


class TrafficCountResult(BaseModel):
    """What the store did with a batch: rows (camera × interval × direction) per outcome."""

    accepted: int = Field(description="Interval messages accepted.")
    rows: dict[str, int] = Field(description="Stored rows per outcome: created, updated, duplicate.")
