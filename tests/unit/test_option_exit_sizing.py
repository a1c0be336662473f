"""Option exits close what the strategy holds: partial fills, slices cut or blocked, more than configured.

End to end through the real pieces, in one process: the options engine shapes the intents
(lots, freeze-limit slices), the risk engine sizes them, the paper broker fills them against
the depth of each tick (a thin book fills an order partly), and the fills and order events go
back to risk as the execution service publishes them. The broker's book is the truth: after
the exit the strategy is flat there, never over-closed into the other side.
"""

from __future__ import annotations

from datetime import date

import pytest
import redis

from services.options.service import OptionsService
from shared.brokers.base import BrokerEvent, order_event
from shared.brokers.paper import PaperBroker
from shared.bus.redis_bus import Bus
from shared.clock import NS
from shared.config import Settings, load_settings
from shared.contracts import OrderIntent, PositionSnapshot, RiskDecision, Tick
from shared.enums import Decision, Product, Side
from shared.instruments import InstrumentsMaster
from shared.risk.engine import RiskEngine
from shared.sim.calendar import session_open_ns
from shared.sim.market import SimMarket

DAY = date(2026, 11, 25)
CAPITAL = 100_000_000.0
PREMIUM = 100.0
STRATEGY = "atm_short_straddle"
NOW = session_open_ns(DAY) + 30 * 60 * NS  # 09:45


@pytest.fixture(scope="module")
def master() -> InstrumentsMaster:
    return SimMarket(3, DAY).master


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> Settings:
    monkeypatch.delenv("KITE_ALGO_CONFIG", raising=False)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path))
    monkeypatch.setenv("KITE_ALGO__OPTIONS__LOTS", '{"NIFTY": 30}')  # 1,950 units: 1,755 + 195 at the 1,800 freeze
    settings = load_settings()
    # no Greeks limits: this is about sizes (tests/services/test_options_risk.py has the limits)
    greeks = settings.risk.greeks.model_copy(update={"max_abs_delta": {}, "max_abs_vega": {}})
    return settings.model_copy(update={"risk": settings.risk.model_copy(update={"greeks": greeks})})


class Desk:
    """Options engine shaping -> risk -> paper broker -> fills back to risk, for one option."""

    def __init__(self, settings: Settings, master: InstrumentsMaster) -> None:
        # shape() needs no Redis: the client is never used
        self.svc = OptionsService(settings, Bus(redis.Redis(host="127.0.0.1", port=1)))
        self.svc.master = master
        self.risk = RiskEngine(settings.risk, settings.portfolio, rate=settings.options.rate)
        self.risk.set_master(master)
        self.broker = PaperBroker(master, capital=CAPITAL)
        self.option = master.option("NIFTY", master.nearest_expiry("NIFTY", DAY), 26_000.0, "CE")
        self.now = NOW
        fut = master.future("NIFTY", DAY)  # the Greeks (margin rule) need the underlying's price
        self.risk.on_tick(Tick(ts_event=NOW, instrument_token=fut.instrument_token, exchange="NFO",
                               symbol=fut.tradingsymbol, last_price=26_050.0))  # fmt: skip
        self.tick(depth=10_000)
        self.risk.on_snapshot(
            PositionSnapshot(ts_event=NOW, mode="paper", positions=(), capital=CAPITAL, cash=CAPITAL,
                             realized_pnl=0.0, unrealized_pnl=0.0, charges=0.0, day_pnl=0.0)
        )  # fmt: skip

    def tick(self, depth: int) -> list[BrokerEvent]:
        """The option's next tick, ``depth`` units on each side of the book; its fills go to risk."""
        self.now += NS
        o = self.option
        t = Tick(ts_event=self.now, instrument_token=o.instrument_token, exchange="NFO", symbol=o.tradingsymbol,
                 last_price=PREMIUM, bid_prices=(PREMIUM - 0.05,), bid_quantities=(depth,), bid_orders=(1,),
                 ask_prices=(PREMIUM + 0.05,), ask_quantities=(depth,), ask_orders=(1,))  # fmt: skip
        self.risk.on_tick(t)
        events = self.broker.on_tick(t)
        self.report(events)
        return events

    def report(self, events: list[BrokerEvent]) -> None:
        """What the execution service publishes: fills and order events, read by risk."""
        for ev in events:
            if ev.fill is not None:
                self.risk.on_fill(ev.fill)
            self.risk.on_order_event(ev.order)

    def send(self, side: Side, key: str, *, exit: bool) -> list[tuple[OrderIntent, RiskDecision]]:
        """The engine's intent, shaped; each slice decided by risk and the approved ones placed."""
        o = self.option
        raw = OrderIntent(ts_event=self.now, intent_id=key, strategy=STRATEGY, engine="options", exchange="NFO",
                          symbol=o.tradingsymbol, instrument_token=o.instrument_token, side=side,
                          stop_loss=0.0 if exit else PREMIUM * 1.3, reduce_only=exit, ref_price=PREMIUM)  # fmt: skip
        out = []
        for shaped in self.svc.shape(raw):
            assert isinstance(shaped, OrderIntent)
            decided = self.risk.on_intent(shaped)
            decision = next(m for _, m in decided if isinstance(m, RiskDecision))
            approved = [m for _, m in decided if isinstance(m, OrderIntent)]
            for order in approved:
                self.broker.place(order, self.now)
            out.append((shaped, decision))
        return out

    def held(self) -> int:
        """The strategy's units in the broker's book (the truth), and risk agrees."""
        units = self.broker.strategy_positions.get((STRATEGY, self.option.tradingsymbol, Product.MIS), 0)
        net = sum(p.quantity for p in self.broker.positions() if p.symbol == self.option.tradingsymbol)
        assert units == net  # one strategy: its units are the account's
        assert self.risk.state.strategy_quantity(self.option.tradingsymbol, STRATEGY) == units
        return units


