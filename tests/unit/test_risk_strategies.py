"""Risk with several strategies in one symbol: each strategy's own position decides its exits.

The broker nets every strategy's fills per symbol; a snapshot line carries the split
(``PositionLine.by_strategy``). A reduce-only exit is judged and sized on the strategy's own
units, never on the net; entries still meet the per-symbol caps on the net.
"""

from __future__ import annotations

import json
from datetime import date, time
from typing import Any

import pytest

from shared.clock import NS, ist_datetime, ist_to_ns
from shared.config import PortfolioConfig, RiskConfig
from shared.contracts import Fill, OrderIntent, PositionLine, PositionSnapshot, RiskDecision
from shared.enums import Decision, Product, Side
from shared.instruments import COLUMNS, InstrumentsMaster
from shared.risk import RiskState, is_exit_intent
from shared.risk.engine import RiskEngine

DAY = date(2025, 11, 17)  # a Monday
CAPITAL = 500_000.0
PRICE = 24_500.0
SYMBOL = "NIFTY25NOVFUT"
MASTER = InstrumentsMaster.from_csv_text(
    "\n".join([",".join(COLUMNS), "1001,51713,NIFTY25NOVFUT,NIFTY,0,2025-11-25,0,0.05,65,FUT,NFO-FUT,NFO"])
)


def at(hh: int, mm: int, ss: int = 0) -> int:
    return ist_to_ns(ist_datetime(DAY, time(hh, mm, ss)))


NOW = at(10, 0)


def snapshot(ts: int, by_strategy: dict[str, int]) -> PositionSnapshot:
    qty = sum(by_strategy.values())
    line = PositionLine(symbol=SYMBOL, exchange="NFO", product=Product.MIS, quantity=qty, avg_price=PRICE,
                        last_price=PRICE, realized_pnl=0.0, unrealized_pnl=0.0, by_strategy=by_strategy)  # fmt: skip
    return PositionSnapshot(ts_event=ts, mode="paper", positions=(line,), capital=CAPITAL, cash=CAPITAL,
                            realized_pnl=0.0, unrealized_pnl=0.0, charges=0.0, day_pnl=0.0)  # fmt: skip


def engine(by_strategy: dict[str, int]) -> RiskEngine:
    eng = RiskEngine(RiskConfig(), PortfolioConfig())
    eng.set_master(MASTER)
    eng.state.on_tick(SYMBOL, NOW - NS, PRICE)
    eng.on_snapshot(snapshot(NOW - NS, by_strategy))
    return eng


def intent(n: str, strategy: str, side: Side, *, quantity: int = 0, reduce_only: bool = True, **kw: Any) -> OrderIntent:
    return OrderIntent(ts_event=NOW, intent_id=f"{strategy}:{n}", strategy=strategy, engine="fno", exchange="NFO",
                       symbol=SYMBOL, instrument_token=1001, side=side, quantity=quantity, reduce_only=reduce_only,
                       ref_price=PRICE, **kw)  # fmt: skip


def decide(eng: RiskEngine, it: OrderIntent) -> RiskDecision:
    (decision,) = [m for _, m in eng.on_intent(it) if isinstance(m, RiskDecision)]
    return decision


def test_opposite_strategies_each_exit_their_own_position_and_a_third_has_nothing_to_reduce() -> None:
    # ema long 2 lots, trend short 1 lot: the account holds +65 net
    eng = engine({"ema": 130, "trend": -65})
    assert eng.state.position_quantity(SYMBOL) == 65
    assert (eng.state.strategy_quantity(SYMBOL, "ema"), eng.state.strategy_quantity(SYMBOL, "trend")) == (130, -65)

    ema = decide(eng, intent("x1", "ema", Side.SELL))
    assert (ema.decision, ema.quantity) == (Decision.ALLOW, 130)  # its own 130, not the net 65
    assert "of ema of 130" in ema.reason
    trend = decide(eng, intent("x1", "trend", Side.BUY))
    assert (trend.decision, trend.quantity) == (Decision.ALLOW, 65)  # a BUY exit although the net is long
    # trend's 65 are being closed by x1 (not filled yet): a second exit finds nothing left
    again = decide(eng, intent("x2", "trend", Side.BUY))
    assert (again.decision, again.quantity, again.rule) == (Decision.BLOCK, 0, "reduce_only")
    assert "is -65 (net of all strategies 65), 65 of it being closed by approved exits" in again.reason
    # an exit above the strategy's own units is cut to them
    too_much = decide(engine({"ema": 130, "trend": -65}), intent("x2", "trend", Side.BUY, quantity=130))
    assert (too_much.decision, too_much.quantity, too_much.rule) == (Decision.REDUCE, 65, "sizing")

    orb = decide(eng, intent("x1", "orb", Side.SELL))
    assert (orb.decision, orb.rule) == (Decision.BLOCK, "reduce_only")
    assert "strategy 'orb', whose own position in NIFTY25NOVFUT is 0" in orb.reason
    assert "net of all strategies 65" in orb.reason
    # nor is a plain SELL of orb an exit of the net long: it opens orb's own short (sized, capped)
    assert not is_exit_intent(intent("e1", "orb", Side.SELL, reduce_only=False), eng.state)
    assert is_exit_intent(intent("e1", "trend", Side.BUY, reduce_only=False), eng.state)


