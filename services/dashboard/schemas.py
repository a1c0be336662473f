"""What the browser gets: typed response models, documented in the OpenAPI schema.

Built from the bus contracts and the journal rows (``store.py``), never returned as raw
contracts, so a contract change never silently changes the browser's API. Money is rupees
(float, unrounded: the page formats it the Indian way); times are epoch ns plus an IST text.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Scalar = float | str | bool | None


class PositionOut(BaseModel):
    symbol: str
    exchange: str
    product: str
    quantity: int
    avg_price: float
    last_price: float
    realized_pnl: float
    unrealized_pnl: float
    strategy: str = ""
    by_strategy: dict[str, int] = Field(
        default_factory=dict, description="each strategy's signed units (they add up to quantity; '' = no strategy)"
    )


class EquityPoint(BaseModel):
    ts_ns: int = Field(description="event time of the position snapshot (epoch ns)")
    equity: float = Field(description="capital + realized + unrealized - charges")
    day_pnl: float


class SessionState(BaseModel):
    halted: bool
    halt_reason: str = ""
    killed_symbols: list[str] = []
    last_command: str = ""


class PortfolioOut(BaseModel):
    mode: str
    source: Literal["stream", "checkpoint", "none"] = Field(description="where the book shown comes from")
    as_of_ns: int
    as_of: str = Field(description="IST time of the book")
    capital: float
    cash: float
    realized_pnl: float
    unrealized_pnl: float
    charges: float
    day_pnl: float
    total_equity: float
    positions: list[PositionOut]
    equity_curve: list[EquityPoint]
    session: SessionState


class OrderOut(BaseModel):
    order_id: str
    intent_id: str
    ts_ns: int = Field(description="event time of the order's first state")
    updated_ns: int = Field(description="event time of its latest state")
    time: str = Field(description="IST time of the latest state")
    symbol: str
    exchange: str
    side: str
    order_type: str
    product: str
    quantity: int
    filled_quantity: int
    price: float
    average_price: float
    status: str
    strategy: str
    status_message: str = ""


class SignalOut(BaseModel):
    signal_id: str
    ts_ns: int
    time: str
    strategy: str
    logical: str
    symbol: str
    price: float
    signal: str
    timeframe: str
    reason: str
    confidence: float
    indicators: dict[str, Scalar]


class OrderPage(BaseModel):
    total: int = Field(description="orders matching the filters (within what the dashboard keeps)")
    offset: int
    limit: int
    items: list[OrderOut]


class SignalPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[SignalOut]


class PnlPoint(BaseModel):
    ts_ns: int
    net_pnl: float = Field(description="cumulative net PnL after this trade")


class StrategyPerformanceOut(BaseModel):
    strategy: str
    trades: int
    wins: int
    losses: int
    win_rate: float
    gross_pnl: float
    net_pnl: float
    charges: float
    largest_win: float
    largest_loss: float
    profit_factor: float | None = Field(description="gross profit / gross loss; null when nothing was lost")
    max_drawdown: float
    curve: list[PnlPoint]


class PerformanceOut(BaseModel):
    trades: int
    strategies: list[StrategyPerformanceOut]


class ServiceHealthOut(BaseModel):
    service: str
    state: str
    pid: int
    heartbeat_age_s: float = Field(description="seconds since its last heartbeat (wall clock)")
    last_heartbeat: str
    detail: str
    counters: dict[str, int]


class GroupLagOut(BaseModel):
    stream: str
    group: str
    consumers: int
    pending: int
    lag: int | None = Field(description="entries not yet delivered to the group (null: Redis cannot tell)")


class RedisStatusOut(BaseModel):
    ok: bool
    latency_ms: float | None
    version: str = ""
    used_memory_bytes: int | None = None
    error: str = ""


class DashboardStatusOut(BaseModel):
    consumer: str
    delivered: int
    last_read_age_s: float | None
    clients: int
    dropped_clients: int
    memory_rss_bytes: int | None


class HealthOut(BaseModel):
    services: list[ServiceHealthOut]
    groups: list[GroupLagOut]
    redis: RedisStatusOut
    dashboard: DashboardStatusOut


class CandleOut(BaseModel):
    ts_ns: int = Field(description="the bar's open (epoch ns)")
    open: float
    high: float
    low: float
    close: float
    volume: int
    indicators: dict[str, Scalar]


class TradeMarkerOut(BaseModel):
    ts_ns: int
    side: str
    quantity: int
    price: float
    order_id: str
    strategy: str


class CandlesOut(BaseModel):
    symbol: str
    timeframe: str
    timeframes: list[str] = Field(description="timeframes the dashboard has bars of for this symbol")
    candles: list[CandleOut]
    trades: list[TradeMarkerOut]


class SymbolsOut(BaseModel):
    traded: list[str] = Field(description="symbols with fills")
    charted: list[str] = Field(description="symbols with candles")


class BacktestReportOut(BaseModel):
    name: str = Field(description="the report's folder under backtest.output_dir")
    title: str
    first_day: str | None = Field(description="first traded IST day, YYYY-MM-DD")
    last_day: str | None
    days: int
    trades: int = Field(description="closed round trips")
    net_pnl: float = Field(description="net of every charge, rupees")
    strategies: list[str]
    written_at: float = Field(description="when report.html was written, Unix seconds")
    url: str = Field(description="where the dashboard serves its report.html")


class BacktestsOut(BaseModel):
    folder: str = Field(description="where the reports are looked for (backtest.output_dir)")
    reports: list[BacktestReportOut] = Field(description="newest first")


class ConfigOut(BaseModel):
    source_file: str
    config: dict[str, Any] = Field(description="the effective configuration, secrets redacted")


class ControlRequest(BaseModel):
    reason: str = Field("", max_length=500)
    operator: str = Field("", max_length=80, description="who is acting (recorded with the command)")


class SymbolControlRequest(ControlRequest):
    symbol: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9&_.:-]+$")


class ControlResult(BaseModel):
    command_id: str
    action: str
    symbol: str
    issued_by: str
    issued_at: str = Field(description="IST wall time the command was published")
    entry_id: str = Field(description="its entry on the control stream")
