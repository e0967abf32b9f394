"""Write ``sample_events.geojson``: a small SYNTHETIC day of camera events, shaped as ``GET /events`` answers.

Every feature comes from `api.services.geojson.event_feature` (the route's own encoder) and says
``synthetic: true``; the collection carries a ``provenance`` member saying how it was made. Times are
UTC (``Z``). Run from the repository root::

    .venv/bin/python examples/events/make_sample.py
    twin hotspots --events examples/events/sample_events.geojson --window 1h
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from api.responses import dumps
from api.services.geojson import event_feature
from api.settings import Settings
from api.store.base import EventRecord
from gis_data.city import build_city
from twin import h3grid

OUT = Path(__file__).with_name("sample_events.geojson")
SEED = 19
N = 160
DAY = datetime(2026, 11, 20, tzinfo=UTC) - timedelta(hours=7)  # 20 Nov 2026 00:00 in Lạng Sơn (UTC+7)


def main() -> None:
    settings = Settings()
    city = build_city(settings.data.dir, seed=settings.seed)
    cams = city.cameras[city.cameras["connected"].astype(bool)].reset_index(drop=True)
    rng = np.random.default_rng(SEED)
    busy = cams.iloc[rng.choice(len(cams), 3, replace=False)]  # three busy junctions: the hotspots
    cats = ["congestion", "accident", "illegal_dumping", "crowding"]
    features = []
    for i in range(N):
        cam = busy.iloc[i % 3] if i < N // 2 else cams.iloc[int(rng.integers(len(cams)))]
        at = DAY + timedelta(hours=float(rng.uniform(6, 22)))
        lon = float(cam.geometry.x) + float(rng.normal(0, 1e-4))
        lat = float(cam.geometry.y) + float(rng.normal(0, 1e-4))
        cells = {r: int(h3grid.latlng_to_cells([lat], [lon], r)[0]) for r in (7, 8, 9, 10)}
        record = EventRecord(
            event_id=f"sample-{i:04d}",
            camera_id=str(cam["camera_id"]),
            category="congestion" if i < N // 2 else cats[int(rng.integers(len(cats)))],
            severity="medium",
            confidence=0.9,
            lifecycle="end",
            start_time=at.replace(microsecond=0),
            end_time=(at + timedelta(minutes=float(rng.uniform(2, 20)))).replace(microsecond=0),
            lon=round(lon, 6),
            lat=round(lat, 6),
            cells=cells,
            ward_code=str(cam["ward_code"]),
            attributes={"synthetic": True, "source": "examples/events/make_sample.py"},
            synthetic=True,
            received_at=at.replace(microsecond=0),
            updated_at=at.replace(microsecond=0),
        )
        features.append(event_feature(record, 9))
    doc = {
        "type": "FeatureCollection",
        "synthetic": True,
        "provenance": {
            "name": "sample_events",
            "source": "synthetic",
            "synthetic": True,
            "description": f"{N} SYNTHETIC camera events on 20 Nov 2026 (Lạng Sơn time), seed {SEED}, at the "
            "synthetic camera sites; half of them at three busy junctions. Not real data. Times in UTC.",
            "made_by": "examples/events/make_sample.py",
        },
        "features": features,
    }
    OUT.write_bytes(dumps(doc))
    print(f"wrote {OUT} ({N} synthetic events)")


if __name__ == "__main__":
    main()
