"""Portfolio Greeks and an option-selling margin per underlying. Pure: no Redis, no I/O.

``OptionBook`` prices positions with ``shared.options.pricing``: each option's forward comes
from the underlying's current future price carried to the option's expiry, its IV from its
own last premium (the same solver the options engine uses), its Greeks from both. A future
counts delta 1 per unit. A premium with no implied vol (at or below intrinsic) is valued at
zero vol: delta 0 or +/-1, no gamma, vega or theta.

The margin is SPAN-like: the worst loss of the underlying's option positions over 16
scenarios (the future moves 0, 1/3, 2/3 and all of +/- ``price_scan_pct``, each with IV up
and down by ``vol_scan``), plus an exposure margin of ``short_option_exposure_pct`` of the
notional of short options, less the value of the long options (their premium is paid in
full). It approximates what the exchange blocks for option selling; a book of long options
needs none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np

from shared.clock import ist_day
from shared.config import GreeksRiskConfig
from shared.errors import InstrumentError
from shared.instruments import Instrument, InstrumentsMaster
from shared.options.chain import option_forward
from shared.options.pricing import ImpliedVolError, black76_prices, greeks, implied_vol, year_fraction

SCAN_FRACTIONS: Final = (0.0, 1 / 3, 2 / 3, 1.0)


@dataclass(frozen=True, slots=True)
class LineGreeks:
    """One position's IV and Greeks times its signed quantity (see ``PositionLine``)."""

    iv: float
    delta: float
    gamma: float
    theta: float
    vega: float


@dataclass(slots=True)
class NetGreeks:
    """An underlying's net Greeks (units of the underlying; rupees a day; rupees per vol point)."""

    delta: float = 0.0
    gamma: float = 0.0
    theta: float = 0.0
    vega: float = 0.0

    def add(self, line: LineGreeks) -> None:
        self.delta += line.delta
        self.gamma += line.gamma
        self.theta += line.theta
        self.vega += line.vega


