"""The portfolio engine: how many units an order intent may trade.

Pure arithmetic: no state, no I/O. The caller passes the account's numbers (equity, gross
exposure, the position already held) and the instrument's lot and tick size from the
instruments master; lot sizes are never constants here.

An entry is sized by risk, then capped (each cap is a quantity in units, the smallest wins):

- ``risk``: ``equity * risk_per_trade_pct / stop distance``, the stop distance being
  ``|price - intent.stop_loss|`` or else the ATR distance the caller passes;
- ``budget``: the strategy's remaining notional budget / price (see ``strategy_budget_left``);
- ``leverage``: ``(max_leverage * equity - open_exposure) / price``;
- ``exposure``: ``(max_exposure_pct * equity - symbol_exposure) / price``, a cap on one
  symbol's gross notional (concentration);
- ``requested``: an explicit ``intent.quantity`` is checked, never increased.

The result is rounded DOWN to whole lots (F&O) or whole shares (equity, lot 1); zero when
not even one lot fits, with the reason. Notional is quantity x price for every segment (an
option's premium, a future's full contract value). The budget, leverage and exposure caps
count an order at ``notional x margin_rate``: the capital it ties up. A future is carried on
margin (``PortfolioConfig.futures_margin_pct``, about 12-15% of notional for index futures);
equities and option premium count in full (``margin_rate`` 1).

An exit (an intent on the opposite side of the position its strategy holds) is never sized
up and never capped by exposure: it trades the requested quantity, or the strategy's whole
position when the intent says 0, limited to that position (an exit never flips the position;
a reversal is a separate entry intent). The position is the strategy's own, not the symbol's
net: when two strategies hold the symbol, one's exit must leave the other's units alone. For
a reduce-only exit the caller passes what the strategy's exits approved earlier and not
filled yet leave of it, so several exits in flight never close more than it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

from shared.config import PortfolioConfig
from shared.contracts import OrderIntent
from shared.enums import Side

#: Guards floor() against binary fractions: 5_000 / 0.1 must give 50_000 units, not 49_999.
_EPS: Final = 1e-9

CAP_RISK: Final = "risk"
CAP_BUDGET: Final = "budget"
CAP_LEVERAGE: Final = "leverage"
CAP_EXPOSURE: Final = "exposure"
CAP_REQUESTED: Final = "requested"
CAP_POSITION: Final = "position"
CAP_INPUT: Final = "input"


@dataclass(frozen=True, slots=True)
class SizingResult:
    """Units to trade, why, which cap bound (``""`` when nothing cut the quantity), and the price sized at."""

    quantity: int
    reason: str
    capped_by: str = ""
    price: float = 0.0


def rupees(x: float) -> str:
    """``-25,310`` style: whole rupees with thousands separators, for reasons people read."""
    return f"{x:,.0f}"


def is_reducing(side: Side | str, position_quantity: int) -> bool:
    """True if an order on ``side`` reduces the signed ``position_quantity`` (an exit)."""
    if position_quantity > 0:
        return side == Side.SELL
    if position_quantity < 0:
        return side == Side.BUY
    return False


def strategy_budget_left(
    config: PortfolioConfig, strategy: str, *, equity: float, strategy_exposure: float
) -> float | None:
    """The exposure (₹ of notional x margin rate) ``strategy`` may still add; None without a budget.

    A budget fraction is the strategy's share of the gross exposure limit
    (``fraction * max_leverage * equity``), so budgets summing to 1 add up to the leverage cap.
    """
    fraction = config.strategy_budgets.get(strategy)
    if fraction is None:
        return None
    return max(fraction * config.max_leverage * equity - strategy_exposure, 0.0)


def _units(rupees_room: float, per_unit: float) -> int:
    return max(math.floor(rupees_room / per_unit + _EPS), 0)


def _size_exit(intent: OrderIntent, position_quantity: int, closing_quantity: int = 0) -> SizingResult:
    held = abs(position_quantity)
    whose = f" of {intent.strategy}" if intent.strategy else ""
    if closing_quantity > 0:
        being = f"{closing_quantity} being closed by approved exits not filled yet"
        left = f"the {held} left of the position{whose} ({being})"
        if intent.quantity == 0:
            return SizingResult(held, f"exit: closes {left}")
        if intent.quantity > held:
            return SizingResult(held, f"exit: requested {intent.quantity} > {left}; limited to it", CAP_POSITION)
        return SizingResult(intent.quantity, f"exit: {intent.quantity} of {left}")
    if intent.quantity == 0:
        return SizingResult(held, f"exit: closes the whole position{whose} of {held}")
    if intent.quantity > held:
        return SizingResult(
            held,
            f"exit: requested {intent.quantity} > position{whose} {held}; limited to the position",
            CAP_POSITION,
        )
    return SizingResult(intent.quantity, f"exit: {intent.quantity} of the position{whose} of {held}")


def _stop_distance(intent: OrderIntent, price: float, atr_stop_distance: float | None) -> tuple[float | None, str]:
    """(distance, description); distance None with a reason when the stop is unusable."""
    if intent.stop_loss > 0:
        d = price - intent.stop_loss if intent.side == Side.BUY else intent.stop_loss - price
        if d <= 0:
            return None, f"stop_loss {intent.stop_loss:g} is on the wrong side of price {price:g} for a {intent.side}"
        return d, f"stop {d:.2f} from stop_loss"
    if atr_stop_distance is not None and atr_stop_distance > 0:
        return atr_stop_distance, f"stop {atr_stop_distance:.2f} from ATR"
    return None, "no stop distance (intent has no stop_loss and no ATR is known)"


def size_intent(
    intent: OrderIntent,
    *,
    equity: float,
    lot_size: int,
    price: float,
    atr_stop_distance: float | None,
    open_exposure: float,
    config: PortfolioConfig,
    strategy_budget: float | None,
    tick_size: float = 0.0,
    position_quantity: int = 0,
    symbol_exposure: float | None = None,
    margin_rate: float = 1.0,
    closing_quantity: int = 0,
) -> SizingResult:
    """Size (``intent.quantity == 0``) or check (explicit quantity) one intent.

    ``equity``: account equity (₹). ``lot_size``/``tick_size``: from the instruments master
    (a stop closer than one tick counts as one tick). ``price``: the price to size at (last
    traded price or the limit price). ``open_exposure``: gross notional (₹) of the open
    positions and approved, unfilled entries. ``strategy_budget``: notional the strategy may
    still add (``strategy_budget_left``), None for no budget. ``position_quantity``: signed
    units the intent's strategy already holds in the symbol (decides exit vs entry and bounds
    an exit; its own units, not the symbol's net). ``symbol_exposure``: gross
    exposure already in the symbol incl. pending entries; default ``|position_quantity| * price *
    margin_rate``. ``margin_rate``: the fraction of notional the order ties up as capital
    (``futures_margin_pct`` for a future, 1 otherwise); exposures passed in are measured alike.
    ``closing_quantity``: units of the strategy's position that its exits approved before will
    close (not filled yet): ``position_quantity`` is then what they leave, and the reason says so.
    """
    if is_reducing(intent.side, position_quantity):
        result = _size_exit(intent, position_quantity, closing_quantity)
    else:
        result = _size_entry(
            intent,
            equity=equity,
            lot_size=lot_size,
            price=price,
            atr_stop_distance=atr_stop_distance,
            open_exposure=open_exposure,
            config=config,
            strategy_budget=strategy_budget,
            tick_size=tick_size,
            symbol_exposure=(
                abs(position_quantity) * price * margin_rate if symbol_exposure is None else symbol_exposure
            ),
            margin_rate=margin_rate,
        )
    return replace(result, price=price)


def _size_entry(
    intent: OrderIntent,
    *,
    equity: float,
    lot_size: int,
    price: float,
    atr_stop_distance: float | None,
    open_exposure: float,
    config: PortfolioConfig,
    strategy_budget: float | None,
    tick_size: float,
    symbol_exposure: float,
    margin_rate: float,
) -> SizingResult:
    if lot_size < 1:
        return SizingResult(0, f"lot size {lot_size} of {intent.symbol} is not tradable (expected >= 1)", CAP_INPUT)
    if not price > 0:
        return SizingResult(0, f"no price for {intent.symbol} (got {price!r})", CAP_INPUT)
    if not equity > 0:
        return SizingResult(0, f"equity {rupees(equity)} leaves nothing to size with", CAP_INPUT)
    if not 0 < margin_rate <= 1:
        return SizingResult(0, f"margin rate {margin_rate!r} of {intent.symbol} is not in (0, 1]", CAP_INPUT)
    unit_capital = price * margin_rate  # what one unit ties up in the budget/leverage/exposure caps
    margin_text = f" (margin {margin_rate:.0%} of notional)" if margin_rate < 1 else ""

    caps: list[tuple[str, int, str]] = []  # (cap, max units, why) in the order they are reported
    requested = intent.quantity
    if requested:
        caps.append((CAP_REQUESTED, requested, f"requested {requested}"))
    distance, stop_text = _stop_distance(intent, price, atr_stop_distance)
    if distance is None and (intent.stop_loss > 0 or not requested):
        # A wrong-side stop is an error; a size-it intent without any stop cannot be sized.
        return SizingResult(0, stop_text, CAP_RISK)
    if distance is not None:
        distance = max(distance, tick_size)
        risk_rs = equity * config.risk_per_trade_pct
        caps.append((CAP_RISK, _units(risk_rs, distance), f"risk {rupees(risk_rs)} / {stop_text}"))
    if strategy_budget is not None:
        caps.append(
            (
                CAP_BUDGET,
                _units(strategy_budget, unit_capital),
                f"{intent.strategy} budget left {rupees(strategy_budget)}{margin_text}",
            )
        )
    lev_room = config.max_leverage * equity - open_exposure
    caps.append(
        (
            CAP_LEVERAGE,
            _units(lev_room, unit_capital),
            f"leverage room {rupees(lev_room)} = {config.max_leverage:g}x equity {rupees(equity)}"
            f" - open exposure {rupees(open_exposure)}{margin_text}",
        )
    )
    sym_room = config.max_exposure_pct * equity - symbol_exposure
    caps.append(
        (
            CAP_EXPOSURE,
            _units(sym_room, unit_capital),
            f"symbol room {rupees(sym_room)} = {config.max_exposure_pct:g} x equity - held {rupees(symbol_exposure)}"
            f"{margin_text}",
        )
    )

    cap, units, why = min(caps, key=lambda c: c[1])  # min() keeps the first of equal caps
    lots = units // lot_size
    quantity = lots * lot_size
    lot_text = f"{lots} lot(s) of {lot_size}" if lot_size > 1 else f"{quantity} share(s)"
    if quantity == 0:
        return SizingResult(0, f"less than one lot ({lot_size}) fits at {price:g}: {why} allows {units} units", cap)
    if requested and quantity == requested:
        return SizingResult(quantity, f"requested {requested} fits ({lot_text})")
    if cap == CAP_REQUESTED:
        # Only the rounding to whole lots cut an explicit quantity.
        return SizingResult(quantity, f"requested {requested} rounded down to {lot_text}", CAP_REQUESTED)
    return SizingResult(quantity, f"{lot_text} at {price:g}: {why} allows {units} units", cap)
