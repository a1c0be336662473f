"""Portfolio Greeks and the SPAN-like option margin of shared.risk.greeks (pure, on the simulated chain)."""

from __future__ import annotations

from datetime import date

import pytest

from shared.config import GreeksRiskConfig
from shared.instruments import Instrument
from shared.options import pricing
from shared.options.chain import option_forward, select_options
from shared.risk.greeks import OptionBook, limit_quantity
from shared.sim.market import SimMarket

DAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def market() -> SimMarket:
    m = SimMarket(21, DAY, step_ms=1000)
    for _ in range(900):
        m.step()
    return m


@pytest.fixture(scope="module")
def book(market: SimMarket) -> OptionBook:
    return OptionBook(
        market.master,
        market.rate,
        lambda symbol: market.model_price(market.master.by_symbol("NFO", symbol).instrument_token),
    )


def atm_pair(market: SimMarket) -> tuple[Instrument, Instrument]:
    fut = market.master.future("NIFTY", DAY)
    sel = select_options(
        market.master,
        "NIFTY",
        market.future_price(fut.instrument_token),
        market.now_ns,
        each_side=2,
        roll_cutoff_s=13 * 3600,
    )
    return sel.call, sel.put


def test_limit_quantity_cuts_to_whole_lots_and_never_cuts_a_reducing_trade() -> None:
    assert limit_quantity(0.0, 0.5, 100.0, 130, 65) == 130  # +65: inside
    assert limit_quantity(60.0, 0.5, 100.0, 130, 65) == 65  # 60 + 65 > 100; 60 + 32.5 fits
    assert limit_quantity(90.0, 0.5, 100.0, 65, 65) == 0  # not even one lot
    assert limit_quantity(150.0, -0.5, 100.0, 130, 65) == 130  # brings |delta| down: never cut
    assert limit_quantity(-90.0, -1.0, 100.0, 65, 65) == 0  # short side
    assert limit_quantity(0.0, 0.0, 1.0, 65, 65) == 65  # no exposure to this Greek


def test_line_and_net_greeks_price_from_the_future_and_the_premium(market: SimMarket, book: OptionBook) -> None:
    call, put = atm_pair(market)
    fut = market.master.future("NIFTY", DAY)
    assert call.expiry is not None and fut.expiry is not None
    forward = option_forward(
        market.future_price(fut.instrument_token), fut.expiry, call.expiry, market.now_ns, market.rate
    )
    t = pricing.year_fraction(market.now_ns, call.expiry)
    premium = market.model_price(call.instrument_token)
    iv = pricing.implied_vol(premium, forward, call.strike, t, market.rate, True)
    direct = pricing.greeks(forward, call.strike, t, iv, market.rate, True)
    line = book.line(call, -65, market.now_ns)
    assert line is not None
    assert line.iv == pytest.approx(iv, rel=1e-9)
    assert line.delta == pytest.approx(-65 * direct.delta, rel=1e-9)
    assert line.vega == pytest.approx(-65 * direct.vega, rel=1e-9)
    assert line.theta == pytest.approx(-65 * direct.theta, rel=1e-9)

    net = book.net_greeks({call: -65, put: -65, fut: 0}, market.now_ns)["NIFTY"]
    assert abs(net.delta) < 0.25 * 65  # a short ATM straddle is close to delta-neutral ...
    assert net.vega < 0 and net.gamma < 0 and net.theta > 0  # ... short vol, earning time decay
    hedged = book.net_greeks({call: -65, fut: 65}, market.now_ns)["NIFTY"]
    assert hedged.delta == pytest.approx(65 + line.delta)  # a future counts delta 1 per unit


def test_scenario_margin_covers_the_worst_move_and_credits_offsets(market: SimMarket, book: OptionBook) -> None:
    cfg = GreeksRiskConfig(price_scan_pct=0.06, vol_scan=0.04, short_option_exposure_pct=0.02)
    call, put = atm_pair(market)
    now = market.now_ns
    short_call = book.scenario_margin({call: -65}, now, cfg)
    short_put = book.scenario_margin({put: -65}, now, cfg)
    straddle = book.scenario_margin({call: -65, put: -65}, now, cfg)
    # the short call loses at least its move-up loss at unchanged vol
    line = book.line(call, -65, now)
    assert line is not None and call.expiry is not None
    forward = book.forward(call, now)
    assert forward is not None
    t = pricing.year_fraction(now, call.expiry)
    up = pricing.call_price(forward * 1.06, call.strike, t, line.iv, market.rate)
    assert short_call >= 65 * (up - market.model_price(call.instrument_token))
    # the two legs never lose together: the straddle needs less than the legs apart
    assert max(short_call, short_put) < straddle < short_call + short_put
    assert book.scenario_margin({call: 65, put: 65}, now, cfg) == 0.0  # long premium is paid in full
    # a long wing caps the short leg's loss: a call spread needs less than the naked call
    wing = market.master.option("NIFTY", call.expiry, call.strike + 200, "CE")
    assert book.scenario_margin({call: -65, wing: 65}, now, cfg) < short_call
