"""Rebuilding the book from orders.csv alone: exact against the live Portfolio, idempotent, crash-safe."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

import pytest

from shared.brokers.charges import Segment, fill_charges, square_off_charge
from shared.brokers.orders import Order, OrderFill
from shared.brokers.positions import Portfolio
from shared.clock import ist_datetime, ist_to_ns
from shared.contracts import Fill, OrderEvent
from shared.enums import OrderStatus, OrderType, Product, Side
from shared.errors import DataError
from shared.state.checkpoint import build_state_checkpoint
from shared.state.formats import PnlRecord
from shared.state.journal import OrdersJournal, read_orders
from shared.state.recovery import RebuiltState, rebuild_from_journal
from shared.state.trades import TradeBook

DAY = date(2026, 4, 7)
CAPITAL = 500_000.0
# symbol -> (exchange, segment, products, base price, tick, lot)
BOOK = {
    "NIFTY26APRFUT": ("NFO", Segment.FUTURES, (Product.MIS, Product.NRML), 22_500.0, 0.1, 65),
    "NIFTY26APR22500CE": ("NFO", Segment.OPTIONS, (Product.MIS,), 180.0, 0.05, 65),
    "RELIANCE": ("NSE", Segment.EQUITY_INTRADAY, (Product.MIS,), 2_450.0, 0.05, 1),
}


def at(seconds: float) -> int:
    return ist_to_ns(ist_datetime(DAY, time(9, 15))) + int(seconds * 1e9)


def event_of(order: Order, ts: int) -> OrderEvent:
    return OrderEvent(
        ts_event=ts,
        order_id=order.order_id,
        intent_id=order.intent_id,
        symbol=order.symbol,
        exchange=order.exchange,
        side=order.side,
        order_type=order.order_type,
        product=order.product,
        quantity=order.quantity,
        filled_quantity=order.filled_quantity,
        price=order.price,
        average_price=order.average_price,
        status=order.status,
        strategy=order.strategy,
        status_message=order.status_message,
    )


@dataclass
class Session:
    """Execution's side, in miniature: orders and fills booked in a Portfolio and journaled."""

    journal: OrdersJournal
    portfolio: Portfolio = field(default_factory=lambda: Portfolio(CAPITAL))
    trades: TradeBook = field(default_factory=TradeBook)
    closed: list[PnlRecord] = field(default_factory=list)
    open_ids: set[str] = field(default_factory=set)
    last_fill_row: tuple[OrderEvent, Fill] | None = None
    n: int = 0

    def new_order(self, rng: random.Random, ts: int) -> Order:
        self.n += 1
        symbol = rng.choice(sorted(BOOK))
        exchange, _seg, products, base, tick, lot = BOOK[symbol]
        limit = rng.random() < 0.3
        order = Order(
            order_id=f"o{self.n}",
            intent_id=f"i{self.n}",
            symbol=symbol,
            exchange=exchange,
            instrument_token=1000 + self.n,
            side=rng.choice((Side.BUY, Side.SELL)),
            quantity=lot * rng.randint(1, 4),
            order_type=OrderType.LIMIT if limit else OrderType.MARKET,
            product=rng.choice(products),
            price=round(base * rng.uniform(0.99, 1.01) / tick) * tick if limit else 0.0,
            strategy=rng.choice(("ema", "orb", "vwap")),
            ts_created=ts,
        )
        order.accept(ts)
        self.journal.append_order_event(event_of(order, ts), tf="5m", profile="INTRADAY", underlying="NIFTY")
        return order

    def fill(self, rng: random.Random, order: Order, qty: int, ts: int) -> None:
        _exchange, segment, _p, base, tick, _lot = BOOK[order.symbol]
        price = round(round(base * rng.uniform(0.97, 1.03) / tick) * tick, 2)
        before = order.filled_turnover
        order.apply_fill(OrderFill(f"t{len(order.fills) + 1}", qty, price, ts))
        charges = fill_charges(segment, order.side, before, qty * price, DAY)
        self.portfolio.apply_fill(order.symbol, order.product, order.side, qty, price, charges, order.exchange)
        self.closed += self.trades.on_fill(
            ts, order.strategy, order.symbol, order.product, order.side, qty, price, charges.total, order.exchange
        )
        fill = Fill(ts_event=ts, fill_id=order.fills[-1].fill_id, order_id=order.order_id, intent_id=order.intent_id,
                    symbol=order.symbol, exchange=order.exchange, side=order.side, quantity=qty, price=price,
                    charges=charges.total, strategy=order.strategy)  # fmt: skip
        evt = event_of(order, ts)
        self.journal.append_order_event(evt, tf="5m", fill=fill)
        self.last_fill_row = (evt, fill)

    def run_order(self, rng: random.Random, ts: int) -> None:
        order = self.new_order(rng, ts)
        fate = rng.random()
        lot = BOOK[order.symbol][5]
        while order.remaining_quantity and fate > 0.15:
            ts += rng.randint(1, 900_000_000)  # sub-second apart: row order, not timestamps, orders fills
            qty = min(order.remaining_quantity, lot * rng.randint(1, 2))
            self.fill(rng, order, qty, ts)
            if fate < 0.35:
                break  # partially filled, then cancelled or left working
        if order.is_terminal:
            return
        if fate < 0.05:
            order.reject(ts, "RMS: margin exceeds")
        elif fate < 0.25:
            order.cancel(ts, "user")
        else:
            self.open_ids.add(order.order_id)
            return
        self.journal.append_order_event(event_of(order, ts))


