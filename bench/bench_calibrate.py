"""Calibration of the traffic demand to camera counts on the Lạng Sơn network (issue 14), against SUMO's
routeSampler + SUMO meso on the same network, the same counts and the same held-out cameras.

The hidden truth (`simulations.traffic.calibrate.truth_params`, seed 7, synthetic) runs 06:30–10:00
local; the 49 connected cameras that count traffic report every 5 min by class and direction
(`twin.cameras.watched_links`). Both tools fit 07:00–10:00 on the same 70 % of the cameras (split
seed 2025) and are scored by GEH per camera-hour (directions summed) on the other 30 %.

* **Ours**: `calibrate` with the CLI's defaults (bi-level GLS OD estimation, `outer` = 2: the prior
  run, one re-run and the evaluation run), in its own spawned process (wall = the calibration's own
  clock: prior run, assignments, fits, re-run, evaluation run; memory = the process's peak RSS).
* **Peer: routeSampler + SUMO meso** (eclipse-sumo from PyPI, its ``tools/routeSampler.py``): our
  network exported to SUMO plain XML (nodes in the local metric plane `twin.crs.local_metres`, one
  edge per directed link with its lanes and speed; signalised junctions as traffic lights) and built
  by ``netconvert``; candidate routes are the prior demand's own trips (the same trips ours starts
  from, by class) routed by ``duarouter`` (``--junction-taz``); routeSampler samples them to the
  fitted cameras' hourly link counts (``entered``, its defaults; departures drawn in each hour by
  routeSampler, one vehicle type of the class mix's mean length); ``sumo --mesosim`` runs the
  sampled vehicles from 06:30 to 10:30 and writes hourly edgeData, read at the held-out cameras'
  links. Wall covers netconvert, duarouter, routeSampler and sumo; memory is the largest of those
  child processes (RUSAGE_CHILDREN).

    flock /tmp/twin-heavy.lock .venv/bin/python -m bench.run_all calibrate
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.harness import Row, isolated, write_results

START = 7 * 3600
HOURS = 3
HOLDOUT = 0.3
SEED = 2025
OUTER = 2
TRUTH_SEED = 7
RESULTS = Path(__file__).parent / "results" / "calibrate_detail.json"


def _city() -> Any:
    from gis_data.city import build_city  # noqa: PLC0415

    return build_city()


def truth() -> tuple[pd.DataFrame, list[str]]:
    """Return the hidden truth's counts (synthetic) and the counting cameras."""
    from simulations.traffic import calibrate as cb  # noqa: PLC0415
    from simulations.traffic.params import TrafficParams  # noqa: PLC0415
    from twin.cameras import watched_links  # noqa: PLC0415

    city = _city()
    watch = watched_links(city.cameras[city.cameras["connected"]], city.network)
    counts, _ = cb.truth_counts(TrafficParams(), city.network, city.cells(), watch, start_local_s=START,
                                hours=HOURS, seed=TRUTH_SEED)  # fmt: skip
    return counts, sorted(watch["camera_id"].astype(str).unique())


def ours(counts: pd.DataFrame, cameras: list[str]) -> dict[str, Any]:
    """Calibrate with ours (in a spawned process: `bench.harness.isolated`)."""
    from simulations.traffic import calibrate as cb  # noqa: PLC0415
    from simulations.traffic.params import TrafficParams  # noqa: PLC0415

    city = _city()
    cal = cb.calibrate(counts, prior=TrafficParams(), network=city.network, cells=city.cells(),
                       start_local_s=START, hours=HOURS, holdout=HOLDOUT, seed=SEED, outer=OUTER,
                       cameras=cameras)  # fmt: skip
    keys = ("held_out", "fitted", "prior_held_out", "prior_fitted", "class_factor", "wall_s", "zones",
            "method", "cameras_held_out", "cameras_fitted", "outer_iterations")  # fmt: skip
    out = {k: cal.report[k] for k in keys}
    out["through_veh_h"] = cal.fit.params.demand.through_veh_h
    return out


# -- the peer ------------------------------------------------------------------------------------------
def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


def _sumo_tools() -> Path:
    import sumo  # noqa: PLC0415  (eclipse-sumo)

    return Path(sumo.__file__).resolve().parent / "tools"


