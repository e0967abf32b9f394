"""Calibration of the traffic demand to camera counts on the Lạng Sơn network (issue 14).

The hidden truth (`simulations.traffic.calibrate.truth_params`, seed 7, synthetic) runs 06:30–10:00
local; the 49 connected cameras that count traffic report every 5 min by class and direction
(`twin.cameras.watched_links`); `calibrate` fits the baseline's demand to 07:00–10:00 with 30 % of the
cameras held out (seed 2025) and reports GEH per camera-hour on held-out and fitted cameras, and the
uncalibrated prior's for reference. Wall time covers the prior run, the assignment, the fit, the
bi-level re-run and the evaluation run. Not done yet: the peer (SUMO routeSampler + meso) in the same
run. Results in ``bench/results/calibrate.json``.

    flock /tmp/twin-heavy.lock .venv/bin/python -m bench.run_all calibrate
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from gis_data.city import build_city
from simulations.traffic import calibrate as cb
from simulations.traffic.params import TrafficParams
from twin.cameras import watched_links

OUT = Path(__file__).parent / "results" / "calibrate.json"
START = 7 * 3600
HOURS = 3


def main() -> None:
    """Run the truth, calibrate, print and write the figures."""
    city = build_city()
    cells, net = city.cells(), city.network
    cams = city.cameras[city.cameras["connected"]]
    watch = watched_links(cams, net)
    t0 = time.perf_counter()
    counts, truth = cb.truth_counts(
        TrafficParams(), net, cells, watch, start_local_s=START, hours=HOURS, seed=7
    )
    t_truth = time.perf_counter() - t0
    results = {}
    for outer in (1, 2):
        cal = cb.calibrate(counts, prior=TrafficParams(), network=net, cells=cells, start_local_s=START,
                           hours=HOURS, holdout=0.3, seed=2025, outer=outer,
                           cameras=list(watch["camera_id"].unique()))  # fmt: skip
        rep = cal.report
        keys = (
            "held_out",
            "fitted",
            "prior_held_out",
            "prior_fitted",
            "class_factor",
            "wall_s",
            "ridge",
            "zones",
        )
        results[f"outer_{outer}"] = {k: rep[k] for k in keys}
        h, p = rep["held_out"], rep["prior_held_out"]
        print(
            f"outer {outer}: held-out GEH<5 {100 * h['geh_lt5_share']:.1f} % "
            f"(prior {100 * p['geh_lt5_share']:.1f} %), RMSE {h['rmse_pct']:.1f} % "
            f"(prior {p['rmse_pct']:.1f} %), "
            f"R² {h['r2']:.3f}; wall {rep['wall_s']:.0f} s"
        )
    doc = {
        "truth": truth.name, "truth_seed": truth.seed, "counts": len(counts),
        "truth_run_s": round(t_truth, 1),
        "cameras": int(watch["camera_id"].nunique()), "synthetic": True, **results,
    }  # fmt: skip
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
