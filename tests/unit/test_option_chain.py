"""Strike and expiry selection, order slicing at the freeze limit, and the ATM short straddle."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from shared.clock import IST, NS, ist_to_ns
from shared.config import StrategySpec
from shared.contracts import Tick
from shared.errors import ConfigError, InstrumentError
from shared.options.chain import (
    SPOT_FUTURE,
    SPOT_INDEX,
    SpotChoice,
    SpotQuote,
    atm_reference,
    atm_strike,
    choose_spot,
    expiry_valid_until,
    index_forward,
    keep_band,
    option_forward,
    select_options,
    split_quantity,
    sticky_atm,
    strike_window,
    trading_expiry,
)
from shared.sim import calendar
from shared.sim.market import SimMarket
from shared.strategies.registry import build_strategy
from shared.trading.engine import TradingEngine

STRIKES = [25_800.0, 25_850.0, 25_900.0, 25_950.0, 26_000.0]
CUTOFF_S = 13 * 3600


def at(day: date, hh: int, mm: int) -> int:
    return ist_to_ns(datetime.combine(day, time(hh, mm), tzinfo=IST))


# -- ATM -----------------------------------------------------------------------------------------


def test_atm_is_the_nearest_strike() -> None:
    assert atm_strike(STRIKES, 25_874.0) == 25_850.0
    assert atm_strike(STRIKES, 25_876.0) == 25_900.0
    assert atm_strike(STRIKES, 25_000.0) == 25_800.0  # below the chain: its lowest strike
    assert atm_strike(STRIKES, 27_000.0) == 26_000.0


def test_spot_exactly_between_two_strikes_takes_the_higher() -> None:
    assert atm_strike(STRIKES, 25_875.0) == 25_900.0
    assert atm_strike(STRIKES, 25_925.0) == 25_950.0


def test_no_strikes_is_a_clear_error() -> None:
    with pytest.raises(InstrumentError, match="no strikes"):
        atm_strike([], 100.0)


def test_sticky_atm_holds_until_spot_is_past_the_band() -> None:
    # previous ATM 25,850; midpoint 25,875; with a 0.25 band ATM moves from 25,887.5
    assert sticky_atm(STRIKES, 25_880.0, 25_850.0, 0.25) == 25_850.0
    assert sticky_atm(STRIKES, 25_890.0, 25_850.0, 0.25) == 25_900.0
    assert sticky_atm(STRIKES, 25_880.0, None, 0.25) == 25_900.0
    assert sticky_atm(STRIKES, 25_960.0, 25_850.0, 0.25) == 25_950.0  # a jump: straight to the new ATM


def test_strike_window_is_atm_and_n_each_side_clipped_at_the_ends() -> None:
    assert strike_window(STRIKES, 25_900.0, 1) == [25_850.0, 25_900.0, 25_950.0]
    assert strike_window(STRIKES, 25_800.0, 2) == [25_800.0, 25_850.0, 25_900.0]


# -- expiry ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def holiday_week_market() -> SimMarket:
    # Tuesday 24 Nov 2026 is a holiday (Guru Nanak Jayanti): that week's NIFTY expiry is Monday the 23rd.
    return SimMarket(3, date(2026, 11, 20))


def test_a_holiday_moves_the_expiry_to_the_previous_trading_day(holiday_week_market: SimMarket) -> None:
    master = holiday_week_market.master
    assert not calendar.is_trading_day(date(2026, 11, 24))
    friday = date(2026, 11, 20)
    assert trading_expiry(master, "NIFTY", at(friday, 10, 0), CUTOFF_S) == date(2026, 11, 23)


def test_expiry_day_rolls_to_the_next_expiry_after_the_cutoff(holiday_week_market: SimMarket) -> None:
    market = holiday_week_market
    monday = date(2026, 11, 23)
    market.next_day()  # the master of Monday 23 Nov (its expiry day)
    master = market.master
    assert trading_expiry(master, "NIFTY", at(monday, 12, 59), CUTOFF_S) == monday
    later = trading_expiry(master, "NIFTY", at(monday, 13, 0), CUTOFF_S)
    assert later == next(e for e in master.expiries("NIFTY") if e > monday)
    sel = select_options(master, "NIFTY", 25_912.0, at(monday, 14, 0), each_side=2, roll_cutoff_s=CUTOFF_S)
    assert sel.expiry == later and sel.atm == 25_900.0
    assert {sel.call.instrument_type, sel.put.instrument_type} == {"CE", "PE"}
    assert sel.call.strike == sel.put.strike == 25_900.0
    assert {i.strike for i in sel.window} == {25_800.0, 25_850.0, 25_900.0, 25_950.0, 26_000.0}
    assert len(sel.window) == 10  # CE and PE of five strikes
    assert sel.step == 50.0


def test_the_sticky_selection_keeps_its_atm_only_within_one_expiry(holiday_week_market: SimMarket) -> None:
    master = holiday_week_market.master
    day = date(2026, 11, 20)
    first = select_options(master, "NIFTY", 25_860.0, at(day, 10, 0), each_side=1, roll_cutoff_s=CUTOFF_S)
    same = select_options(
        master, "NIFTY", 25_880.0, at(day, 10, 5), each_side=1, roll_cutoff_s=CUTOFF_S, previous=first, band=0.25
    )
    moved = select_options(
        master, "NIFTY", 25_890.0, at(day, 10, 6), each_side=1, roll_cutoff_s=CUTOFF_S, previous=first, band=0.25
    )
    assert (first.atm, same.atm, moved.atm) == (25_850.0, 25_850.0, 25_900.0)


def test_the_option_forward_from_the_future_matches_the_simulated_forward() -> None:
    day = date(2026, 11, 25)
    market = SimMarket(5, day, step_ms=1000)
    for _ in range(300):
        market.step()
    for name in market.underlyings:
        fut = market.master.future(name, day)
        assert fut.expiry is not None
        expiry = market.master.nearest_expiry(name, day)
        fwd = option_forward(market.future_price(fut.instrument_token), fut.expiry, expiry, market.now_ns, 0.06)
        assert fwd == pytest.approx(market.forward(name, expiry), abs=0.05)  # the future prints on a 0.05 grid
        assert fwd <= market.future_price(fut.instrument_token) + 0.05  # carry: the earlier expiry is cheaper


# -- the spot: index level or future --------------------------------------------------------------

MAX_AGE = 10 * NS


def test_a_fresh_index_level_is_the_spot() -> None:
    now = at(date(2026, 11, 25), 10, 0)
    index, future = SpotQuote(25_900.0, now - 3 * NS), SpotQuote(26_010.0, now - NS)
    assert choose_spot(index, future, now, MAX_AGE) == SpotChoice(SPOT_INDEX, 25_900.0, now - 3 * NS)
    assert choose_spot(index, None, now, MAX_AGE) == SpotChoice(SPOT_INDEX, 25_900.0, now - 3 * NS)
    assert choose_spot(SpotQuote(25_900.0, now - MAX_AGE), future, now, MAX_AGE).source == SPOT_INDEX  # type: ignore[union-attr]


def test_a_stale_or_missing_index_level_falls_back_to_the_future() -> None:
    now = at(date(2026, 11, 25), 10, 0)
    stale, future = SpotQuote(25_900.0, now - MAX_AGE - 1), SpotQuote(26_010.0, now - 60 * NS)
    assert choose_spot(stale, future, now, MAX_AGE) == SpotChoice(SPOT_FUTURE, 26_010.0, now - 60 * NS)
    assert choose_spot(None, future, now, MAX_AGE) == SpotChoice(SPOT_FUTURE, 26_010.0, now - 60 * NS)
    # max age 0: the index is never used, fresh or not
    assert choose_spot(SpotQuote(25_900.0, now), future, now, 0) == SpotChoice(SPOT_FUTURE, 26_010.0, now - 60 * NS)
    # only a stale index level known (a day's first choice, before any future tick): it is the spot
    assert choose_spot(stale, None, now, MAX_AGE) == SpotChoice(SPOT_INDEX, 25_900.0, now - MAX_AGE - 1)
    assert choose_spot(stale, None, now, 0) is None
    assert choose_spot(None, None, now, MAX_AGE) is None


def test_the_forward_from_the_index_and_from_the_future_match_the_simulated_forward() -> None:
    day = date(2026, 11, 25)
    market = SimMarket(5, day, step_ms=1000)
    for _ in range(300):
        market.step()
    now = market.now_ns
    for name in market.underlyings:
        fut = market.master.future(name, day)
        expiry = market.master.nearest_expiry(name, day)
        want = market.forward(name, expiry)
        index = SpotChoice(SPOT_INDEX, market.spot(name), now)
        future = SpotChoice(SPOT_FUTURE, market.future_price(fut.instrument_token), now)
        assert index_forward(index.price, expiry, now, 0.06) == pytest.approx(want, abs=0.05)  # index on a 0.05 grid
        assert atm_reference(index, expiry, fut.expiry, now, 0.06) == pytest.approx(want, abs=0.05)
        assert atm_reference(future, expiry, fut.expiry, now, 0.06) == pytest.approx(want, abs=0.05)
        # the raw levels are not the forward: the index is below it (carry), the monthly future above
        assert index.price < want - 1 and (fut.expiry == expiry or future.price > want + 1)


def test_atm_from_the_index_spot_is_around_the_option_forward_not_the_raw_index(
    holiday_week_market: SimMarket,
) -> None:
    master = holiday_week_market.master
    now = at(date(2026, 11, 20), 10, 0)  # Friday; the week's expiry is Monday 23 Nov 15:30 (3.2 days)
    expiry = trading_expiry(master, "NIFTY", now, CUTOFF_S)
    # 25,870 is nearer 25,850; carried 3.2 days at 6% (+13.6) the forward is 25,883.6: ATM 25,900
    spot = SpotChoice(SPOT_INDEX, 25_870.0, now)
    forward = atm_reference(spot, expiry, None, now, 0.06)
    assert forward == pytest.approx(25_870.0 * (1 + 0.06 * 3.25 / 365), abs=0.5)
    sel = select_options(master, "NIFTY", forward, now, each_side=1, roll_cutoff_s=CUTOFF_S)
    assert sel.atm == 25_900.0 and atm_strike(master.strikes("NIFTY", expiry), spot.price) == 25_850.0
    assert (sel.call.strike, sel.put.strike) == (25_900.0, 25_900.0)


def test_the_keep_band_is_where_the_sticky_atm_does_not_move() -> None:
    for band in (0.0, 0.1, 0.25, 0.5):
        low, high = keep_band(STRIKES, 25_900.0, band)
        assert (low, high) == (25_900.0 - 50 * (0.5 + band), 25_900.0 + 50 * (0.5 + band))
        level = 25_800.0
        while level <= 26_000.0:
            if low <= level <= high:
                assert sticky_atm(STRIKES, level, 25_900.0, band) == 25_900.0, (band, level)
            level += 0.25
    # just outside, ATM does move: the band is the rule itself, not a looser approximation of it
    low, high = keep_band(STRIKES, 25_900.0, 0.25)
    assert sticky_atm(STRIKES, high + 0.25, 25_900.0, 0.25) == 25_950.0
    assert sticky_atm(STRIKES, low - 0.25, 25_900.0, 0.25) == 25_850.0
    assert keep_band(STRIKES, 25_800.0, 0.25) == (float("-inf"), 25_837.5)  # the chain's ends never move away
    assert keep_band(STRIKES, 26_000.0, 0.25) == (25_962.5, float("inf"))


def test_the_expiry_is_chosen_again_at_the_cutoff_of_its_day_or_at_midnight() -> None:
    day = date(2026, 11, 24)
    assert expiry_valid_until(day, at(day, 11, 0), CUTOFF_S) == at(day, 13, 0)
    assert expiry_valid_until(day, at(day, 13, 0), CUTOFF_S) == at(date(2026, 11, 25), 0, 0)
    assert expiry_valid_until(date(2026, 12, 1), at(day, 11, 0), CUTOFF_S) == at(date(2026, 11, 25), 0, 0)


# -- the freeze limit --------------------------------------------------------------------------------


def test_quantities_above_the_freeze_limit_split_into_whole_lot_orders() -> None:
    assert split_quantity(65, 1800, 65) == [65]
    assert split_quantity(27 * 65, 1800, 65) == [1755]  # 27 lots fit under 1,800
    assert split_quantity(30 * 65, 1800, 65) == [1755, 195]
    assert split_quantity(50 * 30, 600, 30) == [600, 600, 300]
    assert sum(split_quantity(100 * 65, 1800, 65)) == 6500
    assert split_quantity(0, 1800, 65) == []
    with pytest.raises(ValueError, match="whole number of lots"):
        split_quantity(100, 1800, 65)
    with pytest.raises(ValueError, match="below one lot"):
        split_quantity(130, 60, 65)


# -- the straddle ------------------------------------------------------------------------------------

DAY = date(2026, 11, 25)
CE, PE = (1001, "NIFTY26D0126000CE"), (1002, "NIFTY26D0126000PE")


def straddle_engine(**params: object) -> TradingEngine:
    spec = StrategySpec(name="atm_short_straddle", timeframe="1m", params={"stop_loss_pct": 0.3, **params})
    strategy = build_strategy(spec)
    symbols = {CE[0]: ("NIFTY", CE[1], "NFO"), PE[0]: ("NIFTY", PE[1], "NFO")}
    return TradingEngine("options", [strategy], symbols=symbols)


def tick(token_symbol: tuple[int, str], hh: int, mm: int, ss: int, price: float) -> Tick:
    token, symbol = token_symbol
    return Tick(
        ts_event=at(DAY, hh, mm) + ss * 1_000_000_000,
        instrument_token=token,
        exchange="NFO",
        symbol=symbol,
        last_price=price,
        volume=1000,
    )


def run(engine: TradingEngine, ticks: list[Tick]) -> list[object]:
    out: list[object] = []
    for t in sorted(ticks, key=lambda t: t.ts_event):
        out.extend(engine.on_tick(t))
    return out


def intents_of(out: list[object]) -> list[tuple[str, str, str]]:
    return [(o.symbol, str(o.side), o.reason.split(":")[0]) for o in out if type(o).__name__ == "OrderIntent"]


def test_straddle_sells_both_legs_once_stops_one_and_time_exits_the_other() -> None:
    engine = straddle_engine()
    ticks = []
    for minute in range(15, 60):  # 09:15 .. 09:59, premium of each leg flat at 100
        for leg in (CE, PE):
            ticks.append(tick(leg, 9, minute, 5, 100.0))
    ticks.append(tick(CE, 10, 0, 30, 131.0))  # CE: 31% above its entry: stopped
    ticks.append(tick(PE, 10, 0, 30, 95.0))
    for minute in range(1, 59):
        for leg in (CE, PE):
            ticks.append(tick(leg, 10, minute, 5, 110.0 if leg is CE else 95.0))  # no re-entry on CE
    ticks.append(tick(PE, 15, 10, 1, 90.0))  # the time exit
    got = intents_of(run(engine, ticks))
    assert got == [
        (CE[1], "SELL", "SHORT"),
        (PE[1], "SELL", "SHORT"),
        (CE[1], "BUY", "EXIT"),
        (PE[1], "BUY", "EXIT"),
    ]
    out = [o for o in run(straddle_engine(), ticks) if type(o).__name__ == "OrderIntent"]
    entry_ce, _, stop_ce, time_pe = out
    assert entry_ce.stop_loss == pytest.approx(130.0)
    assert "09:20" in entry_ce.reason and entry_ce.signal_ts == at(DAY, 9, 20)  # the bar that closes at 09:20
    assert "stop 130.00 hit" in stop_ce.reason and stop_ce.reduce_only
    assert "time exit 15:10" in time_pe.reason


def test_straddle_enters_nothing_before_its_time_or_for_other_underlyings() -> None:
    ticks = [tick(leg, 9, m, 5, 100.0) for m in range(15, 20) for leg in (CE, PE)]
    assert intents_of(run(straddle_engine(), ticks)) == []
    late = [tick(leg, 9, m, 5, 100.0) for m in range(15, 30) for leg in (CE, PE)]
    assert intents_of(run(straddle_engine(underlyings="BANKNIFTY"), late)) == []
    assert len(intents_of(run(straddle_engine(underlyings="nifty, banknifty"), late))) == 2


def test_straddle_rejects_a_bad_stop() -> None:
    with pytest.raises(ConfigError, match="stop_loss_pct"):
        straddle_engine(stop_loss_pct=0.0)


def test_watched_tokens_build_bars_but_only_entry_tokens_are_entered() -> None:
    engine = straddle_engine()
    symbols = {CE[0]: ("NIFTY", CE[1], "NFO"), PE[0]: ("NIFTY", PE[1], "NFO")}
    engine.update_symbols(symbols, entry_tokens={CE[0]})
    ticks = [tick(leg, 9, m, 5, 100.0) for m in range(15, 30) for leg in (CE, PE)]
    got = intents_of(run(engine, ticks))
    assert got == [(CE[1], "SELL", "SHORT")]
    assert engine.counters()["bars"] > 20  # the PE's bars were built all the same
