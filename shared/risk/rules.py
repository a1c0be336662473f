"""The risk checks: one function per rule, applied in a fixed order to every order intent.

``evaluate`` runs ``RULES`` top to bottom; the first rule that returns a verdict decides.
Each rule returns None (pass) or ``(Decision, quantity, reason)``; ``RiskDecision.rule`` names
the rule. An exit (an intent that reduces the position held) passes every rule that guards
against adding risk (halt, symbol loss, kill, stale market data, position and trade counts,
exposure caps) but not the ones that say an order cannot be placed now (market closed,
unknown portfolio, throttle). "The position held" is the intent's strategy's own position in
the symbol (``RiskState.strategy_quantity``), not the account's net. See docs/risk.md.

A duplicate ``intent_id`` returns the stored decision unchanged and counts nothing again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from shared.brokers.positions import mis_square_off_time
from shared.clock import MARKET_CLOSE, MARKET_OPEN, NS, ist_day, ns_to_ist
from shared.config import PortfolioConfig, RiskConfig
from shared.contracts import ControlCommand, OrderIntent, RiskDecision
from shared.enums import ControlAction, Decision, Product
from shared.risk.sizing import SizingResult, is_reducing, rupees, size_intent, strategy_budget_left
from shared.risk.state import PendingEntry, RiskState

#: A portfolio snapshot older than this (event time) is stale: new orders are blocked.
SNAPSHOT_MAX_AGE_S: Final = 30.0
RULE_PASSED: Final = "passed"

Verdict = tuple[Decision, int, str]


@dataclass(frozen=True, slots=True)
class Check:
    """What every rule sees."""

    intent: OrderIntent
    state: RiskState
    now_ns: int
    sizing: SizingResult
    config: RiskConfig
    market_open: bool
    is_exit: bool
    snapshot_max_age_s: float

    @property
    def symbol(self) -> str:
        return self.intent.symbol


def _block(reason: str) -> Verdict:
    return Decision.BLOCK, 0, reason


# -- the rules, in the order evaluate applies them -------------------------------------------


def session_halted(c: Check) -> Verdict | None:
    if c.state.halted and not c.is_exit:
        return _block(f"session halted ({c.state.halt_reason}); only exits pass")
    return None


def max_daily_loss(c: Check) -> Verdict | None:
    """The first breach halts the session; the service squares off. Exits then pass the halt."""
    limit = c.config.max_daily_loss
    if c.state.loss_halt or c.state.day_pnl > -limit:
        return None
    reason = f"day PnL {rupees(c.state.day_pnl)} <= -{rupees(limit)} max_daily_loss"
    c.state.loss_halt = reason
    return Decision.HALT_SESSION, 0, reason


def per_symbol_max_loss(c: Check) -> Verdict | None:
    """A symbol that lost its limit today is killed for the day (its exits still pass)."""
    pnl = c.state.symbol_pnl.get(c.symbol)
    limit = c.config.per_symbol_max_loss
    if pnl is None or pnl > -limit:
        return None
    reason = f"{c.symbol} day PnL {rupees(pnl)} <= -{rupees(limit)} per_symbol_max_loss"
    c.state.killed.setdefault(c.symbol, reason)
    return None if c.is_exit else _block(reason + "; symbol killed for the day")


def killed_symbol(c: Check) -> Verdict | None:
    why = c.state.killed.get(c.symbol)
    if why is None or c.is_exit:
        return None
    return _block(f"{c.symbol} is killed ({why})")


def market_hours(c: Check) -> Verdict | None:
    now = ns_to_ist(c.now_ns)
    t = now.time()
    if not c.market_open:
        return _block(f"market closed on {now:%Y-%m-%d} (not a trading session)")
    if not MARKET_OPEN <= t < MARKET_CLOSE:
        return _block(f"{t:%H:%M:%S} IST is outside market hours {MARKET_OPEN:%H:%M}-{MARKET_CLOSE:%H:%M}")
    if c.is_exit or c.intent.product != Product.MIS:
        return None
    try:
        cutoff = mis_square_off_time(c.intent.exchange)
    except ValueError as exc:
        return _block(str(exc))
    if t >= cutoff:
        return _block(f"no new MIS entries on {c.intent.exchange} after {cutoff:%H:%M} IST (now {t:%H:%M:%S})")
    return None


def stale_market_data(c: Check) -> Verdict | None:
    if c.is_exit:
        return None
    last = c.state.last_tick.get(c.symbol)
    limit = c.config.stale_data_seconds
    if last is None:
        return _block(f"no market data for {c.symbol} yet")
    age = (c.now_ns - last) / NS
    if age > limit:
        return _block(f"last tick of {c.symbol} {age:.1f}s old > {limit:g}s stale_data_seconds")
    return None


def portfolio_snapshot(c: Check) -> Verdict | None:
    """Fail-closed: without a fresh view of the book, nothing goes out (exits included)."""
    ts = c.state.snapshot_ts
    if ts == 0:
        return _block("no portfolio snapshot yet (fail-closed)")
    snap_day = ist_day(ts).isoformat()
    if snap_day != c.state.day:
        return _block(f"portfolio snapshot is from {snap_day}, not {c.state.day} (fail-closed)")
    age = (c.now_ns - ts) / NS
    if age > c.snapshot_max_age_s:
        return _block(f"portfolio snapshot {age:.1f}s old > {c.snapshot_max_age_s:g}s (fail-closed)")
    return None


def max_positions_total(c: Check) -> Verdict | None:
    if c.is_exit:
        return None
    open_symbols = c.state.open_symbols()
    limit = c.config.max_positions_total
    if c.symbol not in open_symbols and len(open_symbols) >= limit:
        return _block(f"{len(open_symbols)} open positions >= {limit} max_positions_total")
    return None


def max_trades_per_symbol_per_day(c: Check) -> Verdict | None:
    if c.is_exit:
        return None
    n = c.state.trades.get(c.symbol, 0)
    limit = c.config.max_trades_per_symbol_per_day
    if n >= limit:
        return _block(f"{n} entries in {c.symbol} today >= {limit} max_trades_per_symbol_per_day")
    return None


def order_rate(c: Check) -> Verdict | None:
    n = c.state.throttle_count(c.now_ns)
    limit = c.config.max_orders_per_minute
    if n >= limit:
        return _block(f"{n} orders in the last 60s >= {limit} max_orders_per_minute")
    return None


def sized_quantity(c: Check) -> Verdict | None:
    requested = c.intent.quantity
    qty = min(c.sizing.quantity, requested) if requested else c.sizing.quantity  # never increased
    if qty <= 0:
        return _block(f"sized to 0: {c.sizing.reason}")
    if requested and qty < requested:
        return Decision.REDUCE, qty, f"reduced {requested} -> {qty}: {c.sizing.reason}"
    return None


RULES: Final[tuple[tuple[str, Callable[[Check], Verdict | None]], ...]] = (
    ("session_halted", session_halted),
    ("max_daily_loss", max_daily_loss),
    ("per_symbol_max_loss", per_symbol_max_loss),
    ("killed_symbol", killed_symbol),
    ("market_hours", market_hours),
    ("stale_market_data", stale_market_data),
    ("portfolio_snapshot", portfolio_snapshot),
    ("max_positions_total", max_positions_total),
    ("max_trades_per_symbol_per_day", max_trades_per_symbol_per_day),
    ("order_rate", order_rate),
    ("sizing", sized_quantity),
)


def evaluate(
    intent: OrderIntent,
    state: RiskState,
    *,
    now_ns: int,
    sizing: SizingResult,
    config: RiskConfig,
    market_open: bool,
    is_exit: bool,
    snapshot_max_age_s: float = SNAPSHOT_MAX_AGE_S,
) -> RiskDecision:
    """Decide one intent at event time ``now_ns`` and record its effects in ``state``.

    ``sizing`` comes from ``size_from_state`` (or ``size_intent``); ``market_open`` says the
    exchange holds a session today (the trading calendar; the clock hours are checked here);
    ``is_exit`` from ``is_exit_intent``. An approved order counts towards the throttle; an
    approved entry also counts as a trade of its symbol and as a pending entry until it fills.
    """
    state.roll_day(now_ns)
    seen = state.decisions.get(intent.intent_id)
    if seen is not None:
        return seen
    check = Check(intent, state, now_ns, sizing, config, market_open, is_exit, snapshot_max_age_s)
    rule, verdict = RULE_PASSED, None
    for name, fn in RULES:
        verdict = fn(check)
        if verdict is not None:
            rule = name
            break
    if verdict is None:
        verdict = Decision.ALLOW, sizing.quantity, f"all checks passed; {sizing.reason}"
    decision, quantity, reason = verdict
    result = RiskDecision(
        ts_event=now_ns,
        intent_id=intent.intent_id,
        symbol=intent.symbol,
        decision=decision,
        quantity=quantity,
        requested_quantity=intent.quantity,
        reason=reason,
        rule=rule,
    )
    if decision in (Decision.ALLOW, Decision.REDUCE):
        _count_approval(intent, state, now_ns, quantity, sizing, is_exit)
    state.record_decision(result)
    return result


def _count_approval(
    intent: OrderIntent, state: RiskState, now_ns: int, quantity: int, sizing: SizingResult, is_exit: bool
) -> None:
    state.record_order(now_ns)
    entry = PendingEntry(
        ts=now_ns,
        symbol=intent.symbol,
        strategy=intent.strategy,
        side=intent.side,
        quantity=quantity,
        price=sizing.price or intent.price or state.mark(intent.symbol),
    )
    if is_exit:
        # reserved until it fills, is rejected or cancelled: the next exit sizes from what is left
        state.pending_exits[intent.intent_id] = entry
        return
    state.trades[intent.symbol] = state.trades.get(intent.symbol, 0) + 1
    state.pending[intent.intent_id] = entry


# -- helpers for the service ----------------------------------------------------------------


def is_exit_intent(intent: OrderIntent, state: RiskState) -> bool:
    """True if ``intent`` reduces the position its own strategy holds in its symbol (pending entries aside).

    The strategy's own units, not the symbol's net: with one strategy long and another short
    the net is flat, yet each one's exit reduces its own position. Conversely a strategy
    that holds nothing opens a position of its own even when it trades against the net.
    """
    return is_reducing(intent.side, own_units(intent, state))


def own_units(intent: OrderIntent, state: RiskState) -> int:
    """The strategy's signed units ``intent`` meets (exit or entry, and how much an exit may close).

    For a reduce-only exit, what the strategy's approved exits not filled yet leave of its
    position (``strategy_quantity_left``): several exits in flight (the freeze-limit slices of
    one exit, a time exit racing a stop) close the position once. Any other intent meets the
    filled position, as before pending exits were kept: an engine's reversal, an exit and the
    opposite entry on one bar, has its entry sized as closing the old position (no entry caps),
    which is what turns it over; changing that would change every engine's trades.
    """
    if intent.reduce_only:
        return state.strategy_quantity_left(intent.symbol, intent.strategy)
    return state.strategy_quantity(intent.symbol, intent.strategy)


def size_from_state(
    intent: OrderIntent,
    state: RiskState,
    *,
    lot_size: int,
    tick_size: float,
    config: PortfolioConfig,
    atr_stop_distance: float | None = None,
    price: float | None = None,
) -> SizingResult:
    """``size_intent`` with equity, exposures, the strategy's held position and margin rate taken from ``state``.

    ``price`` defaults to the symbol's last traded price, else the intent's price.
    """
    px = price if price is not None else (state.mark(intent.symbol) or intent.price)
    return size_intent(
        intent,
        equity=state.equity,
        lot_size=lot_size,
        price=px,
        atr_stop_distance=atr_stop_distance,
        open_exposure=state.gross_exposure(),
        config=config,
        strategy_budget=strategy_budget_left(
            config, intent.strategy, equity=state.equity, strategy_exposure=state.gross_exposure(intent.strategy)
        ),
        tick_size=tick_size,
        # exit vs entry and an exit's size: the strategy's own units, less what its exits approved
        # before (not filled yet) will close; the symbol's exposure cap of an entry stays on the
        # account's net position
        position_quantity=own_units(intent, state),
        closing_quantity=state.closing_quantity(intent.symbol, intent.strategy) if intent.reduce_only else 0,
        symbol_exposure=state.symbol_exposure(intent.symbol),
        margin_rate=state.margin_rate(intent.symbol),
    )


def daily_loss_breached(state: RiskState, config: RiskConfig) -> bool:
    """True if day PnL is at or below ``-max_daily_loss`` (for a check on every snapshot)."""
    return state.day_pnl <= -config.max_daily_loss


def apply_control(cmd: ControlCommand, state: RiskState) -> str:
    """Apply HALT / RESUME / KILL_SYMBOL / REVIVE_SYMBOL; returns what happened, for the log.

    SQUARE_OFF_ALL and CANCEL_ALL are the execution service's; risk state ignores them.
    """
    who = f" by {cmd.issued_by}" if cmd.issued_by else ""
    why = f": {cmd.reason}" if cmd.reason else ""
    if cmd.action == ControlAction.HALT:
        state.manual_halt = f"manual halt{who}{why}"
        return "halted"
    if cmd.action == ControlAction.RESUME:
        was = state.halt_reason
        state.manual_halt = state.loss_halt = ""
        return f"resumed (was: {was})" if was else "resumed (was not halted)"
    if cmd.action in (ControlAction.KILL_SYMBOL, ControlAction.REVIVE_SYMBOL):
        if not cmd.symbol:
            return f"ignored {cmd.action} {cmd.command_id}: no symbol given"
        if cmd.action == ControlAction.KILL_SYMBOL:
            state.killed[cmd.symbol] = f"killed{who}{why}"
            return f"killed {cmd.symbol}"
        found = state.killed.pop(cmd.symbol, None)
        return f"revived {cmd.symbol}" if found else f"{cmd.symbol} was not killed"
    return f"ignored {cmd.action}: not a risk state command"
