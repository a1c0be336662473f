"""GET /api/...: the session as JSON, from the store (history + live) and Redis."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Annotated, Any, Final
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool

from services.dashboard.deps import DashboardDep
from services.dashboard.history import to_out
from services.dashboard.schemas import (
    CandleOut,
    CandlesOut,
    ConfigOut,
    DashboardStatusOut,
    HealthOut,
    OrderPage,
    PerformanceOut,
    PnlPoint,
    PortfolioOut,
    SignalPage,
    SymbolsOut,
)
from services.dashboard.views import groups_view, portfolio_view, redis_view, rss_bytes, services_view
from shared.clock import NS, ist_day, wall_ns
from shared.indicators import BarIndicators
from shared.performance import performance_by_strategy
from shared.state.journal import read_pnl

router = APIRouter(prefix="/api", tags=["read"])

MAX_PAGE: Final = 1000
SECRET_KEY = re.compile(r"token|secret|password|passwd|api_key|apikey|access", re.IGNORECASE)
REDACTED: Final = "***"

Symbol = Annotated[str | None, Query(max_length=64, description="tradingsymbol, exact")]
Strategy = Annotated[str | None, Query(max_length=64, description="strategy name, exact")]
Day = Annotated[date | None, Query(description="IST trading day, YYYY-MM-DD")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("/portfolio", response_model=PortfolioOut, summary="Positions, PnL, equity curve, halt state")
def portfolio(dash: DashboardDep) -> PortfolioOut:
    return portfolio_view(dash.store)


def _matches(symbol: str | None, strategy: str | None, day: date | None, s: str, st: str, ts_ns: int) -> bool:
    return (symbol is None or s == symbol) and (strategy is None or st == strategy) and (
        day is None or ist_day(ts_ns) == day
    )


@router.get("/orders", response_model=OrderPage, summary="Orders, newest first, each in its latest state")
def orders(
    dash: DashboardDep, symbol: Symbol = None, strategy: Strategy = None, day: Day = None, limit: Limit = 100,
    offset: Offset = 0,
) -> OrderPage:  # fmt: skip
    rows = [o for o in dash.store.order_list() if _matches(symbol, strategy, day, o.symbol, o.strategy, o.ts_ns)]
    return OrderPage(total=len(rows), offset=offset, limit=limit, items=rows[offset : offset + limit])


@router.get("/signals", response_model=SignalPage, summary="Strategy signals, newest first")
def signals(
    dash: DashboardDep, symbol: Symbol = None, strategy: Strategy = None, day: Day = None, limit: Limit = 100,
    offset: Offset = 0,
) -> SignalPage:  # fmt: skip
    rows = [s for s in dash.store.signal_list() if _matches(symbol, strategy, day, s.symbol, s.strategy, s.ts_ns)]
    return SignalPage(total=len(rows), offset=offset, limit=limit, items=rows[offset : offset + limit])


@router.get("/performance", response_model=PerformanceOut, summary="Per-strategy results from pnl.csv")
def performance(dash: DashboardDep, day: Day = None) -> PerformanceOut:
    if day is None:
        with dash.store.lock:
            dash.history.performance.refresh()
            return PerformanceOut(trades=dash.history.performance.trades, strategies=dash.history.performance.rows())
    trades = [t for t in read_pnl(dash.history.paths.pnl_csv) if ist_day(t.ts_ns) == day]
    rows = []
    for name, perf in performance_by_strategy(trades).items():
        curve, total = [], 0.0
        for t in trades:
            if t.strategy == name:
                total += t.net_pnl
                curve.append(PnlPoint(ts_ns=t.ts_ns, net_pnl=total))
        rows.append(to_out(perf, curve))
    return PerformanceOut(trades=len(trades), strategies=rows)


@router.get("/health", response_model=HealthOut, summary="Heartbeats, consumer lag, Redis")
async def health(dash: DashboardDep) -> HealthOut:
    def collect() -> HealthOut:
        reader = dash.reader
        last = reader.last_read_ns
        try:
            groups = groups_view(dash.bus)
        except Exception:  # Redis down: the redis block says so
            groups = []
        return HealthOut(
            services=services_view(dash.store), groups=groups, redis=redis_view(dash.bus),
            dashboard=DashboardStatusOut(
                consumer=reader.consumer.name if reader.consumer else "", delivered=reader.delivered,
                last_read_age_s=(wall_ns() - last) / NS if last else None, clients=len(dash.hub.clients),
                dropped_clients=dash.hub.dropped, memory_rss_bytes=rss_bytes(),
            ),
        )  # fmt: skip

    return await run_in_threadpool(collect)


def _redact(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, key) for v in value]
    if SECRET_KEY.search(key) and value not in (None, "", False):
        return REDACTED
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            netloc = f"{parts.username or ''}:{REDACTED}@{parts.hostname or ''}" + (
                f":{parts.port}" if parts.port else ""
            )
            return urlunsplit(parts._replace(netloc=netloc))
    return value


@router.get("/config", response_model=ConfigOut, summary="The effective configuration, secrets redacted")
def config(dash: DashboardDep) -> ConfigOut:
    data = dash.settings.model_dump(mode="json", exclude={"source_file"})
    return ConfigOut(source_file=dash.settings.source_file, config=_redact(data))


@router.get("/symbols", response_model=SymbolsOut, summary="Symbols with orders, and with candles")
def symbols(dash: DashboardDep) -> SymbolsOut:
    traded, charted = dash.store.symbols()
    return SymbolsOut(traded=traded, charted=charted)


def _num(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


@router.get(
    "/candles",
    response_model=CandlesOut,
    summary="Candles of a symbol with indicator values and its trades",
    responses={404: {"description": "no candles for this symbol and timeframe"}},
)
def candles(
    dash: DashboardDep,
    symbol: Annotated[str, Query(min_length=1, max_length=64)],
    tf: Annotated[str, Query(pattern=r"^(1m|5m|15m)$", description="timeframe")] = "5m",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> CandlesOut:
    bars = dash.store.bars_of(symbol, tf)
    timeframes = dash.store.timeframes_of(symbol)
    trades = dash.store.trades_of(symbol)
    if not bars and not trades:
        raise HTTPException(404, f"no candles of {symbol} {tf} (timeframes with candles: {timeframes or 'none'})")
    ind = BarIndicators(symbol, tf)
    out = []
    for bar in bars:
        ind.update(bar)
        values = ind.values()
        out.append(
            CandleOut(
                ts_ns=bar.ts_open, open=bar.open, high=bar.high, low=bar.low, close=bar.close, volume=bar.volume,
                indicators={k: _num(v) for k, v in values.items()},
            )
        )
    out = out[-limit:]
    first = out[0].ts_ns if out else 0
    return CandlesOut(symbol=symbol, timeframe=tf, timeframes=timeframes, candles=out,
                      trades=[t for t in trades if t.ts_ns >= first])  # fmt: skip
