"""The shipped example site file (`examples/gateway.toml`) is a file the gateway accepts, with one
source of each kind the README's how-to describes, so the how-to cannot drift from what runs."""

from __future__ import annotations

from pathlib import Path

from api.gateway.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway.toml"


def test_example_site_file_loads_with_every_source_kind() -> None:
    cfg = load_config(EXAMPLE)
    kinds = {s.kind for s in cfg.sources}
    assert kinds == {"frigate", "isapi", "onvif"}
    onvif = next(s for s in cfg.sources if s.kind == "onvif")
    assert onvif.url == "http://192.168.1.80"
    assert onvif.password_env == "ONVIF_CAMERA_PASSWORD"
    assert {r.what for r in onvif.rules} >= {"CellMotionDetector/Motion", "LineDetector/Crossed"}
    # every source maps at least one device camera to a registry id, and no registry id twice
    ids = [c for s in cfg.sources for c in s.cameras.values()]
    assert all(s.cameras for s in cfg.sources)
    assert len(ids) == len(set(ids)) == len(cfg.registry_cameras())
    assert cfg.queue.path.parent == EXAMPLE.parent
