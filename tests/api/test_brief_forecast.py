"""The briefing's "next hour" section (issue 14): the forecast from the stored traffic counts (the
hidden truth's, synthetic) per horizon against both baselines, with its backtest error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.briefing import collect, parse_period, write_briefing
from api.briefing.text import num
from api.services.forecast import summary_until
from api.store import default_dsn, open_store
from tests.api.test_events_support import *  # noqa: F403  (fixtures: city)
from tests.api.test_events_support import key_headers, live_client
from tests.support.counts import truth_items
from twin.city import City

DAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def test_briefing_has_the_next_hour_forecast(tmp_path: Path, city: City, data_dir: Path) -> None:
    items = truth_items(city, DAY)
    with live_client(city, tmp_path, data_dir) as client:
        gateway = key_headers(client.app, "camera-gateway")
        for i in range(0, len(items), 500):
            r = client.post("/counts", json={"counts": items[i : i + 500]}, headers=gateway)
            assert r.status_code == 200, r.text
    store = open_store(default_dsn(tmp_path))
    try:
        period = parse_period("24h", end=DAY + timedelta(hours=3))
        facts = collect(store, city, period=period)
        facts.forecast = summary_until(store, city, tmp_path, period.end)
    finally:
        store.close()
    fc = facts.forecast
    assert fc is not None
    assert fc["as_of"] == (DAY + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    out = write_briefing(facts, city, tmp_path / "en", "en")
    html = out.html.read_text(encoding="utf-8")
    section = html[html.index('id="forecast"') :]
    section = section[: section.index("</section>")]
    assert "Traffic in the next hour" in section
    assert "the baseline (not calibrated yet)" in section  # no calibration job in this store
    for h in ("15", "30", "60"):
        tot = fc["counted_totals_veh_h"][h]
        assert f"+{h} min" in section
        for m in ("nowcast", "persistence", "historical"):
            assert f'<td class="n">{num(tot[m], "en")}</td>' in section
        err = fc["backtest"]["errors"][h]
        assert f"{num(err['nowcast']['mae_pct'], 'en')} %" in section
    # without counts the section says so
    empty = tmp_path / "empty"
    store = open_store(default_dsn(empty))
    try:
        assert summary_until(store, city, empty, period.end) is None
    finally:
        store.close()