def test_a_partly_filled_entry_is_closed_exactly_not_over_closed(settings: Settings, master: InstrumentsMaster) -> None:
    desk = Desk(settings, master)
    entry = desk.send(Side.SELL, "entry", exit=False)
    assert [(i.quantity, d.decision) for i, d in entry] == [(1755, Decision.ALLOW), (195, Decision.ALLOW)], entry
    desk.tick(depth=1040)  # a thin book: 1,040 of the first slice fill, the second waits behind it
    first = desk.broker.orders["P-entry"]
    assert first.filled_quantity == 1040
    # the rest of the first slice is cancelled (an operator, a broker's IOC): 1,040 + 195 units held
    desk.report([BrokerEvent(order_event(desk.broker.cancel("P-entry", desk.now), desk.now))])
    desk.tick(depth=10_000)
    assert desk.held() == -1235

    exits = desk.send(Side.BUY, "exit", exit=True)
    desk.tick(depth=10_000)
    assert desk.held() == 0  # flat: not long 195, as slices of the configured 1,950 each capped at 1,235 left it
    assert not desk.broker.open_orders()
    assert not desk.risk.state.pending_exits  # the exit filled: nothing reserved any more
    # the configured slices, the last asking for the rest: 1,755 cut to the 1,235 held, then nothing left
    assert [i.quantity for i, _ in exits] == [1755, 0] and all(i.reduce_only for i, _ in exits)
    (_, da), (_, db) = exits
    assert (da.decision, da.quantity) == (Decision.REDUCE, 1235)
    assert (db.decision, db.quantity, db.rule) == (Decision.BLOCK, 0, "reduce_only")
    assert f"own position in {desk.option.tradingsymbol} is -1235" in db.reason
    assert "1235 of it being closed by approved exits not filled yet: nothing left to reduce" in db.reason


def test_a_fully_filled_entry_is_fully_closed_through_the_freeze_slices(
    settings: Settings, master: InstrumentsMaster
) -> None:
    desk = Desk(settings, master)
    desk.send(Side.SELL, "entry", exit=False)
    desk.tick(depth=10_000)
    assert desk.held() == -1950
    exits = desk.send(Side.BUY, "exit", exit=True)
    assert [(d.decision, d.quantity) for _, d in exits] == [(Decision.ALLOW, 1755), (Decision.ALLOW, 195)]
    reason = exits[1][1].reason
    assert "closes the 195 left of the position of atm_short_straddle (1755 being closed by approved" in reason
    desk.tick(depth=10_000)
    assert desk.held() == 0


def test_an_exit_closes_a_position_larger_than_the_lots_now_configured(
    settings: Settings, master: InstrumentsMaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = Desk(settings, master)
    desk.send(Side.SELL, "entry", exit=False)
    desk.tick(depth=10_000)
    assert desk.held() == -1950
    # restarted with 10 lots configured (650 units, one slice): the exit still closes all 1,950
    desk.svc.options = desk.svc.options.model_copy(update={"lots": {"NIFTY": 10}})
    exits = desk.send(Side.BUY, "exit", exit=True)
    assert [(i.quantity, d.decision, d.quantity) for i, d in exits] == [(0, Decision.ALLOW, 1950)]
    desk.tick(depth=10_000)
    assert desk.held() == 0


def test_a_second_exit_in_flight_closes_nothing_more(settings: Settings, master: InstrumentsMaster) -> None:
    """Two exits of one position approved before either fills (a time exit racing a stop) close it once."""
    desk = Desk(settings, master)
    desk.send(Side.SELL, "entry", exit=False)
    desk.tick(depth=10_000)
    first = desk.send(Side.BUY, "stop", exit=True)
    second = desk.send(Side.BUY, "time", exit=True)
    assert sum(d.quantity for _, d in first) == 1950
    assert [d.decision for _, d in second] == [Decision.BLOCK, Decision.BLOCK]
    desk.tick(depth=10_000)
    assert desk.held() == 0
    assert not desk.risk.state.pending_exits  # once filled nothing is reserved: a next position exits in full
