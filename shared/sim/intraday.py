"""Intraday shapes of an NSE session: U-shaped volatility and U-shaped activity.

Both are functions of the session fraction f in [0, 1] (09:15 -> 0, 15:30 -> 1): busy
and volatile after the open, quiet around midday, busy again into the close (a little
less than the open). They are sampled once per step, so a step costs a table lookup.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from shared.clock import NS

SESSION_NS: Final = (6 * 3600 + 15 * 60) * NS  # 09:15 -> 15:30


def volatility_shape(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Relative volatility: about 2.2x the midday level at the open, 1.7x at the close."""
    return np.asarray(1.0 + 1.2 * np.exp(-f / 0.06) + 0.7 * np.exp(-(1.0 - f) / 0.05), dtype=np.float64)


def activity_shape(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Relative tick rate: 1 at midday, about 3.9x at the open and 3x at the close."""
    return np.asarray(1.0 + 2.9 * np.exp(-f / 0.07) + 2.0 * np.exp(-(1.0 - f) / 0.06), dtype=np.float64)


def step_scales(step_ns: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-step (return s.d. as a fraction of the daily s.d., activity multiplier).

    The s.d. scales are normalised so the variances over a whole session sum to one
    day's variance: a daily vol in ``equities.csv`` is the vol a session produces.
    """
    n = math.ceil(SESSION_NS / step_ns)
    starts = np.arange(n, dtype=np.float64) * step_ns
    widths = np.minimum(step_ns, SESSION_NS - starts)  # the last step may be shorter
    f = (starts + widths / 2) / SESSION_NS
    shape = volatility_shape(f)
    var = shape**2 * widths / SESSION_NS
    sd = np.sqrt(var / var.sum())
    return sd, activity_shape(f)
