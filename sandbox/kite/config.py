"""The sandbox's knobs: credentials, the simulated market, Kite's limits (defaults = Kite's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Final

#: NSE quantity freeze limits (units per order) from 1 Feb 2026 (docs/kite.md cites the circular).
FREEZE_QUANTITY: Final = MappingProxyType(
    {"NIFTY": 1800, "BANKNIFTY": 600, "FINNIFTY": 1800, "MIDCPNIFTY": 2800, "NIFTYNXT50": 600}
)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    api_key: str = "sandbox_api_key"
    api_secret: str = "sandbox_api_secret"
    user_id: str = "SB0001"
    #: where ``GET /connect/login`` redirects with the request token (the app's registered URL)
    redirect_url: str = "http://127.0.0.1:5000/"
    seed: int = 42
    day: date | None = None  # first session; None = today (IST) or the next trading day
    step_ms: int = 250
    speed: float = 1.0  # market seconds per wall second
    capital: float = 1_000_000.0
    orders_per_second: int = 10
    orders_per_minute: int = 400
    orders_per_day: int = 5000
    max_modifications: int = 25
    tokens_per_connection: int = 3000
    connections_per_key: int = 3
    #: what ``market_protection=-1`` means here (Zerodha does not publish its slabs)
    auto_market_protection_pct: float = 3.0
    heartbeat_seconds: float = 1.0
    freeze_quantity: dict[str, int] = field(default_factory=lambda: dict(FREEZE_QUANTITY))
