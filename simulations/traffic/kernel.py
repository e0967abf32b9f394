"""Advance the mesoscopic traffic state: a vehicle-discrete link transmission model in numba.

The model is the link transmission model (LTM) of Yperman, Logghe, Tampère and Immers (2006/2007,
"The link transmission model: an efficient implementation of the kinematic wave theory in traffic
networks"), built on Newell's (1993) simplified kinematic-wave theory with a triangular fundamental
diagram, written for single vehicles with a continuous clock per vehicle (as in Gentile's general
LTM and in UXsim's event-based KW model, Seo 2025):

* **Sending flow** of a link: its FIFO head may leave once its own free-flow travel time
  ``length / min(v_link, v_vehicle)`` has elapsed since it entered (forward wave at free speed),
  and only while the link's discharge allowance (capacity in PCU/s) is positive.
* **Receiving flow** of a link: ``N_down(t - L/w) + k_jam·L·lanes - N_up(t)`` in PCU, the cumulative
  count that left the downstream end one backward-wave travel time ago plus the jam storage minus
  what has entered (space frees only after the backward wave has crossed the link, so queues spill
  back upstream at the kinematic-wave speed ``w``); plus an inflow capacity allowance.
* **Route choice** is destination-based and dynamic: at the head of its link each vehicle takes
  the out-link that minimises turn time + link cost + least cost to its destination, from tables
  that `simulations.traffic.routing` refreshes in bulk (as in dynamic user-optimal assignment,
  e.g. UXsim's DUO), with a penalty for out-links whose storage is full.
* **Junctions** cost time and capacity: every movement through a junction (a node with three or
  more neighbours) takes a crossing time that depends on the turn (straight, right, left across
  opposing traffic, U-turn). At unsignalised junctions the crossing is a conflict area that the
  two approach axes (grouped by bearing) take in turns: a vehicle holds it for its crossing time,
  vehicles of the crossing axis wait until it is clear and the older waiting request goes first (as
  at an all-way stop); parallel streams of one axis (opposing straights) and right turns do not
  conflict, so each keeps its link's capacity. There is no further pooled node capacity: the
  node supply is the out-links' receiving flows and the node demand the in-links' sending flows,
  as in the generic node model of Tampère et al. (2011) and in both peers (UXsim's nodes have no
  flow capacity unless given one; SUMO meso without junction control). A single capacity pooled
  over all streams of a junction (the first version here) halved the throughput of grid junctions
  and gridlocked the congested 40×40 workload well before the peers did. Signalised nodes run a
  two-phase fixed-time plan (approaches grouped by bearing, effective green per phase, per-node
  offset) so a head may only leave on green. Competing entries into one link are admitted in
  interleaved rounds (one vehicle per approach per round, approach order shuffled each step), a
  zipper merge with random priority (as UXsim's random merge priority).

Per step the kernel visits each link a constant number of times and each vehicle only when it is at
the head of a queue, so vehicles in transit cost nothing (queues are linked lists threaded through
the vehicle arrays). Link FIFOs hold mixed traffic: passenger-car units (PCU) measure storage and
capacity, each vehicle keeps its own free speed.

The stepping functions are compiled without numba's runtime (``_nrt=False``): they allocate
nothing, and with the runtime on every call and every array read through the state groups paid an
atomic reference-count increment and decrement (measured with perf: ~40 % of the kernel's time at
light load, in ``NRT_incref``/``NRT_decref``; the flag is the one numba's maintainers use for this,
numba issue #2350). Results are bit-identical; the kernel runs about 2× faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

import numba as nb
import numpy as np
import numpy.typing as npt

#: Vehicle states.
PENDING, WAITING, ON_LINK, ARRIVED, UNROUTABLE = 0, 1, 2, 3, 4

#: Columns of the per-vehicle hot state (one row per vehicle, so a move touches one or two cache lines).
#: V_T0 is when the vehicle entered the network (NaN before), V_ENTER when it entered its current link;
#: V_NEXT / V_PREV thread the link queues, V_CREEP is the speed (m/s) at which it filters through a
#: queue (0: it does not).
V_NEXT, V_READY, V_ENTER, V_PCU, V_VMAX, V_ROW, V_DEST, V_DIST, V_FF, V_T0, V_PREV, V_CREEP = range(12)
N_VCOLS = 12

#: How far behind a blocked head the kernel looks for vehicles that have filtered to the front, and
#: how many of those it tries per round (each try is a route choice).
FILTER_DEPTH = 64
FILTER_TRIES = 4

#: Movements through a junction (also the index of their crossing time in ``turn_delays``).
TURN_STRAIGHT, TURN_RIGHT, TURN_LEFT, TURN_U = 0, 1, 2, 3

#: Indices into the counters array.
C_ENTERED, C_ARRIVED, C_ON_NET, C_WAITING, C_RELEASED, C_TELEPORTS = 0, 1, 2, 3, 4, 5
N_COUNTERS = 6

F8 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int64]
B1 = npt.NDArray[np.bool_]

_F = TypeVar("_F", bound=Callable[..., Any])


def _stepping(*, inline: bool = False) -> Callable[[_F], _F]:
    """Return numba's decorator for a stepping function: cached, compiled without the runtime."""
    opts: dict[str, Any] = {"cache": True, "_nrt": False}  # see the module docstring
    if inline:
        opts["inline"] = "always"
    return cast("Callable[[_F], _F]", nb.njit(**opts))


