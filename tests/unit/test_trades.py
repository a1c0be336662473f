"""Round trips per strategy when two strategies trade one symbol against each other.

The paper broker nets both strategies' fills in one position; pnl.csv (``TradeBook``) keeps a
round trip per (strategy, symbol, product). Each trade carries its own fills' charges, and the
strategies' net PnL adds up to the account's once everything is flat. A square-off's internal
cross (``shared.brokers.netting``) closes trades without touching the rebuilt portfolio.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from services.execution.oms import OrderMeta, strategy_positions
from shared.backtest.journal import MemoryJournal
from shared.brokers.base import BrokerEvent, order_event
from shared.brokers.paper import PaperBroker
from shared.clock import ist_datetime, ist_to_ns
from shared.contracts import OrderIntent, Tick, depth
from shared.enums import Product, Side
from shared.instruments import COLUMNS, InstrumentsMaster
from shared.state.journal import read_orders
from shared.state.recovery import rebuild_from_journal

DAY = date(2025, 11, 17)
CAPITAL = 500_000.0
SYMBOL = "NIFTY25NOVFUT"
MASTER = InstrumentsMaster.from_csv_text(
    "\n".join([",".join(COLUMNS), "1001,51713,NIFTY25NOVFUT,NIFTY,0,2025-11-25,0,0.05,65,FUT,NFO-FUT,NFO"])
)


def at(hh: int, mm: int, ss: int = 0) -> int:
    return ist_to_ns(ist_datetime(DAY, time(hh, mm, ss)))


def tick(ts: int, last: float) -> Tick:
    """One level a side, 0.05 either side of ``last``, deep enough for every order here."""
    return Tick(ts_event=ts, instrument_token=1001, exchange="NFO", symbol=SYMBOL, last_price=last,
                **depth([(round(last - 0.05, 2), 1_000, 1)], [(round(last + 0.05, 2), 1_000, 1)]))  # fmt: skip


class Desk:
    """A paper broker whose every event is journaled as the execution service does."""

    def __init__(self) -> None:
        self.broker = PaperBroker(MASTER, capital=CAPITAL)
        self.journal = MemoryJournal("paper")

    def emit(self, events: list[BrokerEvent]) -> None:
        for ev in events:
            self.journal.order(ev, OrderMeta())

    def order(self, intent_id: str, strategy: str, side: Side, qty: int, ts: int) -> None:
        it = OrderIntent(ts_event=ts, intent_id=intent_id, strategy=strategy, engine="fno", exchange="NFO",
                         symbol=SYMBOL, instrument_token=1001, side=side, quantity=qty,
                         product=Product.MIS)  # fmt: skip
        self.emit([BrokerEvent(order_event(self.broker.place(it, ts), ts))])

    def tick(self, ts: int, last: float) -> None:
        self.emit(self.broker.on_tick(tick(ts, last)))


def fill_charges(desk: Desk, strategy: str) -> float:
    """The charges of every fill journaled for ``strategy``'s orders."""
    rows = [r for r in desk.journal.orders if r["strategy"] == strategy]
    return sum(float(r["extra"].get("charges", 0.0)) for r in rows)  # type: ignore[union-attr]


def test_opposite_strategies_each_close_their_own_round_trip_with_their_own_charges() -> None:
    desk = Desk()
    desk.order("e1", "ema", Side.BUY, 65, at(9, 30))
    desk.order("o1", "orb", Side.SELL, 65, at(9, 30))
    desk.tick(at(9, 31), 24_500.0)  # ema buys at 24,500.05, orb sells at 24,499.95: the account is flat
    pos = desk.broker.portfolio.position(SYMBOL, Product.MIS)
    assert pos is not None and pos.quantity == 0
    desk.order("o2", "orb", Side.BUY, 65, at(10, 0))  # orb's exit: the account goes long 65
    desk.tick(at(10, 1), 24_520.0)
    desk.order("e2", "ema", Side.SELL, 65, at(11, 0))  # ema's exit: flat again
    desk.tick(at(11, 1), 24_530.0)

    trades = {t.strategy: t for t in desk.journal.trades}
    assert sorted(trades) == ["ema", "orb"]
    ema, orb = trades["ema"], trades["orb"]
    assert (ema.side, ema.quantity, ema.entry_price, ema.exit_price) == (Side.BUY, 65, 24_500.05, 24_529.95)
    assert ema.gross_pnl == pytest.approx(65 * (24_529.95 - 24_500.05))
    assert (orb.side, orb.quantity, orb.entry_price, orb.exit_price) == (Side.SELL, 65, 24_499.95, 24_520.05)
    assert orb.gross_pnl == pytest.approx(65 * (24_499.95 - 24_520.05))
    # each trade pays the charges of its own two fills
    for name, trade in trades.items():
        assert trade.charges == pytest.approx(fill_charges(desk, name)) and trade.charges > 0
    # the account nets them, yet nothing is lost between the two views
    book = desk.broker.portfolio
    assert sum(t.net_pnl for t in trades.values()) == pytest.approx(book.net_pnl, abs=1e-6)


def test_a_square_off_crosses_opposite_strategies_and_the_journal_rebuilds_the_same_book(tmp_path: Path) -> None:
    desk = Desk()
    desk.order("e1", "ema", Side.BUY, 130, at(9, 30))
    desk.order("o1", "orb", Side.SELL, 65, at(9, 30))
    desk.tick(at(9, 31), 24_500.0)
    desk.tick(at(10, 59), 24_510.0)
    desk.emit(desk.broker.square_off_all(at(11, 0), "c1", "operator"))
    desk.tick(at(11, 0, 1), 24_512.0)  # ema's remaining 65 sells at 24,511.95

    trades = {t.strategy: t for t in desk.journal.trades}
    assert sorted(trades) == ["ema", "orb"]
    # orb: short at 24,499.95, bought back from ema inside at the mark 24,510 (no charges)
    assert trades["orb"].exit_price == 24_510.0
    assert trades["orb"].gross_pnl == pytest.approx(65 * (24_499.95 - 24_510.0))
    assert trades["orb"].charges == pytest.approx(fill_charges(desk, "orb"))  # its entry's only: the cross is free
    assert trades["ema"].charges == pytest.approx(fill_charges(desk, "ema"))
    # ema: 65 crossed at 24,510 and 65 sold at the exchange
    assert trades["ema"].exit_price == pytest.approx((24_510.0 + 24_511.95) / 2)
    book = desk.broker.portfolio
    assert sum(t.net_pnl for t in trades.values()) == pytest.approx(book.net_pnl, abs=1e-6)

    paths = desk.journal.write(tmp_path)
    rows = read_orders(paths["orders"])
    assert [r.order_id for r in rows if r.internal] == [
        "SQ-c1-NIFTY25NOVFUT-MIS-ema-X",
        "SQ-c1-NIFTY25NOVFUT-MIS-orb-X",
    ]
    rebuilt = rebuild_from_journal(paths["orders"], CAPITAL)
    assert rebuilt.realized_pnl == book.realized_pnl and rebuilt.charges == book.total_charges
    assert rebuilt.cash == book.cash  # the crosses never reached the account
    assert [(t.strategy, t.net_pnl) for t in rebuilt.closed_trades] == [
        (t.strategy, t.net_pnl) for t in desk.journal.trades
    ]
    assert all(q == 0 for q in strategy_positions(rows).values())  # a restart adopts every strategy flat
