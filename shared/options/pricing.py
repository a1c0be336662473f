"""Black-76 on a future: prices, Greeks, implied vol; scalar and numpy-vectorised; the smile.

The one pricing module of the system: the simulator publishes premiums with it, the options
engine and the risk service read IV and Greeks back with it. Pure: no I/O, no clock.

    call = e^{-rT} (F N(d1) - K N(d2)),   put = e^{-rT} (K N(-d2) - F N(-d1)),
    d1 = (ln(F/K) + sigma^2 T / 2) / (sigma sqrt T),   d2 = d1 - sigma sqrt T.

Time to expiry is in years of 365 days, counted to 15:30 IST of the expiry day (when NSE
index options expire). The normal CDF uses ``math.erfc`` (exact to double precision,
also in the tails), mapped over arrays by a numpy ufunc; scipy is not a dependency.

Greeks follow the conventions traders quote (and ``vollib``): delta and gamma per unit of
the future, theta in premium per calendar day, vega in premium per 1 vol point (0.01).
The implied-vol solver is a Newton iteration kept inside a bracket that bisection shrinks
whenever a Newton step would leave it, so it converges for every price with a positive time
value; prices it cannot invert raise an ``ImpliedVolError`` subclass that says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.clock import NS
from shared.errors import KiteAlgoError
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


# -- Greeks ----------------------------------------------------------------------------------

_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)
_DAYS_PER_YEAR: Final = 365.0
_VOL_POINT: Final = 0.01


@dataclass(frozen=True, slots=True)
class Greeks:
    """One option's sensitivities: delta/gamma per unit of the future, theta per day, vega per vol point."""

    price: float
    delta: float
    gamma: float
    theta: float
    vega: float


def greeks(forward: float, strike: float, t: float, vol: float, rate: float, is_call: bool) -> Greeks:
    """Price and Greeks of one option. At or past expiry (or at zero vol) only delta is left: 0 or +/-1."""
    price = black76(forward, strike, t, vol, rate, is_call)
    df = math.exp(-rate * max(t, 0.0))
    if t <= 0.0 or vol <= 0.0:
        itm = forward > strike if is_call else forward < strike
        return Greeks(price, (df if is_call else -df) if itm else 0.0, 0.0, 0.0, 0.0)
    sqrt_t = math.sqrt(t)
    sd = vol * sqrt_t
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    pdf = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    delta = df * norm_cdf(d1) if is_call else -df * norm_cdf(-d1)
    gamma = df * pdf / (forward * sd)
    vega = forward * df * pdf * sqrt_t
    # theta = -dV/dT = r V - F e^{-rT} n(d1) sigma / (2 sqrt T), per year; quoted per day
    theta = rate * price - forward * df * pdf * vol / (2.0 * sqrt_t)
    return Greeks(price, delta, gamma, theta / _DAYS_PER_YEAR, vega * _VOL_POINT)


