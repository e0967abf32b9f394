"""A realistic synthetic event stream, sent through the public HTTP API and labelled synthetic.

The replayer reads the camera registry from ``GET /cameras`` and then plays the city's day at the
local time (UTC+7): rush-hour congestion at intersections and on the national-road corridors,
night-market crowding at Kỳ Lừa, illegal dumping near markets and the river's bridges at night,
accidents on the corridors, rare smoke and flooding; each detected object goes ``new`` → ``update``
→ ``end`` under one `event_id`. Connected cameras send heartbeats and some drop out for a while;
now and then a citizen files an Open311 report. Every event carries ``attributes.synthetic = true``.

`twin replay` runs it against a served twin; `twin serve` runs it in-process at a gentle rate.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from api.schemas import categories
from twin.crs import LOCAL_OFFSET

#: Kỳ Lừa ward code (the night market).
KY_LUA = "06187"
REPORT_SERVICES = (
    ("illegal_dumping", "Rác thải đổ trộm ven đường", 0.35),
    ("environmental_sanitation", "Rác chưa được thu gom", 0.2),
    ("sidewalk_encroachment", "Hàng quán lấn chiếm vỉa hè", 0.15),
    ("public_order", "Tụ tập gây ồn ào về đêm", 0.1),
    ("road_damage", "Ổ gà lớn trên đường", 0.1),
    ("street_lighting", "Đèn đường không sáng", 0.1),
)


@dataclass(frozen=True)
class Camera:
    """What the replayer knows of a camera (from GET /cameras)."""

    camera_id: str
    kind: str
    ward_code: str
    lon: float
    lat: float


def _camera_of(feature: dict[str, Any]) -> Camera:
    """Return the camera of one GeoJSON feature of GET /cameras."""
    props = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"][:2]
    return Camera(props["camera_id"], props["kind"], props["ward_code"], lon, lat)


@dataclass
class _Track:
    event_id: str
    camera: Camera
    category: str
    start: datetime
    updates_left: int
    severity: str
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReplayStats:
    """What the replayer sent and how the service answered."""

    events: int = 0
    heartbeats: int = 0
    reports: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as JSON-able values."""
        return {
            "events": self.events,
            "heartbeats": self.heartbeats,
            "reports": self.reports,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "outcomes": dict(self.outcomes),
            "errors": self.errors,
        }


#: Relative rate of an event category the day shapes below do not know (one added to the table).
BASE_WEIGHT = 0.03


def category_weights(camera: Camera, local: datetime) -> dict[str, float]:
    """Return the relative rate of each event category of the table at a camera at a local time.

    The categories and their default severity come from the category table; the city's day (rush
    hours, night market, dumping at night) shapes the ones it knows, any other has `BASE_WEIGHT`.
    """
    h = local.hour + local.minute / 60
    rush = math.exp(-(((h - 7.3) / 0.9) ** 2)) + math.exp(-(((h - 17.4) / 1.0) ** 2))
    evening = 1.0 if 18 <= h <= 23 else 0.1
    night = 1.0 if h >= 22 or h <= 5 else 0.15
    road = camera.kind in ("intersection", "corridor", "bridge")
    shaped = {
        "congestion": (4.0 * rush + 0.3) * (1.6 if camera.kind == "corridor" else 1.0) if road else 0.05,
        "accident": 0.06 * (1 + rush) * (2.5 if camera.kind == "corridor" else 1.0) if road else 0.005,
        "crowding": (
            3.0 * evening * (2.5 if camera.ward_code == KY_LUA else 1.0)
            if camera.kind in ("market", "public_square")
            else 0.3 * rush
            if camera.kind == "school"
            else 0.02
        ),
        "illegal_dumping": 0.4 * night if camera.kind in ("market", "bridge") else 0.02 * night,
        "fire_smoke": 0.01,
        "flooding": 0.02 if camera.kind == "bridge" else 0.003,
        "other": BASE_WEIGHT,
    }
    return {code: shaped.get(code, BASE_WEIGHT) for code in categories.table().event_codes}


