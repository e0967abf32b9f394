"""The next-hour nowcast against the hidden truth (issue 14): errors of the forecast link counts at
+15/+30/+60 min against two baselines, persistence ("as now") and historical ("as this time last week").

Workload (synthetic, `simulations.traffic.calibrate.truth_counts`, seed 7): the counting cameras'
5-min counts of a replayed day 06:00–10:00 local and of the same hours a week before (the same truth
demand times a day factor, lognormal σ 0.08, another seed). The demand the nowcast rests on is a
calibration (GLS, 2 outer iterations) on last week's 07:00–10:00 counts, so nothing of the replayed
day is fitted. Forecasts are made at 08:00, 08:30 and 09:00 with the replayed day's counts up to that
time (and last week's); each horizon's figure is the rate (veh/h) of the 15 minutes ending at it per
counted link, scored against the replayed day's counts that came later: MAE and RMSE in % of the mean
observed rate and GEH < 5 share, over the same link-horizons for all three methods. Link speeds are
not scored (the truth's counts carry no speeds). Results in ``bench/results/forecast.json``.

    flock /tmp/twin-heavy.lock .venv/bin/python -m bench.run_all forecast
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from bench.harness import Row, write_results

ORIGINS_S = (8 * 3600, 8 * 3600 + 1800, 9 * 3600)
DETAIL = Path(__file__).parent / "results" / "forecast_detail.json"


def main() -> None:
    """Replay the truth, calibrate on last week, forecast at each origin; print and write the errors."""
    from gis_data.city import build_city  # noqa: PLC0415
    from simulations.traffic import calibrate as cb  # noqa: PLC0415
    from simulations.traffic import forecast as fc  # noqa: PLC0415
    from simulations.traffic.params import TrafficParams  # noqa: PLC0415
    from twin.cameras import watched_links  # noqa: PLC0415

    city = build_city()
    net, cells = city.network, city.cells()
    watch = watched_links(city.cameras[city.cameras["connected"]], net)
    today, _ = cb.truth_counts(TrafficParams(), net, cells, watch, start_local_s=6 * 3600, hours=4, seed=7)
    week, _ = cb.truth_counts(TrafficParams(), net, cells, watch, start_local_s=6 * 3600, hours=4, seed=7,
                              day=-7)  # fmt: skip
    cal = cb.calibrate(week, prior=TrafficParams(), network=net, cells=cells, start_local_s=7 * 3600,
                       hours=3, holdout=0.3, seed=2025, outer=2,
                       cameras=list(watch["camera_id"].unique()))  # fmt: skip
    last_week = week.assign(t_s=week["t_s"] - fc.WEEK_S)
    tables, walls = [], []
    for origin in ORIGINS_S:
        seen = pd.concat([today[today["t_s"] < origin], last_week], ignore_index=True)
        t0 = time.perf_counter()
        nc = fc.nowcast(seen, params=cal.fit.params, network=net, cells=cells, as_of_s=origin)
        walls.append(time.perf_counter() - t0)
        tables.append(fc.with_actual(nc, today).assign(origin_s=origin))
    table = pd.concat(tables, ignore_index=True)
    errs = fc.errors(table)
    rows = []
    for h, per in errs.items():
        now, pers, hist = per["nowcast"], per["persistence"], per["historical"]
        print(f"+{h} min (n {per['n']}): MAE nowcast {now['mae_pct']:.1f} %, "
              f"persistence {pers['mae_pct']:.1f} %, last week {hist['mae_pct']:.1f} %")  # fmt: skip
        keys = ("mae_pct", "rmse_pct", "geh_lt5_share")
        figures = {f"{m}_{k}": per[m][k] for m in fc.METHODS for k in keys}
        extra = {"synthetic": True, "n": per["n"], "origins_local_s": list(ORIGINS_S), **figures}
        rows.append(Row(f"nowcast +{h} min: MAE of link counts (Lạng Sơn, replayed synthetic day)",
                        now["mae_pct"], "persistence (as now)", pers["mae_pct"], "%", "lower", None, None,
                        extra))  # fmt: skip
        rows.append(Row(f"nowcast +{h} min: MAE of link counts", now["mae_pct"], "historical (as last week)",
                        hist["mae_pct"], "%", "lower", None, None, extra))  # fmt: skip
    write_results("forecast", rows)
    DETAIL.write_text(json.dumps({"errors": errs, "forecast_wall_s": [round(w, 1) for w in walls],
                                  "calibration_held_out": cal.report["held_out"], "synthetic": True},
                                 indent=2) + "\n", encoding="utf-8")  # fmt: skip


if __name__ == "__main__":
    main()
