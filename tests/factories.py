"""Builders for messages used across tests."""

from __future__ import annotations

from shared.contracts import Tick, depth

T0 = 1_763_351_100_000_000_000  # 2025-11-17 09:15:00 IST


def make_tick(i: int = 0, *, token: int = 1001, symbol: str = "NIFTY25NOVFUT", exchange: str = "NFO") -> Tick:
    price = round(24_500 + (i % 40) * 0.05, 2)
    return Tick(
        ts_event=T0 + i * 250_000_000,
        instrument_token=token,
        exchange=exchange,
        symbol=symbol,
        last_price=price,
        last_quantity=65,
        volume=65 * (i + 1),
        oi=1_000_000,
        **depth(
            [(round(price - 0.05 * (k + 1), 2), 65 * (k + 1), k + 1) for k in range(5)],
            [(round(price + 0.05 * (k + 1), 2), 65 * (k + 1), k + 1) for k in range(5)],
        ),
    )
