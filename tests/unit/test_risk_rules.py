"""The risk rules: one table per rule (trigger and pass), ordering, idempotency, persistence, day roll."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.clock import NS, ist_datetime, ist_to_ns
from shared.config import PortfolioConfig, RiskConfig
from shared.contracts import ControlCommand, Fill, OrderEvent, OrderIntent, PositionLine, PositionSnapshot, RiskDecision
from shared.enums import ControlAction, Decision, OrderStatus, OrderType, Product, Side
from shared.risk import RiskState, apply_control, daily_loss_breached, evaluate, is_exit_intent, size_from_state
from shared.risk.rules import RULES

DAY = date(2026, 4, 7)  # a Tuesday
CAPITAL = 500_000.0
PRICE = 1_500.0


def at(hh: int, mm: int, ss: int = 0, day: date = DAY) -> int:
    return ist_to_ns(ist_datetime(day, time(hh, mm, ss)))


NOW = at(10, 0)


def line(symbol: str, qty: int, price: float = PRICE, pnl: float = 0.0, strategy: str = "trend") -> PositionLine:
    return PositionLine(
        symbol=symbol,
        exchange="NSE",
        product=Product.MIS,
        quantity=qty,
        avg_price=price,
        last_price=price,
        realized_pnl=0.0,
        unrealized_pnl=pnl,
        strategy=strategy,
    )


def snapshot(ts: int, *lines: PositionLine, day_pnl: float = 0.0, capital: float = CAPITAL) -> PositionSnapshot:
    unreal = sum(x.unrealized_pnl for x in lines)
    return PositionSnapshot(
        ts_event=ts,
        mode="paper",
        positions=tuple(lines),
        capital=capital,
        cash=capital,
        realized_pnl=day_pnl - unreal,
        unrealized_pnl=unreal,
        charges=0.0,
        day_pnl=day_pnl,
    )


def make_intent(n: int = 1, **kw: Any) -> OrderIntent:
    base: dict[str, Any] = dict(
        ts_event=NOW,
        intent_id=f"trend:INFY:{n}",
        strategy="trend",
        engine="equity",
        exchange="NSE",
        symbol="INFY",
        instrument_token=408065,
        side=Side.BUY,
        stop_loss=PRICE - 15.0,
    )
    base.update(kw)
    return OrderIntent(**base)


def ready(
    now: int = NOW, *lines: PositionLine, day_pnl: float = 0.0, symbols: tuple[str, ...] = ("INFY",)
) -> RiskState:
    """A state with a fresh snapshot and a fresh tick for ``symbols``, one second before ``now``."""
    state = RiskState()
    state.on_snapshot(snapshot(now - NS, *lines, day_pnl=day_pnl))
    for s in symbols:
        state.on_tick(s, now - NS, PRICE)
    return state


def decide(
    state: RiskState,
    it: OrderIntent,
    now: int = NOW,
    *,
    risk: RiskConfig | None = None,
    portfolio: PortfolioConfig | None = None,
    market_open: bool = True,
    lot: int = 1,
) -> RiskDecision:
    sizing = size_from_state(it, state, lot_size=lot, tick_size=0.05, config=portfolio or PortfolioConfig())
    return evaluate(
        it,
        state,
        now_ns=now,
        sizing=sizing,
        config=risk or RiskConfig(),
        market_open=market_open,
        is_exit=is_exit_intent(it, state),
    )


# -- one table per rule: the trigger and the pass just short of it ---------------------------


@dataclass
class Case:
    """Build a ready state at ``now``, let ``setup`` change it, decide ``intent``."""

    now: int = NOW
    setup: Callable[[RiskState], None] = lambda s: None
    intent: dict[str, Any] = field(default_factory=dict)
    lines: tuple[PositionLine, ...] = ()
    day_pnl: float = 0.0
    market_open: bool = True
    risk: dict[str, Any] = field(default_factory=dict)


def _halt(s: RiskState) -> None:
    s.manual_halt = "manual halt by test"


def _kill(s: RiskState) -> None:
    s.killed["INFY"] = "killed by test"


def _stale_tick(age_s: float) -> Callable[[RiskState], None]:
    def f(s: RiskState) -> None:
        s.last_tick["INFY"] = NOW - int(age_s * NS)

    return f


def _forget_tick(s: RiskState) -> None:
    del s.last_tick["INFY"]


def _snapshot_age(age_s: float) -> Callable[[RiskState], None]:
    def f(s: RiskState) -> None:
        s.snapshot_ts = NOW - int(age_s * NS)

    return f


def _no_snapshot(s: RiskState) -> None:
    s.snapshot_ts = 0


def _trades(n: int) -> Callable[[RiskState], None]:
    def f(s: RiskState) -> None:
        s.trades["INFY"] = n

    return f


def _orders(times_s_ago: list[float]) -> Callable[[RiskState], None]:
    def f(s: RiskState) -> None:
        s.order_times = [NOW - int(t * NS) for t in times_s_ago]

    return f


TEN_OTHERS = tuple(line(f"S{i}", 1, price=100.0) for i in range(10))
NINE_OTHERS_AND_INFY = (*TEN_OTHERS[:9], line("INFY", 1))

RULE_CASES: dict[str, tuple[Case, Decision, str, Case]] = {
    # rule: (trigger case, its decision, a reason fragment, pass case)
    "session_halted": (Case(setup=_halt), Decision.BLOCK, "manual halt by test", Case()),
    "max_daily_loss": (
        Case(day_pnl=-25_310.0),
        Decision.HALT_SESSION,
        "day PnL -25,310 <= -25,000 max_daily_loss",
        Case(day_pnl=-24_999.0),
    ),
    "per_symbol_max_loss": (
        Case(lines=(line("INFY", 10, pnl=-5_000.0),)),
        Decision.BLOCK,
        "INFY day PnL -5,000 <= -5,000 per_symbol_max_loss",
        Case(lines=(line("INFY", 10, pnl=-4_999.0),)),
    ),
    "killed_symbol": (Case(setup=_kill), Decision.BLOCK, "INFY is killed (killed by test)", Case()),
    "market_hours": (
        Case(now=at(9, 14, 59)),
        Decision.BLOCK,
        "09:14:59 IST is outside market hours 09:15-15:30",
        Case(now=at(9, 15)),
    ),
    "market_hours/closed_day": (Case(market_open=False), Decision.BLOCK, "market closed on 2026-04-07", Case()),
    "market_hours/after_close": (
        Case(now=at(15, 30), intent=dict(product=Product.CNC)),
        Decision.BLOCK,
        "outside market hours",
        Case(now=at(15, 29, 59), intent=dict(product=Product.CNC)),
    ),
    "market_hours/mis_cutoff": (
        Case(now=at(15, 20)),
        Decision.BLOCK,
        "no new MIS entries on NSE after 15:20 IST",
        Case(now=at(15, 19, 59)),
    ),
    "market_hours/mis_cutoff_nfo": (
        Case(now=at(15, 25), intent=dict(exchange="NFO")),
        Decision.BLOCK,
        "no new MIS entries on NFO after 15:25 IST",
        Case(now=at(15, 24, 59), intent=dict(exchange="NFO")),
    ),
    "stale_market_data": (
        Case(setup=_stale_tick(10.5)),
        Decision.BLOCK,
        "last tick of INFY 10.5s old > 10s stale_data_seconds",
        Case(setup=_stale_tick(10.0)),
    ),
    "stale_market_data/never": (Case(setup=_forget_tick), Decision.BLOCK, "no market data for INFY", Case()),
    "portfolio_snapshot": (
        Case(setup=_snapshot_age(31)),
        Decision.BLOCK,
        "portfolio snapshot 31.0s old > 30s (fail-closed)",
        Case(setup=_snapshot_age(30)),
    ),
    "portfolio_snapshot/none": (Case(setup=_no_snapshot), Decision.BLOCK, "no portfolio snapshot yet", Case()),
    "max_positions_total": (
        Case(lines=TEN_OTHERS),
        Decision.BLOCK,
        "10 open positions >= 10 max_positions_total",
        Case(lines=NINE_OTHERS_AND_INFY),  # adding to an open position is not a new one
    ),
    "max_trades_per_symbol_per_day": (
        Case(setup=_trades(6)),
        Decision.BLOCK,
        "6 entries in INFY today >= 6 max_trades_per_symbol_per_day",
        Case(setup=_trades(5)),
    ),
    "order_rate": (
        Case(setup=_orders([59.9] * 60)),
        Decision.BLOCK,
        "60 orders in the last 60s >= 60 max_orders_per_minute",
        Case(setup=_orders([60.0] + [59.9] * 59)),  # the window is (now - 60 s, now]
    ),
    "sizing": (
        Case(intent=dict(stop_loss=0.0)),
        Decision.BLOCK,
        "sized to 0: no stop distance",
        Case(),
    ),
    "sizing/reduce": (
        Case(intent=dict(quantity=1_000)),
        Decision.REDUCE,
        "reduced 1000 -> 266",
        Case(intent=dict(quantity=266)),
    ),
}


def run_case(c: Case) -> tuple[RiskDecision, RiskState]:
    state = ready(c.now, *c.lines, day_pnl=c.day_pnl)
    c.setup(state)
    it = make_intent(**c.intent)
    return decide(state, it, c.now, market_open=c.market_open, risk=RiskConfig(**c.risk)), state


@pytest.mark.parametrize("name", list(RULE_CASES))
def test_rule_triggers(name: str) -> None:
    trigger, expected, fragment, _ = RULE_CASES[name]
    d, _ = run_case(trigger)
    assert (d.decision, d.rule) == (expected, name.split("/")[0])
    assert fragment in d.reason
    if expected == Decision.REDUCE:
        assert 0 < d.quantity < d.requested_quantity
    else:
        assert d.quantity == 0


@pytest.mark.parametrize("name", list(RULE_CASES))
def test_rule_passes_just_short_of_its_limit(name: str) -> None:
    _, _, _, passing = RULE_CASES[name]
    d, _ = run_case(passing)
    assert (d.decision, d.rule) == (Decision.ALLOW, "passed"), d.reason
    assert d.quantity > 0


def test_every_rule_has_a_case_and_the_order_is_fixed() -> None:
    names = [n for n, _ in RULES]
    assert names == [
        "session_halted",
        "max_daily_loss",
        "per_symbol_max_loss",
        "killed_symbol",
        "market_hours",
        "stale_market_data",
        "portfolio_snapshot",
        "max_positions_total",
        "max_trades_per_symbol_per_day",
        "order_rate",
        "sizing",
    ]
    assert {k.split("/")[0] for k in RULE_CASES} == set(names)


def test_allow_sizes_the_intent_and_says_why() -> None:
    d, state = run_case(Case())
    assert d.decision == Decision.ALLOW
    assert d.quantity == 266  # 0.8 x 5 lakh / 1,500
    assert d.requested_quantity == 0
    assert d.rule == "passed" and "symbol room" in d.reason
    assert state.trades == {"INFY": 1}
    assert state.open_positions_count() == 1
    assert state.gross_exposure() == pytest.approx(266 * PRICE)


def test_per_symbol_loss_kills_the_symbol_for_later_intents() -> None:
    d, state = run_case(RULE_CASES["per_symbol_max_loss"][0])
    assert "INFY" in state.killed
    state.on_snapshot(snapshot(NOW, line("INFY", 10, pnl=-100.0)))  # the loss shrinks, the kill stays
    d = decide(state, make_intent(2))
    assert (d.decision, d.rule) == (Decision.BLOCK, "killed_symbol")


# -- ordering ---------------------------------------------------------------------------------


def test_halt_beats_every_other_rule() -> None:
    state = RiskState()  # no snapshot, no market data
    state.manual_halt = "manual halt"
    state.killed["INFY"] = "x"
    state.trades["INFY"] = 99
    d = decide(state, make_intent(stop_loss=0.0), at(3, 0), market_open=False)
    assert (d.decision, d.rule) == (Decision.BLOCK, "session_halted")


def test_exits_pass_a_halt_a_kill_and_a_symbol_loss() -> None:
    state = ready(NOW, line("INFY", 100, pnl=-6_000.0))
    state.manual_halt = "manual halt"
    state.killed["INFY"] = "x"
    state.trades["INFY"] = 99
    exit_ = make_intent(side=Side.SELL, stop_loss=0.0)
    assert is_exit_intent(exit_, state)
    d = decide(state, exit_)
    assert (d.decision, d.quantity, d.rule) == (Decision.ALLOW, 100, "passed")
    assert state.trades["INFY"] == 99  # exits are not entries
    assert not state.pending


def test_exits_are_not_blocked_by_exposure_caps_or_position_count() -> None:
    big = line("INFY", 5_000)  # 75 lakh: far beyond 2 x 5 lakh
    state = ready(NOW, big, *TEN_OTHERS)
    d = decide(state, make_intent(side=Side.SELL, quantity=1_000))
    assert (d.decision, d.quantity) == (Decision.ALLOW, 1_000)


def test_exit_larger_than_the_position_is_reduced_to_it() -> None:
    state = ready(NOW, line("INFY", 100))
    d = decide(state, make_intent(side=Side.SELL, quantity=300))
    assert (d.decision, d.quantity, d.requested_quantity, d.rule) == (Decision.REDUCE, 100, 300, "sizing")
    assert "limited to the position" in d.reason


def test_exits_still_need_an_open_market_and_a_fresh_snapshot() -> None:
    state = ready(NOW, line("INFY", 100))
    exit_ = make_intent(side=Side.SELL)
    d = decide(state, exit_, market_open=False)
    assert d.rule == "market_hours"
    state.snapshot_ts = NOW - 60 * NS
    d = decide(state, make_intent(2, side=Side.SELL))
    assert d.rule == "portfolio_snapshot"


def test_exit_is_allowed_after_the_mis_cutoff() -> None:
    now = at(15, 22)
    state = ready(now, line("INFY", 100))
    d = decide(state, make_intent(side=Side.SELL), now)
    assert (d.decision, d.quantity) == (Decision.ALLOW, 100)


def test_loss_halt_halts_once_then_blocks_entries_and_passes_exits() -> None:
    state = ready(NOW, line("INFY", 50), day_pnl=-30_000.0)
    assert daily_loss_breached(state, RiskConfig())
    d1 = decide(state, make_intent(1))
    assert d1.decision == Decision.HALT_SESSION
    assert state.halted and "max_daily_loss" in state.halt_reason
    d2 = decide(state, make_intent(2))
    assert (d2.decision, d2.rule) == (Decision.BLOCK, "session_halted")
    d3 = decide(state, make_intent(3, side=Side.SELL))
    assert (d3.decision, d3.quantity) == (Decision.ALLOW, 50)


def test_resume_after_a_loss_halt_halts_again_while_the_loss_stands() -> None:
    state = ready(NOW, day_pnl=-30_000.0)
    assert decide(state, make_intent(1)).decision == Decision.HALT_SESSION
    apply_control(ControlCommand(ts_event=NOW, command_id="c1", action=ControlAction.RESUME), state)
    assert not state.halted
    assert decide(state, make_intent(2)).decision == Decision.HALT_SESSION


# -- idempotency, persistence, day roll -------------------------------------------------------


def test_duplicate_intent_returns_the_first_decision_and_counts_once() -> None:
    state = ready()
    it = make_intent(1)
    d1 = decide(state, it)
    state.manual_halt = "halted in between"  # conditions change; the answer must not
    d2 = decide(state, it, NOW + 5 * NS)
    assert d2 == d1
    assert d1.decision == Decision.ALLOW
    assert state.trades == {"INFY": 1}
    assert len(state.order_times) == 1
    assert len(state.pending) == 1


def test_duplicate_of_a_blocked_intent_stays_blocked() -> None:
    state = ready()
    state.manual_halt = "halt"
    it = make_intent(1)
    d1 = decide(state, it)
    state.manual_halt = ""
    assert decide(state, it) == d1


def test_snapshot_restore_round_trip_gives_the_same_decisions() -> None:
    risk = RiskConfig(max_trades_per_symbol_per_day=2, max_orders_per_minute=4)
    a = ready(NOW, line("TCS", 10, pnl=-5_500.0), symbols=("INFY", "TCS", "SBIN"))
    a.killed["SBIN"] = "killed by test"
    apply_control(ControlCommand(ts_event=NOW, command_id="c", action=ControlAction.HALT), a)
    apply_control(ControlCommand(ts_event=NOW, command_id="c", action=ControlAction.RESUME), a)
    first = [make_intent(i, quantity=10) for i in range(2)]
    for it in first:
        decide(a, it, risk=risk)
    a.on_fill(_fill("o1", "f1", "trend:INFY:0", 10, NOW))

    text = json.dumps(a.snapshot())
    b = RiskState.restore(json.loads(text))
    assert b == a

    later = [
        make_intent(2, quantity=10),  # third entry in INFY: blocked by the trade count
        make_intent(3, symbol="TCS", quantity=10),  # per-symbol loss
        make_intent(4, symbol="SBIN", quantity=10),  # killed
        make_intent(5, symbol="TCS", side=Side.SELL),  # exit of the losing symbol
        first[0],  # duplicate
    ]
    da = [decide(a, it, NOW + 2 * NS, risk=risk) for it in later]
    db = [decide(b, it, NOW + 2 * NS, risk=risk) for it in later]
    assert da == db
    assert [d.rule for d in da] == [
        "max_trades_per_symbol_per_day",
        "per_symbol_max_loss",
        "killed_symbol",
        "passed",
        "passed",
    ]
    assert b.snapshot() == a.snapshot()


def test_restore_rejects_a_bad_checkpoint() -> None:
    data = RiskState().snapshot()
    data["trades"] = {"INFY": "many"}
    with pytest.raises(ValueError, match=r"trades"):
        RiskState.restore(data)
    data = RiskState().snapshot()
    data["version"] = 99
    with pytest.raises(ValueError, match="version 99"):
        RiskState.restore(data)


def test_day_roll_over_resets_day_counters_and_kills_but_not_a_manual_halt() -> None:
    state = ready(NOW, line("INFY", 10), day_pnl=-30_000.0)
    decide(state, make_intent(1))  # loss halt
    state.trades["INFY"] = 6
    state.killed["TCS"] = "x"
    assert state.loss_halt
    next_day = DAY + timedelta(days=1)
    tomorrow = at(10, 0, day=next_day)
    state.on_tick("INFY", tomorrow, PRICE)
    d = decide(state, make_intent(2), tomorrow)
    # rolled: yesterday's snapshot is no good, so still fail-closed
    assert (d.decision, d.rule) == (Decision.BLOCK, "portfolio_snapshot")
    assert "not 2026-04-08" in d.reason
    assert state.day == "2026-04-08"
    assert state.trades == {} and state.killed == {} and not state.loss_halt and state.day_pnl == 0.0

    state.manual_halt = "manual halt"
    day3 = at(10, 0, day=next_day + timedelta(days=1))
    state.on_snapshot(snapshot(day3 - NS))
    state.on_tick("INFY", day3, PRICE)
    assert state.manual_halt == "manual halt"
    d = decide(state, make_intent(3), day3)
    assert d.rule == "session_halted"


def test_a_late_event_of_an_earlier_day_does_not_roll_back() -> None:
    state = ready()
    state.trades["INFY"] = 3
    assert not state.roll_day(NOW - 86_400 * NS)
    assert state.day == "2026-04-07"
    assert state.trades == {"INFY": 3}
    assert not state.on_snapshot(snapshot(NOW - 86_400 * NS))


def test_throttle_window_slides_in_event_time() -> None:
    risk = RiskConfig(max_orders_per_minute=3)
    state = ready()
    t0 = NOW
    for i, dt in enumerate((0, 10, 20)):
        state.on_tick("INFY", t0 + dt * NS, PRICE)
        state.on_snapshot(snapshot(t0 + dt * NS))
        assert decide(state, make_intent(i, quantity=1), t0 + dt * NS, risk=risk).decision == Decision.ALLOW
    t = t0 + 30 * NS
    state.on_tick("INFY", t, PRICE)
    state.on_snapshot(snapshot(t))
    assert decide(state, make_intent(10, quantity=1), t, risk=risk).rule == "order_rate"
    t = t0 + 60 * NS  # the first order leaves the window exactly 60 s later
    state.on_tick("INFY", t, PRICE)
    state.on_snapshot(snapshot(t))
    assert decide(state, make_intent(11, quantity=1), t, risk=risk).decision == Decision.ALLOW


def test_fail_closed_without_a_snapshot_even_for_exits() -> None:
    state = RiskState()
    state.on_tick("INFY", NOW, PRICE)
    for it in (make_intent(1), make_intent(2, side=Side.SELL, quantity=5)):
        d = decide(state, it)
        assert (d.decision, d.rule) == (Decision.BLOCK, "portfolio_snapshot")


# -- positions between snapshots --------------------------------------------------------------


def _fill(order_id: str, fill_id: str, intent_id: str, qty: int, ts: int, side: Side = Side.BUY) -> Fill:
    return Fill(
        ts_event=ts,
        fill_id=fill_id,
        order_id=order_id,
        intent_id=intent_id,
        symbol="INFY",
        exchange="NSE",
        side=side,
        quantity=qty,
        price=PRICE,
        strategy="trend",
    )


def test_approved_entries_count_before_they_fill() -> None:
    risk = RiskConfig(max_positions_total=2)
    state = ready(symbols=("A", "B", "C"))
    for i, s in enumerate(("A", "B")):
        assert decide(state, make_intent(i, symbol=s, quantity=1), risk=risk).decision == Decision.ALLOW
    d = decide(state, make_intent(9, symbol="C", quantity=1), risk=risk)
    assert d.rule == "max_positions_total"
    # B's order is rejected: its slot frees up
    state.on_order_event(_order_event("trend:INFY:1", OrderStatus.REJECTED))
    d = decide(state, make_intent(10, symbol="C", quantity=1), risk=risk)
    assert d.decision == Decision.ALLOW


def _order_event(intent_id: str, status: OrderStatus) -> OrderEvent:
    return OrderEvent(
        ts_event=NOW,
        order_id="o",
        intent_id=intent_id,
        symbol="B",
        exchange="NSE",
        side=Side.BUY,
        order_type=OrderType.MARKET,
        product=Product.MIS,
        quantity=1,
        filled_quantity=0,
        price=0.0,
        average_price=0.0,
        status=status,
    )


def test_fills_move_the_position_once_until_the_next_snapshot() -> None:
    state = ready()
    d = decide(state, make_intent(1, quantity=20))
    assert d.decision == Decision.ALLOW
    f = _fill("o1", "f1", d.intent_id, 20, NOW + NS)
    assert state.on_fill(f)
    assert not state.on_fill(f)  # redelivered
    assert state.position_quantity("INFY") == 20
    assert not state.pending
    assert state.gross_exposure() == pytest.approx(20 * PRICE)
    # an older snapshot (before the fill) arrives late: the fill still counts
    assert state.on_snapshot(snapshot(NOW))
    assert state.position_quantity("INFY") == 20
    # the snapshot after the fill holds it: no double count
    state.on_snapshot(snapshot(NOW + 2 * NS, line("INFY", 20)))
    assert state.position_quantity("INFY") == 20
    assert state.fills == {}
    # a SELL now is an exit of those 20
    assert is_exit_intent(make_intent(2, side=Side.SELL), state)


def test_an_older_snapshot_than_the_last_is_ignored() -> None:
    state = ready()
    state.on_snapshot(snapshot(NOW + NS, line("INFY", 5)))
    assert not state.on_snapshot(snapshot(NOW, line("INFY", 99)))
    assert state.position_quantity("INFY") == 5


def test_snapshot_sets_equity_and_per_symbol_pnl() -> None:
    state = ready(NOW, line("INFY", 10, pnl=-700.0), line("TCS", -5, pnl=200.0), day_pnl=-900.0)
    assert state.equity == pytest.approx(CAPITAL - 900.0)
    assert state.symbol_pnl == {"INFY": pytest.approx(-700.0), "TCS": pytest.approx(200.0)}
    assert state.position_quantity("TCS") == -5
    assert state.open_positions_count() == 2


# -- controls ---------------------------------------------------------------------------------


def _cmd(action: ControlAction, symbol: str = "") -> ControlCommand:
    return ControlCommand(ts_event=NOW, command_id="c1", action=action, symbol=symbol, issued_by="ops", reason="why")


def test_controls_halt_resume_kill_revive() -> None:
    state = ready()
    assert apply_control(_cmd(ControlAction.HALT), state) == "halted"
    assert state.halted and state.halt_reason == "manual halt by ops: why"
    assert decide(state, make_intent(1)).rule == "session_halted"
    assert apply_control(_cmd(ControlAction.RESUME), state).startswith("resumed")
    assert decide(state, make_intent(2, quantity=1)).decision == Decision.ALLOW
    apply_control(_cmd(ControlAction.KILL_SYMBOL, "INFY"), state)
    assert decide(state, make_intent(3, quantity=1)).rule == "killed_symbol"
    assert apply_control(_cmd(ControlAction.REVIVE_SYMBOL, "INFY"), state) == "revived INFY"
    assert decide(state, make_intent(4, quantity=1)).decision == Decision.ALLOW
    assert "no symbol" in apply_control(_cmd(ControlAction.KILL_SYMBOL), state)
    assert "ignored" in apply_control(_cmd(ControlAction.SQUARE_OFF_ALL), state)
    assert not state.killed and not state.halted


# -- property: approvals never breach max_positions_total or leverage --------------------------

SYMBOLS = [f"S{i}" for i in range(12)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_positions=st.integers(1, 6),
    leverage=st.floats(0.2, 3.0),
    held=st.lists(st.tuples(st.sampled_from(SYMBOLS), st.integers(1, 50)), max_size=3, unique_by=lambda t: t[0]),
    prices=st.lists(st.floats(10.0, 5_000.0), min_size=len(SYMBOLS), max_size=len(SYMBOLS)),
    orders=st.lists(
        st.tuples(
            st.sampled_from(SYMBOLS),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(0, 400),
            st.floats(0.001, 0.1),
            st.sampled_from([1, 25, 65]),
        ),
        min_size=1,
        max_size=25,
    ),
)
def test_approvals_never_breach_position_count_or_leverage(
    max_positions: int,
    leverage: float,
    held: list[tuple[str, int]],
    prices: list[float],
    orders: list[tuple[str, Side, int, float, int]],
) -> None:
    px = dict(zip(SYMBOLS, prices, strict=True))
    risk = RiskConfig(max_positions_total=max(max_positions, len(held)), max_trades_per_symbol_per_day=100)
    portfolio = PortfolioConfig(max_leverage=leverage, max_exposure_pct=1.0, risk_per_trade_pct=0.05)
    lines = [line(s, q, price=px[s]) for s, q in held]
    state = RiskState()
    state.on_snapshot(snapshot(NOW - NS, *lines))
    for s in SYMBOLS:
        state.on_tick(s, NOW - NS, px[s])
    exposure = sum(q * px[s] for s, q in held)
    limit = leverage * state.equity
    symbols = {s for s, _ in held}
    for i, (sym, side, qty, stop_frac, lot) in enumerate(orders):
        stop = px[sym] * (1 - stop_frac) if side == Side.BUY else px[sym] * (1 + stop_frac)
        it = make_intent(i, symbol=sym, side=side, quantity=qty, stop_loss=stop)
        exiting = is_exit_intent(it, state)
        d = decide(state, it, risk=risk, portfolio=portfolio, lot=lot)
        if d.decision not in (Decision.ALLOW, Decision.REDUCE) or exiting:
            continue
        assert d.quantity % lot == 0
        if qty:
            assert d.quantity <= qty
        exposure += d.quantity * px[sym]
        symbols.add(sym)
        assert exposure <= max(limit, 0.0) * (1 + 1e-9) + 1e-6
        assert len(symbols) <= risk.max_positions_total
        assert state.gross_exposure() == pytest.approx(exposure)