class OptionBook:
    """Values option and future positions against the market ``price_of`` (symbol -> last price, 0 unknown)."""

    def __init__(self, master: InstrumentsMaster, rate: float, price_of: Callable[[str], float]) -> None:
        self.master = master
        self.rate = rate
        self.price_of = price_of
        self._futures: dict[tuple[str, date], Instrument] = {}

    def instrument(self, exchange: str, symbol: str) -> Instrument | None:
        try:
            return self.master.by_symbol(exchange, symbol)
        except InstrumentError:
            return None

    def future_price(self, name: str, now_ns: int) -> tuple[Instrument, float] | None:
        """The underlying's current future (as the engines trade it) and its last price."""
        day = ist_day(now_ns)
        fut = self._futures.get((name, day))
        if fut is None:
            try:
                fut = self._futures[(name, day)] = self.master.future(name, day)
            except InstrumentError:
                return None
        price = self.price_of(fut.tradingsymbol)
        return (fut, price) if price > 0 else None

    def forward(self, inst: Instrument, now_ns: int) -> float | None:
        """The forward an option of ``inst`` is priced on; None while the future's price is unknown."""
        found = self.future_price(inst.name, now_ns)
        if found is None or inst.expiry is None:
            return None
        fut, price = found
        assert fut.expiry is not None
        return option_forward(price, fut.expiry, inst.expiry, now_ns, self.rate)

    def line(self, inst: Instrument, quantity: int, now_ns: int, premium: float | None = None) -> LineGreeks | None:
        """IV and Greeks x ``quantity`` of a position in ``inst`` (None: not an option or future, or no price)."""
        if inst.is_future:
            return LineGreeks(0.0, float(quantity), 0.0, 0.0, 0.0)
        if not inst.is_option or inst.expiry is None:
            return None
        forward = self.forward(inst, now_ns)
        price = premium if premium is not None else self.price_of(inst.tradingsymbol)
        if forward is None or not price:
            return None
        t = year_fraction(now_ns, inst.expiry)
        is_call = inst.instrument_type == "CE"
        try:
            iv = implied_vol(price, forward, inst.strike, t, self.rate, is_call)
        except ImpliedVolError:
            iv = 0.0
        g = greeks(forward, inst.strike, t, iv, self.rate, is_call)
        return LineGreeks(iv, g.delta * quantity, g.gamma * quantity, g.theta * quantity, g.vega * quantity)

    def net_greeks(self, holdings: Mapping[Instrument, int], now_ns: int) -> dict[str, NetGreeks]:
        """Net Greeks per underlying of ``holdings`` (instrument -> signed units)."""
        out: dict[str, NetGreeks] = {}
        for inst, qty in holdings.items():
            if not qty or not (inst.is_option or inst.is_future):
                continue
            line = self.line(inst, qty, now_ns)
            if line is not None:
                out.setdefault(inst.name, NetGreeks()).add(line)
        return out

    def scenario_margin(self, holdings: Mapping[Instrument, int], now_ns: int, config: GreeksRiskConfig) -> float:
        """The SPAN-like margin (rupees) of the option positions in ``holdings``, all underlyings."""
        by_name: dict[str, list[tuple[Instrument, int]]] = {}
        for inst, qty in holdings.items():
            if qty and inst.is_option and inst.expiry is not None:
                by_name.setdefault(inst.name, []).append((inst, qty))
        total = 0.0
        for lines in by_name.values():
            total += self._underlying_margin(lines, now_ns, config)
        return total

    def _underlying_margin(self, lines: list[tuple[Instrument, int]], now_ns: int, config: GreeksRiskConfig) -> float:
        forwards, strikes, ts, vols, calls, qtys, now_values = [], [], [], [], [], [], []
        exposure = 0.0
        for inst, qty in lines:
            assert inst.expiry is not None
            forward = self.forward(inst, now_ns)
            premium = self.price_of(inst.tradingsymbol)
            if forward is None or not premium:
                continue
            t = year_fraction(now_ns, inst.expiry)
            is_call = inst.instrument_type == "CE"
            try:
                iv = implied_vol(premium, forward, inst.strike, t, self.rate, is_call)
            except ImpliedVolError:
                iv = 0.0
            forwards.append(forward)
            strikes.append(inst.strike)
            ts.append(t)
            vols.append(iv)
            calls.append(is_call)
            qtys.append(qty)
            now_values.append(premium)
            if qty < 0:
                exposure += -qty * forward * config.short_option_exposure_pct
        if not qtys:
            return 0.0
        # long premium is paid in full: credit it (a book of long options needs no margin)
        long_value = sum(q * p for q, p in zip(qtys, now_values, strict=True) if q > 0)
        f, k, t, v = (np.array(x, dtype=np.float64) for x in (forwards, strikes, ts, vols))
        call, q, value_now = np.array(calls), np.array(qtys, dtype=np.float64), np.array(now_values)
        worst = 0.0
        for frac in SCAN_FRACTIONS:
            for direction in (1.0, -1.0):
                moved = f * (1.0 + direction * frac * config.price_scan_pct)
                for dv in (config.vol_scan, -config.vol_scan):
                    value = black76_prices(moved, k, t, np.maximum(v + dv, 0.0), self.rate, call)
                    loss = -float(np.dot(q, value - value_now))
                    worst = max(worst, loss)
        return max(0.0, worst - long_value) + exposure


def limit_quantity(net: float, per_unit: float, limit: float, requested: int, lot_size: int) -> int:
    """The most units (whole lots, <= ``requested``) that keep |net Greek| within ``limit``.

    ``net`` is the underlying's net delta (or vega) now, ``per_unit`` what one unit of the
    order adds (signed). A trade that leaves |net| no larger than it was is never cut.
    """
    if per_unit == 0.0 or requested <= 0:
        return requested
    after = net + per_unit * requested
    if abs(after) <= limit or abs(after) <= abs(net):
        return requested
    bound = (limit - net) / per_unit if per_unit > 0 else (-limit - net) / per_unit
    units = max(0, min(requested, math.floor(bound + 1e-9)))
    return (units // lot_size) * lot_size if lot_size > 0 else units
