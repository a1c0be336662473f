"""Black-76 prices: put-call parity, known values, scalar = vector, the smile's shape."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from shared.sim import black76, calendar


def test_put_call_parity_holds_across_strikes() -> None:
    f, t, r = 26_000.0, 7 / 365, 0.065
    strikes = np.arange(24_000.0, 28_050.0, 50.0)
    vols = black76.smile_vol(strikes, f, t, 0.13)
    calls = black76.black76_prices(f, strikes, t, vols, r, True)
    puts = black76.black76_prices(f, strikes, t, vols, r, False)
    np.testing.assert_allclose(calls - puts, math.exp(-r * t) * (f - strikes), atol=1e-8)
    assert (calls >= 0).all() and (puts >= 0).all()


def test_known_values() -> None:
    # at the money, r = 0: F (2 N(sigma sqrt(T) / 2) - 1)
    assert black76.call_price(100.0, 100.0, 1.0, 0.2, 0.0) == pytest.approx(7.965567455405798, abs=1e-12)
    # Hull, futures option example: F = K = 20, r = 9%, T = 4 months, sigma = 25% -> put 1.12
    assert black76.put_price(20.0, 20.0, 4 / 12, 0.25, 0.09) == pytest.approx(1.1166414565589444, abs=1e-12)


def test_vectorised_matches_scalar() -> None:
    f, t, r = 58_500.0, 20 / 365, 0.06
    strikes = np.array([55_000.0, 58_500.0, 62_000.0])
    vols = np.array([0.18, 0.14, 0.13])
    for is_call in (True, False):
        vec = black76.black76_prices(f, strikes, t, vols, r, is_call)
        one = [black76.black76(f, k, t, v, r, is_call) for k, v in zip(strikes, vols, strict=True)]
        np.testing.assert_allclose(vec, one, rtol=1e-12)


def test_at_expiry_the_price_is_intrinsic() -> None:
    prices = black76.black76_prices(100.0, np.array([90.0, 110.0]), 0.0, 0.2, 0.05, np.array([True, False]))
    np.testing.assert_allclose(prices, [10.0, 10.0])
    assert black76.put_price(100.0, 90.0, 0.0, 0.2, 0.05) == 0.0


def test_smile_makes_puts_richer_and_is_atm_at_the_money() -> None:
    f, t, atm = 26_000.0, 7 / 365, 0.13
    low, at, high = black76.smile_vol(np.array([25_000.0, 26_000.0, 27_000.0]), f, t, atm)
    assert at == pytest.approx(atm)
    assert low > at and low > high


def test_year_fraction_counts_to_1530_ist_of_expiry() -> None:
    expiry = date(2026, 11, 23)
    open_ns = calendar.session_open_ns(expiry)
    assert black76.year_fraction(open_ns, expiry) == pytest.approx(6.25 / (365 * 24))
    assert black76.year_fraction(calendar.session_close_ns(expiry) + 1, expiry) == 0.0