def run_session(path: Path, seed: int, orders: int = 60, *, end_with_fill: bool = False) -> Session:
    rng = random.Random(seed)
    with OrdersJournal(path) as journal:
        session = Session(journal)
        for k in range(orders):
            session.run_order(rng, at(k * 7.0))
        if end_with_fill:
            order = session.new_order(rng, at(orders * 7.0))
            session.fill(rng, order, order.quantity, at(orders * 7.0 + 0.5))
    return session


def assert_same_book(rebuilt: RebuiltState, live: Portfolio) -> None:
    got = {(p.symbol, p.product): p for p in rebuilt.positions}
    assert set(got) == set(live.positions)
    for key, want in live.positions.items():
        pos = got[key]
        assert (pos.quantity, pos.avg_price, pos.realized_pnl, pos.charges) == (
            want.quantity,
            want.avg_price,
            want.realized_pnl,
            want.charges,
        ), key
        assert (pos.buy_quantity, pos.sell_quantity, pos.exchange) == (
            want.buy_quantity,
            want.sell_quantity,
            want.exchange,
        )
    # exact, hence equal to the paisa as well
    assert rebuilt.realized_pnl == live.realized_pnl
    assert rebuilt.charges == live.total_charges
    assert rebuilt.cash == live.cash
    assert rebuilt.unrealized_pnl == live.unrealized_pnl
    assert round(rebuilt.portfolio.net_pnl, 2) == round(live.net_pnl, 2)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_rebuild_reproduces_the_live_book_exactly(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "orders.csv"
    session = run_session(path, seed)
    rebuilt = rebuild_from_journal(path, CAPITAL)
    assert rebuilt.fills > 0 and rebuilt.skipped == []
    assert_same_book(rebuilt, session.portfolio)
    assert {o.order_id for o in rebuilt.open_orders} == session.open_ids
    assert rebuilt.closed_trades == session.closed
    assert rebuilt.strategies == session.trades.stats()


def test_checkpoint_from_the_rebuilt_book_equals_the_live_one(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    session = run_session(path, seed=11)
    rebuilt = rebuild_from_journal(path, CAPITAL)
    common = {"mode": "paper", "last_heartbeat_ns": at(600), "universe_date": DAY, "fno": ["NIFTY"]}
    live = build_state_checkpoint(portfolio=session.portfolio, strategies=session.trades.stats(), **common)
    again = build_state_checkpoint(portfolio=rebuilt.portfolio, strategies=rebuilt.strategies, **common)
    assert live == again


def test_duplicate_rows_count_once(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    session = run_session(path, seed=7, orders=30)
    text = path.read_text().splitlines(keepends=True)
    fill_lines = [ln for ln in text[1:] if '"fill_id"' in ln]
    path.write_text("".join(text) + "".join(fill_lines[::2]) + "".join(text[1:6]))  # a re-journaled stretch
    rebuilt = rebuild_from_journal(path, CAPITAL)
    assert rebuilt.duplicate_fills == len(fill_lines[::2]) + sum('"fill_id"' in ln for ln in text[1:6])
    assert_same_book(rebuilt, session.portfolio)
    assert {o.order_id for o in rebuilt.open_orders} == session.open_ids  # terminal statuses stick


def test_same_fill_id_with_other_values_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    run_session(path, seed=3, orders=10)
    text = path.read_text().splitlines()
    line_no, row = next((i, ln) for i, ln in enumerate(text, 1) if '""fill_quantity""' in ln)
    qty = row.split('""fill_quantity"":')[1].split(",")[0]
    tampered = row.replace(f'""fill_quantity"":{qty},', f'""fill_quantity"":{int(qty) + 1},')
    path.write_text("\n".join([*text, tampered]) + "\n")
    with pytest.raises(DataError, match=rf"orders\.csv:{len(text) + 1}: fill t1 .* differs from line {line_no}"):
        rebuild_from_journal(path, CAPITAL)


def test_torn_last_row_after_a_crash_is_ignored_then_repaired(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    session = run_session(path, seed=5, orders=40, end_with_fill=True)
    complete = rebuild_from_journal(path, CAPITAL)
    full = path.read_bytes()
    last_row = full.rstrip(b"\n").rsplit(b"\n", 1)[1]
    path.write_bytes(full[: len(full) - 1 - len(last_row) // 2])  # the crash tears the last fill row

    torn = rebuild_from_journal(path, CAPITAL)  # readers drop the torn row: that fill is not booked
    assert torn.fills == complete.fills - 1

    assert session.last_fill_row is not None
    evt, fill = session.last_fill_row
    with OrdersJournal(path) as journal:  # the writer restarts: repairs, then re-journals the lost event
        assert journal.repaired and last_row.startswith(journal.repaired)
        journal.append_order_event(evt, tf="5m", fill=fill)
    assert path.read_bytes() == full
    assert_same_book(rebuild_from_journal(path, CAPITAL), session.portfolio)


def test_fee_counts_once_per_order_and_day_filter_selects_the_ist_day(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    order = Order("sq1", "i", "RELIANCE", "NSE", 1, Side.SELL, 10, OrderType.MARKET, Product.MIS, strategy="ema")
    order.accept(at(0))
    order.apply_fill(OrderFill("t1", 10, 2450.0, at(1)))
    fill = Fill(ts_event=at(1), fill_id="t1", order_id="sq1", intent_id="i", symbol="RELIANCE", exchange="NSE",
                side=Side.SELL, quantity=10, price=2450.0, charges=5.5)  # fmt: skip
    fee = square_off_charge(DAY)
    with OrdersJournal(path) as journal:
        for _ in range(2):
            journal.append_order_event(event_of(order, at(1)), fill=fill, fee=fee)
        yesterday = OrderEvent(**{**_fields(event_of(order, at(1) - 86_400 * 10**9)), "order_id": "old"})
        journal.append_order_event(yesterday, fill=Fill(**{**_fields(fill), "order_id": "old"}))
    live = Portfolio(CAPITAL)
    live.apply_fill("RELIANCE", Product.MIS, Side.SELL, 10, 2450.0, 5.5, "NSE")
    live.charge(fee)
    today = rebuild_from_journal(path, CAPITAL, day=DAY)
    assert_same_book(today, live)
    assert today.strategies["ema"].charges == 5.5 + fee
    assert rebuild_from_journal(path, CAPITAL).fills == 2  # without the filter, yesterday's fill counts too


def _fields(msg: object) -> dict[str, object]:
    return {f: getattr(msg, f) for f in msg.__struct_fields__}  # type: ignore[attr-defined]


def test_rows_without_an_order_id_are_reported_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "timestamp,symbol,side,quantity,price,status,tf,profile,strategy,parent_signal_timestamp,underlying,extra\n"
        "2025-11-17T09:30:00Z,NIFTY25JANFUT,BUY,50,24500,FILLED,5m,INTRADAY,ema,2025-11-17T09:29:00Z,NIFTY,{}\n"
    )
    rebuilt = rebuild_from_journal(path, CAPITAL)
    assert rebuilt.fills == 0 and rebuilt.portfolio.positions == {}
    assert len(rebuilt.skipped) == 1 and "orders.csv:2" in rebuilt.skipped[0]
    assert read_orders(path)[0].order_id == ""


def test_open_orders_carry_their_last_state(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    order = Order("L1", "i1", "RELIANCE", "NSE", 1, Side.BUY, 10, OrderType.LIMIT, Product.MIS, price=2400.5)
    order.accept(at(0))
    order.apply_fill(OrderFill("t1", 4, 2400.5, at(2)))
    fill = Fill(ts_event=at(2), fill_id="t1", order_id="L1", intent_id="i1", symbol="RELIANCE", exchange="NSE",
                side=Side.BUY, quantity=4, price=2400.5)  # fmt: skip
    with OrdersJournal(path) as journal:
        journal.append_order_event(event_of(order, at(0)))
        journal.append_order_event(event_of(order, at(2)), fill=fill)
    (state,) = rebuild_from_journal(path, CAPITAL).open_orders
    assert state.to_dict() == {
        "order_id": "L1",
        "intent_id": "i1",
        "symbol": "RELIANCE",
        "exchange": "NSE",
        "side": "BUY",
        "order_type": "LIMIT",
        "product": "MIS",
        "quantity": 10,
        "price": 2400.5,
        "status": OrderStatus.PARTIALLY_FILLED.value,
        "filled_quantity": 4,
        "average_price": 2400.5,
        "strategy": "",
        "timestamp": "2026-04-07T03:45:02Z",
    }


def test_trade_book_closes_round_trips_and_flips() -> None:
    book = TradeBook()
    assert book.on_fill(at(0), "s", "X", Product.MIS, Side.BUY, 10, 100.0, 2.0) == []
    assert book.on_fill(at(5), "s", "X", Product.MIS, Side.BUY, 10, 110.0, 2.0) == []
    (first,) = book.on_fill(at(65), "s", "X", Product.MIS, Side.SELL, 30, 120.0, 3.0)  # closes 20, opens 10 short
    assert (first.side, first.quantity, first.entry_price, first.exit_price) == (Side.BUY, 20, 105.0, 120.0)
    assert (first.gross_pnl, first.charges, first.holding_seconds) == (300.0, 6.0, 65.0)
    assert first.net_pnl == 294.0 and first.extra["fills"] == 3
    (second,) = book.on_fill(at(70), "s", "X", Product.MIS, Side.BUY, 10, 125.0, 1.0)
    assert (second.side, second.quantity, second.gross_pnl, second.charges) == (Side.SELL, 10, -50.0, 2.0)
    stats = book.stats()["s"]
    assert (stats.win_trades, stats.loss_trades, stats.open_trades) == (1, 1, 0)
    assert stats.day_pnl == 250.0 - 8.0
