"""Resource limits of the service: rate-limit settings, token buckets and query-cost caps.

Everything here is plain Python (no ASGI): `api.middleware` applies the rate limits to requests, and
routes call the query-cost checks (`check_event_query`) before they touch the store. The figures come
from the ``limits`` section of `api.settings.Settings` (``TWIN_LIMIT_*``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.settings import LimitSettings, RateClass
from twin.errors import InputError


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """Token buckets keyed by (client, class), bounded in number (least recently used evicted).

    Parameters
    ----------
    settings
        The rates and bursts.
    clock
        Monotonic seconds (injectable for tests).
    """

    def __init__(self, settings: LimitSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()
        self.refused: dict[str, int] = {"ingest": 0, "report": 0, "query": 0, "cost": 0}

    def take(self, client: str, cls: RateClass, cost: float = 1.0) -> float:
        """Take `cost` tokens; return 0 if allowed, else the seconds until the request would be.

        Parameters
        ----------
        client
            The client key (IP address or hashed API key).
        cls
            The request class.
        cost
            Tokens this request takes.

        Returns
        -------
        float
            0.0 when the request may proceed, else the wait in seconds (> 0).
        """
        rate, _ = self.settings.rate_of(cls)
        with self._lock:
            b = self._refilled(client, cls)
            if b.tokens >= cost:
                b.tokens -= cost
                return 0.0
            self.refused[cls] += 1
            return (cost - b.tokens) / rate

    def _refilled(self, client: str, cls: RateClass) -> _Bucket:
        rate, burst = self.settings.rate_of(cls)
        now = self.clock()
        key = (client, cls)
        b = self._buckets.get(key)
        if b is None:
            b = _Bucket(float(burst), now)
            self._buckets[key] = b
            if len(self._buckets) > self.settings.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            b.tokens = min(float(burst), b.tokens + (now - b.at) * rate)
            b.at = now
        return b

    def in_debt(self, client: str, cls: RateClass) -> float:
        """Return 0 when the client's bucket of `cls` holds tokens, else the seconds until it will.

        With `charge` this makes a bucket that is paid after the fact: the cost bucket, charged with
        the server time a request took, refuses the client's next requests while it is in debt.
        """
        rate, _ = self.settings.rate_of(cls)
        with self._lock:
            b = self._refilled(client, cls)
            if b.tokens > 0:
                return 0.0
            self.refused[cls] += 1
            return (1.0 - b.tokens) / rate

    def charge(self, client: str, cls: RateClass, amount: float) -> None:
        """Take `amount` tokens after the fact; the debt is bounded by one burst."""
        _, burst = self.settings.rate_of(cls)
        with self._lock:
            b = self._refilled(client, cls)
            b.tokens = max(-float(burst), b.tokens - amount)

    def __len__(self) -> int:
        """Return the number of buckets held."""
        return len(self._buckets)


def retry_after_seconds(wait: float) -> int:
    """Return the Retry-After value (whole seconds, at least 1) for a wait in seconds."""
    return max(1, math.ceil(wait))


def classify(method: str, path: str) -> RateClass:
    """Return the rate class of a request by method and path."""
    if method == "POST":
        if path in ("/events", "/events/batch") or path.endswith("/heartbeat"):
            return "ingest"
        if path.startswith("/open311/") and path.endswith(("requests.json", "requests.xml")):
            return "report"
    return "query"


def limits_of(app_state: Any) -> LimitSettings:
    """Return the limits installed on an app's state (`api.middleware.install_limits`), or defaults."""
    got = getattr(app_state, "limits", None)
    return got if isinstance(got, LimitSettings) else LimitSettings()


def check_event_query(
    limits: LimitSettings,
    since: datetime | None,
    until: datetime | None,
    bbox: tuple[float, float, float, float] | None,
    *,
    now: datetime | None = None,
) -> None:
    """Refuse an event query whose time span or area would make it costly.

    Parameters
    ----------
    limits
        The caps (`LimitSettings.max_time_range_days`, `max_bbox_deg2`).
    since, until
        The query's time bounds (aware); a missing `until` means now. A query with no `since` is
        newest-first over the time index with a row limit, so it is cheap and allowed.
    bbox
        (west, south, east, north), already validated.
    now
        The current time (for tests).

    Raises
    ------
    InputError
        Naming ``until``/``since`` when the span is negative or too wide, ``bbox`` when too large.
    """
    if since is not None:
        end = until if until is not None else (now or datetime.now(UTC))
        if until is not None and until < since:
            raise InputError("until", "must not be before since", hint="swap since and until")
        span_days = (end - since).total_seconds() / 86_400
        if span_days > limits.max_time_range_days:
            raise InputError(
                "since",
                f"time range of {span_days:.1f} days is wider than {limits.max_time_range_days:g} days",
                hint="query a narrower window and page through it, or export the data instead",
            )
    if bbox is not None:
        w, s, e, n = bbox
        area = (e - w) * (n - s)
        if area > limits.max_bbox_deg2:
            raise InputError(
                "bbox",
                f"area of {area:.2f} square degrees is larger than {limits.max_bbox_deg2:g}",
                hint="zoom in: the city of Lạng Sơn fits in 0.1 × 0.1 degrees",
            )