class Links(NamedTuple):
    """Static link data: fixed for a run (one entry per link unless noted)."""

    u: I8
    v: I8
    length: F8  #: m
    vf: F8  #: free speed, m/s
    cap: F8  #: discharge capacity, PCU/s
    storage: F8  #: jam storage, PCU
    phase: I8  #: signal phase of the downstream node (0, 1) or -1 if unsignalised
    offset: F8  #: signal offset of the downstream node, s
    bearing: F8  #: radians, compass
    junction: B1  #: the downstream node is a junction (3+ neighbours)
    axis: I8  #: approach axis at an unsignalised crossing (0, 1) or -1 if none
    adj_ptr: I8  #: out-links of node x: adj_link[adj_ptr[x]:adj_ptr[x + 1]] (one entry per node + 1)
    adj_link: I8
    hist_off: I8  #: offset of each link's downstream-count ring buffer in `LinkState.hist`
    hist_len: I8  #: its length: backward-wave travel time in steps + 1
    lanes: F8
    overtake: B1  #: multi-lane: the queue is ordered by arrival at the link's end, not by entry


class LinkState(NamedTuple):
    """Dynamic link state, advanced in place."""

    closed: B1
    cost: F8  #: routing cost of each link, s
    head: I8  #: first vehicle on the link (-1 if empty); the queue is threaded through V_NEXT
    head_ready: F8  #: V_READY of the head (inf if empty): the per-step scan reads this, not the fleet
    tail: I8
    n_on: I8  #: vehicles on the link
    w_head: I8  #: first vehicle waiting to enter the link from its origin
    w_tail: I8
    n_up: F8  #: cumulative PCU that entered
    n_down: F8  #: cumulative PCU that left
    out_allow: F8  #: discharge allowance this step, PCU
    in_allow: F8  #: inflow allowance this step, PCU
    hist: F8  #: ring buffers of n_down (see `Links.hist_off`)
    hist_pos: I8
    x_busy: F8  #: [node, axis]: until when the crossing is held
    x_since: I8  #: [node, axis]: step the axis's request was filed
    x_seen: I8  #: [node, axis]: step the request was last renewed
    cand: I8  #: scratch: links with a ready head (li) or a waiting vehicle (m + li), 2 × links
    n_creep: I8  #: vehicles on the link that can filter through its queue


class Vehicles(NamedTuple):
    """The fleet, advanced in place: hot row state (columns V_*) and column arrays."""

    hot: F8
    state: npt.NDArray[np.int8]
    origin: I8
    depart: F8
    arrive: F8
    dep_order: I8  #: vehicle ids by departure time
    dep_ptr: I8  #: 1 element: position of the next departure in dep_order


