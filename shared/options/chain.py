"""Which contracts an options engine trades: expiry, ATM strike, the strikes around it.

Pure functions over the instruments master. Rules (docs/options.md):

- ATM is the listed strike nearest the spot proxy; a spot exactly between two strikes takes
  the higher one (round half up, as a strike grid rounds). An engine following spot keeps
  its ATM until spot is a little past the midpoint (``sticky_atm``), so it does not flip.
- The traded expiry is the nearest listed one on or after the session day; on the expiry day
  itself, from ``roll_cutoff`` (IST) onwards, the next one (a holiday that moved the expiry is
  already in the master's expiry dates).
- The window is ATM +/- ``each_side`` listed strikes of that expiry (both CE and PE).
- The spot is the index level when a fresh one is known, else the current future's LTP
  (``choose_spot``); ATM is chosen around the option's forward, either the index carried to
  the option's expiry or the future carried back to it (``atm_reference``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from shared.clock import NS, ist_day
from shared.errors import InstrumentError
from shared.instruments import Instrument, InstrumentsMaster
from shared.options.pricing import year_fraction
from shared.strategies.base import DAY_NS, ist_seconds


def atm_strike(strikes: Sequence[float], spot: float) -> float:
    """The strike nearest ``spot`` in ascending ``strikes``; exactly between two: the higher."""
    if not strikes:
        raise InstrumentError("no strikes to choose an ATM strike from")
    i = bisect.bisect_left(strikes, spot)
    if i == 0:
        return strikes[0]
    if i == len(strikes):
        return strikes[-1]
    below, above = strikes[i - 1], strikes[i]
    return below if spot - below < above - spot else above


def sticky_atm(strikes: Sequence[float], spot: float, previous: float | None, band: float) -> float:
    """``atm_strike``, but keep ``previous`` while spot stays within ``band`` x the gap past the midpoint.

    A spot that hovers at the midpoint of two strikes would otherwise flip ATM (and the
    subscriptions around it) tick after tick; with ``band`` 0.1 ATM moves only once spot is
    10% of a strike gap beyond the midpoint.
    """
    atm = atm_strike(strikes, spot)
    if previous is None or previous == atm or previous not in strikes:
        return atm
    gap = abs(atm - previous)
    return previous if abs(spot - previous) <= gap * (0.5 + band) else atm


def trading_expiry(master: InstrumentsMaster, name: str, now_ns: int, roll_cutoff_s: int) -> date:
    """The expiry to trade at event time ``now_ns``: the nearest, or the next one on expiry day after the cut-off."""
    day = ist_day(now_ns)
    expiry = master.nearest_expiry(name, day)
    if expiry == day and ist_seconds(now_ns) >= roll_cutoff_s:
        later = [e for e in master.expiries(name) if e > day]
        if not later:
            raise InstrumentError(f"{name}: expiry day {day} past the roll cut-off and no later expiry is listed")
        return later[0]
    return expiry


def expiry_valid_until(expiry: date, now_ns: int, roll_cutoff_s: int) -> int:
    """The event time from which ``trading_expiry`` may differ from ``expiry`` (chosen at ``now_ns``).

    The roll cut-off of the expiry day when that is still ahead today, else the next IST
    midnight (a new day: the nearest expiry may move on).
    """
    midnight = now_ns - ist_seconds(now_ns) * NS - now_ns % NS
    cutoff = midnight + roll_cutoff_s * NS
    if expiry == ist_day(now_ns) and now_ns < cutoff:
        return cutoff
    return midnight + DAY_NS


def strike_window(strikes: Sequence[float], atm: float, each_side: int) -> list[float]:
    """``atm`` and ``each_side`` listed strikes below and above it (fewer at the chain's ends)."""
    i = strikes.index(atm)
    return list(strikes[max(0, i - each_side) : i + each_side + 1])


def keep_band(strikes: Sequence[float], atm: float, band: float) -> tuple[float, float]:
    """The levels ``[low, high]`` within which ``sticky_atm(strikes, level, atm, band)`` keeps ``atm``.

    The keep region of the next strike on either side; an engine compares each new level with
    it (two float comparisons) instead of choosing ATM again. A level outside may still keep
    ATM when the nearest strike is two or more away (``sticky_atm`` measures from it): the
    caller then chooses properly, so the band is only ever a shortcut, never a different rule.
    """
    i = strikes.index(atm)
    low = atm - (atm - strikes[i - 1]) * (0.5 + band) if i > 0 else -math.inf
    high = atm + (strikes[i + 1] - atm) * (0.5 + band) if i + 1 < len(strikes) else math.inf
    return low, high


@dataclass(frozen=True, slots=True)
class OptionSelection:
    """What an engine trades on one underlying now: the ATM pair and the strikes it streams."""

    underlying: str
    expiry: date
    step: float
    atm: float
    call: Instrument
    put: Instrument
    window: tuple[Instrument, ...]  # CE and PE of every strike in the window

    @property
    def window_tokens(self) -> frozenset[int]:
        return frozenset(i.instrument_token for i in self.window)


def select_options(
    master: InstrumentsMaster,
    name: str,
    spot: float,
    now_ns: int,
    *,
    each_side: int,
    roll_cutoff_s: int,
    previous: OptionSelection | None = None,
    band: float = 0.0,
) -> OptionSelection:
    """The ATM CE/PE of the traded expiry for ``spot``, and the window around them.

    With ``previous`` (of the same expiry) ATM is sticky by ``band`` (``sticky_atm``).
    """
    expiry = trading_expiry(master, name, now_ns, roll_cutoff_s)
    strikes = master.strikes(name, expiry)
    held = previous.atm if previous is not None and previous.expiry == expiry else None
    atm = sticky_atm(strikes, spot, held, band)
    return selection_at(master, name, expiry, atm, each_side=each_side)


def selection_at(master: InstrumentsMaster, name: str, expiry: date, atm: float, *, each_side: int) -> OptionSelection:
    """The selection with ATM ``atm`` on ``expiry`` (a checkpoint's, restored as it was)."""
    strikes = master.strikes(name, expiry)
    wanted = set(strike_window(strikes, atm, each_side))
    window = tuple(i for i in master.option_chain(name, expiry) if i.strike in wanted)
    return OptionSelection(
        underlying=name,
        expiry=expiry,
        step=master.strike_step(name, expiry),
        atm=atm,
        call=master.option(name, expiry, atm, "CE"),
        put=master.option(name, expiry, atm, "PE"),
        window=window,
    )


def option_forward(future_price: float, future_expiry: date, option_expiry: date, now_ns: int, rate: float) -> float:
    """The forward to ``option_expiry`` implied by a future's price (cost of carry at ``rate``).

    A weekly option expires before the monthly future: F_opt = F_fut e^{-r (T_fut - T_opt)}.
    """
    t_fut = year_fraction(now_ns, future_expiry)
    t_opt = year_fraction(now_ns, option_expiry)
    return future_price * math.exp(-rate * (t_fut - t_opt))


def index_forward(spot: float, option_expiry: date, now_ns: int, rate: float) -> float:
    """The forward to ``option_expiry`` of an index at ``spot``: ``S e^{r T_opt}`` (no dividends).

    The simulator's futures and option forwards are exactly this; on the real market the
    index's dividend yield makes it a little high (a few points on a weekly), far less than
    the strike step.
    """
    return spot * math.exp(rate * year_fraction(now_ns, option_expiry))


SPOT_INDEX: Final = "index"
SPOT_FUTURE: Final = "future"


@dataclass(frozen=True, slots=True)
class SpotQuote:
    """A price of an underlying (its index level or its current future's LTP) at an event time."""

    price: float
    ts_ns: int


@dataclass(frozen=True, slots=True)
class SpotChoice:
    """Which price an engine follows for an underlying: ``source`` is ``index`` or ``future``."""

    source: str
    price: float
    ts_ns: int


def choose_spot(index: SpotQuote | None, future: SpotQuote | None, now_ns: int, max_age_ns: int) -> SpotChoice | None:
    """The spot to choose ATM from at event time ``now_ns``.

    The index level when it is at most ``max_age_ns`` old (``max_age_ns`` <= 0: never); else
    the current future's LTP, whatever its age (the seed's proxy: futures tick all session);
    else a stale index level (the only price known, e.g. at the first selection of a day);
    None when neither is known.
    """
    if index is not None and max_age_ns > 0 and now_ns - index.ts_ns <= max_age_ns:
        return SpotChoice(SPOT_INDEX, index.price, index.ts_ns)
    if future is not None:
        return SpotChoice(SPOT_FUTURE, future.price, future.ts_ns)
    if index is not None and max_age_ns > 0:
        return SpotChoice(SPOT_INDEX, index.price, index.ts_ns)
    return None


def atm_reference(spot: SpotChoice, option_expiry: date, future_expiry: date | None, now_ns: int, rate: float) -> float:
    """The level ATM is chosen around: the option's forward, from the index or from the future.

    From the index: carried forward to the option's expiry (``index_forward``). From the
    current future, which expires later than a weekly option (up to a month): carried back
    (``option_forward``). Either way ATM is the strike nearest the option's own forward, where
    the call and the put cost about the same (what a straddle sells).
    """
    if spot.source == SPOT_INDEX:
        return index_forward(spot.price, option_expiry, now_ns, rate)
    if future_expiry is None:
        return spot.price
    return option_forward(spot.price, future_expiry, option_expiry, now_ns, rate)


def split_quantity(quantity: int, freeze_limit: int, lot_size: int) -> list[int]:
    """``quantity`` as orders of at most ``freeze_limit`` units, each a whole number of lots.

    NSE rejects an order above the freeze limit; the largest slice is the most lots that fit.
    """
    if quantity <= 0:
        return []
    if lot_size <= 0 or quantity % lot_size:
        raise ValueError(f"quantity {quantity} is not a whole number of lots of {lot_size}")
    per_order = (freeze_limit // lot_size) * lot_size if freeze_limit > 0 else quantity
    if per_order <= 0:
        raise ValueError(f"freeze limit {freeze_limit} is below one lot of {lot_size}")
    full, rest = divmod(quantity, per_order)
    return [per_order] * full + ([rest] if rest else [])
