"""Black-76: European options on a future, scalar and numpy-vectorised, plus a smile.

    call = e^{-rT} (F N(d1) - K N(d2)),   put = e^{-rT} (K N(-d2) - F N(-d1)),
    d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt T),   d2 = d1 - sigma sqrt T.

Time to expiry is in years of 365 days, counted to 15:30 IST of the expiry day (when NSE
index options expire). The normal CDF uses ``math.erfc`` (exact to double precision,
also in the tails), mapped over arrays by a numpy ufunc; scipy is not a dependency.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.clock import NS
from shared.sim.calendar import session_close_ns

YEAR_NS: Final = 365 * 24 * 3600 * NS
_SQRT2: Final = math.sqrt(2.0)
_ONE_DAY_YEARS: Final = 1.0 / 365.0

#: Smile shape (see ``smile_vol``): puts richer than calls, both wings lifted.
DEFAULT_SKEW: Final = -0.08
DEFAULT_CURVATURE: Final = 0.02

FloatArray = npt.NDArray[np.float64]
ArrayLike = float | FloatArray

_erfc_ufunc = np.frompyfunc(math.erfc, 1, 1)


def norm_cdf(x: float) -> float:
    """Standard normal CDF of a scalar."""
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_cdf_array(x: npt.ArrayLike) -> FloatArray:
    """Standard normal CDF, element-wise."""
    return 0.5 * np.asarray(_erfc_ufunc(-np.asarray(x, dtype=np.float64) / _SQRT2), dtype=np.float64)


def year_fraction(now_ns: int, expiry: date) -> float:
    """Years (of 365 days) from ``now_ns`` to 15:30 IST of ``expiry``; 0 once it has passed."""
    return max(0.0, (session_close_ns(expiry) - now_ns) / YEAR_NS)


# -- scalar ----------------------------------------------------------------------------------


def black76(forward: float, strike: float, t: float, vol: float, rate: float, is_call: bool) -> float:
    """The Black-76 price of one option. At or past expiry (t <= 0) or at zero vol: intrinsic."""
    df = math.exp(-rate * max(t, 0.0))
    if t <= 0.0 or vol <= 0.0:
        return df * max(forward - strike if is_call else strike - forward, 0.0)
    sd = vol * math.sqrt(t)
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        return df * (forward * norm_cdf(d1) - strike * norm_cdf(d2))
    return df * (strike * norm_cdf(-d2) - forward * norm_cdf(-d1))


def call_price(forward: float, strike: float, t: float, vol: float, rate: float) -> float:
    return black76(forward, strike, t, vol, rate, True)


def put_price(forward: float, strike: float, t: float, vol: float, rate: float) -> float:
    return black76(forward, strike, t, vol, rate, False)


# -- vectorised ------------------------------------------------------------------------------


def black76_prices(
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> FloatArray:
    """Black-76 prices; every argument broadcasts (e.g. one forward, an array of strikes)."""
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    tt = np.maximum(np.asarray(t, dtype=np.float64), 0.0)
    v = np.asarray(vol, dtype=np.float64)
    call = np.asarray(is_call, dtype=bool)
    df = np.exp(-np.asarray(rate, dtype=np.float64) * tt)
    live = (tt > 0.0) & (v > 0.0)
    sd = np.where(live, v * np.sqrt(tt), 1.0)  # 1.0: a harmless stand-in where not live
    d1 = (np.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    sign = np.where(call, 1.0, -1.0)
    # call: F N(d1) - K N(d2); put: K N(-d2) - F N(-d1) == -(F N(-d1) - K N(-d2))
    value = sign * (f * norm_cdf_array(sign * d1) - k * norm_cdf_array(sign * d2))
    intrinsic = np.maximum(sign * (f - k), 0.0)
    return np.asarray(df * np.where(live, value, intrinsic), dtype=np.float64)


# -- the smile -------------------------------------------------------------------------------


def smile_vol(
    strike: npt.ArrayLike,
    forward: npt.ArrayLike,
    t: npt.ArrayLike,
    atm_vol: npt.ArrayLike,
    skew: float = DEFAULT_SKEW,
    curvature: float = DEFAULT_CURVATURE,
) -> FloatArray:
    """Implied vol by strike: quadratic in standardised log-moneyness.

    ``x = ln(K/F) / (atm_vol sqrt(T))`` (how many standard deviations out of the money,
    with T floored at one day so the smile stays finite on expiry day), clipped to +/-4;
    ``vol = atm_vol (1 + skew x + curvature x^2)``. A negative skew makes low strikes
    (OTM puts) richer, as in NSE index options.
    """
    k = np.asarray(strike, dtype=np.float64)
    atm = np.asarray(atm_vol, dtype=np.float64)
    tt = np.maximum(np.asarray(t, dtype=np.float64), _ONE_DAY_YEARS)
    x = np.clip(np.log(k / np.asarray(forward, dtype=np.float64)) / (atm * np.sqrt(tt)), -4.0, 4.0)
    return np.asarray(atm * (1.0 + skew * x + curvature * x * x), dtype=np.float64)
