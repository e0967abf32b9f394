"""One `Settings`: every documented ``TWIN_*`` name reaches its field, CLI options fall back to it,
``TWIN_REPLAY=false`` turns `twin serve`'s replayer off, old option names still work, and nothing else
in the product reads the environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from api.cli import serve as serve_mod
from api.cli.base import app
from api.settings import LimitSettings, Settings

ROOT = Path(__file__).resolve().parents[2]

#: Every name the README, PRIVACY.md and the docs tell operators to set, with a value and where it lands.
DOCUMENTED: list[tuple[str, str, tuple[str, ...], Any]] = [
    ("TWIN_HOST", "0.0.0.0", ("host",), "0.0.0.0"),
    ("TWIN_PORT", "8123", ("port",), 8123),
    ("TWIN_STATE_DIR", "/tmp/state-x", ("state_dir",), Path("/tmp/state-x")),
    ("TWIN_DATA_DIR", "/tmp/data-x", ("data", "dir"), Path("/tmp/data-x")),
    ("TWIN_DATA_URL", "https://mirror.example/langson", ("data", "url"), "https://mirror.example/langson"),
    ("TWIN_DATA_MIRROR", "/tmp/mirror-x", ("data", "mirror"), Path("/tmp/mirror-x")),
    ("TWIN_STORE_DSN", "postgresql://u@h/db", ("store_dsn",), "postgresql://u@h/db"),
    ("TWIN_H3_RES", "8", ("h3_res",), 8),
    ("TWIN_ROAD_SOURCE", "osm", ("road_source",), "osm"),
    ("TWIN_SEED", "7", ("seed",), 7),
    ("TWIN_REPLAY", "false", ("replay",), False),
    ("TWIN_REPLAY_RATE", "3.5", ("replay_rate",), 3.5),
    ("TWIN_STATUS_LOG_S", "0", ("status_log_s",), 0.0),
    ("TWIN_FORECAST_EVERY_S", "0", ("forecast_every_s",), 0.0),
    ("TWIN_RECALIBRATE_WINDOW_H", "3", ("recalibrate_window_h",), 3),
    (
        "TWIN_BASEMAP_URL",
        "https://tiles.example/style.json",
        ("basemap_url",),
        "https://tiles.example/style.json",
    ),
    ("TWIN_CORS_ORIGINS", '["https://ioc.example"]', ("cors_origins",), ["https://ioc.example"]),
    ("TWIN_AUTH", "off", ("auth",), False),
    ("TWIN_SESSION_HOURS", "6", ("session_hours",), 6.0),
    ("TWIN_LIVE_QUEUE_SIZE", "77", ("live", "queue_size"), 77),
    ("TWIN_LIVE_TICK_S", "9", ("live", "tick_s"), 9.0),
    ("TWIN_LIVE_STREAM_WINDOW", "500", ("live", "stream_window"), 500),
    ("TWIN_LIMIT_ENABLED", "false", ("limits", "enabled"), False),
    ("TWIN_LIMIT_INGEST_RATE", "123", ("limits", "ingest_rate"), 123.0),
    ("TWIN_LIMIT_INGEST_BURST", "45", ("limits", "ingest_burst"), 45),
    ("TWIN_LIMIT_REPORT_RATE", "0.25", ("limits", "report_rate"), 0.25),
    ("TWIN_LIMIT_REPORT_BURST", "3", ("limits", "report_burst"), 3),
    ("TWIN_LIMIT_COST_RATE_MS", "50", ("limits", "cost_rate_ms"), 50.0),
    ("TWIN_LIMIT_TRUSTED_PROXIES", '["10.0.0.1"]', ("limits", "trusted_proxies"), ["10.0.0.1"]),
    ("TWIN_LIMIT_MAX_TIME_RANGE_DAYS", "7", ("limits", "max_time_range_days"), 7.0),
    ("TWIN_JOBS_MAX_CONCURRENT", "3", ("jobs", "max_concurrent"), 3),
    ("TWIN_JOBS_MAX_QUEUED", "4", ("jobs", "max_queued"), 4),
    ("TWIN_JOBS_SCHEDULER", "tcp://10.0.0.2:8786", ("jobs", "scheduler"), "tcp://10.0.0.2:8786"),
    ("TWIN_RETENTION_EVENTS_DAYS", "14", ("retention", "events_days"), 14.0),
    ("TWIN_RETENTION_CONTACT_DAYS", "5", ("retention", "contact_days"), 5.0),
    ("TWIN_CLUSTER_ENABLED", "true", ("cluster", "enabled"), True),
    ("TWIN_CLUSTER_NAME", "máy-2", ("cluster", "name"), "máy-2"),
    ("TWIN_CLUSTER_INSTANCES", "3", ("cluster", "instances"), 3),
    ("TWIN_CLUSTER_JOB_LEASE_S", "20", ("cluster", "job_lease_s"), 20.0),
]


def _get(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value


@pytest.mark.parametrize(("name", "raw", "path", "want"), DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_documented_environment_names(
    name: str, raw: str, path: tuple[str, ...], want: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, raw)
    assert _get(Settings(), path) == want


def test_every_documented_name_is_covered() -> None:
    """A ``TWIN_<NAME>`` the docs mention but this test does not set is a name that may have broken."""
    text = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [ROOT / "README.md", ROOT / "PRIVACY.md", *sorted((ROOT / "docs").rglob("*.md"))]
        if p.is_file()
    )
    mentioned = set(re.findall(r"TWIN_[A-Z0-9_]*[A-Z0-9]", text))
    # client-side CLI credentials (typer envvar of `twin replay`) and test switches, not service settings
    not_settings = {"TWIN_API_KEY", "TWIN_REPORT_KEY", "TWIN_WEB_TESTS", "TWIN_CHROMIUM", "TWIN_REPLAY_KEY",
                    "TWIN_SESSION_SECRET", "TWIN_SDM_SCHEMAS"}  # fmt: skip
    prefixes = {"TWIN_LIMIT", "TWIN_LIVE", "TWIN_JOBS", "TWIN_RETENTION", "TWIN_DATA", "TWIN_CLUSTER"}
    assert mentioned - {d[0] for d in DOCUMENTED} - not_settings - prefixes == set()


def test_secrets_and_sections_are_one_settings_object(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_REPLAY_KEY", "lst_x")
    monkeypatch.setenv("TWIN_SESSION_SECRET", "s" * 32)
    s = Settings()
    assert s.replay_key is not None
    assert s.replay_key.get_secret_value() == "lst_x"
    assert s.session_secret is not None
    # sections are plain models, passed in by code (no second environment reader)
    for section in (s.data, s.live, s.limits, s.jobs, s.retention):
        assert isinstance(section, BaseModel)
    assert Settings(limits=LimitSettings(query_rate=2.0)).limits.query_rate == 2.0


def test_unknown_keyword_is_refused() -> None:
    """A renamed field (data_dir became data.dir) fails loudly instead of being ignored."""
    with pytest.raises(ValueError, match="data_dir"):
        Settings(data_dir=Path("/tmp"))  # type: ignore[call-arg]


def _serve_settings(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> Settings:
    got: dict[str, Any] = {}

    def fake_create_app(settings: Settings) -> object:
        got["settings"] = settings
        return object()

    monkeypatch.setattr("api.app.create_app", fake_create_app)
    monkeypatch.setattr(serve_mod.uvicorn, "run", lambda *a, **k: None)
    result = CliRunner().invoke(app, ["serve", "--no-warm", *args])
    assert result.exit_code == 0, result.output
    settings = got["settings"]
    assert isinstance(settings, Settings)
    return settings


def test_twin_replay_false_turns_the_replayer_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_REPLAY", "false")
    monkeypatch.setenv("TWIN_PORT", "8123")
    s = _serve_settings(monkeypatch, [])
    assert s.replay is False
    assert s.port == 8123
    # an explicit option still wins over the environment
    assert _serve_settings(monkeypatch, ["--replay"]).replay is True
    monkeypatch.delenv("TWIN_REPLAY")
    assert _serve_settings(monkeypatch, []).replay is True
    assert _serve_settings(monkeypatch, ["--no-replay", "--port", "9001"]).port == 9001


def test_old_option_names_still_work(tmp_path: Path) -> None:
    runner = CliRunner()
    new = runner.invoke(app, ["data", "info", "--data-dir", str(tmp_path)])
    old = runner.invoke(app, ["data", "info", "--cache-dir", str(tmp_path)])
    assert new.exit_code == 0, new.output
    assert old.exit_code == 0, old.output
    assert "deprecated" in old.output
    assert "--data-dir" in old.output
    assert str(tmp_path) in " ".join(new.output.split()).replace("\n", "")
    dsn = f"sqlite:///{tmp_path / 'events.sqlite3'}"
    for opt in ("--store-dsn", "--dsn"):
        r = runner.invoke(app, ["keys", "list", opt, dsn, "--json"])
        assert r.exit_code == 0, r.output
    helps = runner.invoke(app, ["data", "info", "--help"]).output
    assert "--data-dir" in helps
    assert "--cache-dir" not in helps


def test_data_dir_falls_back_to_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path / "from-env"))
    r = CliRunner().invoke(app, ["data", "info"])
    assert r.exit_code == 0, r.output
    assert "from-env" in r.output


def test_only_settings_reads_the_environment() -> None:
    """grep: no os.environ / getenv reads in the product outside api/settings.py and api/environ.py.

    `api.environ` is the one raw reader, for secrets that config files name by variable (the camera
    gateway's key and camera passwords; the gateway may not import `api.settings`).
    """
    pattern = re.compile(r"os\.environ|getenv\(|environ\.get")
    offenders = [
        f"{p.relative_to(ROOT)}:{i}"
        for pkg in ("twin", "gis_data", "simulations", "api")
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if p not in (ROOT / "api" / "settings.py", ROOT / "api" / "environ.py")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
    classes = [
        f"{p.relative_to(ROOT)}"
        for pkg in ("twin", "gis_data", "simulations", "api")
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if "(BaseSettings)" in p.read_text(encoding="utf-8")
    ]
    assert classes == ["api/settings.py"]
