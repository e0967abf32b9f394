"""One `Settings` object for the service and the CLI, read from ``TWIN_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_data.fetch import default_cache_dir
from twin.resolution import DEFAULT_RES, check_resolution


class Settings(BaseSettings):
    """Service settings; every field can be set as ``TWIN_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="TWIN_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Field(default_factory=default_cache_dir)
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

    @field_validator("h3_res")
    @classmethod
    def _res(cls, v: int) -> int:
        return check_resolution(v, "TWIN_H3_RES")
