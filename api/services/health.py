"""Camera health: heartbeats (and events) mark a camera seen; silent for longer than T means offline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api.services.city import CityContext

Status = str  # "online" | "offline" | "not_connected"


@dataclass(frozen=True, slots=True)
class CameraState:
    """A camera's live status."""

    camera_id: str
    status: Status
    last_seen: datetime | None
    connected: bool


class CameraHealth:
    """Track when each registry camera was last seen and derive its status.

    A camera is ``online`` if seen within `offline_after`, ``offline`` if connected (in the registry's
    connected set, or ever seen) but silent longer, and ``not_connected`` if it has never reported and
    the registry does not list it as connected to the IOC.

    Parameters
    ----------
    ctx
        The city context (camera registry).
    offline_after
        Silence after which a camera counts as offline.
    last_seen
        Last-seen times restored from the store.
    """

    def __init__(
        self,
        ctx: CityContext,
        offline_after: timedelta,
        last_seen: dict[str, datetime] | None = None,
    ) -> None:
        self.ctx = ctx
        self.offline_after = offline_after
        self.last_seen: dict[str, datetime] = {k: v for k, v in (last_seen or {}).items() if k in ctx.cameras}
        self._reported: dict[str, Status] = {}

    def seen(self, camera_id: str, at: datetime) -> None:
        """Record that `camera_id` showed a sign of life at `at` (a later time wins)."""
        prev = self.last_seen.get(camera_id)
        if prev is None or at > prev:
            self.last_seen[camera_id] = at

    def state(self, camera_id: str, now: datetime) -> CameraState:
        """Return the live state of one camera."""
        seen = self.last_seen.get(camera_id)
        connected = camera_id in self.ctx.connected_ids or seen is not None
        if seen is None:
            status = "offline" if connected else "not_connected"
        else:
            status = "online" if now - seen <= self.offline_after else "offline"
        return CameraState(camera_id, status, seen, connected)

    def states(self, now: datetime) -> list[CameraState]:
        """Return the states of every registry camera, in registry order."""
        return [self.state(cid, now) for cid in self.ctx.cameras]

    def summary(self, now: datetime) -> dict[str, int]:
        """Return counts: online, offline, connected, not_connected, total."""
        online = offline = not_connected = 0
        for s in self.states(now):
            if s.status == "online":
                online += 1
            elif s.status == "offline":
                offline += 1
            else:
                not_connected += 1
        return {
            "online": online,
            "offline": offline,
            "connected": online + offline,
            "not_connected": not_connected,
            "total": len(self.ctx.cameras),
        }

    def transitions(self, now: datetime) -> list[CameraState]:
        """Return the cameras whose status changed since the previous call."""
        changed = []
        for s in self.states(now):
            if self._reported.get(s.camera_id) != s.status:
                if s.camera_id in self._reported:
                    changed.append(s)
                self._reported[s.camera_id] = s.status
        return changed

    def silent_for(self, camera_id: str, now: datetime) -> timedelta | None:
        """Return how long a camera has been silent (None if never seen)."""
        seen = self.last_seen.get(camera_id)
        return None if seen is None else now - seen
