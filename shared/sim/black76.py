"""The simulator's option prices: ``shared.options.pricing`` (one Black-76 for the whole system).

Kept as a module so the simulator's imports read as before; the smile lives in the pricing
module too, so a premium the simulator publishes round-trips through its IV solver.
"""

from shared.options.pricing import (
    DEFAULT_CURVATURE,
    DEFAULT_SKEW,
    YEAR_NS,
    black76,
    black76_prices,
    call_price,
    norm_cdf,
    norm_cdf_array,
    put_price,
    smile_vol,
    year_fraction,
)

__all__ = [
    "DEFAULT_CURVATURE",
    "DEFAULT_SKEW",
    "YEAR_NS",
    "black76",
    "black76_prices",
    "call_price",
    "norm_cdf",
    "norm_cdf_array",
    "put_price",
    "smile_vol",
    "year_fraction",
]
