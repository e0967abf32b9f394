"""Camera-derived events as the API takes and returns them (detections only: no frames, faces, plates)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    JsonValue,
    TypeAdapter,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema

from api.schemas import categories
from api.schemas.categories import Severity


def closed_body(example: dict[str, Any]) -> ConfigDict:
    """Return the config of a request body: unknown members refused, and its OpenAPI example."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


class _EventCategory:
    """An event category: a code of the category table with ``camera = true`` (read when validating)."""

    @staticmethod
    def check(value: str) -> str:
        codes = categories.table().event_codes
        if value not in codes:
            raise PydanticCustomError(
                "literal_error", "Input should be {expected}", {"expected": ", ".join(map(repr, codes))}
            )
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(str))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "enum": list(categories.table().event_codes)}


#: An event category (see api/schemas/categories.toml).
Category = Annotated[str, _EventCategory()]
LifecycleIn = Literal["new", "update", "end"]

#: Limits on the free `attributes` object.
MAX_ATTR_BYTES = 4096
MAX_ATTR_DEPTH = 4
MAX_ATTR_KEYS = 64
MAX_ATTR_STRING = 512
MAX_BATCH = 500
#: Largest integer every JSON reader holds exactly (IEEE double).
MAX_SAFE_INT = 2**53
#: Attribute keys that would carry images or personal identifiers: refused at any depth.
FORBIDDEN_KEYS = frozenset(
    {
        "image",
        "images",
        "img",
        "snapshot",
        "thumbnail",
        "frame",
        "frames",
        "photo",
        "picture",
        "jpeg",
        "jpg",
        "png",
        "video",
        "clip",
        "face",
        "faces",
        "face_embedding",
        "plate",
        "plates",
        "license_plate",
        "licence_plate",
        "number_plate",
        "plate_number",
        "recognized_license_plate",
        "person_name",
        "cccd",
        "cmnd",
    }
)
#: Base64 (standard or URL-safe, optionally wrapped in lines of ≥ 60 characters, as MIME and PEM do)
#: of at least 120 characters. Plain text has words shorter than a line and spaces between them.
_B64 = re.compile(r"^\s*(?:[A-Za-z0-9+/_-]{60,}\s+)*[A-Za-z0-9+/_-]+={0,2}\s*$")
_B64_MIN = 120
_DATA_URL = re.compile(r"^\s*data:[\w/+.-]+;base64,", re.IGNORECASE)
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
CAMERA_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
#: Events may not claim to start later than this ahead of the server clock (clock skew allowance).
MAX_FUTURE = timedelta(minutes=5)
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
LATEST_YEAR = 2200

Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, examples=[106.7578])]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, examples=[21.8478])]


class Position(BaseModel):
    """A WGS84 position (degrees)."""

    model_config = ConfigDict(extra="forbid")

    lon: Lon
    lat: Lat


