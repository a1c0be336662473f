"""Black-76 prices, Greeks and implied vols against vollib (an independent implementation), parity,
the solver's errors, vector = scalar, and the simulator's premiums round-tripping through the solver."""

from __future__ import annotations

import itertools
import math
from datetime import date

import numpy as np
import pytest
from vollib.black import black as vl_black
from vollib.black.greeks.analytical import delta as vl_delta
from vollib.black.greeks.analytical import gamma as vl_gamma
from vollib.black.greeks.analytical import theta as vl_theta
from vollib.black.greeks.analytical import vega as vl_vega
from vollib.black.implied_volatility import implied_volatility as vl_iv

from shared.options import pricing
from shared.options.pricing import (
    AboveMaximumError,
    BelowIntrinsicError,
    ExpiredOptionError,
    ImpliedVolError,
    chain_greeks,
    greeks,
    implied_vol,
    implied_vols,
)
from shared.sim.market import SimMarket

FORWARDS = (100.0, 26_000.0)
MONEYNESS = (0.8, 0.9, 0.95, 0.99, 1.0, 1.01, 1.05, 1.1, 1.2)
VOLS = (0.05, 0.15, 0.4, 1.0)
EXPIRIES = (1 / (365 * 24), 1 / 365, 7 / 365, 30 / 365, 1.0)  # an hour, a day, a week, a month, a year
RATES = (0.0, 0.06)
GRID = list(itertools.product(FORWARDS, MONEYNESS, VOLS, EXPIRIES, RATES, (True, False)))


@pytest.mark.parametrize("forward", FORWARDS)
def test_prices_and_greeks_match_vollib_across_the_grid(forward: float) -> None:
    checked = 0
    for f, m, vol, t, r, is_call in GRID:
        if f != forward:
            continue
        k = f * m
        flag = "c" if is_call else "p"
        g = greeks(f, k, t, vol, r, is_call)
        where = f"{flag} F={f} K={k} vol={vol} t={t} r={r}"
        assert g.price == pytest.approx(vl_black(flag, f, k, t, r, vol), rel=1e-9, abs=1e-9 * f), where
        assert g.delta == pytest.approx(vl_delta(flag, f, k, t, r, vol), rel=1e-9, abs=1e-12), where
        assert g.gamma == pytest.approx(vl_gamma(flag, f, k, t, r, vol), rel=1e-9, abs=1e-14), where
        assert g.theta == pytest.approx(vl_theta(flag, f, k, t, r, vol), rel=1e-9, abs=1e-12), where
        assert g.vega == pytest.approx(vl_vega(flag, f, k, t, r, vol), rel=1e-9, abs=1e-12), where
        checked += 1
    assert checked == len(GRID) // len(FORWARDS)


def test_implied_vol_recovers_the_vol_and_agrees_with_vollib() -> None:
    inverted = 0
    for f, m, vol, t, r, is_call in GRID:
        k = f * m
        price = pricing.black76(f, k, t, vol, r, is_call)
        intrinsic = math.exp(-r * t) * max(f - k if is_call else k - f, 0.0)
        g = greeks(f, k, t, vol, r, is_call)
        # a time value the premium can express: its vega must move it by more than rounding noise
        if price - intrinsic < 1e-7 * f or g.vega < 1e-9 * f:
            continue
        iv = implied_vol(price, f, k, t, r, is_call)
        assert pricing.black76(f, k, t, iv, r, is_call) == pytest.approx(price, abs=1e-8 * f)
        assert iv == pytest.approx(vol, rel=1e-6, abs=1e-6)
        assert iv == pytest.approx(vl_iv(price, f, k, r, t, "c" if is_call else "p"), rel=1e-6, abs=1e-6)
        inverted += 1
    assert inverted > len(GRID) // 2


def test_put_call_parity_across_the_grid() -> None:
    for f, m, vol, t, r, _ in GRID:
        k = f * m
        c, p = pricing.call_price(f, k, t, vol, r), pricing.put_price(f, k, t, vol, r)
        assert c - p == pytest.approx(math.exp(-r * t) * (f - k), abs=1e-9 * f)
        gc, gp = greeks(f, k, t, vol, r, True), greeks(f, k, t, vol, r, False)
        assert gc.delta - gp.delta == pytest.approx(math.exp(-r * t), abs=1e-12)
        assert gc.gamma == pytest.approx(gp.gamma, rel=1e-12, abs=1e-15)
        assert gc.vega == pytest.approx(gp.vega, rel=1e-12, abs=1e-15)