def write_network(net: Any, d: Path) -> Path:
    """Export `net` to SUMO plain XML (nodes, edges) and build it with netconvert; return the .net.xml."""
    from twin.crs import local_metres  # noqa: PLC0415

    nodes = net.nodes
    xy = local_metres(nodes["x"].to_numpy(), nodes["y"].to_numpy())
    xy -= xy.min(axis=0)
    lines = ["<nodes>\n"]
    for i, (x, y, sig) in enumerate(zip(xy[:, 0], xy[:, 1], nodes["signal"].to_numpy(), strict=True)):
        kind = "traffic_light" if bool(sig) else "priority"
        lines.append(f'  <node id="n{i}" x="{x:.2f}" y="{y:.2f}" type="{kind}"/>\n')
    lines.append("</nodes>\n")
    (d / "net.nod.xml").write_text("".join(lines))
    prio = {"trunk": 6, "primary": 5, "secondary": 4, "tertiary": 3, "residential": 2, "service": 1}
    lk = net.links
    lines = ["<edges>\n"]
    for lid, r in enumerate(lk.itertuples()):
        lines.append(
            f'  <edge id="e{lid}" from="n{int(r.u)}" to="n{int(r.v)}" numLanes="{int(r.lanes)}" '
            f'speed="{float(r.speed_kmh) / 3.6:.3f}" length="{float(r.length_m):.2f}" '
            f'priority="{prio.get(str(r.road_class), 1)}"/>\n'
        )
    lines.append("</edges>\n")
    (d / "net.edg.xml").write_text("".join(lines))
    out = d / "net.net.xml"
    subprocess.run([_bin("netconvert"), "-n", str(d / "net.nod.xml"), "-e", str(d / "net.edg.xml"),
                    "-o", str(out), "--no-warnings", "--no-internal-links"],
                   check=True, capture_output=True)  # fmt: skip
    return out