class Replayer:
    """Generate and send the synthetic stream.

    Parameters
    ----------
    client
        An httpx client whose base URL is the twin (a real URL or an in-process ASGI transport).
    rate
        Target events per second (lifecycle messages included).
    seed
        Seed of the random stream (reproducible sequence of choices).
    heartbeat_s
        Period of each online connected camera's heartbeat.
    batch_above
        Send `/events/batch` requests when the rate exceeds this many events per second.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        rate: float = 2.0,
        seed: int = 2025,
        heartbeat_s: float = 30.0,
        batch_above: float = 20.0,
        report_share: float = 0.02,
        dropout_share: float = 0.08,
        report_key: str | None = None,
    ) -> None:
        self.client = client
        #: Citizen reports go with a reporter key when given (a camera-gateway key may not send them).
        self.report_headers = {"X-API-Key": report_key} if report_key else None
        self.rate = rate
        self.rng = random.Random(seed)
        self.heartbeat_s = heartbeat_s
        self.batch_above = batch_above
        self.report_share = report_share
        self.dropout_share = dropout_share
        self.cameras: list[Camera] = []
        self.tracks: list[_Track] = []
        self.down_until: dict[str, float] = {}
        self.stats = ReplayStats()
        self._seq = 0

    async def load_cameras(self) -> list[Camera]:
        """Read the connected cameras from GET /cameras (all cameras if none is connected).

        A camera-gateway key may not read the live fleet; then the registry comes from the public
        ``cameras`` layer (same ids, kinds, wards and positions), asked for without the key.
        """
        r = await self.client.get("/cameras")
        if r.status_code in (401, 403):
            req = self.client.build_request("GET", "/layers/cameras")
            for name in ("X-API-Key", "Authorization"):
                req.headers.pop(name, None)
            r = await self.client.send(req)
        r.raise_for_status()
        feats = r.json()["features"]
        cams = [_camera_of(f) for f in feats if f["properties"].get("connected")]
        if not cams:
            cams = [_camera_of(f) for f in feats]
        self.cameras = cams
        return cams

    def _up(self, cam: Camera, mono: float) -> bool:
        return self.down_until.get(cam.camera_id, 0.0) <= mono

    def next_event(self, now: datetime, mono: float) -> dict[str, Any]:
        """Return the next event message: a lifecycle step of a live track, or a new detection."""
        live = [t for t in self.tracks if self._up(t.camera, mono)]
        if live and self.rng.random() < 0.45:
            t = self.rng.choice(live)
            t.updates_left -= 1
            end = t.updates_left <= 0
            if end:
                self.tracks.remove(t)
            body = dict(t.body)
            body["lifecycle"] = "end" if end else "update"
            body["confidence"] = round(min(0.99, body["confidence"] + self.rng.uniform(-0.05, 0.08)), 3)
            if end:
                body["end_time"] = now.isoformat()
            else:
                body["attributes"] = {**body["attributes"], "count": body["attributes"]["count"] + 1}
            return body
        cams = [c for c in self.cameras if self._up(c, mono)] or self.cameras
        local = now + LOCAL_OFFSET
        weights = [category_weights(c, local) for c in cams]
        totals = [sum(w.values()) for w in weights]
        i = self.rng.choices(range(len(cams)), weights=totals)[0]
        cam = cams[i]
        cats = list(weights[i])
        category = self.rng.choices(cats, weights=[weights[i][c] for c in cats])[0]
        self._seq += 1
        event_id = f"{cam.camera_id}-{now:%Y%m%dT%H%M%S}-{self._seq:06d}-{uuid.uuid4().hex[:4]}"
        severity = self.rng.choices(["low", "medium", "high"], weights=[0.4, 0.45, 0.15])[0]
        row = categories.table().get(category)
        if row is not None and row.severity is not None:
            severity = row.severity
        # Detections sit within ~60 m of the camera, in its field of view.
        dlon = self.rng.gauss(0, 0.0004)
        dlat = self.rng.gauss(0, 0.0004)
        new_body: dict[str, Any] = {
            "event_id": event_id,
            "camera_id": cam.camera_id,
            "category": category,
            "severity": severity,
            "confidence": round(self.rng.uniform(0.55, 0.95), 3),
            "lifecycle": "new",
            "start_time": now.isoformat(),
            "position": {"lon": round(cam.lon + dlon, 6), "lat": round(cam.lat + dlat, 6)},
            "attributes": {"synthetic": True, "count": self.rng.randint(1, 40), "source": "replayer"},
        }
        track = _Track(event_id, cam, category, now, self.rng.randint(1, 4), severity, new_body)
        self.tracks.append(track)
        if len(self.tracks) > 500:
            self.tracks.pop(0)
        return new_body

    def next_report(self) -> dict[str, Any]:
        """Return a synthetic citizen report near a camera (labelled synthetic, no contact)."""
        codes, texts, weights = zip(*REPORT_SERVICES, strict=True)
        k = self.rng.choices(range(len(codes)), weights=weights)[0]
        cam = self.rng.choice(self.cameras)
        return {
            "service_code": codes[k],
            "lat": round(cam.lat + self.rng.gauss(0, 0.001), 6),
            "long": round(cam.lon + self.rng.gauss(0, 0.001), 6),
            "description": f"{texts[k]} (dữ liệu mô phỏng / synthetic)",
            "synthetic": True,
        }

    async def _post(
        self, path: str, json: Any, headers: dict[str, str] | None = None
    ) -> httpx.Response | None:
        try:
            r = await self.client.post(path, json=json, headers=headers)
        except httpx.HTTPError:
            self.stats.errors += 1
            return None
        self.stats.statuses[r.status_code] += 1
        return r

    async def send_events(self, bodies: list[dict[str, Any]]) -> None:
        """Send events, one per request or as one batch."""
        if len(bodies) == 1:
            r = await self._post("/events", bodies[0])
            if r is not None and r.status_code == 200:
                self.stats.outcomes[r.json()["status"]] += 1
        else:
            r = await self._post("/events/batch", {"events": bodies})
            if r is not None and r.status_code == 200:
                for k, v in r.json()["counts"].items():
                    self.stats.outcomes[k] += v
        self.stats.events += len(bodies)

    async def heartbeats(self, mono: float) -> None:
        """Send a heartbeat for each connected camera that is up; start and end drop-outs."""
        for cam in self.cameras:
            if not self._up(cam, mono):
                continue
            if self.rng.random() < self.dropout_share / 10:
                # A drop-out: silent for 3–15 minutes.
                self.down_until[cam.camera_id] = mono + self.rng.uniform(180, 900)
                continue
            await self._post(f"/cameras/{cam.camera_id}/heartbeat", None)
            self.stats.heartbeats += 1

    async def run(self, duration: float | None = None) -> ReplayStats:
        """Play the stream for `duration` seconds (forever if None) at the target rate."""
        if not self.cameras:
            await self.load_cameras()
        if not self.cameras:
            return self.stats
        t0 = time.monotonic()
        next_hb = t0
        per_tick = 1 if self.rate <= self.batch_above else max(1, int(self.rate * 0.25))
        interval = per_tick / self.rate if self.rate > 0 else 1.0
        next_send = t0
        while duration is None or time.monotonic() - t0 < duration:
            mono = time.monotonic()
            if mono >= next_hb:
                next_hb = mono + self.heartbeat_s
                await self.heartbeats(mono)
            now = datetime.now(UTC)
            bodies = [self.next_event(now, mono) for _ in range(per_tick)]
            await self.send_events(bodies)
            if self.rng.random() < self.report_share * per_tick:
                r = await self._post("/open311/v2/requests.json", self.next_report(), self.report_headers)
                if r is not None:
                    self.stats.reports += 1
            next_send += interval
            delay = next_send - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                next_send = time.monotonic()
                await asyncio.sleep(0)
        return self.stats


async def run_in_app(
    app: FastAPI,
    rate: float,
    *,
    seed: int = 2025,
    start_delay: float = 1.0,
    keys: dict[str, str] | None = None,
) -> None:
    """Run the replayer inside the app's process, through its own HTTP routes (ASGI transport).

    `keys` maps a role to the key to use: ``camera-gateway`` for events and heartbeats, ``reporter``
    for the synthetic citizen reports (none when authentication is off).
    """
    await asyncio.sleep(start_delay)
    keys = keys or {}
    transport = httpx.ASGITransport(app=app)
    gateway = keys.get("camera-gateway")
    headers = {"X-API-Key": gateway} if gateway else None
    async with httpx.AsyncClient(
        transport=transport, base_url="http://twin.internal", headers=headers
    ) as client:
        await Replayer(client, rate=rate, seed=seed, report_key=keys.get("reporter")).run()


async def send_traffic_counts(
    client: httpx.AsyncClient, items: list[dict[str, Any]], batch: int = 500
) -> int:
    """POST traffic-count messages (``POST /counts`` items, e.g. the hidden truth's) in batches.

    A separate path from the event stream above: the items come from a traffic run
    (`simulations.traffic.calibrate.truth_params`, labelled synthetic). Returns the rows the
    service stored as new or corrected; raises `httpx.HTTPStatusError` on a refused batch.
    """
    stored = 0
    for i in range(0, len(items), batch):
        r = await client.post("/counts", json={"counts": items[i : i + batch]})
        r.raise_for_status()
        rows = r.json()["rows"]
        stored += int(rows.get("created", 0)) + int(rows.get("updated", 0))
    return stored
