"""Option chain benchmarks: Greeks (and IV from premiums) of a 200-strike chain, per tick.

    python -m bench.options [--runs 5] [--reps 200]

The chain is 200 strikes x CE and PE (400 options) around a NIFTY-like forward with the
simulator's smile, 6 days to expiry. Measured, in microseconds per chain:

1. ``chain_greeks``: price, delta, gamma, theta, vega of the chain (numpy, one call);
2. ``implied_vols`` + ``chain_greeks``: what a tick of live premiums costs (IV first, then Greeks),
   cold (no previous IVs) and warm (the next tick, starting from the last tick's IVs);
3. references in the same run: the same chain through the scalar ``greeks`` / ``implied_vol``
   in a Python loop.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from bench.common import median_of, save
from shared.options import pricing

FORWARD, T, RATE, ATM_VOL, STEP = 26_000.0, 6 / 365, 0.06, 0.13, 50.0


def chain() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    strikes = FORWARD + STEP * (np.arange(200) - 100)
    k = np.concatenate([strikes, strikes])
    is_call = np.concatenate([np.ones(200, bool), np.zeros(200, bool)])
    vol = pricing.smile_vol(k, FORWARD, T, ATM_VOL)
    prices = np.round(pricing.black76_prices(FORWARD, k, T, vol, RATE, is_call) / 0.05) * 0.05
    return k, is_call, vol, np.maximum(prices, 0.05)


def per_call_us(fn: Callable[[], object], reps: int) -> float:
    """Median microseconds of one call over ``reps`` timed calls."""
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    k, is_call, vol, prices = chain()
    calls = [bool(c) for c in is_call]

    def greeks_vec() -> object:
        return pricing.chain_greeks(FORWARD, k, T, vol, RATE, is_call)

    def iv_and_greeks_vec() -> object:
        iv = pricing.implied_vols(prices, FORWARD, k, T, RATE, is_call)
        return pricing.chain_greeks(FORWARD, k, T, np.nan_to_num(iv), RATE, is_call)

    # the next tick: the forward moved 5 points, premiums re-priced; IVs start from the last tick's
    moved = np.maximum(np.round(pricing.black76_prices(FORWARD + 5, k, T, vol, RATE, is_call) / 0.05) * 0.05, 0.05)
    last_iv = pricing.implied_vols(prices, FORWARD, k, T, RATE, is_call)

    def iv_warm_and_greeks_vec() -> object:
        iv = pricing.implied_vols(moved, FORWARD + 5, k, T, RATE, is_call, initial=last_iv)
        return pricing.chain_greeks(FORWARD + 5, k, T, np.nan_to_num(iv), RATE, is_call)

    def greeks_scalar() -> object:
        return [pricing.greeks(FORWARD, float(s), T, float(v), RATE, c) for s, v, c in zip(k, vol, calls, strict=True)]

    def iv_and_greeks_scalar() -> object:
        out = []
        for p, s, c in zip(prices, k, calls, strict=True):
            try:
                v = pricing.implied_vol(float(p), FORWARD, float(s), T, RATE, c)
            except pricing.ImpliedVolError:
                v = 0.0
            out.append(pricing.greeks(FORWARD, float(s), T, v, RATE, c))
        return out

    cases = {
        "greeks_vectorised": (greeks_vec, args.reps),
        "iv_and_greeks_vectorised": (iv_and_greeks_vec, args.reps),
        "iv_warm_and_greeks_vectorised": (iv_warm_and_greeks_vec, args.reps),
        "greeks_scalar_loop": (greeks_scalar, max(10, args.reps // 10)),
        "iv_and_greeks_scalar_loop": (iv_and_greeks_scalar, max(10, args.reps // 10)),
    }
    results: dict[str, dict[str, object]] = {}
    for name, (fn, reps) in cases.items():
        med, runs = median_of(args.runs, lambda fn=fn, reps=reps: per_call_us(fn, reps))
        results[name] = {"median_us_per_chain": med, "runs": runs}
        print(f"{name:28s} {med:10.1f} us per 400-option chain  (runs: {', '.join(f'{r:.0f}' for r in runs)})")
    g, gs = results["greeks_vectorised"]["median_us_per_chain"], results["greeks_scalar_loop"]["median_us_per_chain"]
    ig = results["iv_and_greeks_vectorised"]["median_us_per_chain"]
    igs = results["iv_and_greeks_scalar_loop"]["median_us_per_chain"]
    print(f"vectorised vs scalar loop: Greeks {gs / g:.1f}x faster, IV + Greeks {igs / ig:.1f}x faster")  # type: ignore[operator]
    path = save("options", {"chain_options": 400, "strikes": 200, "results": results})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