def _check_attributes(value: Any, depth: int, path: str) -> None:
    if depth > MAX_ATTR_DEPTH:
        raise ValueError(f"{path or 'attributes'}: nested deeper than {MAX_ATTR_DEPTH} levels")
    if isinstance(value, dict):
        if len(value) > MAX_ATTR_KEYS:
            raise ValueError(f"{path or 'attributes'}: more than {MAX_ATTR_KEYS} keys")
        for k, v in value.items():
            key = str(k)
            if key.lower().replace("-", "_") in FORBIDDEN_KEYS:
                raise ValueError(
                    f"key {key!r} is not accepted: events carry detections only (no images, faces or plates)"
                )
            _check_attributes(v, depth + 1, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        if len(value) > MAX_ATTR_KEYS:
            raise ValueError(f"{path or 'attributes'}: more than {MAX_ATTR_KEYS} items")
        for i, v in enumerate(value):
            _check_attributes(v, depth + 1, f"{path}[{i}]")
    elif isinstance(value, str):
        if len(value) > MAX_ATTR_STRING:
            raise ValueError(f"{path}: strings are limited to {MAX_ATTR_STRING} characters")
        if _DATA_URL.match(value) or (len(value) >= _B64_MIN and _B64.match(value)):
            raise ValueError(f"{path}: looks like an encoded binary (base64); send detections only")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: NaN and Infinity are not JSON numbers")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
        raise ValueError(f"{path}: integers beyond ±2^53 are not portable JSON numbers")


def _json_size(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except TypeError as e:  # e.g. lone surrogates in keys
        raise ValueError(f"not serialisable as JSON ({e})") from None


def check_time(v: datetime) -> datetime:
    """Return `v` in UTC if it lies between 2020 and 5 minutes from now, else raise ValueError."""
    if not LATEST_YEAR >= v.year >= EARLIEST.year - 1:
        raise ValueError(f"is out of range (years {EARLIEST.year}–{LATEST_YEAR})")
    v = v.astimezone(UTC)
    if v < EARLIEST:
        raise ValueError("is before 2020-01-01")
    if v > datetime.now(UTC) + MAX_FUTURE:
        raise ValueError("is more than 5 minutes in the future (check the camera clock)")
    return v


def bounded_time(v: datetime) -> datetime:
    """Return `v` if its year is plausible (2000–2200, so UTC arithmetic cannot overflow), else raise."""
    if not 2000 <= v.year <= LATEST_YEAR:
        raise ValueError(f"is out of range (years 2000–{LATEST_YEAR})")
    return v


#: A time in a query or a body other than an event's: any zone, year 2000–2200.
SafeTime = Annotated[datetime, AfterValidator(bounded_time)]


class EventIn(BaseModel):
    """A detection from a camera's analytics; `event_id` is the idempotency key.

    A tracked object keeps one `event_id` through its `new` → `update` → `end` messages (as Frigate
    does); the store upserts by id, so a retried or replayed message never makes a duplicate.

    The model checks the wire format (types, ranges, patterns, unknown fields). What needs the clock
    or walks the attributes (`check_event`, `check_events`) runs once per request, batch-wide: parse
    with `EVENT_ADAPTER` / `BATCH_ADAPTER`, which do both.
    """

    model_config = closed_body(
        {
            "event_id": "LS-CAM-007-20250612T072501-0001",
            "camera_id": "LS-CAM-007",
            "category": "congestion",
            "severity": "medium",
            "confidence": 0.87,
            "lifecycle": "new",
            "start_time": "2025-06-12T00:25:01Z",
            "attributes": {"vehicles": 42, "speed_kmh": 6.5},
        }
    )

    event_id: str = Field(pattern=ID_PATTERN, description="Idempotency key (stable per tracked object).")
    camera_id: str = Field(pattern=CAMERA_PATTERN, description="A camera of the city registry.")
    category: Category
    severity: Severity = "medium"
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    lifecycle: LifecycleIn = "new"
    start_time: AwareDatetime = Field(description="When the detection started (time zone required).")
    end_time: AwareDatetime | None = Field(default=None, description="When it ended (for `end`).")
    position: Position | None = Field(default=None, description="Defaults to the camera's position.")
    sequence: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SAFE_INT,
        description="The sender's number of this message for this event_id, increasing: a message "
        "whose sequence is not above the stored one is acknowledged as `stale` and not applied.",
    )
    observed_at: AwareDatetime | None = Field(
        default=None,
        description="When the camera observed what this message says (its own clock). Without "
        "`sequence`, a message observed before the stored one is `stale`.",
    )
    attributes: dict[str, JsonValue] = Field(
        default_factory=dict,
        description=f"Free detection attributes (≤ {MAX_ATTR_BYTES} bytes, depth ≤ {MAX_ATTR_DEPTH}; "
        "no images, faces, plates or base64).",
    )


#: Attribute strings shorter than this, without ``;``, cannot be base64 blobs or data URLs (fast path).
_SHORT_STR = 120


def _scalar_size(v: Any) -> int:
    """Return an upper bound of the JSON size of a harmless scalar, or -1 when unsure."""
    t = type(v)
    if t is int:
        return 17 if -MAX_SAFE_INT <= v <= MAX_SAFE_INT else -1
    if t is float:
        return 25 if math.isfinite(v) else -1
    if t is str:
        return 6 * len(v) + 2 if len(v) < _SHORT_STR and ";" not in v else -1
    if v is None or t is bool:
        return 5
    return -1  # nested objects and arrays: the full check


def _flat_attributes_ok(attrs: dict[str, Any]) -> bool:
    """Return True if `attrs` is flat, small and harmless for sure (the common case, checked fast).

    False means "not sure": the full check (`_check_attributes` and the exact JSON size) decides.
    """
    if len(attrs) > MAX_ATTR_KEYS:
        return False
    size = 2  # an upper bound of the JSON size: every character may take 6 bytes (\\uXXXX)
    for k, v in attrs.items():
        n = _scalar_size(v)
        if n < 0 or k.lower().replace("-", "_") in FORBIDDEN_KEYS:
            return False
        size += 6 * len(k) + 4 + n
    return size <= MAX_ATTR_BYTES


def attribute_problem(attrs: dict[str, Any]) -> str | None:
    """Return why the `attributes` of an event are refused, or None when they are acceptable."""
    if not attrs or _flat_attributes_ok(attrs):
        return None
    try:
        _check_attributes(attrs, 1, "")
        if _json_size(attrs) > MAX_ATTR_BYTES:
            return f"larger than {MAX_ATTR_BYTES} bytes as JSON"
    except ValueError as e:
        return str(e)
    return None


def _time_problem(v: datetime, latest: datetime) -> str | None:
    if EARLIEST.year <= v.year <= LATEST_YEAR - 1 and EARLIEST <= v <= latest:
        return None  # the common case: no conversion, no exception
    try:
        check_time(v)
    except ValueError as e:
        return str(e)
    return None


def event_problems(e: EventIn, latest: datetime) -> list[tuple[tuple[str, ...], str]]:
    """Return the (location, reason) of every semantic problem of one validated event.

    Parameters
    ----------
    e
        An event that passed the schema (types, ranges, patterns, unknown fields).
    latest
        The latest acceptable start/end time (the server clock plus the skew allowance).
    """
    out: list[tuple[tuple[str, ...], str]] = []
    reason = _time_problem(e.start_time, latest)
    if reason:
        out.append((("start_time",), reason))
    if e.observed_at is not None:
        reason = _time_problem(e.observed_at, latest)
        if reason:
            out.append((("observed_at",), reason))
    end = e.end_time
    if end is not None:
        reason = _time_problem(end, latest)
        if reason:
            out.append((("end_time",), reason))
        elif not out and end < e.start_time:
            out.append((("end_time",), "end_time is before start_time"))
    reason = attribute_problem(e.attributes)
    if reason:
        out.append((("attributes",), reason))
    return out


def _raise(problems: list[tuple[tuple[str | int, ...], str]], title: str) -> None:
    raise ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "Value error, {reason}", {"reason": reason}),
                loc=loc,
                input=None,
            )
            for loc, reason in problems
        ],
    )