def test_flat_net_does_not_block_either_exit_and_fills_after_the_snapshot_count_per_strategy() -> None:
    eng = engine({"ema": 65, "trend": -65})  # net flat: the old book showed nothing to reduce
    assert eng.state.position_quantity(SYMBOL) == 0
    assert decide(eng, intent("x1", "ema", Side.SELL)).quantity == 65
    # ema's exit fills before the next snapshot: ema is flat, trend still short
    eng.on_fill(Fill(ts_event=NOW + NS, fill_id="1", order_id="P-ema:x1", intent_id="ema:x1", symbol=SYMBOL,
                     exchange="NFO", side=Side.SELL, quantity=65, price=PRICE, strategy="ema"))  # fmt: skip
    assert eng.state.strategy_quantity(SYMBOL, "ema") == 0 and eng.state.position_quantity(SYMBOL) == -65
    again = decide(eng, intent("x2", "ema", Side.SELL))
    assert (again.decision, again.rule) == (Decision.BLOCK, "reduce_only")
    assert decide(eng, intent("x1", "trend", Side.BUY)).quantity == 65


def test_entries_meet_the_symbols_net_cap_and_budgets_count_each_strategys_own_units() -> None:
    # Net +65 (one lot at 15% margin: 238,875) leaves 161,125 of the 400,000 symbol room: no lot fits.
    held = engine({"ema": 65})
    entry = decide(held, intent("e1", "orb", Side.BUY, reduce_only=False, stop_loss=PRICE - 50))
    assert (entry.decision, entry.rule) == (Decision.BLOCK, "sizing") and "symbol room" in entry.reason
    # Long and short cancel in the account: the net cap sees a flat symbol, one lot fits.
    hedged = engine({"ema": 65, "trend": -65})
    entry = decide(hedged, intent("e1", "orb", Side.BUY, reduce_only=False, stop_loss=PRICE - 50))
    assert (entry.decision, entry.quantity) == (Decision.ALLOW, 65)
    # ... but each strategy's budget is used by its own position, netted or not
    one_lot = 65 * PRICE * 0.15
    state = hedged.state
    assert state.gross_exposure("ema") == pytest.approx(one_lot)
    assert state.gross_exposure("trend") == pytest.approx(one_lot)
    assert state.gross_exposure("nobody") == 0.0
    # all: the held net (0) plus orb's approved entry, pending until it fills
    assert state.gross_exposure() == pytest.approx(one_lot)


def test_the_split_survives_a_checkpoint_and_an_old_checkpoint_still_loads() -> None:
    state = engine({"ema": 130, "trend": -65}).state
    restored = RiskState.restore(json.loads(json.dumps(state.snapshot())))
    assert restored.positions[SYMBOL].by_strategy == {"ema": 130, "trend": -65}
    assert restored.strategy_quantity(SYMBOL, "trend") == -65

    old = state.snapshot()
    del old["positions"][SYMBOL]["by_strategy"]  # a checkpoint written before the split
    legacy = RiskState.restore(old)
    assert legacy.positions[SYMBOL].by_strategy is None
    # unknown split: every strategy is taken to hold the net (as before), so exits still pass
    assert legacy.strategy_quantity(SYMBOL, "ema") == 65
    assert legacy.gross_exposure("ema") == pytest.approx(65 * PRICE * 0.15)


def test_a_snapshot_line_without_the_split_decodes_with_an_empty_one() -> None:
    import msgspec

    line = snapshot(NOW, {"ema": 65}).positions[0]
    raw = msgspec.to_builtins(line)
    del raw["by_strategy"]  # as an execution service before the split publishes it
    old = msgspec.convert(raw, PositionLine)
    assert old.by_strategy == {}
    state = RiskState()
    state.on_snapshot(msgspec.structs.replace(snapshot(NOW, {"ema": 65}), positions=(old,)))
    assert state.positions[SYMBOL].by_strategy is None  # unknown, not "nobody holds it"