class Control(NamedTuple):
    """Route tables, junction and signal settings, the kernel's random state."""

    dist: npt.NDArray[np.float32]  #: [destination row, node]: least cost to the destination, s
    signal: F8  #: (cycle_s, green_s) of the two-phase plans
    turn_delays: F8  #: crossing times (straight, right, left, U-turn), s
    spill_penalty: float  #: extra routing cost of a full out-link, s
    teleport_s: float  #: blocked this long at a head: teleport (0 = off)
    rng: npt.NDArray[np.uint64]  #: 1 element: xorshift state
    jam_pcu_m: float  #: jam density per lane, PCU/m (queue length of a PCU = 1 / (jam · lanes))


class Stats(NamedTuple):
    """Counters and per-bin statistics ([bin, link]), accumulated in place."""

    counters: I8  #: C_* indices
    bin_s: float
    inflow: F8  #: vehicles that entered
    outflow: F8  #: vehicles that left
    travel_time: F8  #: summed link travel times of the vehicles that left, s
    occupancy: F8  #: vehicle-seconds on the link
    queue: F8  #: sampled queued vehicle-seconds
    queue_every: int  #: queue sampling interval, steps


@_stepping(inline=True)
def _xorshift(state: npt.NDArray[np.uint64]) -> np.uint64:
    x = state[0]
    x ^= (x << np.uint64(13)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    x ^= x >> np.uint64(7)
    x ^= (x << np.uint64(17)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    state[0] = x
    return np.uint64(x)


@_stepping(inline=True)
def _turn_kind(b_in: float, b_out: float) -> int:
    """Return the movement from bearing `b_in` to `b_out`: TURN_STRAIGHT, TURN_RIGHT, TURN_LEFT or TURN_U."""
    d = b_out - b_in
    while d > math.pi:
        d -= 2.0 * math.pi
    while d <= -math.pi:
        d += 2.0 * math.pi
    a = abs(d)
    if a < math.pi / 4.0:
        return TURN_STRAIGHT
    if a > 3.0 * math.pi / 4.0:
        return TURN_U
    # compass bearings: clockwise is right; traffic drives on the right, so a left turn crosses
    # the opposing stream
    return TURN_RIGHT if d > 0.0 else TURN_LEFT


@_stepping(inline=True)
def _turn_delay(b_in: float, b_out: float, delays: F8) -> float:
    return float(delays[_turn_kind(b_in, b_out)])


@_stepping(inline=True)
def _green(li: int, t: float, lk: Links, signal: F8) -> bool:
    """Return whether the signalised link `li` (``phase`` >= 0) shows green at `t`."""
    cycle = signal[0]
    ph = (t + lk.offset[li]) % cycle
    start = 0.0 if lk.phase[li] == 0 else 0.5 * cycle
    return bool(start <= ph < start + signal[1])


@_stepping(inline=True)
def _receiving(li: int, s: int, lk: Links, ls: LinkState) -> float:
    """Return the free storage of link `li` at step `s` (PCU): N_down(t - L/w) + storage - N_up(t).

    The ring buffer's write position is ``s % hist_len`` (`advance` keeps it so), so the slot of
    step ``s - (hist_len - 1)`` is the next one: no integer division per call (a 64-bit ``%`` costs
    tens of cycles and this runs several times per move). Before that step the slot still holds
    its initial 0: nothing had left.
    """
    pos = ls.hist_pos[li] + 1
    lagged = ls.hist[lk.hist_off[li] + (pos if pos < lk.hist_len[li] else 0)]
    return float(lagged + lk.storage[li] - ls.n_up[li])


@_stepping(inline=True)
def _choose(li: int, node: int, row: int, s: int, lk: Links, ls: LinkState, ctl: Control) -> int:  # noqa: PLR0917
    """Return the next link out of `node` that minimises turn + link cost + cost-to-destination.

    `li` is the link the vehicle is on (-1 at its origin). U-turns are a last resort; a link whose
    storage is full costs ``spill_penalty`` more (drivers avoid a street they see jammed). Exact
    ties are broken uniformly at random.
    """
    l_u, l_v, l_bearing, l_junction = lk.u, lk.v, lk.bearing, lk.junction
    l_closed, l_cost, dist, rng = ls.closed, ls.cost, ctl.dist, ctl.rng
    adj_link = lk.adj_link
    best = -1
    best_c = np.inf
    n_tied = 0
    for a in range(lk.adj_ptr[node], lk.adj_ptr[node + 1]):
        nl = adj_link[a]
        if l_closed[nl]:
            continue
        dd = dist[row, l_v[nl]]
        if not np.isfinite(dd):
            continue
        c = l_cost[nl] + dd
        if li >= 0:
            if l_v[nl] == l_u[li]:
                c += 3600.0
            elif l_junction[li]:
                c += _turn_delay(l_bearing[li], l_bearing[nl], ctl.turn_delays)
            if _receiving(nl, s, lk, ls) <= 0.0:
                c += ctl.spill_penalty
        if c < best_c - 1e-6:
            best = nl
            best_c = c
            n_tied = 1
        elif c <= best_c + 1e-6:
            n_tied += 1
            if _xorshift(rng) % np.uint64(n_tied) == 0:
                best = nl
    return best


@_stepping(inline=True)
def _crossing_held(  # noqa: PLR0917
    nd: int, g: int, s: int, t: float, x_busy: F8, x_since: I8, x_seen: I8
) -> bool:
    """Return whether the crossing of junction `nd` is held against approach axis `g` at step `s`.

    The two approach axes of an unsignalised junction time-share its crossing: a vehicle occupies
    it for its approach's saturation headway (PCU / capacity) and vehicles of the other axis wait
    until it is clear; parallel streams of one axis (opposing straights) cross together, right
    turns do not enter it. A blocked axis files a request; the older request is served first (as at
    an all-way stop), so neither axis starves. A request lapses unless renewed every step (a head
    that is now blocked by something else does not hold the junction).
    """
    o = 1 - g
    held = bool(x_busy[nd, o] > t + 1e-9)
    if not held and x_seen[nd, o] >= s - 1:
        mine = x_since[nd, g] if x_seen[nd, g] >= s - 1 else s
        held = bool(x_since[nd, o] < mine)
    if held:
        if x_seen[nd, g] < s - 1:
            x_since[nd, g] = s
        x_seen[nd, g] = s
    return held


@_stepping()
def _jump(  # noqa: PLR0917
    h: int, nl: int, s: int, veh: F8, lk: Links, ls: LinkState, ctl: Control
) -> tuple[int, float, float]:
    """Return where a teleported vehicle lands: (link or -1 at its destination, free time, metres).

    As SUMO's teleport: the vehicle skips the jammed link `nl` and the following links of its
    route that have no room, at their free-flow time, and lands on the first that has; ``(-2, 0,
    0)`` when it finds none within 64 links.
    """
    cur = nl
    tt = 0.0
    dd = 0.0
    dest = int(veh[h, V_DEST])
    row = int(veh[h, V_ROW])
    for _ in range(64):
        tt += lk.length[cur] / min(lk.vf[cur], veh[h, V_VMAX])
        dd += lk.length[cur]
        if lk.v[cur] == dest:
            return -1, tt, dd
        nxt = _choose(cur, lk.v[cur], row, s, lk, ls, ctl)
        if nxt < 0:
            return -2, 0.0, 0.0
        if ls.in_allow[nxt] > 0.0 and _receiving(nxt, s, lk, ls) > 0.0:
            return nxt, tt, dd
        cur = nxt
    return -2, 0.0, 0.0


@_stepping(inline=True)
def _append(li: int, h: int, lk: Links, ls: LinkState, veh: F8) -> None:
    """Put vehicle `h` (its V_READY set) into the queue of link `li`.

    On a one-lane link at the tail (strict FIFO); on a multi-lane link behind the last vehicle that
    reaches the link's end no later than it, so a faster vehicle overtakes slower ones still in
    transit (it never passes a vehicle already queued at the end).
    """
    p = ls.tail[li]
    if lk.overtake[li]:
        r = veh[h, V_READY]
        while p >= 0 and veh[p, V_READY] > r:
            p = int(veh[p, V_PREV])
    if p < 0:
        nxt = ls.head[li]
        ls.head[li] = h
        ls.head_ready[li] = veh[h, V_READY]
    else:
        nxt = int(veh[p, V_NEXT])
        veh[p, V_NEXT] = h
    veh[h, V_PREV] = p
    veh[h, V_NEXT] = nxt
    if nxt >= 0:
        veh[nxt, V_PREV] = h
    else:
        ls.tail[li] = h
    ls.n_on[li] += 1
    if veh[h, V_CREEP] > 0.0:
        ls.n_creep[li] += 1


@_stepping(inline=True)
def _enter(  # noqa: PLR0917
    li: int, h: int, tin: float, delay: float, b: int, lk: Links, ls: LinkState, veh: F8, st: Stats
) -> None:
    """Put vehicle `h` onto link `li` at `tin`: ready at its end after `delay` + its free-flow run."""
    run = lk.length[li] / min(lk.vf[li], veh[h, V_VMAX])
    veh[h, V_FF] += run
    veh[h, V_ENTER] = tin
    veh[h, V_READY] = tin + delay + run
    _append(li, h, lk, ls, veh)
    pcu = veh[h, V_PCU]
    ls.n_up[li] += pcu
    ls.in_allow[li] -= pcu
    st.inflow[b, li] += 1.0


@_stepping(inline=True)
def _unlink(li: int, h: int, prev: int, ls: LinkState, veh: F8) -> None:
    """Take vehicle `h` (behind `prev`, -1 at the head) out of the queue of link `li`."""
    nxt = int(veh[h, V_NEXT])
    if prev < 0:
        ls.head[li] = nxt
        ls.head_ready[li] = veh[nxt, V_READY] if nxt >= 0 else np.inf
    else:
        veh[prev, V_NEXT] = nxt
    if nxt >= 0:
        veh[nxt, V_PREV] = prev
    else:
        ls.tail[li] = prev
    ls.n_on[li] -= 1
    if veh[h, V_CREEP] > 0.0:
        ls.n_creep[li] -= 1


@_stepping()
def _leave(  # noqa: PLR0917  (numba: positional arguments only)
    li: int,
    h: int,
    prev: int,
    texit: float,
    may_jump: bool,
    s: int,
    t: float,
    b: int,
    lk: Links,
    ls: LinkState,
    fl: Vehicles,
    ctl: Control,
    st: Stats,
) -> bool:
    """Move vehicle `h` off link `li` at `texit` (to its next link or its destination) if it can go.

    It chooses its out-link; it stays if that link has no room or inflow capacity or the junction's
    crossing is held against it, unless `may_jump` and it has waited ``teleport_s`` (then it jumps
    as SUMO's teleport). Returns whether it moved.
    """
    veh = fl.hot
    jump_tt = 0.0
    nl = -1
    if lk.v[li] != int(veh[h, V_DEST]):
        nl = _choose(li, lk.v[li], int(veh[h, V_ROW]), s, lk, ls, ctl)
        if (nl < 0 or ls.in_allow[nl] <= 0.0 or _receiving(nl, s, lk, ls) <= 0.0) or (
            lk.axis[li] >= 0
            and _turn_kind(lk.bearing[li], lk.bearing[nl]) != TURN_RIGHT
            and _crossing_held(lk.v[li], lk.axis[li], s, t, ls.x_busy, ls.x_since, ls.x_seen)
        ):
            if not (may_jump and ctl.teleport_s > 0.0 and nl >= 0 and t - veh[h, V_READY] >= ctl.teleport_s):
                return False
            land, jump_tt, jump_m = _jump(h, nl, s, veh, lk, ls, ctl)
            if land == -2:
                return False
            nl = land
            veh[h, V_DIST] += jump_m
            veh[h, V_FF] += jump_tt
            st.counters[C_TELEPORTS] += 1
    pcu = veh[h, V_PCU]
    _unlink(li, h, prev, ls, veh)
    ls.n_down[li] += pcu
    ls.out_allow[li] -= pcu
    st.outflow[b, li] += 1.0
    st.travel_time[b, li] += texit - veh[h, V_ENTER]
    veh[h, V_DIST] += lk.length[li]
    if nl < 0:
        fl.state[h] = ARRIVED
        fl.arrive[h] = texit + jump_tt
        st.counters[C_ARRIVED] += 1
        st.counters[C_ON_NET] -= 1
        return True
    g = lk.axis[li]
    kind = _turn_kind(lk.bearing[li], lk.bearing[nl])
    if g >= 0 and kind != TURN_RIGHT and jump_tt == 0.0:
        nd = lk.v[li]
        ls.x_busy[nd, g] = max(ls.x_busy[nd, g], texit + ctl.turn_delays[kind])
        ls.x_seen[nd, g] = -2  # this axis's request is served
    delay = 0.0
    if lk.junction[li] and jump_tt == 0.0:
        delay = _turn_delay(lk.bearing[li], lk.bearing[nl], ctl.turn_delays)
    _enter(nl, h, texit + jump_tt, delay, b, lk, ls, veh, st)
    return True


@_stepping()
def _filter(  # noqa: PLR0917
    li: int,
    h: int,
    s: int,
    t: float,
    t1: float,
    b: int,
    lk: Links,
    ls: LinkState,
    fl: Vehicles,
    ctl: Control,
    st: Stats,
) -> bool:
    """Let one vehicle that filters (V_CREEP > 0) pass the blocked head `h` of link `li`, if one can.

    Lane-free mixed traffic: a motorbike that reaches the back of a queue creeps through it at its
    creeping speed instead of waiting its turn (porous flow: Nair, Mahmassani and Miller-Hooks 2011;
    creeping: Fan and Work 2015). A queue of ``q`` PCU ahead is ``q / (jam · lanes)`` metres long,
    so the vehicle reaches the front ``q / (jam · lanes) · (1 / v_creep - 1 / v_free)`` after its
    free-flow arrival; from then it leaves as soon as its own out-link has room, sharing the
    link's discharge capacity (PCU) with everyone else.
    """
    veh = fl.hot
    space = 1.0 / (ctl.jam_pcu_m * lk.lanes[li])
    ahead = veh[h, V_PCU]
    prev = h
    x = int(veh[h, V_NEXT])
    tries = 0
    for _ in range(FILTER_DEPTH):
        if x < 0 or veh[x, V_READY] >= t1 or tries == FILTER_TRIES:
            return False
        cr = veh[x, V_CREEP]
        if cr > 0.0:
            vx = min(lk.vf[li], veh[x, V_VMAX])
            front = veh[x, V_READY] + ahead * space * max(1.0 / cr - 1.0 / vx, 0.0)
            if front < t1:
                if _leave(li, x, prev, max(front, t), False, s, t, b, lk, ls, fl, ctl, st):
                    return True
                tries += 1
        ahead += veh[x, V_PCU]
        prev = x
        x = int(veh[x, V_NEXT])
    return False


@_stepping()
def advance(  # noqa: PLR0917
    step0: int, n_steps: int, dt: float, lk: Links, ls: LinkState, fl: Vehicles, ctl: Control, st: Stats
) -> None:
    """Advance the state by `n_steps` steps of `dt` seconds from global step `step0`, in place.

    ``dist[row, node]`` is the current least cost from `node` to the destination of table row
    `row` (see `simulations.traffic.routing`); each vehicle picks its next link when it reaches the head
    of its link. ``signal`` holds ``(cycle_s, green_s)`` of the two-phase plans; ``turn_delays`` the
    crossing times (straight, right, left, U-turn) at junctions. See the module docstring.

    The state comes in named groups (static link data, link state, fleet, control, statistics)
    so that no two arrays can be swapped at the call; they are unpacked by name below.
    """
    l_len, l_cap, l_phase = lk.length, lk.cap, lk.phase
    hist_off, hist_len = lk.hist_off, lk.hist_len
    l_closed, l_head, l_count, head_ready = ls.closed, ls.head, ls.n_on, ls.head_ready
    w_head, w_tail, n_down = ls.w_head, ls.w_tail, ls.n_down
    out_allow, in_allow, hist, hist_pos, cand = ls.out_allow, ls.in_allow, ls.hist, ls.hist_pos, ls.cand
    veh, v_state, v_origin, v_depart = fl.hot, fl.state, fl.origin, fl.depart
    dep_order, dep_ptr = fl.dep_order, fl.dep_ptr
    signal, rng = ctl.signal, ctl.rng
    counters, bin_s, queue_every = st.counters, st.bin_s, st.queue_every
    st_in, st_occ, st_queue = st.inflow, st.occupancy, st.queue
    m = l_len.shape[0]
    n_bins = st_in.shape[0]
    for s in range(step0, step0 + n_steps):
        t = s * dt
        t1 = t + dt
        b = min(int(t / bin_s), n_bins - 1)
        # 1. release departures into the wait queue of their first link
        p = dep_ptr[0]
        while p < dep_order.shape[0]:
            vid = dep_order[p]
            if v_depart[vid] >= t1:
                break
            p += 1
            if v_state[vid] != PENDING:
                continue
            row = int(veh[vid, V_ROW])
            first = _choose(-1, v_origin[vid], row, s, lk, ls, ctl)
            if first < 0:
                v_state[vid] = UNROUTABLE
                continue
            v_state[vid] = WAITING
            veh[vid, V_NEXT] = -1.0
            if w_tail[first] >= 0:
                veh[w_tail[first], V_NEXT] = vid
            else:
                w_head[first] = vid
            w_tail[first] = vid
            counters[C_WAITING] += 1
            counters[C_RELEASED] += 1
        dep_ptr[0] = p
        # 2. capacities for this step; 3. candidates: links with a ready head or vehicles waiting
        nc = 0
        for li in range(m):
            step_cap = l_cap[li] * dt
            out_allow[li] = min(out_allow[li] + step_cap, step_cap)
            in_allow[li] = min(in_allow[li] + step_cap, step_cap)
            if head_ready[li] < t1:
                cand[nc] = li
                nc += 1
            if w_head[li] >= 0:
                cand[nc] = m + li
                nc += 1
        for i in range(nc - 1, 0, -1):
            j = int(_xorshift(rng) % np.uint64(i + 1))
            tmp = cand[i]
            cand[i] = cand[j]
            cand[j] = tmp
        # 4. interleaved rounds: each candidate moves at most one vehicle per round
        while nc > 0:
            k = 0
            for i in range(nc):
                c = cand[i]
                moved = False
                if c < m:
                    li = c
                    h = l_head[li]
                    ok = head_ready[li] < t1 and out_allow[li] > 0.0
                    if ok and l_phase[li] >= 0:
                        ok = _green(li, t, lk, signal)
                    if ok:
                        moved = _leave(li, h, -1, max(veh[h, V_READY], t), True, s, t, b, lk, ls, fl, ctl, st)
                        if not moved and ls.n_creep[li] > 0:
                            moved = _filter(li, h, s, t, t1, b, lk, ls, fl, ctl, st)
                else:
                    li = c - m
                    h = w_head[li]
                    if h >= 0 and not l_closed[li] and in_allow[li] > 0.0 and _receiving(li, s, lk, ls) > 0.0:
                        w_head[li] = int(veh[h, V_NEXT])
                        if w_head[li] < 0:
                            w_tail[li] = -1
                        tin = max(v_depart[h], t)
                        veh[h, V_T0] = tin
                        _enter(li, h, tin, 0.0, b, lk, ls, veh, st)
                        v_state[h] = ON_LINK
                        counters[C_ENTERED] += 1
                        counters[C_ON_NET] += 1
                        counters[C_WAITING] -= 1
                        moved = True
                if moved:
                    cand[k] = c
                    k += 1
            nc = k
        # 5. occupancy, sampled queues and the downstream-count history of each link
        sample = queue_every > 0 and s % queue_every == 0
        for li in range(m):
            st_occ[b, li] += l_count[li] * dt
            pos = hist_pos[li]
            hist[hist_off[li] + pos] = n_down[li]  # slot s % hist_len (a pointer: no division per link)
            hist_pos[li] = 0 if pos + 1 == hist_len[li] else pos + 1
            if sample:
                q = 0
                h = l_head[li]
                while h >= 0 and veh[h, V_READY] <= t1:
                    q += 1
                    h = int(veh[h, V_NEXT])
                st_queue[b, li] += q * queue_every * dt


@nb.njit(cache=True)
def vehicle_links(l_head: I8, veh: F8) -> I8:
    """Return the link each vehicle is on (-1 if it is on none), from the links' queues."""
    out = np.full(veh.shape[0], -1, dtype=np.int64)
    for li in range(l_head.shape[0]):
        h = l_head[li]
        while h >= 0:
            out[h] = li
            h = int(veh[h, V_NEXT])
    return out


@nb.njit(cache=True)
def queue_lengths(l_head: I8, veh: F8, t: float) -> I8:
    """Return the number of vehicles queued (ready to leave but still on the link) on each link."""
    m = l_head.shape[0]
    out = np.zeros(m, dtype=np.int64)
    for li in range(m):
        h = l_head[li]
        while h >= 0 and veh[h, V_READY] <= t:
            out[li] += 1
            h = int(veh[h, V_NEXT])
    return out


#: Why the ready head of a link cannot leave (`blocked_heads`): it can (or none is ready), its
#: out-link is full, the junction's crossing is held by the other axis, its signal is red, or no
#: open out-link leads to its destination.
B_FREE, B_FULL, B_CROSSING, B_SIGNAL, B_NO_WAY = 0, 1, 2, 3, 4


@nb.njit(cache=True)
def blocked_heads(  # noqa: PLR0917
    s: int, t: float, lk: Links, ls: LinkState, fl: Vehicles, ctl: Control
) -> tuple[I8, I8, B1, B1]:
    """Return why each link's ready head cannot leave at step `s` (B_*), what it waits for, and the locks.

    The test is the kernel's own (`_leave`) on the state as it is, as at the start of step `s`
    (discharge and inflow allowances, which refill every step, are not a blocking reason); it
    changes nothing (the crossing requests are copied; pass a copy of ``ctl.rng``). Returns
    ``why``, ``waits_for`` (the full out-link of a B_FULL head, else -1), ``locked`` (the link is
    on a spillback cycle or queues into one) and ``on_cycle`` (its head waits for a full link
    whose head waits for ... the first). A cycle of links full by their own counts (not only
    until the backward wave arrives) never moves again.
    """
    m = lk.length.shape[0]
    veh = fl.hot
    why = np.zeros(m, dtype=np.int64)
    waits_for = np.full(m, -1, dtype=np.int64)
    x_since = ls.x_since.copy()
    x_seen = ls.x_seen.copy()
    for li in range(m):
        h = ls.head[li]
        if h < 0 or veh[h, V_READY] > t or lk.v[li] == int(veh[h, V_DEST]):
            continue
        nl = _choose(li, lk.v[li], int(veh[h, V_ROW]), s, lk, ls, ctl)
        if nl < 0:
            why[li] = B_NO_WAY
        elif _receiving(nl, s, lk, ls) <= 0.0:
            why[li] = B_FULL
            waits_for[li] = nl
        elif lk.phase[li] >= 0 and not _green(li, t, lk, ctl.signal):
            why[li] = B_SIGNAL
        elif (
            lk.axis[li] >= 0
            and _turn_kind(lk.bearing[li], lk.bearing[nl]) != TURN_RIGHT
            and _crossing_held(lk.v[li], lk.axis[li], s, t, ls.x_busy, x_since, x_seen)
        ):
            why[li] = B_CROSSING
    # each link waits for at most one: follow the chains, a chain that meets itself is a cycle
    jammed = ls.n_up - ls.n_down >= lk.storage - 1e-9
    state = np.zeros(m, dtype=np.int64)  # 0 unseen, 1 on the current chain, 2 done
    locked = np.zeros(m, dtype=np.bool_)
    on_cycle = np.zeros(m, dtype=np.bool_)
    for start in range(m):
        x = start
        while state[x] == 0:
            state[x] = 1
            nxt = waits_for[x]
            if nxt < 0 or not jammed[nxt]:
                break
            x = nxt
        hit = state[x] == 1 and waits_for[x] >= 0 and jammed[waits_for[x]]  # closed on the chain
        lock = locked[x] or hit
        if hit:
            on_cycle[x] = True
            y = waits_for[x]
            while y != x:
                on_cycle[y] = True
                y = waits_for[y]
        y = start
        while state[y] == 1:
            state[y] = 2
            locked[y] = lock
            nxt = waits_for[y]
            if nxt < 0 or not jammed[nxt]:
                break
            y = nxt
    return why, waits_for, locked, on_cycle
