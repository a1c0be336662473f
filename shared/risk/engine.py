"""Risk decisions without the bus, for the risk service and the backtester: state in, messages out.

``RiskEngine`` wraps ``RiskState`` and the rules of ``shared.risk``. It holds "now" (the
newest event time seen: ticks, intents, snapshots, fills, order events; never a control
command, whose time is an operator's wall clock) and the instruments master (lot and tick
sizes, and which symbols are futures carried on margin). Every handler returns the
messages to publish as ``(stream, message)`` pairs; the service publishes them, writes the
checkpoint and only then acknowledges the inputs.
"""

from __future__ import annotations

import logging
from typing import Final

import msgspec

from shared.bus import streams
from shared.clock import IST_OFFSET_NS, NS, ist_day, wall_ns
from shared.config import PortfolioConfig, RiskConfig
from shared.contracts import (
    ControlCommand,
    Fill,
    Message,
    OrderEvent,
    OrderIntent,
    PositionSnapshot,
    RiskDecision,
    Tick,
)
from shared.enums import ControlAction, Decision, Side
from shared.errors import InstrumentError
from shared.instruments import Instrument, InstrumentsMaster
from shared.risk import (
    RiskState,
    apply_control,
    daily_loss_breached,
    evaluate,
    is_exit_intent,
    size_from_state,
)
from shared.risk.greeks import OptionBook, limit_quantity
from shared.risk.sizing import SizingResult, rupees
from shared.sim.calendar import is_trading_day

log = logging.getLogger(__name__)

Out = tuple[str, Message]

RULE_INSTRUMENT: Final = "instrument"
RULE_REDUCE_ONLY: Final = "reduce_only"
RULE_ERROR: Final = "error"
RULE_GREEKS_DELTA: Final = "greeks_delta"
RULE_GREEKS_VEGA: Final = "greeks_vega"
RULE_OPTION_MARGIN: Final = "option_margin"
ISSUER: Final = "risk"
_DAY_NS: Final = 86_400 * NS
COUNTERS: Final = ("intents", "allowed", "reduced", "blocked", "halts", "duplicates", "controls", "errors")


def square_off_command(command_id: str, now_ns: int, reason: str) -> ControlCommand:
    """The SQUARE_OFF_ALL that risk sends when the session halts on loss."""
    return ControlCommand(
        ts_event=now_ns,
        ts_init=wall_ns(),
        command_id=command_id,
        action=ControlAction.SQUARE_OFF_ALL,
        issued_by=ISSUER,
        reason=reason,
    )