def test_the_chain_path_equals_the_scalar_path() -> None:
    f, t, r = 26_000.0, 6 / 365, 0.06
    strikes = np.arange(21_000.0, 31_000.0, 50.0)  # 200 strikes
    vols = pricing.smile_vol(strikes, f, t, 0.13)
    for is_call in (True, False):
        chain = chain_greeks(f, strikes, t, vols, r, is_call)
        for i, (k, v) in enumerate(zip(strikes, vols, strict=True)):
            g = greeks(f, float(k), t, float(v), r, is_call)
            for name in ("price", "delta", "gamma", "theta", "vega"):
                assert getattr(chain, name)[i] == pytest.approx(getattr(g, name), rel=1e-10, abs=1e-12), (name, k)
        ivs = implied_vols(chain.price, f, strikes, t, r, is_call)
        for p, k, v, iv in zip(chain.price, strikes, vols, ivs, strict=True):
            try:
                one = implied_vol(float(p), f, float(k), t, r, is_call)
            except ImpliedVolError:  # far wings: a premium with no time value left in doubles
                assert math.isnan(iv), k
                continue
            assert iv == pytest.approx(one, rel=1e-8, abs=1e-10), k
            # recovered to what a premium in doubles can say: ~1e-12 F of price error over vega
            vega_per_unit = greeks(f, float(k), t, float(v), r, is_call).vega * 100
            assert abs(iv - v) <= 1e-11 * f / vega_per_unit + 1e-8, k
        near = np.abs(strikes / f - 1.0) < 0.05
        assert not np.isnan(ivs[near]).any()


def test_the_solver_says_why_it_cannot_invert() -> None:
    with pytest.raises(ExpiredOptionError, match="no time to expiry"):
        implied_vol(10.0, 100.0, 100.0, 0.0, 0.0, True)
    with pytest.raises(BelowIntrinsicError, match="not above intrinsic"):
        implied_vol(9.0, 110.0, 100.0, 0.1, 0.0, True)  # intrinsic 10
    with pytest.raises(BelowIntrinsicError):
        implied_vol(10.0, 110.0, 100.0, 0.1, 0.0, True)  # exactly intrinsic: no time value
    with pytest.raises(AboveMaximumError, match="maximum"):
        implied_vol(101.0, 100.0, 100.0, 0.1, 0.0, True)  # a call is worth less than the forward
    with pytest.raises(ImpliedVolError, match="positive"):
        implied_vol(5.0, -1.0, 100.0, 0.1, 0.0, False)
    arr = implied_vols([9.0, 10.0, 1.0], [110.0, 100.0, 100.0], 100.0, [0.1, 0.0, 0.1], 0.0, True)
    assert math.isnan(arr[0]) and math.isnan(arr[1]) and arr[2] > 0


def test_theta_is_a_day_of_decay_and_vega_a_vol_point() -> None:
    f, k, t, vol, r = 26_000.0, 26_000.0, 5 / 365, 0.13, 0.0
    g = greeks(f, k, t, vol, r, True)
    an_hour_later = pricing.call_price(f, k, t - 1 / (365 * 24), vol, r)  # theta is a rate: per day
    assert (an_hour_later - g.price) * 24 == pytest.approx(g.theta, rel=0.01)
    up_a_point = pricing.call_price(f, k, t, vol + 0.01, r)
    assert up_a_point - g.price == pytest.approx(g.vega, rel=0.01)


def test_simulated_premiums_round_trip_through_the_solver() -> None:
    day = date(2026, 11, 25)
    market = SimMarket(11, day, step_ms=1000)
    for _ in range(600):  # ten minutes into the session
        market.step()
    checked = 0
    for name in market.underlyings:
        expiry = market.master.nearest_expiry(name, day)
        forward = market.forward(name, expiry)
        t = pricing.year_fraction(market.now_ns, expiry)
        for inst in market.master.option_chain(name, expiry):
            premium = market.model_price(inst.instrument_token)
            is_call = inst.instrument_type == "CE"
            try:
                iv = implied_vol(premium, forward, inst.strike, t, market.rate, is_call)
            except BelowIntrinsicError:
                continue  # a deep in-the-money premium rounded onto the tick grid at intrinsic
            assert pricing.black76(forward, inst.strike, t, iv, market.rate, is_call) == pytest.approx(
                premium, abs=1e-7
            )
            board = market._board
            slot = board.slot_of[inst.instrument_token]
            smile = float(pricing.smile_vol(inst.strike, forward, t, board.iv[slot]))
            vega_point = greeks(forward, inst.strike, t, smile, market.rate, is_call).vega
            if vega_point > 0.5:  # half a tick of rounding moves IV by < 0.05 vol points
                assert abs(iv - smile) * 100 <= 0.5 * float(board.tick[slot]) / vega_point + 1e-6, inst.tradingsymbol
                checked += 1
    assert checked > 50


def test_a_warm_start_gives_the_same_vols() -> None:
    f, t, r = 26_000.0, 6 / 365, 0.06
    strikes = np.arange(24_000.0, 28_000.0, 100.0)
    vols = pricing.smile_vol(strikes, f, t, 0.13)
    prices = pricing.black76_prices(f, strikes, t, vols, r, False)
    cold = implied_vols(prices, f, strikes, t, r, False)
    warm = implied_vols(prices, f, strikes, t, r, False, initial=np.where(strikes > 26_000, np.nan, vols * 1.1))
    np.testing.assert_allclose(warm, cold, rtol=1e-9, equal_nan=True)
    k, v = float(strikes[5]), float(vols[5])
    assert implied_vol(float(prices[5]), f, k, t, r, False, initial=0.5) == pytest.approx(v, rel=1e-9)