def check_event(e: EventIn) -> EventIn:
    """Check what the schema cannot say of one event: plausible times, their order, safe attributes.

    Raises
    ------
    pydantic.ValidationError
        Located at the field (``start_time``, ``end_time``, ``attributes``).
    """
    problems = event_problems(e, datetime.now(UTC) + MAX_FUTURE)
    if problems:
        _raise(list(problems), "EventIn")
    return e


def check_events(events: list[EventIn]) -> list[EventIn]:
    """`check_event` for a whole batch in one pass (one clock read); errors are located per event."""
    latest = datetime.now(UTC) + MAX_FUTURE
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for i, e in enumerate(events):
        for loc, reason in event_problems(e, latest):
            problems.append(((i, *loc), reason))
    if problems:
        _raise(problems, "EventBatchIn")
    return events


class EventBatchIn(BaseModel):
    """Up to 500 events written together (each still upserted by its own id)."""

    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[EventIn], AfterValidator(check_events)] = Field(min_length=1, max_length=MAX_BATCH)


#: Parse and check a raw JSON body in one pass (pydantic-core parses the bytes; no dict in between).
EVENT_ADAPTER: TypeAdapter[EventIn] = TypeAdapter(Annotated[EventIn, AfterValidator(check_event)])
BATCH_ADAPTER: TypeAdapter[EventBatchIn] = TypeAdapter(EventBatchIn)


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON schema of `model` with its ``$defs`` inlined (for an OpenAPI request body)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    out = resolve(schema)
    assert isinstance(out, dict)
    return out


Outcome = Literal["created", "updated", "duplicate", "stale", "conflict"]


class IngestResult(BaseModel):
    """What the store did with one event (after a durable commit)."""

    event_id: str
    status: Outcome
    cell: str | None = Field(default=None, description="H3 cell (hex) at the service resolution.")
    ward_code: str | None = None
    revision: int | None = None
    reason: str | None = None


class BatchResult(BaseModel):
    """The outcome of a batch: counts per status and one result per event, in order."""

    accepted: int
    counts: dict[str, int]
    results: list[IngestResult]


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946), with paging and provenance members."""

    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[dict[str, Any]]
