"""The one `Settings` of the service and the CLI: the only reader of ``TWIN_*`` environment variables.

Flat fields are ``TWIN_<NAME>`` (``TWIN_H3_RES``, ``TWIN_STORE_DSN``, ``TWIN_REPLAY``…). Each section is
a plain model whose fields are ``TWIN_<SECTION>_<NAME>``:

=============  =====================  =====================================================
section        environment prefix     what
=============  =====================  =====================================================
``data``       ``TWIN_DATA_``         data cache folder, mirror folder, mirror URL
``live``       ``TWIN_LIVE_``         live-service tuning (camera offline, alerts, stream)
``limits``     ``TWIN_LIMIT_``        rate limits and query-cost caps (`api.limits`)
``jobs``       ``TWIN_JOBS_``         scenario job queue (`api.services.jobs`)
``retention``  ``TWIN_RETENTION_``    how long events and citizens' contacts are kept
``cluster``    ``TWIN_CLUSTER_``      several instances on one PostgreSQL (`api.services.cluster`)
=============  =====================  =====================================================

Nothing else in ``twin/``, ``gis_data/``, ``simulations/`` or ``api/`` reads the environment: the
composition root (`api.app`, the CLI) builds one `Settings` and passes values down. CLI options
default to "unset" (``None``) and fall back to these fields.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_data.fetch import default_cache_dir
from twin.resolution import DEFAULT_RES, check_resolution

#: The team's prepared-data mirror, next to a checkout of the repository (used when it exists).
_TEAM_MIRROR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "langson"

#: The classes of requests that have their own rate-limit bucket per client.
RateClass = Literal["ingest", "report", "query", "cost"]


class DataSettings(BaseModel):
    """Where the prepared data comes from and is cached (``TWIN_DATA_<NAME>``)."""

    dir: Path = Field(default_factory=default_cache_dir, description="The data cache folder.")
    mirror: Path | None = Field(
        default_factory=lambda: _TEAM_MIRROR if _TEAM_MIRROR.is_dir() else None,
        description="A folder with the prepared files (default: the team mirror ../shared/data/langson "
        "next to the checkout, when it exists).",
    )
    url: str | None = Field(
        None, description="A URL under which the prepared files are published (used without a mirror)."
    )


class LiveSettings(BaseModel):
    """Tuning of the live service (``TWIN_LIVE_<NAME>``)."""

    offline_after_s: float = Field(120.0, gt=0, description="Silence after which a camera is offline.")
    position_slack_m: float = Field(
        150.0, ge=0, description="How far beyond its camera's range_m a detection's position may lie."
    )
    congestion_count: int = Field(5, ge=1)
    congestion_window_min: float = Field(10.0, gt=0)
    camera_silent_min: float = Field(5.0, gt=0)
    queue_size: int = Field(1000, ge=1, description="Per-subscriber stream queue bound.")
    stream_window: int = Field(
        10_000, ge=0, description="Recent stream messages kept for clients resuming with Last-Event-ID."
    )
    tick_s: float = Field(2.0, gt=0, description="Period of camera-health and alert checks.")
    history_every_s: float = Field(60.0, gt=0, description="Period of the camera summary history.")
    hotspot_ttl_s: float = Field(5.0, ge=0, description="Hotspots are recomputed at most this often.")
    gc_freeze: bool = Field(
        True,
        description="After start-up, move every object built so far (modules, city model) out of the "
        "garbage collector's sight (gc.freeze): a full collection then scans what ingest created, not "
        "the ~300k start-up objects (a 100+ ms pause that set the p99).",
    )
    gc_gen0: int = Field(
        20_000, ge=700, description="Allocations between young-generation collections (Python: 700)."
    )


class LimitSettings(BaseModel):
    """Limits on what one client may ask of the service (``TWIN_LIMIT_<NAME>``).

    Rates are sustained requests per second per client (IP address, or API key when one is sent);
    bursts are the bucket sizes: how many requests may arrive at once after a quiet spell.
    """

    enabled: bool = Field(True, description="Apply rate limits at all.")
    ingest_rate: float = Field(
        5000.0, gt=0, description="POST /events, /events/batch and camera heartbeats per second."
    )
    ingest_burst: int = Field(10000, ge=1)
    report_rate: float = Field(0.5, gt=0, description="Citizen reports (Open311 POST) per second.")
    report_burst: int = Field(30, ge=1)
    query_rate: float = Field(300.0, gt=0, description="Every other request per second.")
    query_burst: int = Field(3000, ge=1)
    cost_rate_ms: float = Field(
        300.0,
        gt=0,
        description="Server time (ms of request handling) per second an anonymous client may use: the "
        "cost bucket, charged after each request with what it took. A cached layer costs ~1 ms, an "
        "uncached layer variant ~60 ms.",
    )
    cost_burst_ms: float = Field(
        5000.0, gt=0, description="Server time an anonymous client may use at once after a quiet spell."
    )
    max_clients: int = Field(100_000, ge=1, description="Buckets kept; the least recently used go first.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Peers whose X-Forwarded-For (last hop) names the client; others are taken as is.",
    )
    max_time_range_days: float = Field(
        31.0, gt=0, description="Widest since..until span of an event query (days)."
    )
    max_bbox_deg2: float = Field(
        1.0, gt=0, description="Largest bbox of an event query, in square degrees (Lạng Sơn ≈ 0.75)."
    )

    def per_instance(self, instances: int) -> LimitSettings:
        """Return these limits as one of `instances` instances behind a balancer enforces them: every
        rate and burst divided by the number of instances (a client's requests spread over all)."""
        if instances <= 1:
            return self
        n = float(instances)
        return self.model_copy(
            update={
                "ingest_rate": self.ingest_rate / n,
                "ingest_burst": max(1, math.ceil(self.ingest_burst / n)),
                "report_rate": self.report_rate / n,
                "report_burst": max(1, math.ceil(self.report_burst / n)),
                "query_rate": self.query_rate / n,
                "query_burst": max(1, math.ceil(self.query_burst / n)),
                "cost_rate_ms": self.cost_rate_ms / n,
                "cost_burst_ms": self.cost_burst_ms / n,
            }
        )

    def rate_of(self, cls: RateClass) -> tuple[float, int]:
        """Return (rate per second, burst) of a request class."""
        if cls == "ingest":
            return self.ingest_rate, self.ingest_burst
        if cls == "report":
            return self.report_rate, self.report_burst
        if cls == "cost":
            return self.cost_rate_ms, int(self.cost_burst_ms)
        return self.query_rate, self.query_burst


class JobSettings(BaseModel):
    """Limits of the scenario job service (``TWIN_JOBS_<NAME>``)."""

    #: Jobs running at once (each is one worker process; the machine has 2 cores).
    max_concurrent: int = Field(2, ge=1, le=64)
    #: Jobs waiting in line; beyond this a submit answers 429.
    max_queued: int = Field(20, ge=0, le=10_000)
    #: Dask scheduler address for sweeps (empty: a LocalCluster on this machine).
    scheduler: str | None = None


class RetentionSettings(BaseModel):
    """How long data is kept (``TWIN_RETENTION_<NAME>``)."""

    events_days: float = Field(
        90.0, gt=0, description="Camera events whose start time is older than this are deleted."
    )
    contact_days: float = Field(
        30.0,
        ge=0,
        description="A closed citizen report's contact details are erased this long after it closed.",
    )


class ClusterSettings(BaseModel):
    """Several service instances on one PostgreSQL store behind a load balancer (``TWIN_CLUSTER_<NAME>``)."""

    enabled: bool = Field(
        False,
        description="Run as one of several instances: the stream fans out through PostgreSQL "
        "LISTEN/NOTIFY, one leader (advisory lock) evaluates the alert rules, scenario jobs hold leases.",
    )
    name: str | None = Field(None, max_length=64, description="This instance's name (default host:pid).")
    instances: int = Field(
        1,
        ge=1,
        le=64,
        description="Instances behind the balancer: each enforces 1/N of every rate limit and burst "
        "(rate limits are per instance and divided, not shared; a round-robin balancer spreads a "
        "client's requests evenly).",
    )
    job_lease_s: float = Field(
        15.0, gt=0, description="A running job whose instance has not renewed its lease this long fails."
    )


class Settings(BaseSettings):
    """Service and CLI settings; see the module docstring for the environment names."""

    # "_" splits a section from its field once: TWIN_JOBS_MAX_CONCURRENT -> jobs.max_concurrent.
    # Unknown keyword arguments are refused, so a renamed field fails loudly instead of being ignored.
    model_config = SettingsConfigDict(
        env_prefix="TWIN_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        populate_by_name=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    state_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "langson-twin")
    h3_res: int = DEFAULT_RES
    road_source: Literal["synthetic", "osm"] = "synthetic"
    osm_file: Path | None = None
    seed: int = 2025
    #: Store DSN: ``sqlite:///path`` (default, under state_dir) or ``postgresql://...``.
    store_dsn: str | None = None
    #: Start the synthetic event replayer inside `twin serve` (gentle rate) so the map is alive.
    replay: bool = True
    replay_rate: float = Field(2.0, ge=0)
    #: Seconds between the one-line live status in the service log (events in, reports, alerts, stream
    #: clients and drops); 0 turns it off.
    status_log_s: float = Field(60.0, ge=0)
    #: Seconds between the forecast worker's rounds: it makes the next-hour traffic forecast again when
    #: newer counts arrived and publishes it on the stream (`api.services.forecast`); 0 turns it off.
    forecast_every_s: float = Field(300.0, ge=0)
    #: Hours of the newest counts the forecast worker re-calibrates on (a rolling window, 1–6 h, the
    #: longest one calibration fits): when the counts reach a whole hour past the newest calibration's
    #: end it queues a calibration job of the window ending there; 0 leaves it to manual jobs.
    recalibrate_window_h: int = Field(0, ge=0, le=6)
    #: Optional online basemap style URL for deployments with internet (the viewer is offline otherwise).
    basemap_url: str | None = None
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )
    #: Require credentials (API keys, the viewer's session) on every non-public route. Only an explicit
    #: ``TWIN_AUTH=off`` (local development) turns it off: then every request acts as admin.
    auth: bool = True
    #: Lifetime of the viewer's session cookie (set by GET /login), in hours.
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    #: HMAC key of session cookies; default: a random one kept in ``state_dir/session-secret`` (0600).
    session_secret: SecretStr | None = None
    #: Camera-gateway key of the in-process replayer; default: created and kept in the state folder.
    replay_key: SecretStr | None = None

    data: DataSettings = Field(default_factory=DataSettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    # The environment prefix is singular (TWIN_LIMIT_*), as documented since the limits landed.
    limits: LimitSettings = Field(
        default_factory=LimitSettings, validation_alias=AliasChoices("limits", "twin_limit")
    )
    jobs: JobSettings = Field(default_factory=JobSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)

    @field_validator("h3_res")
    @classmethod
    def _res(cls, v: int) -> int:
        return check_resolution(v, "TWIN_H3_RES")
