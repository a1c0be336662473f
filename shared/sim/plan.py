"""Plans the ticks of many steps at once, vectorised; the market then only builds structs.

A plan covers the steps from ``s0`` to the end of the current block (the block's price
path and firing draws are fixed when the block starts). For every (step, instrument)
that fires it computes, in a few numpy passes over all of them: the price on the grid,
the trade, cumulative volume, OI, the running day open/high/low and 5x5 depth. Running
values are grouped cumulative sums and maxima over each instrument's ticks in time
order, so no Python loop touches a number. When subscriptions change mid-block, the
market commits what was already emitted (``Plan.commit``) and plans the rest afresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.sim.board import KIND_FUTURE, KIND_INDEX, Board

DEPTH: Final = 5
NO_LOW: Final = np.iinfo(np.int64).max // 4  # "no low yet", above any price in ticks
_LEVELS: Final = np.arange(DEPTH, dtype=np.int64)
_GROUP: Final = 1 << 32  # > any price in ticks: separates instruments in grouped running maxima
# a trade is unit x Geometric(p) units, p = _TRADE_P / activity: mostly 1-3 units at midday,
# bigger when the market is busy (so volume is U-shaped even when every step prints)
_TRADE_P: Final = 0.35
_MAX_DEPTH_LOTS: Final = 39
_MAX_ORDERS: Final = 14
_N_DRAWS: Final = 4 + 4 * DEPTH

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class DayState:
    """Per-slot running values of the session, prices in ticks."""

    open_q: IntArray  # 0 until the first print
    high_q: IntArray
    low_q: IntArray  # NO_LOW until the first print
    volume: IntArray
    oi: IntArray

    @classmethod
    def fresh(cls, oi: IntArray) -> DayState:
        n = oi.size
        return cls(
            open_q=np.zeros(n, dtype=np.int64),
            high_q=np.zeros(n, dtype=np.int64),
            low_q=np.full(n, NO_LOW, dtype=np.int64),
            volume=np.zeros(n, dtype=np.int64),
            oi=oi.astype(np.int64),
        )


@dataclass(slots=True)
class Plan:
    """The ticks of steps ``s0`` onwards: pair ``i`` of step ``s0 + j`` is in ``bounds[j]:bounds[j+1]``."""

    s0: int
    bounds: list[int]
    slot: list[int] = field(default_factory=list)
    last: list[float] = field(default_factory=list)
    qty: list[int] = field(default_factory=list)
    volume: list[int] = field(default_factory=list)
    oi: list[int] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    # depth, flat: pair i's levels are [DEPTH * i : DEPTH * (i + 1)]. Flat lists of floats and
    # ints are invisible to the garbage collector; DepthLevel structs are built per step.
    bid_px: list[float] = field(default_factory=list)
    bid_qty: list[int] = field(default_factory=list)
    bid_orders: list[int] = field(default_factory=list)
    ask_px: list[float] = field(default_factory=list)
    ask_qty: list[int] = field(default_factory=list)
    ask_orders: list[int] = field(default_factory=list)

    def book_sides(self, i0: int, i1: int) -> list[list[tuple[float, ...] | tuple[int, ...]]]:
        """Depth of pairs ``i0:i1``: six lists (bid prices, quantities, orders, then asks), one
        tuple of DEPTH values per pair each (chunked in C loops)."""
        b, e = i0 * DEPTH, i1 * DEPTH
        out: list[list[tuple[float, ...] | tuple[int, ...]]] = []
        for arr in (self.bid_px, self.bid_qty, self.bid_orders, self.ask_px, self.ask_qty, self.ask_orders):
            it = iter(arr[b:e])
            out.append(list(zip(*[it] * DEPTH, strict=True)))
        return out

    # the state after each pair (numpy, pair order), for commit()
    post: tuple[IntArray, ...] = ()

    def commit(self, state: DayState, steps_emitted: int) -> None:
        """Write into ``state`` the running values after the pairs of the first ``steps_emitted`` steps."""
        end = self.bounds[min(steps_emitted, len(self.bounds) - 1)]
        if end == 0:
            return
        slots, open_q, high_q, low_q, volume, oi = (a[:end] for a in self.post)
        # the last pair of each slot among those emitted
        uniq, first_from_end = np.unique(slots[::-1], return_index=True)
        src = end - 1 - first_from_end
        state.open_q[uniq] = open_q[src]
        state.high_q[uniq] = high_q[src]
        state.low_q[uniq] = low_q[src]
        state.volume[uniq] = volume[src]
        state.oi[uniq] = oi[src]


def _grouped_cumsum(values: IntArray, starts: IntArray, gid: IntArray) -> IntArray:
    """Cumulative sums restarting at each group start (values sorted by group)."""
    c = np.cumsum(values)
    return c - (c - values)[starts][gid]


def plan_steps(
    board: Board,
    state: DayState,
    rng: np.random.Generator,
    *,
    s0: int,
    logp: FloatArray,
    fire_u: FloatArray,
    activity: FloatArray,
    times: IntArray,
    active: BoolArray,
    force: BoolArray,
    rate: float,
) -> Plan:
    """Plan steps ``s0 .. s0 + len(times) - 1``; row ``j`` of the arrays belongs to step ``s0 + j``.

    ``logp`` holds the assets' log prices after each step, ``fire_u`` one uniform per
    step and slot (a slot fires when it is below its tick probability times the step's
    activity), ``force`` slots that must print on the first planned step.
    """
    fire = fire_u < board.p_tick[None, :] * activity[:, None]
    fire &= active[None, :]
    fire[0] |= force & active
    steps, kk = np.nonzero(fire)  # step-major, then slot order
    bounds = np.searchsorted(steps, np.arange(len(times) + 1)).tolist()
    n = kk.size
    if n == 0:
        return Plan(s0=s0, bounds=bounds)
    q = board.fair_ticks(kk, np.exp(logp[steps, board.asset[kk]]), times[steps], rate)
    tick, kind, unit = board.tick[kk], board.kind[kk], board.unit[kk]

    u = rng.random((n, _N_DRAWS))
    p_trade = np.clip(_TRADE_P / activity[steps], 0.05, 0.9)
    size_units = (1 + np.floor(np.log1p(-u[:, 0]) / np.log1p(-p_trade))).astype(np.int64)  # 1 - u is never 0
    qty = np.where(kind != KIND_INDEX, unit * size_units, 0)
    d_oi = np.where(kind >= KIND_FUTURE, unit * (np.floor(u[:, 1] * 6).astype(np.int64) - 2), 0)
    # depth: the last price inside [best bid, best ask], spread >= 1 tick, one tick between levels
    below = np.minimum((u[:, 2] < 0.5).astype(np.int64), q - 1)
    best_bid = q - below
    best_ask = best_bid + 1 + np.floor(u[:, 3] * board.max_spread[kk]).astype(np.int64)
    lots = 1 + np.floor(u[:, 4 : 4 + 2 * DEPTH] * _MAX_DEPTH_LOTS).astype(np.int64)
    orders = np.minimum(lots, 1 + np.floor(u[:, 4 + 2 * DEPTH :] * _MAX_ORDERS).astype(np.int64))
    size = lots * unit[:, None]
    bid_q = best_bid[:, None] - _LEVELS
    ask_q = best_ask[:, None] + _LEVELS
    empty = bid_q < 1  # nothing bid below one tick: an empty level, as Kite sends it
    bid_px = np.where(empty, 0.0, np.round(bid_q * tick[:, None], 2))
    ask_px = np.round(ask_q * tick[:, None], 2)

    # running values per slot, in time order: sort by slot (stable keeps time order)
    order = np.argsort(kk, kind="stable")
    ks = kk[order]
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(ks[1:], ks[:-1], out=first[1:])
    gid = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    qs = q[order]
    off = gid * _GROUP
    sorted_vals = (
        np.maximum(state.high_q[ks], np.maximum.accumulate(qs + off) - off),
        np.minimum(state.low_q[ks], off - np.maximum.accumulate(off - qs)),
        np.where(state.open_q[ks] > 0, state.open_q[ks], qs[starts][gid]),
        state.volume[ks] + _grouped_cumsum(qty[order], starts, gid),
        np.maximum(state.oi[ks] + _grouped_cumsum(d_oi[order], starts, gid), 0),
    )
    high_q, low_q, open_q, volume, oi = (np.empty_like(v) for v in sorted_vals)
    for dst, src in zip((high_q, low_q, open_q, volume, oi), sorted_vals, strict=True):
        dst[order] = src

    return Plan(
        s0=s0,
        bounds=bounds,
        slot=kk.tolist(),
        last=np.round(q * tick, 2).tolist(),
        qty=qty.tolist(),
        volume=volume.tolist(),
        oi=oi.tolist(),
        open=np.round(open_q * tick, 2).tolist(),
        high=np.round(high_q * tick, 2).tolist(),
        low=np.round(low_q * tick, 2).tolist(),
        bid_px=bid_px.ravel().tolist(),
        bid_qty=np.where(empty, 0, size[:, :DEPTH]).ravel().tolist(),
        bid_orders=np.where(empty, 0, orders[:, :DEPTH]).ravel().tolist(),
        ask_px=ask_px.ravel().tolist(),
        ask_qty=size[:, DEPTH:].ravel().tolist(),
        ask_orders=orders[:, DEPTH:].ravel().tolist(),
        post=(kk, open_q, high_q, low_q, volume, oi),
    )