class RiskEngine:
    """Decides order intents against ``RiskState`` at event time; no I/O."""

    def __init__(
        self, risk: RiskConfig, portfolio: PortfolioConfig, state: RiskState | None = None, *, rate: float = 0.06
    ) -> None:
        self.risk = risk
        self.portfolio = portfolio
        self.rate = rate  # Black-76 rate of the option Greeks (options.rate)
        self.book: OptionBook | None = None
        self.state = state or RiskState()
        self.master: InstrumentsMaster | None = None
        self.now_ns = max([self.state.snapshot_ts, *self.state.last_tick.values()], default=0)
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        #: Something that must survive a restart changed (decision, fill, control, halt).
        self.dirty = False
        self._day_end_ns = 0

    # -- time ----------------------------------------------------------------------------
    def advance(self, ts_ns: int) -> None:
        """Move "now" forward to ``ts_ns`` (never back); roll the risk day at IST midnight."""
        if ts_ns <= self.now_ns:
            return
        self.now_ns = ts_ns
        if ts_ns >= self._day_end_ns:
            if self.state.roll_day(ts_ns):
                self.dirty = True
                log.info("risk day rolled over to %s: day counters, kills and a loss halt reset", self.state.day)
            day_start = ts_ns - (ts_ns + IST_OFFSET_NS) % _DAY_NS  # IST midnight
            self._day_end_ns = day_start + _DAY_NS

    # -- reference data --------------------------------------------------------------------
    def set_master(self, master: InstrumentsMaster) -> None:
        """Use ``master`` for lot/tick sizes; futures count at ``futures_margin_pct`` of notional."""
        self.master = master
        self.book = OptionBook(master, self.rate, self.state.mark)
        rate = self.portfolio.futures_margin_pct
        self.state.margin_rates = {inst.tradingsymbol: rate for inst in master if inst.is_future}

    # -- inputs that only update the state -------------------------------------------------
    def on_tick(self, tick: Tick) -> None:
        self.state.on_tick(tick.symbol, tick.ts_event, tick.last_price)
        if tick.ts_event > self.now_ns:
            self.advance(tick.ts_event)

    def on_fill(self, fill: Fill) -> None:
        self.advance(fill.ts_event)
        if self.state.on_fill(fill):
            self.dirty = True

    def on_order_event(self, event: OrderEvent) -> None:
        self.advance(event.ts_event)
        before = len(self.state.pending)
        self.state.on_order_event(event)
        if len(self.state.pending) != before:
            self.dirty = True

    def on_control(self, cmd: ControlCommand) -> str:
        """Apply HALT / RESUME / KILL_SYMBOL / REVIVE_SYMBOL; returns the line for the log."""
        self.counters["controls"] += 1
        self.dirty = True
        return apply_control(cmd, self.state)

    def on_snapshot(self, snap: PositionSnapshot) -> list[Out]:
        """Take the execution service's book; a day loss past the limit halts and squares off now."""
        self.advance(snap.ts_event)
        if not self.state.on_snapshot(snap):
            return []
        if self.state.loss_halt or not daily_loss_breached(self.state, self.risk):
            return []
        # Checked on every snapshot, not only at the next intent: the book must be flattened
        # even when no strategy asks for anything.
        reason = f"day PnL {rupees(self.state.day_pnl)} <= -{rupees(self.risk.max_daily_loss)} max_daily_loss"
        self.state.loss_halt = reason
        self.counters["halts"] += 1
        self.dirty = True
        log.warning("session halted: %s; squaring off everything", reason)
        return [(streams.CONTROL, square_off_command(f"risk-loss-{snap.ts_event}", self.now_ns, reason))]

    # -- intents ---------------------------------------------------------------------------
    def on_intent(self, intent: OrderIntent) -> list[Out]:
        """Decide ``intent``: the decision, plus the approved order or the square-off to publish.

        A duplicate intent id returns nothing: its decision was published the first time.
        """
        self.advance(intent.ts_event)
        state = self.state
        state.roll_day(self.now_ns)
        if intent.intent_id in state.decisions:
            self.counters["duplicates"] += 1
            log.info(
                "intent %s seen before (%s); not decided again",
                intent.intent_id,
                state.decisions[intent.intent_id].decision,
            )
            return []
        self.counters["intents"] += 1
        self.dirty = True
        try:
            decision = self._decide(intent)
        except Exception as exc:  # fail closed: one bad intent must not stop the service
            log.exception("intent %s: error while deciding; blocked", intent.intent_id)
            self.counters["errors"] += 1
            decision = self._record_block(intent, RULE_ERROR, f"internal error while deciding: {exc!r}")
        return self._outputs(intent, decision)

    def _decide(self, intent: OrderIntent) -> RiskDecision:
        state = self.state
        inst, why = self._instrument(intent)
        if inst is None:
            return self._record_block(intent, RULE_INSTRUMENT, why)
        exiting = is_exit_intent(intent, state)
        if intent.reduce_only and not exiting:
            # Judged on the strategy's own units: the net may be flat (or opposite) because
            # another strategy holds the other side, and that is not this strategy's to reduce.
            own = state.strategy_quantity(intent.symbol, intent.strategy)
            net = state.position_quantity(intent.symbol)
            closing = state.closing_quantity(intent.symbol, intent.strategy)
            being = f", {closing} of it being closed by approved exits not filled yet" if closing else ""
            return self._record_block(
                intent,
                RULE_REDUCE_ONLY,
                f"reduce-only {intent.side} of strategy {intent.strategy!r}, whose own position in {intent.symbol} "
                f"is {own} (net of all strategies {net}){being}: nothing {'left ' if closing else ''}to reduce",
            )
        stop_distance = (
            abs(intent.ref_price - intent.stop_loss) if intent.stop_loss > 0 and intent.ref_price > 0 else None
        )
        sizing = size_from_state(
            intent,
            state,
            lot_size=inst.lot_size,
            tick_size=inst.tick_size,
            config=self.portfolio,
            atr_stop_distance=stop_distance,
            price=state.last_price.get(intent.symbol) or intent.ref_price or intent.price,
        )
        if not (intent.reduce_only or exiting) and (inst.is_option or inst.is_future):
            gated = self._greeks_gate(intent, inst, sizing)
            if isinstance(gated, tuple):
                return self._record_block(intent, *gated)
            sizing = gated
        # The decision is about the moment the strategy acted: freshness of the book and of the
        # market data is measured against the intent's event time, not against the newest tick
        # this process has seen (at speed=max the services run at different paces).
        at = intent.ts_event or self.now_ns
        return evaluate(
            intent,
            state,
            now_ns=at,
            sizing=sizing,
            config=self.risk,
            market_open=is_trading_day(ist_day(at)),
            is_exit=intent.reduce_only or exiting,
        )

    def holdings(self, extra: tuple[Instrument, int] | None = None) -> dict[Instrument, int]:
        """Signed units per NFO instrument: positions, fills since the snapshot, approved entries pending."""
        assert self.master is not None
        state = self.state
        units: dict[str, int] = {}
        for symbol in {*state.positions, *(f.symbol for f in state.fills.values())}:
            units[symbol] = state.position_quantity(symbol)
        for p in state.pending.values():
            units[p.symbol] = units.get(p.symbol, 0) + (p.remaining if p.side == Side.BUY else -p.remaining)
        out: dict[Instrument, int] = {}
        for symbol, qty in units.items():
            if qty:
                try:
                    out[self.master.by_symbol("NFO", symbol)] = qty
                except InstrumentError:
                    continue  # not a derivative: no Greeks
        if extra is not None:
            out[extra[0]] = out.get(extra[0], 0) + extra[1]
        return out

    def _greeks_gate(
        self, intent: OrderIntent, inst: Instrument, sizing: SizingResult
    ) -> SizingResult | tuple[str, str]:
        """Cut ``sizing`` to the net delta/vega limits of the underlying, or (rule, reason) to block.

        Option entries are also blocked when the SPAN-like margin of the option book after
        the order would exceed ``max_margin_pct`` of equity.
        """
        assert self.book is not None
        cfg = self.risk.greeks
        name = inst.name
        requested = min(sizing.quantity, intent.quantity) if intent.quantity else sizing.quantity
        if requested <= 0:
            return sizing
        sign = 1 if intent.side == Side.BUY else -1
        delta_limit, vega_limit = cfg.max_abs_delta.get(name), cfg.max_abs_vega.get(name)
        limited = delta_limit is not None or vega_limit is not None
        premium = self.state.mark(intent.symbol) or intent.ref_price or None
        unit = self.book.line(inst, sign, self.now_ns, premium)
        if unit is None:
            if limited or (inst.is_option and sign < 0):
                return RULE_GREEKS_DELTA if limited else RULE_OPTION_MARGIN, (
                    f"Greeks of {intent.symbol} unknown (no price for it or for the {name} future yet); "
                    "limits cannot be checked"
                )
            return sizing
        qty, reasons, rule = requested, [], ""
        if limited:
            net = self.book.net_greeks(self.holdings(), self.now_ns).get(name)
            net_delta, net_vega = (net.delta, net.vega) if net else (0.0, 0.0)
            for greek, now, per_unit, limit, rule_name in (
                ("delta", net_delta, unit.delta, delta_limit, RULE_GREEKS_DELTA),
                ("vega", net_vega, unit.vega, vega_limit, RULE_GREEKS_VEGA),
            ):
                if limit is None:
                    continue
                fits = limit_quantity(now, per_unit, limit, qty, inst.lot_size)
                if fits < qty:
                    rule = rule or rule_name
                    reasons.append(
                        f"net {greek} of {name} would go from {now:,.1f} to {now + per_unit * qty:,.1f}, "
                        f"past the limit +/-{limit:,.0f}"
                    )
                    qty = fits
            if qty <= 0:
                return rule, f"{'; '.join(reasons)}: blocked (even one lot is too many)"
        if inst.is_option and sign < 0 and self.state.equity > 0:
            before = self.book.scenario_margin(self.holdings(), self.now_ns, cfg)
            after = self.book.scenario_margin(self.holdings((inst, -qty)), self.now_ns, cfg)
            available = cfg.max_margin_pct * self.state.equity
            if after > before and after > available:
                return RULE_OPTION_MARGIN, (
                    f"option margin (SPAN-like) would be {rupees(after)} > {rupees(available)} available "
                    f"({cfg.max_margin_pct:.0%} of equity {rupees(self.state.equity)})"
                )
        if qty < requested:
            return SizingResult(qty, f"{'; '.join(reasons)}: cut to {qty}", rule, sizing.price)
        return sizing

    def _instrument(self, intent: OrderIntent) -> tuple[Instrument | None, str]:
        if self.master is None:
            return None, (
                f"no instruments master loaded (Redis key {streams.INSTRUMENTS_LATEST} is empty); "
                f"cannot size {intent.exchange}:{intent.symbol}"
            )
        try:
            return self.master.by_symbol(intent.exchange, intent.symbol), ""
        except InstrumentError as exc:
            return None, f"unknown instrument: {exc}"

    def _record_block(self, intent: OrderIntent, rule: str, reason: str) -> RiskDecision:
        decision = RiskDecision(
            ts_event=self.now_ns,
            ts_init=wall_ns(),
            intent_id=intent.intent_id,
            symbol=intent.symbol,
            decision=Decision.BLOCK,
            quantity=0,
            requested_quantity=intent.quantity,
            reason=reason,
            rule=rule,
        )
        self.state.record_decision(decision)
        return decision

    def _outputs(self, intent: OrderIntent, decision: RiskDecision) -> list[Out]:
        if not decision.ts_init:  # the pure rules have no wall clock: stamp it here, kept and published alike
            decision = msgspec.structs.replace(decision, ts_init=wall_ns())
            if intent.intent_id in self.state.decisions:
                self.state.decisions[intent.intent_id] = decision
        out: list[Out] = [(streams.RISK_DECISIONS, decision)]
        kind = decision.decision
        if kind in (Decision.ALLOW, Decision.REDUCE):
            self.counters["allowed" if kind == Decision.ALLOW else "reduced"] += 1
            out.append((streams.ORDERS_APPROVED, msgspec.structs.replace(intent, quantity=decision.quantity)))
            log.info(
                "%s %s %s %s x%d: %s",
                kind,
                intent.intent_id,
                intent.side,
                intent.symbol,
                decision.quantity,
                decision.reason,
            )
        elif kind == Decision.HALT_SESSION:
            self.counters["halts"] += 1
            log.warning("HALT_SESSION on intent %s: %s; squaring off everything", intent.intent_id, decision.reason)
            out.append(
                (streams.CONTROL, square_off_command(f"risk-halt-{intent.intent_id}", self.now_ns, decision.reason))
            )
        else:
            self.counters["blocked"] += 1
            log.info(
                "BLOCK %s %s %s [%s]: %s", intent.intent_id, intent.side, intent.symbol, decision.rule, decision.reason
            )
        return out

    # -- health ----------------------------------------------------------------------------
    def detail(self) -> str:
        s = self.state
        reason = s.halt_reason.replace('"', "'")
        return (
            f'halted={str(s.halted).lower()} reason="{reason}" day={s.day or "-"} event_time_ns={self.now_ns}'
            f" killed={len(s.killed)} pending={len(s.pending)} pending_exits={len(s.pending_exits)}"
        )
