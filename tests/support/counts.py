"""Camera traffic counts for tests: the hidden truth's (synthetic) as ``POST /counts`` items."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from api.services.traffic_counts import messages_of
from simulations.traffic.calibrate import truth_counts
from simulations.traffic.params import TrafficParams
from twin.cameras import watched_links
from twin.city import City
from twin.crs import LOCAL_OFFSET


def truth_items(
    city: City, day: datetime, days: tuple[tuple[int, int], ...] = ((0, 2), (-7, 3))
) -> list[dict[str, Any]]:
    """Return the connected cameras' counts of the hidden truth (seed 7) from `day`'s local hour on,
    for each (day offset, hours) of `days` (default: 2 h of `day` and 3 h of a week before)."""
    watch = watched_links(city.cameras[city.cameras["connected"]], city.network)
    start = (day + LOCAL_OFFSET).hour * 3600
    items: list[dict[str, Any]] = []
    for offset, hours in days:
        table, _ = truth_counts(TrafficParams(), city.network, city.cells(), watch, start_local_s=start,
                                hours=hours, seed=7, day=offset)  # fmt: skip
        items += messages_of(table, day + timedelta(days=offset))
    return items
