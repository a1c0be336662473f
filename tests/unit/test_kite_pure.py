"""Pure pieces of the Kite path: drift between broker and journal, ticker times, tick conversion."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from services.feed.sources.kite_ticks import event_ns, ist, to_tick
from shared.brokers.positions import Portfolio
from shared.brokers.reconcile import adopt, position_drift
from shared.clock import IST
from shared.enums import Product, Side
from shared.instruments import Instrument

FUT = Instrument(201326594, 786432, "NIFTY26DECFUT", "NIFTY", 0.0, None, 0.0, 0.05, 65, "FUT", "NFO-FUT", "NFO")


def _row(symbol: str, qty: int, product: str = "NRML", avg: float = 100.0) -> dict:
    return {"tradingsymbol": symbol, "exchange": "NFO", "product": product, "quantity": qty, "average_price": avg}


def test_drift_lists_only_differences_and_adopt_takes_the_brokers_view() -> None:
    book = Portfolio(1e6)
    book.apply_fill("A", Product.NRML, Side.BUY, 65, 100.0, 0.0, "NFO")
    book.apply_fill("B", Product.NRML, Side.SELL, 30, 50.0, 0.0, "NFO")
    broker = [_row("A", 65), _row("B", -60, avg=51.0), _row("C", 10, avg=7.0), _row("D", 5, product="CO")]
    drifts = position_drift(book.positions.values(), broker)
    assert [(d.symbol, d.ours, d.theirs) for d in drifts] == [("B", -30, -60), ("C", 0, 10)]
    adopt(book, drifts)
    assert position_drift(book.positions.values(), broker) == []
    assert book.position("B", Product.NRML).avg_price == 51.0  # type: ignore[union-attr]
    assert position_drift([], []) == []


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_ticker_times_are_read_back_in_the_host_zone_exactly(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        epoch = int(datetime(2026, 11, 25, 9, 50, tzinfo=IST).timestamp())
        naive = datetime.fromtimestamp(epoch)  # what pykiteconnect hands over
        assert event_ns(naive, 7) == epoch * 10**9
        assert ist(naive).strftime("%H:%M") == "09:50"
        assert event_ns(None, 7) == 7
        assert event_ns(datetime.fromtimestamp(epoch, tz=UTC), 7) == epoch * 10**9
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_kite_tick_dict_becomes_a_tick() -> None:
    d = {"tradable": True, "mode": "full", "instrument_token": FUT.instrument_token, "last_price": 26241.5,
         "last_traded_quantity": 65, "volume_traded": 1000, "oi": 5, "exchange_timestamp": None,
         "ohlc": {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5},
         "depth": {"buy": [{"price": 26241.45, "quantity": 65, "orders": 1}],
                   "sell": [{"price": 26241.55, "quantity": 130, "orders": 2}]}}  # fmt: skip
    t = to_tick(d, FUT, 42)
    assert (t.symbol, t.exchange, t.ts_event, t.volume, t.oi) == ("NIFTY26DECFUT", "NFO", 42, 1000, 5)
    assert t.bid_prices == (26241.45,) and t.ask_quantities == (130,) and t.close == 1.5




class _StubKite:
    """Just enough of ``KiteConnect`` to place orders: records them, answers with ids."""

    def __init__(self) -> None:
        self.placed: list[dict] = []

    def place_order(self, **params: object) -> str:
        self.placed.append(params)
        return f"K{len(self.placed)}"

    def orders(self) -> list[dict]:
        return []


def test_live_square_off_sends_kite_only_the_net_and_crosses_opposite_strategies() -> None:
    from shared.brokers.kite import KiteBroker, OrderPacer
    from shared.instruments import InstrumentsMaster

    kite = _StubKite()
    broker = KiteBroker(kite, InstrumentsMaster([FUT]), capital=1e6, journal=lambda order: None,  # type: ignore[arg-type]
                        pacer=OrderPacer(per_second=1000, per_minute=100_000), sleep=lambda s: None)  # fmt: skip
    broker.portfolio.apply_fill("NIFTY26DECFUT", Product.NRML, Side.BUY, 65, 26_000.0, 0.0, "NFO")
    broker.portfolio.mark("NIFTY26DECFUT", 26_010.0)
    broker.strategy_positions = {("ema", "NIFTY26DECFUT", Product.NRML): 130,
                                 ("orb", "NIFTY26DECFUT", Product.NRML): -65}  # fmt: skip

    events = broker.square_off_all(1, "c1", "operator")

    assert [(p["transaction_type"], p["quantity"]) for p in kite.placed] == [("SELL", 65)]  # the net only
    crosses = [e for e in events if e.internal]
    assert [(e.order.strategy, e.order.side, e.fill.quantity, e.fill.price) for e in crosses if e.fill] == [
        ("ema", Side.SELL, 65, 26_010.0),
        ("orb", Side.BUY, 65, 26_010.0),
    ]
    assert broker.strategy_positions[("orb", "NIFTY26DECFUT", Product.NRML)] == 0
    assert broker.portfolio.position("NIFTY26DECFUT", Product.NRML).quantity == 65  # type: ignore[union-attr]
    assert broker.strategy_positions[("ema", "NIFTY26DECFUT", Product.NRML)] == 65  # until its SELL fills
    (sent,) = broker.open_orders()
    assert (sent.strategy, sent.side, sent.quantity) == ("ema", Side.SELL, 65)


def test_repeating_a_live_square_off_keeps_its_working_close_and_retries_one_that_ended() -> None:
    from shared.brokers.kite import KiteBroker, OrderPacer
    from shared.instruments import InstrumentsMaster

    kite = _StubKite()  # no cancel_order: cancelling this command's own close would raise here
    broker = KiteBroker(kite, InstrumentsMaster([FUT]), capital=1e6, journal=lambda order: None,  # type: ignore[arg-type]
                        pacer=OrderPacer(per_second=1000, per_minute=100_000), sleep=lambda s: None)  # fmt: skip
    broker.portfolio.apply_fill("NIFTY26DECFUT", Product.NRML, Side.BUY, 65, 26_000.0, 0.0, "NFO")
    broker.portfolio.mark("NIFTY26DECFUT", 26_010.0)
    broker.strategy_positions = {("ema", "NIFTY26DECFUT", Product.NRML): 65}

    broker.square_off_all(1, "c1", "operator")
    broker.square_off_all(2, "c1", "operator")  # redelivered while the close is working at Kite
    (close,) = broker.open_orders()
    assert [p["quantity"] for p in kite.placed] == [65]  # not cancelled, not sent twice

    close.reject(3, "RMS: margin exceeds")  # Kite refused it: the position is still open
    broker.square_off_all(4, "c1", "operator")  # the operator presses square-off again
    assert [(p["transaction_type"], p["quantity"]) for p in kite.placed] == [("SELL", 65), ("SELL", 65)]
    (retry,) = broker.open_orders()
    assert retry.intent_id == "c1:ema:NIFTY26DECFUT:NRML:r2" and retry.order_id != close.order_id