@dataclass(frozen=True, slots=True)
class ChainGreeks:
    """Prices and Greeks of a chain, one array entry per option (conventions of ``Greeks``)."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray


def chain_greeks(
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    vol: npt.ArrayLike,
    rate: npt.ArrayLike,
    is_call: npt.ArrayLike,
) -> ChainGreeks:
    """``greeks`` over arrays (every argument broadcasts): a whole chain in one call."""
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    tt = np.maximum(np.asarray(t, dtype=np.float64), 0.0)
    v = np.asarray(vol, dtype=np.float64)
    r = np.asarray(rate, dtype=np.float64)
    call = np.asarray(is_call, dtype=bool)
    df = np.exp(-r * tt)
    live = (tt > 0.0) & (v > 0.0)
    sqrt_t = np.sqrt(np.where(live, tt, 1.0))
    sd = np.where(live, v * sqrt_t, 1.0)
    d1 = (np.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    sign = np.where(call, 1.0, -1.0)
    n_d1 = norm_cdf_array(sign * d1)  # N(d1) for calls, N(-d1) for puts
    value = sign * (f * n_d1 - k * norm_cdf_array(sign * d2))
    intrinsic = np.maximum(sign * (f - k), 0.0)
    price = df * np.where(live, value, intrinsic)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    delta = np.where(live, sign * df * n_d1, np.where(intrinsic > 0.0, sign * df, 0.0))
    gamma = np.where(live, df * pdf / (f * sd), 0.0)
    vega = np.where(live, f * df * pdf * sqrt_t, 0.0)
    theta = np.where(live, r * price - f * df * pdf * v / (2.0 * sqrt_t), 0.0)
    return ChainGreeks(
        np.asarray(price, dtype=np.float64),
        np.asarray(delta, dtype=np.float64),
        np.asarray(gamma, dtype=np.float64),
        np.asarray(theta / _DAYS_PER_YEAR, dtype=np.float64),
        np.asarray(vega * _VOL_POINT, dtype=np.float64),
    )


# -- implied volatility ------------------------------------------------------------------------

IV_MIN: Final = 1e-4  # 0.01% a year: below this a premium has no measurable time value
IV_MAX: Final = 10.0  # 1000% a year
IV_PRICE_TOL: Final = 1e-9  # rupees of (undiscounted) premium
IV_MAX_ITER: Final = 100
IV_CONVERGED: Final = 1e-14  # |price error| / max(F, K) at which the solver stops
IV_STEP_TOL: Final = 1e-13  # ... or when a step moves the vol by less than this


class ImpliedVolError(KiteAlgoError, ValueError):
    """A premium that has no Black-76 implied volatility; the subclass says why."""


class ExpiredOptionError(ImpliedVolError):
    """Zero (or negative) time to expiry: every vol gives the same price."""


class BelowIntrinsicError(ImpliedVolError):
    """The premium is at or below intrinsic value: no time value to invert."""


class AboveMaximumError(ImpliedVolError):
    """The premium is at or above what any vol gives (the forward for a call, the strike for a put)."""


def _undiscounted(forward: float, strike: float, vol: float, sqrt_t: float, is_call: bool) -> tuple[float, float]:
    """(undiscounted price, d price / d vol) at ``vol``."""
    sd = vol * sqrt_t
    d1 = (math.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if is_call:
        value = forward * norm_cdf(d1) - strike * norm_cdf(d2)
    else:
        value = strike * norm_cdf(-d2) - forward * norm_cdf(-d1)
    return value, forward * _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1) * sqrt_t


def _initial_vol(forward: float, strike: float, t: float, otm_value: float) -> float:
    """Where Newton starts: the vol of maximum vega, sqrt(2 |ln F/K| / T) (Manaster-Koehler),
    from which Newton on an out-of-the-money price converges monotonically; near the money,
    the Brenner-Subrahmanyam estimate."""
    mk = math.sqrt(2.0 * abs(math.log(forward / strike)) / t)
    bs = math.sqrt(2.0 * math.pi / t) * otm_value / forward
    return max(mk, bs)


def _checked_target(
    what: str, price: float, forward: float, strike: float, t: float, rate: float, is_call: bool
) -> tuple[float, float]:
    """(undiscounted premium, intrinsic value); the ``ImpliedVolError`` that says why there is no IV."""
    if not (forward > 0.0 and strike > 0.0 and math.isfinite(price)):
        raise ImpliedVolError(f"{what}: forward, strike and premium must be positive numbers")
    if t <= 0.0:
        raise ExpiredOptionError(f"{what}: no time to expiry (t={t:g} years): implied vol is undefined")
    target = price * math.exp(rate * t)
    intrinsic = max(forward - strike if is_call else strike - forward, 0.0)
    if target - intrinsic <= IV_PRICE_TOL:
        raise BelowIntrinsicError(
            f"{what}: premium {target:.4f} (undiscounted) is not above intrinsic {intrinsic:.4f}: no time value"
        )
    ceiling = forward if is_call else strike
    if target >= ceiling:
        raise AboveMaximumError(f"{what}: premium {target:.4f} (undiscounted) is at or above its maximum {ceiling:g}")
    return target, intrinsic


def implied_vol(
    price: float, forward: float, strike: float, t: float, rate: float, is_call: bool, initial: float | None = None
) -> float:
    """The vol at which ``black76`` gives ``price``; an ``ImpliedVolError`` when there is none.

    An in-the-money premium is first turned into its out-of-the-money twin by put-call
    parity. Newton steps from ``_initial_vol``, inside a bracket [lo, hi] that each
    evaluation narrows (the price rises with vol); a step that leaves the bracket (or a flat
    vega deep out of the money) is replaced by bisection, so it always converges.
    ``initial`` (e.g. the IV of the previous tick) is a better start: fewer steps, same answer.
    """
    what = f"{'call' if is_call else 'put'} K={strike:g} F={forward:g} premium={price:g}"
    target, intrinsic = _checked_target(what, price, forward, strike, t, rate, is_call)
    sqrt_t = math.sqrt(t)
    if intrinsic > 0.0:
        # In the money: solve for the out-of-the-money twin (put-call parity, same vol), whose
        # premium is the time value alone and is far better conditioned.
        target -= intrinsic
        is_call = not is_call
    lo, hi = IV_MIN, IV_MAX
    value_lo = _undiscounted(forward, strike, lo, sqrt_t, is_call)[0]
    if target <= value_lo:
        return lo  # a time value too small to tell from IV_MIN
    if target >= _undiscounted(forward, strike, hi, sqrt_t, is_call)[0]:
        raise AboveMaximumError(f"{what}: premium {target:.4f} needs a vol above {IV_MAX:g}")
    start = initial if initial is not None and initial > 0.0 else _initial_vol(forward, strike, t, target)
    vol = min(max(start, lo * 2), hi / 2)
    exact = IV_CONVERGED * max(forward, strike)
    for _ in range(IV_MAX_ITER):
        value, vega = _undiscounted(forward, strike, vol, sqrt_t, is_call)
        diff = value - target
        if abs(diff) <= exact:
            return vol
        if diff > 0.0:
            hi = vol
        else:
            lo = vol
        # Newton on log(price): far out of the money the price is exponential in vol, its log is not
        step = vol - math.log(value / target) * value / vega if vega > 0.0 and value > 0.0 else -1.0
        if lo < step < hi:
            if abs(step - vol) <= IV_STEP_TOL:
                return step
            vol = step
        else:
            vol = 0.5 * (lo + hi)
        if hi - lo <= IV_STEP_TOL:
            return vol
    return vol


def implied_vols(
    price: npt.ArrayLike,
    forward: npt.ArrayLike,
    strike: npt.ArrayLike,
    t: npt.ArrayLike,
    rate: npt.ArrayLike,
    is_call: npt.ArrayLike,
    initial: npt.ArrayLike | None = None,
) -> FloatArray:
    """``implied_vol`` over arrays; NaN where a premium has no implied vol (no exception per option).

    The same safeguarded Newton iteration, run on the whole chain at once until every
    option has converged (or ``IV_MAX_ITER`` rounds).
    """
    p, f, k, tt, r, call = np.broadcast_arrays(
        np.asarray(price, dtype=np.float64),
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
        np.asarray(rate, dtype=np.float64),
        np.asarray(is_call, dtype=bool),
    )
    sign = np.where(call, 1.0, -1.0)
    live_t = np.where(tt > 0.0, tt, 1.0)
    sqrt_t = np.sqrt(live_t)
    target = p * np.exp(r * live_t)
    intrinsic = np.maximum(sign * (f - k), 0.0)
    ceiling = np.where(call, f, k)
    ok = (tt > 0.0) & (f > 0.0) & (k > 0.0) & (target - intrinsic > IV_PRICE_TOL) & (target < ceiling)

    # in the money: the out-of-the-money twin by put-call parity (see implied_vol)
    itm = intrinsic > 0.0
    sign = np.where(itm, -sign, sign)
    target = target - intrinsic
    safe_f, safe_k = np.where(f > 0.0, f, 1.0), np.where(k > 0.0, k, 1.0)
    guess = np.maximum(
        np.sqrt(2.0 * np.abs(np.log(safe_f / safe_k)) / live_t), np.sqrt(2.0 * np.pi / live_t) * target / safe_f
    )
    out = np.full(p.shape, np.nan)
    # Only the options still iterating are computed: most converge in a few Newton steps.
    idx = np.flatnonzero(ok)
    f_, k_, sg, st, tg = f[idx], k[idx], sign[idx], sqrt_t[idx], target[idx]
    exact = IV_CONVERGED * np.maximum(f_, k_)

    def undiscounted(vol: FloatArray) -> tuple[FloatArray, FloatArray]:
        sd = vol * st
        d1 = (np.log(f_ / k_) + 0.5 * sd * sd) / sd
        value = sg * (f_ * norm_cdf_array(sg * d1) - k_ * norm_cdf_array(sg * (d1 - sd)))
        return value, f_ * _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1) * st

    with np.errstate(all="ignore"):
        lo = np.full(idx.shape, IV_MIN)
        hi = np.full(idx.shape, IV_MAX)
        floor = tg <= undiscounted(lo)[0]  # a time value too small to tell from IV_MIN (as implied_vol)
        out[idx[floor]] = IV_MIN
        keep = ~floor & (tg < undiscounted(hi)[0])  # beyond IV_MAX: no IV (NaN)
        if initial is not None:  # a warm start (the last tick's IVs); NaN or 0 falls back to the guess
            warm = np.broadcast_to(np.asarray(initial, dtype=np.float64), p.shape)
            guess = np.where(np.isfinite(warm) & (warm > 0.0), warm, guess)
        vol = np.clip(guess[idx], 2 * IV_MIN, IV_MAX / 2)
        for _ in range(IV_MAX_ITER):
            idx, f_, k_, sg, st, tg, exact, lo, hi, vol = (
                a[keep] for a in (idx, f_, k_, sg, st, tg, exact, lo, hi, vol)
            )
            if not idx.size:
                break
            value, vega = undiscounted(vol)
            diff = value - tg
            done = (np.abs(diff) <= exact) | (hi - lo <= IV_STEP_TOL)
            out[idx[done]] = vol[done]
            hi = np.where(diff > 0.0, vol, hi)
            lo = np.where(diff <= 0.0, vol, lo)
            good = (vega > 0.0) & (value > 0.0)
            safe_value = np.where(good, value, 1.0)
            step = np.where(good, vol - np.log(safe_value / tg) * safe_value / np.where(good, vega, 1.0), -1.0)
            newton = (step > lo) & (step < hi)
            small = ~done & newton & (np.abs(step - vol) <= IV_STEP_TOL)
            out[idx[small]] = step[small]
            vol = np.where(newton, step, 0.5 * (lo + hi))
            keep = ~(done | small)
        else:
            out[idx[keep]] = vol[keep]
    return out
