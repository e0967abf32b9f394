"""The gateway's TOML file: the twin to send to, the local queue, and each source with its mapping.

A source maps what the device calls things (a Frigate camera and label, an ISAPI channel and event
type, an ONVIF video source and topic; optionally a zone, region or rule) to a camera of the registry
and to one of the twin's categories. The first rule that matches wins; a message no rule matches is
counted as ``unmapped`` and never sent. The API key is read from the environment variable named by
``twin.key_env`` (never from the file).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.environ import secret_from_env
from api.schemas.categories import Severity
from api.schemas.events import CAMERA_PATTERN, Category
from twin.errors import InputError

SourceKind = Literal["frigate", "onvif", "isapi"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TwinTarget(_Strict):
    """Where events go."""

    url: str = "http://127.0.0.1:8000"
    key_env: str = Field(default="TWIN_API_KEY", description="Environment variable holding the key.")
    batch_max: int = Field(default=500, ge=1, le=500)
    linger_ms: float = Field(default=20, ge=0, le=5000, description="Wait this long to fill a batch.")
    timeout_s: float = Field(default=10, gt=0, le=120)
    backoff_min_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=15, gt=0)
    heartbeat_s: float = Field(default=30, gt=0, le=600, description="Camera heartbeat period.")

    def key(self) -> str | None:
        """Return the API key from the environment (None: the twin runs without auth)."""
        return secret_from_env(self.key_env)


class QueueSettings(_Strict):
    """The local durable queue and its bound."""

    path: Path = Path("gateway-queue.sqlite")
    max_messages: int = Field(default=2_000_000, ge=10)
    max_mb: float = Field(default=1024, gt=0)


class HealthSettings(_Strict):
    """The gateway's own `/health`."""

    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)


class Rule(_Strict):
    """One mapping: a detection of the source (by kind and optional zone/region/rule) → a category."""

    camera: str = Field(default="*", description="Source camera/channel/video source, or * for any.")
    what: str = Field(description="Frigate label, ISAPI eventType, ONVIF topic (suffix) — or *.")
    zone: str = Field(default="*", description="Frigate zone, ISAPI regionID, ONVIF rule name — or *.")
    category: Category
    severity: Severity = "medium"
    min_score: float = Field(default=0.0, ge=0, le=1)


class CountRule(_Strict):
    """A count gauge (Frigate ``frigate/<camera>/<object>``, ONVIF ``Count``) → a threshold event.

    These are gauges (objects in view now), not the per-interval directional counts ``POST /counts``
    takes, so they are kept in the gateway's status, and a count at or above `threshold` opens an
    event (``new``), later counts update it and a count below the threshold ends it.
    """

    camera: str = "*"
    what: str = Field(description="Object (Frigate) or counted class (ISAPI), or *.")
    threshold: int = Field(ge=1)
    category: Category
    severity: Severity = "medium"


class Source(_Strict):
    """One device or NVR the gateway listens to."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
    kind: SourceKind
    # Frigate (MQTT)
    broker: str = "127.0.0.1:1883"
    topic_prefix: str = "frigate"
    client_id: str | None = None
    # ONVIF / ISAPI
    url: str | None = None
    username: str | None = None
    password_env: str | None = Field(default=None, description="Environment variable with the password.")
    idle_end_s: float = Field(default=10, gt=0, description="ISAPI/ONVIF: end an episode after silence.")
    max_part_kb: int = Field(default=64, ge=1, le=4096, description="ISAPI: largest XML part accepted.")
    subscription_s: float = Field(
        default=60, ge=2, le=86400, description="ONVIF: PullPoint length, renewed at half."
    )
    pull_timeout_s: float = Field(default=10, ge=1, le=60, description="ONVIF: PullMessages long poll.")
    cameras: dict[str, Annotated[str, Field(pattern=CAMERA_PATTERN)]] = Field(
        description="Source camera/channel/video source → registry camera id."
    )
    rules: list[Rule] = Field(default_factory=list)
    counts: list[CountRule] = Field(default_factory=list)

    def password(self) -> str | None:
        """Return the device password from the environment."""
        return secret_from_env(self.password_env) if self.password_env else None


class GatewayConfig(_Strict):
    """The whole file."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")] = "gateway"
    twin: TwinTarget = TwinTarget()
    queue: QueueSettings = QueueSettings()
    health: HealthSettings = HealthSettings()
    sources: list[Source] = Field(min_length=1)

    def registry_cameras(self) -> set[str]:
        """Return every registry camera some source speaks for."""
        return {c for s in self.sources for c in s.cameras.values()}


def load_config(path: Path) -> GatewayConfig:
    """Read and check a gateway TOML file; raise `InputError` naming the field on any problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("config", f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError("config", f"{path} is not valid TOML: {e}") from None
    try:
        cfg = GatewayConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "config"
        raise InputError(field, f"{err['msg']} (in {path})") from None
    names = [s.name for s in cfg.sources]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InputError("sources.name", f"source names must be unique, repeated: {sorted(dup)}")
    if not cfg.queue.path.is_absolute():
        cfg = cfg.model_copy(
            update={"queue": cfg.queue.model_copy(update={"path": path.parent / cfg.queue.path})}
        )
    return cfg
