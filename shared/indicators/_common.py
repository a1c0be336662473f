"""Checks and conversions shared by the indicators."""

from __future__ import annotations

import numpy as np

NAN = float("nan")


def check_period(name: str, period: int) -> int:
    """``period`` as an int >= 1, or a ValueError naming the indicator."""
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
        raise ValueError(f"{name}: period must be an integer >= 1, got {period!r}")
    return int(period)


def as_floats(name: str, *arrays: np.ndarray) -> list[list[float]]:
    """1-D inputs of equal length as Python float lists (fast to loop over)."""
    lists: list[list[float]] = []
    for array in arrays:
        values = np.asarray(array, dtype=np.float64)
        if values.ndim != 1:
            raise ValueError(f"{name}: expected 1-D arrays, got shape {values.shape}")
        lists.append(values.tolist())
    if len({len(values) for values in lists}) > 1:
        raise ValueError(f"{name}: inputs differ in length: {[len(values) for values in lists]}")
    return lists
