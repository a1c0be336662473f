"""The simulated NSE market: grids, books, determinism, U-shapes, carry, option prices, roll-over."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pytest

from shared.contracts import Tick
from shared.errors import InstrumentError
from shared.instruments import Instrument, InstrumentsMaster
from shared.sim import black76, calendar
from shared.sim.market import SimMarket
from shared.sim.specs import INDEX_SPECS

DAY = date(2026, 11, 25)  # a Wednesday; NIFTY weekly expires Tue 1 Dec, the monthly 29 Dec
STOCKS = ("RELIANCE", "TATASTEEL", "IOC", "MARUTI")


def small_market(seed: int = 11, day: date = DAY, step_ms: int = 2000) -> SimMarket:
    return SimMarket(seed, day, step_ms=step_ms, underlyings=("NIFTY",), equities=STOCKS, strikes_each_side=6)


def atm_options(m: SimMarket, name: str, each_side: int) -> list[Instrument]:
    expiry = m.master.nearest_expiry(name, m.day)
    strikes = m.master.strikes(name, expiry)
    atm = min(range(len(strikes)), key=lambda i: abs(strikes[i] - m.spot(name)))
    wanted = set(strikes[atm - each_side : atm + each_side + 1])
    return [o for o in m.master.option_chain(name, expiry) if o.strike in wanted]


def on_grid(price: float, tick: float) -> bool:
    return abs(price / tick - round(price / tick)) < 1e-6


@dataclass
class Session:
    """What one simulated session produced, checked tick by tick as it streamed."""

    ticks: int = 0
    problems: list[str] = field(default_factory=list)
    volume_by_minute: np.ndarray = field(default_factory=lambda: np.zeros(375, dtype=np.int64))
    count_by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _check_book(t: Tick, inst: Instrument, tick: float, out: list[str]) -> None:
    bids = [b for b in t.bids if b.quantity > 0]
    if len(t.bids) != 5 or len(t.asks) != 5 or not bids:
        out.append(f"{t.symbol}: depth {len(t.bids)}x{len(t.asks)}, {len(bids)} live bids")
        return
    if any(b.price != 0 or b.orders != 0 for b in t.bids[len(bids) :]):
        out.append(f"{t.symbol}: an empty bid level is not all zeros: {t.bids}")
    bid_px = [b.price for b in bids]
    ask_px = [a.price for a in t.asks]
    if not (bid_px == sorted(bid_px, reverse=True) and len(set(bid_px)) == len(bid_px)):
        out.append(f"{t.symbol}: bids not strictly descending {bid_px}")
    if not (ask_px == sorted(ask_px) and len(set(ask_px)) == len(ask_px)):
        out.append(f"{t.symbol}: asks not strictly ascending {ask_px}")
    if not ask_px[0] - bid_px[0] >= tick - 1e-9:
        out.append(f"{t.symbol}: crossed or zero spread {bid_px[0]} / {ask_px[0]}")
    if not bid_px[0] <= t.last_price <= ask_px[0]:
        out.append(f"{t.symbol}: last {t.last_price} outside {bid_px[0]} / {ask_px[0]}")
    if not all(p > 0 and on_grid(p, tick) for p in bid_px + ask_px):
        out.append(f"{t.symbol}: a book price off the {tick} grid or not positive: {bid_px} {ask_px}")
    lot = inst.lot_size
    if any(level.quantity % lot or level.orders < 1 for level in bids + list(t.asks)):
        out.append(f"{t.symbol}: a level quantity is not a multiple of the lot {lot}")


@pytest.fixture(scope="module")
def session() -> Session:
    m = small_market(step_ms=5000)  # coarse steps keep the test quick; every step still checks
    options = atm_options(m, "NIFTY", 2)
    m.subscribe(o.instrument_token for o in options)
    open_ns = calendar.session_open_ns(DAY)
    close_ns = calendar.session_close_ns(DAY)
    s = Session()
    last_ts = 0
    volume: dict[int, int] = {}
    while not m.done:
        for t in m.step():
            s.ticks += 1
            inst = m.master.by_token(t.instrument_token)
            tick = inst.tick_size or 0.05
            p = s.problems
            if not open_ns < t.ts_event <= close_ns or t.ts_event < last_ts:
                p.append(f"{t.symbol}: ts_event {t.ts_event} out of order or outside the session")
            last_ts = t.ts_event
            if (t.exchange, t.symbol) != (inst.exchange, inst.tradingsymbol):
                p.append(f"{t.symbol}: exchange/symbol differ from the master")
            prices = (t.last_price, t.open, t.high, t.low, t.close)
            if not all(x > 0 and on_grid(x, tick) for x in prices):
                p.append(f"{t.symbol}: a price off the {tick} grid or not positive: {prices}")
            if not (t.low <= t.last_price <= t.high and t.low <= t.open <= t.high):
                p.append(f"{t.symbol}: day range broken {prices}")
            kind = "index" if inst.is_index else inst.instrument_type
            s.count_by_kind[kind] += 1
            if inst.is_index:
                if t.bids or t.asks or t.volume or t.last_quantity or t.oi:
                    p.append(f"{t.symbol}: an index tick carries depth, volume or OI")
                continue
            if t.volume != volume.get(t.instrument_token, 0) + t.last_quantity or t.last_quantity <= 0:
                p.append(f"{t.symbol}: volume {t.volume} is not the previous plus {t.last_quantity}")
            volume[t.instrument_token] = t.volume
            if (t.oi > 0) != (inst.exchange == "NFO"):
                p.append(f"{t.symbol}: OI {t.oi} on {inst.exchange}")
            _check_book(t, inst, tick, p)
            s.volume_by_minute[(t.ts_event - open_ns - 1) // (60 * 10**9)] += t.last_quantity
    assert m.step() == [] and m.now_ns == close_ns
    return s


def test_session_streams_every_kind(session: Session) -> None:
    assert session.ticks > 20_000
    assert set(session.count_by_kind) == {"index", "EQ", "FUT", "CE", "PE"}


def test_every_tick_is_well_formed(session: Session) -> None:
    # grids (0.05, 0.01 under ₹250), positive prices, uncrossed 5x5 books with a spread,
    # lot-multiple sizes, volume = previous + last quantity, ordered times, bare index ticks
    assert session.problems[:10] == []


def test_volume_per_minute_is_u_shaped(session: Session) -> None:
    v = session.volume_by_minute
    middle_hour = v[157:217].mean()
    assert v[:30].mean() > 1.3 * middle_hour
    assert v[-30:].mean() > 1.3 * middle_hour


def test_stocks_under_250_tick_in_paise() -> None:
    m = small_market()
    for e in m.master.equities():
        assert e.tick_size == (0.01 if e.last_price < 250 else 0.05), e
    assert {e.tick_size for e in m.master.equities()} == {0.01, 0.05}


def test_same_seed_gives_identical_ticks_and_another_seed_does_not() -> None:
    def run(seed: int) -> list[Tick]:
        m = small_market(seed, step_ms=250)
        out: list[Tick] = []
        for i in range(400):
            if i == 150:  # a mid-block subscription change is part of the call sequence
                m.subscribe(o.instrument_token for o in atm_options(m, "NIFTY", 2))
            out += m.step()
        return out

    first = run(5)
    assert len(first) > 1000
    assert run(5) == first
    assert run(6) != first


def test_subscribing_options_leaves_index_and_stock_prices_unchanged() -> None:
    def nse_prices(subscribe: bool) -> list[tuple[int, int, float]]:
        m = small_market(step_ms=250)
        out: list[tuple[int, int, float]] = []
        for i in range(300):
            if subscribe and i == 100:
                m.subscribe(o.instrument_token for o in atm_options(m, "NIFTY", 2))
            # prices and timing follow the path; trades and depth are drawn separately
            out += [(t.instrument_token, t.ts_event, t.last_price) for t in m.step() if t.exchange == "NSE"]
        return out

    assert nse_prices(True) == nse_prices(False)


def test_options_stream_only_while_subscribed() -> None:
    m = small_market(step_ms=250)
    assert all(not m.master.by_token(t).is_option for t in m.subscribed)
    assert not any(m.master.by_token(t.instrument_token).is_option for _ in range(40) for t in m.step())
    opts = {o.instrument_token for o in atm_options(m, "NIFTY", 1)}
    m.subscribe(opts)
    assert {t.instrument_token for t in m.step()} >= opts  # each prints on the next step
    m.unsubscribe(opts)
    assert not any(t.instrument_token in opts for _ in range(40) for t in m.step())
    with pytest.raises(InstrumentError, match="instrument_token 123"):
        m.subscribe([123])
    with pytest.raises(InstrumentError):
        m.unsubscribe([123])


def test_cumulative_volume_survives_a_subscription_change_mid_block() -> None:
    m = small_market(step_ms=250)
    fut = m.master.future("NIFTY", m.day).instrument_token
    seen: list[int] = []
    for i in range(600):
        if i in (100, 350):
            m.subscribe(o.instrument_token for o in atm_options(m, "NIFTY", i // 100))
        seen += [t.volume for t in m.step() if t.instrument_token == fut]
    assert len(seen) > 50 and seen == sorted(seen) and len(set(seen)) == len(seen)


def test_futures_trade_at_a_positive_cost_of_carry_basis() -> None:
    m = small_market(step_ms=250)
    for _ in range(100):
        m.step()
    spot = m.spot("NIFTY")
    for fut in m.master.futures("NIFTY"):
        assert fut.expiry is not None
        t = black76.year_fraction(m.now_ns, fut.expiry)
        expected = spot * math.exp(m.rate * t)
        assert m.future_price(fut.instrument_token) > spot
        assert m.future_price(fut.instrument_token) == pytest.approx(expected, abs=0.1)


def test_simulated_chain_keeps_put_call_parity() -> None:
    m = small_market(step_ms=250)
    for _ in range(200):
        m.step()
    for expiry in m.master.expiries("NIFTY"):
        f = m.forward("NIFTY", expiry)
        df = math.exp(-m.rate * black76.year_fraction(m.now_ns, expiry))
        for k in m.master.strikes("NIFTY", expiry):
            c = m.model_price(m.master.option("NIFTY", expiry, k, "CE").instrument_token)
            p = m.model_price(m.master.option("NIFTY", expiry, k, "PE").instrument_token)
            assert c - p == pytest.approx(df * (f - k), abs=0.1 + 1e-9), (expiry, k)


def test_option_premium_is_black76_at_the_smile_vol_within_a_tick() -> None:
    m = small_market(step_ms=250)
    for _ in range(200):
        m.step()
    atm_iv = INDEX_SPECS["NIFTY"].atm_iv
    for o in m.master.option_chain("NIFTY", m.master.nearest_expiry("NIFTY", m.day)):
        assert o.expiry is not None
        f = m.forward("NIFTY", o.expiry)
        t = black76.year_fraction(m.now_ns, o.expiry)
        vol = float(black76.smile_vol(o.strike, f, t, atm_iv))
        model = max(black76.black76(f, o.strike, t, vol, m.rate, o.instrument_type == "CE"), 0.05)
        price = m.model_price(o.instrument_token)
        assert price == pytest.approx(model, abs=0.05 + 1e-9), o.tradingsymbol
        assert on_grid(price, o.tick_size) and price >= 0.05


def test_master_uses_kite_formats_and_loads_back_identical(tmp_path: object) -> None:
    m = SimMarket(1, date(2026, 11, 23))  # the default market: 3 indices, the NIFTY 100
    assert [i.tradingsymbol for i in m.master.indices()] == ["NIFTY 50", "NIFTY BANK", "NIFTY FIN SERVICE"]
    assert m.master.index("NIFTY").instrument_token == 256265
    assert len(m.master.equities()) == 100
    assert [f.tradingsymbol for f in m.master.futures("BANKNIFTY")] == ["BANKNIFTY26NOVFUT", "BANKNIFTY26DECFUT"]
    assert {f.lot_size for f in m.master.futures("NIFTY")} == {65}
    assert m.master.strike_step("BANKNIFTY", date(2026, 11, 23)) == 100.0
    assert m.master.expiries("NIFTY") == [date(2026, 11, 23), date(2026, 12, 1)]  # 24 Nov is a holiday
    assert m.master.expiries("FINNIFTY") == [date(2026, 11, 23)]  # monthly only
    weekly = m.master.option_chain("NIFTY", date(2026, 12, 1))[0].tradingsymbol
    assert weekly.startswith("NIFTY26D01") and weekly.endswith("CE")
    assert m.master.option_chain("NIFTY", date(2026, 11, 23))[0].tradingsymbol.startswith("NIFTY26NOV")
    assert len(m.master.strikes("NIFTY", date(2026, 12, 1))) == 41
    tokens = [i.instrument_token for i in m.master]
    assert len(set(tokens)) == len(tokens) and all(0 < t < 2**32 for t in tokens)
    again = InstrumentsMaster.from_csv_text(m.master.to_csv_text())
    assert list(again) == list(m.master)


def test_next_day_rolls_contracts_carries_close_and_oi_and_resets_volume() -> None:
    m = small_market(step_ms=250, day=date(2026, 11, 23))  # a monthly expiry day
    dec = m.master.by_symbol("NFO", "NIFTY26DECFUT").instrument_token
    last: dict[int, Tick] = {}
    for _ in range(300):
        last.update((t.instrument_token, t) for t in m.step())
    m.next_day()
    assert m.day == date(2026, 11, 25) and m.now_ns == calendar.session_open_ns(m.day) and not m.done
    assert m.master.by_symbol("NFO", "NIFTY26DECFUT").instrument_token == dec  # tokens survive
    with pytest.raises(InstrumentError):
        m.master.by_symbol("NFO", "NIFTY26NOVFUT")  # expired
    jan = m.master.by_symbol("NFO", "NIFTY27JANFUT").instrument_token
    assert jan in m.subscribed and dec in m.subscribed
    assert all(t in m.master for t in m.subscribed)
    first = {t.instrument_token: t for t in reversed(m.step())}
    t = first[dec]
    assert t.volume == t.last_quantity  # volume restarts
    assert t.open == t.high == t.low == t.last_price
    assert t.close == m.master.by_token(dec).last_price
    assert abs(t.oi - last[dec].oi) <= 3 * 65  # carried, plus one tick's change
    reliance = m.master.by_symbol("NSE", "RELIANCE").instrument_token
    assert first[reliance].close == m.master.by_token(reliance).last_price


def test_rejects_a_non_trading_day_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="2026-11-24 is not an NSE trading day"):
        SimMarket(1, date(2026, 11, 24))
    with pytest.raises(InstrumentError, match="SENSEX"):
        SimMarket(1, DAY, underlyings=("SENSEX",))
    with pytest.raises(InstrumentError, match="NOPE"):
        SimMarket(1, DAY, equities=("NOPE",))
    with pytest.raises(InstrumentError, match="not simulated"):
        small_market().spot("BANKNIFTY")