def routesampler(counts: pd.DataFrame, fitted: list[str], held: list[str]) -> dict[str, Any]:
    """Run routeSampler + SUMO meso on the fitted cameras' counts; score the held-out and fitted ones."""
    from simulations.traffic import calibrate as cb  # noqa: PLC0415
    from simulations.traffic.demand import synthesize  # noqa: PLC0415
    from simulations.traffic.params import TrafficParams  # noqa: PLC0415

    city = _city()
    net, cells = city.network, city.cells()
    hrs = [START // 3600 + h for h in range(HOURS)]
    obs, _ = cb.hourly_observations(counts, hrs)
    base = cb.window_params(TrafficParams(), START, HOURS)
    trips = synthesize(base, net, cells, np.random.default_rng(SEED))
    keep = os.environ.get("CALIBRATE_BENCH_KEEP")  # a folder to keep the SUMO files in (debugging)
    with tempfile.TemporaryDirectory(prefix="routesampler-") as tmp:
        d = Path(keep) if keep else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        netfile = write_network(net, d)
        t_net = time.perf_counter()
        vtypes = {"motorbike": 'vClass="motorcycle" length="2.0" minGap="1.0"',
                  "car": 'vClass="passenger"', "bus": 'vClass="bus"', "truck": 'vClass="truck"'}  # fmt: skip
        lines = ["<routes>\n", *(f'  <vType id="{m}" {a}/>\n' for m, a in vtypes.items())]
        dep = base.start_s + trips["depart_s"].to_numpy()
        order = np.argsort(dep, kind="stable")
        o, dd = trips["origin"].to_numpy(), trips["dest"].to_numpy()
        modes = trips["mode"].astype(str).to_numpy()
        for k in order:
            lines.append(f'  <trip id="t{k}" type="{modes[k]}" depart="{dep[k]:.1f}" '
                         f'fromJunction="n{int(o[k])}" toJunction="n{int(dd[k])}"/>\n')  # fmt: skip
        lines.append("</routes>\n")
        (d / "trips.xml").write_text("".join(lines))
        subprocess.run([_bin("duarouter"), "-n", str(netfile), "--route-files", str(d / "trips.xml"),
                        "--junction-taz", "-o", str(d / "candidates.rou.xml"), "--ignore-errors",
                        "--no-warnings", "--no-step-log", "--seed", str(SEED)],
                       check=True, capture_output=True)  # fmt: skip
        t_route = time.perf_counter()
        fit_obs = obs[obs["camera_id"].isin(fitted)]
        per = fit_obs.groupby(["hour", "link_id"])["total"].sum()
        lines = ["<data>\n"]
        for h in hrs:
            lines.append(f'  <interval id="h{h}" begin="{h * 3600}" end="{(h + 1) * 3600}">\n')
            if h in per.index.get_level_values(0):
                for lid, veh in per.loc[h].items():
                    lines.append(f'    <edge id="e{int(lid)}" entered="{round(float(veh))}"/>\n')
            lines.append("  </interval>\n")
        lines.append("</data>\n")
        (d / "counts.xml").write_text("".join(lines))
        sampler = subprocess.run([sys.executable, str(_sumo_tools() / "routeSampler.py"),
                        "-r", str(d / "candidates.rou.xml"),
                        "-d", str(d / "counts.xml"), "-o", str(d / "sampled.rou.xml"), "-a", 'type="mix"',
                        "--seed", str(SEED)], check=True, capture_output=True, text=True, env={**os.environ,
                        "SUMO_HOME": str(_sumo_tools().parent)})  # fmt: skip
        t_sample = time.perf_counter()
        begin, end = START - 1800, START + HOURS * 3600 + 1800
        # one vehicle type for the sampled routes (routeSampler draws departures itself): the class mix's
        # share-weighted length (80 % motorbikes of 2 m, 15 % cars of 5 m, buses and trucks of 12 m)
        (d / "mix.add.xml").write_text(
            '<additional><vType id="mix" vClass="passenger" length="2.9" minGap="1.5"/></additional>\n'
        )
        (d / "edgedata.add.xml").write_text(
            f'<additional><edgeData id="hourly" file="{d / "edgedata.xml"}" begin="{hrs[0] * 3600}" '
            f'end="{(hrs[-1] + 1) * 3600}" period="3600"/></additional>\n'
        )
        adds = f"{d / 'mix.add.xml'},{d / 'edgedata.add.xml'}"
        meso = subprocess.run([_bin("sumo"), "--mesosim", "-n", str(netfile),
                        "-r", str(d / "sampled.rou.xml"), "-a", adds, "--begin", str(begin),
                        "--end", str(end),
                        "--no-warnings", "--no-step-log", "--seed", str(SEED), "--ignore-route-errors",
                        "--duration-log.statistics", "true"],
                       check=True, capture_output=True, text=True)  # fmt: skip
        t_sim = time.perf_counter()
        rows = []
        for iv in ET.parse(d / "edgedata.xml").getroot().iter("interval"):
            b = int(float(iv.get("begin", "0")))
            for e in iv.iter("edge"):
                rows.append(
                    {"t_s": b, "link_id": int(str(e.get("id"))[1:]), "veh": float(e.get("entered", "0"))}
                )
        sampled = sum(1 for _ in ET.parse(d / "sampled.rou.xml").getroot().iter("vehicle"))
    sim = pd.DataFrame(rows, columns=["t_s", "link_id", "veh"])
    ch = cb.camera_hours(obs, sim)
    ch["set"] = np.where(ch["camera_id"].isin(held), "held_out", "fitted")

    def stats(part: str) -> dict[str, float]:
        sel = ch["set"] == part
        return cb.fit_stats(ch.loc[sel, "simulated"].to_numpy(float), ch.loc[sel, "observed"].to_numpy(float))

    return {
        "held_out": stats("held_out"), "fitted": stats("fitted"), "wall_s": round(t_sim - t0, 2),
        "netconvert_s": round(t_net - t0, 2), "duarouter_s": round(t_route - t_net, 2),
        "routesampler_s": round(t_sample - t_route, 2), "sumo_meso_s": round(t_sim - t_sample, 2),
        "candidate_trips": len(trips), "sampled_vehicles": sampled,
        "routesampler_says": sampler.stdout.strip().splitlines()[-3:],
        "meso_says": [ln.strip() for ln in meso.stdout.splitlines()
                      if ln.strip().startswith(("Inserted", "Running", "Waiting", "Teleports", "Vehicles"))],
        "peak_mem_mb_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
    }  # fmt: skip


def main() -> None:
    """Run the truth, ours and the peer; print and write the figures."""
    counts, cameras = truth()
    mine, _wall, mem = isolated(ours, counts, cameras)
    peer, _pwall, pmem = isolated(routesampler, counts, mine["cameras_fitted"], mine["cameras_held_out"])
    peer_mem = max(pmem, peer["peak_mem_mb_children"])
    h, ph = mine["held_out"], peer["held_out"]
    print(f"held-out camera-hours GEH<5: ours {100 * h['geh_lt5_share']:.1f} % (n {h['n']}, prior "
          f"{100 * mine['prior_held_out']['geh_lt5_share']:.1f} %), routeSampler + meso "
          f"{100 * ph['geh_lt5_share']:.1f} %; wall ours {mine['wall_s']:.1f} s, "
          f"peer {peer['wall_s']:.1f} s; "
          f"peak MB ours {mem:.0f}, peer {peer_mem:.0f}")  # fmt: skip
    extra = {"synthetic": True, "truth_seed": TRUTH_SEED, "split_seed": SEED, "counts": len(counts),
             "cameras": len(cameras), "held_out_camera_hours": h["n"]}  # fmt: skip
    rows = [
        Row("calibration: held-out camera-hours with GEH < 5 (Lạng Sơn, 07-10, 30 % held out)",
            h["geh_lt5_share"], "SUMO routeSampler + meso", ph["geh_lt5_share"], "share", "higher",
            mem, peer_mem, {**extra, "prior": mine["prior_held_out"]["geh_lt5_share"]}),
        Row("calibration: fitted camera-hours with GEH < 5", mine["fitted"]["geh_lt5_share"],
            "SUMO routeSampler + meso", peer["fitted"]["geh_lt5_share"], "share", "higher", None, None,
            extra),
        Row("calibration: held-out RMSE of camera-hour counts", h["rmse_pct"], "SUMO routeSampler + meso",
            ph["rmse_pct"], "%", "lower", None, None, extra),
        Row("calibration: wall (fit + model runs)", mine["wall_s"], "SUMO routeSampler + meso (netconvert, "
            "duarouter, routeSampler, sumo)", peer["wall_s"], "s", "lower", mem, peer_mem, extra),
    ]  # fmt: skip
    write_results("calibrate", rows)
    RESULTS.write_text(json.dumps({"ours": mine, "routesampler_meso": peer, **extra}, indent=2,
                                  ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip


if __name__ == "__main__":
    main()
