"""The day's board: one row ("slot") per listed instrument, as numpy arrays, and fair prices.

Built once per trading day from the listing; the planner and the market index these
arrays by slot. Slots follow the listing order, so indices come first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.instruments import Instrument
from shared.sim import calendar
from shared.sim.black76 import YEAR_NS, black76_prices, smile_vol
from shared.sim.specs import INDEX_PRICE_GRID, INDEX_SPECS

KIND_INDEX: Final = 0
KIND_EQUITY: Final = 1
KIND_FUTURE: Final = 2
KIND_OPTION: Final = 3

#: Tick probability per 250 ms at activity 1 (midday); the U-shape multiplies it.
P_INDEX: Final = 0.22
P_EQUITY: Final = 0.2
P_NEAR_FUTURE: Final = 0.25
P_FAR_FUTURE: Final = 0.1
P_OPTION_FLOOR: Final = 0.04
P_OPTION_ATM: Final = 0.21
#: A stock trades in lots worth about this many rupees.
EQUITY_TRADE_VALUE: Final = 5000.0

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_INDEX_LOGICAL: Final = {s.index_symbol: s.name for s in INDEX_SPECS.values()}


@dataclass(slots=True)
class Board:
    meta: list[tuple[int, str, str]]  # (instrument_token, exchange, tradingsymbol) per slot
    slot_of: dict[int, int]
    kind: IntArray
    asset: IntArray  # the slot's underlying asset (index or stock) in the market's price vector
    tick: FloatArray  # price grid (indices: 0.05)
    strike: FloatArray
    expiry_ns: IntArray  # 15:30 IST of expiry (F&O), else 0
    iv: FloatArray  # ATM implied vol (options)
    is_call: BoolArray
    unit: IntArray  # trade and depth size unit: the lot (F&O), a few thousand rupees of stock
    max_spread: IntArray  # widest quoted spread, in ticks
    p_tick: FloatArray  # tick probability per step at activity 1
    n_index: int

    @classmethod
    def build(cls, listing: list[Instrument], asset_of: dict[str, int], asset_px: FloatArray, step_ms: int) -> Board:
        n = len(listing)
        kind = np.empty(n, dtype=np.int64)
        asset = np.empty(n, dtype=np.int64)
        tick = np.empty(n)
        strike = np.zeros(n)
        expiry_ns = np.zeros(n, dtype=np.int64)
        iv = np.zeros(n)
        unit = np.ones(n, dtype=np.int64)
        spread = np.ones(n, dtype=np.int64)
        p = np.empty(n)
        near: dict[str, object] = {}
        for k, inst in enumerate(listing):
            if inst.is_index:
                kind[k], asset[k], tick[k], p[k] = (
                    KIND_INDEX,
                    asset_of[_INDEX_LOGICAL[inst.name]],
                    INDEX_PRICE_GRID,
                    P_INDEX,
                )
            elif inst.is_equity:
                a = asset_of[inst.tradingsymbol]
                kind[k], asset[k], tick[k], p[k] = KIND_EQUITY, a, inst.tick_size, P_EQUITY
                unit[k] = max(1, int(EQUITY_TRADE_VALUE / asset_px[a]))
                spread[k] = 2 if inst.tick_size >= 0.05 else 6
            else:
                assert inst.expiry is not None
                a = asset_of[inst.name]
                asset[k], tick[k], unit[k] = a, inst.tick_size, inst.lot_size
                expiry_ns[k] = calendar.session_close_ns(inst.expiry)
                if inst.is_future:
                    is_near = near.setdefault(inst.name, inst.expiry) == inst.expiry
                    kind[k], p[k], spread[k] = KIND_FUTURE, P_NEAR_FUTURE if is_near else P_FAR_FUTURE, 8
                else:
                    spec = INDEX_SPECS[inst.name]
                    kind[k], strike[k], iv[k], spread[k] = KIND_OPTION, inst.strike, spec.atm_iv, 3
                    away = abs(inst.strike - asset_px[a]) / (8 * spec.strike_step)
                    p[k] = P_OPTION_FLOOR + P_OPTION_ATM * math.exp(-away)
        return cls(
            meta=[(i.instrument_token, i.exchange, i.tradingsymbol) for i in listing],
            slot_of={i.instrument_token: k for k, i in enumerate(listing)},
            kind=kind,
            asset=asset,
            tick=tick,
            strike=strike,
            expiry_ns=expiry_ns,
            iv=iv,
            is_call=np.array([i.instrument_type == "CE" for i in listing], dtype=bool),
            unit=unit,
            max_spread=spread,
            p_tick=1.0 - (1.0 - p) ** (step_ms / 250),  # a probability per 250 ms, rescaled to the step
            n_index=int(np.count_nonzero(kind == KIND_INDEX)),
        )

    def fair_ticks(self, slots: IntArray, spot: FloatArray, now_ns: IntArray | int, rate: float) -> IntArray:
        """Fair prices in whole ticks (at least one) of ``slots``, given each one's underlying spot.

        Spot instruments trade at ``spot``; a future at the forward ``spot e^{rT}``; an
        option at Black-76 on that forward with the smile vol. ``now_ns`` is a time or one
        time per element.
        """
        fair = np.array(spot, dtype=np.float64)
        kind = self.kind[slots]
        deriv = kind >= KIND_FUTURE
        if deriv.any():
            d_slots = slots[deriv]
            d_now = now_ns[deriv] if isinstance(now_ns, np.ndarray) else now_ns
            t = np.maximum((self.expiry_ns[d_slots] - d_now) / YEAR_NS, 0.0)
            value = fair[deriv] * np.exp(rate * t)
            opt = kind[deriv] == KIND_OPTION
            if opt.any():
                o_slots = d_slots[opt]
                f, tt, k = value[opt], t[opt], self.strike[o_slots]
                vol = smile_vol(k, f, tt, self.iv[o_slots])
                value[opt] = black76_prices(f, k, tt, vol, rate, self.is_call[o_slots])
            fair[deriv] = value
        return np.maximum(np.rint(fair / self.tick[slots]), 1).astype(np.int64)
