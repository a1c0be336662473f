"""Backtest reports: metrics, trades, equity and drawdown, monthly returns; JSON, CSV and one HTML file.

Conventions (docs/backtesting.md):

- **net PnL** is after every charge (brokerage, STT, exchange, SEBI, stamp, GST) and the
  auto square-off fee; per-strategy figures are pnl.csv's round trips (their charges),
  the total is the books' day PnL (fees included).
- **Returns** are daily: day PnL / starting capital (paper books start each day with the same
  capital, so returns do not compound). **Sharpe** = mean / s.d. (ddof 1) x sqrt(252),
  **Sortino** = mean / downside deviation (root mean square of the negative days over all
  days) x sqrt(252); both 0 when undefined.
- **Max drawdown**: the deepest fall of the minute-sampled, marked-to-market equity below its
  running peak, in rupees and as a fraction of that peak; its **duration** runs from the
  peak to the recovery (or to the end when it never recovered), in event time.
- **Exposure**: the share of equity samples (minutes in session) with a position open.
  Per strategy, drawdown is measured on its closed-trade equity and exposure is not split (0).
- **Profit factor**: gross wins / gross losses of net trade PnL (inf with no loss).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np

from shared.backtest.journal import csv_text
from shared.backtest.runner import BacktestResult, EquityCurve, EquityPoint
from shared.clock import NS
from shared.state.formats import PnlRecord
from shared.state.timefmt import format_ts

TRADING_DAYS: Final = 252
TRADE_COLUMNS: Final = (
    "exit_time",
    "symbol",
    "strategy",
    "side",
    "quantity",
    "entry_price",
    "exit_price",
    "gross_pnl",
    "charges",
    "net_pnl",
    "holding_seconds",
)


@dataclass(frozen=True, slots=True)
class Metrics:
    trades: int
    net_pnl: float
    gross_pnl: float
    charges: float
    win_rate: float
    profit_factor: float
    avg_trade: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_pct: float
    max_drawdown_days: float
    exposure: float
    return_pct: float


def trade_stats(trades: Sequence[PnlRecord]) -> dict[str, float]:
    """Count, net, gross, charges, win rate, profit factor and average of closed trades."""
    net = [t.net_pnl for t in trades]
    wins = sum(x for x in net if x > 0)
    losses = -sum(x for x in net if x < 0)
    n = len(net)
    return {
        "trades": n,
        "net_pnl": float(sum(net)),
        "gross_pnl": float(sum(t.gross_pnl for t in trades)),
        "charges": float(sum(t.charges for t in trades)),
        "win_rate": sum(1 for x in net if x > 0) / n if n else 0.0,
        "profit_factor": wins / losses if losses > 0 else (math.inf if wins > 0 else 0.0),
        "avg_trade": float(sum(net)) / n if n else 0.0,
    }


def ratios(daily: Sequence[float], capital: float) -> tuple[float, float]:
    """(Sharpe, Sortino) of daily PnL as returns on ``capital``, annualised over 252 days."""
    r = np.asarray(daily, dtype=np.float64) / capital
    if r.size < 2:
        return 0.0, 0.0
    mean, sd = float(r.mean()), float(r.std(ddof=1))
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    scale = math.sqrt(TRADING_DAYS)
    return (mean / sd * scale if sd > 0 else 0.0), (mean / downside * scale if downside > 0 else 0.0)


def drawdown(points: Sequence[EquityPoint]) -> tuple[float, float, float, np.ndarray]:
    """(max drawdown ₹, as a fraction of its peak, duration in days, the drawdown series ₹ <= 0)."""
    if not points:
        return 0.0, 0.0, 0.0, np.zeros(0)
    if isinstance(points, EquityCurve):  # its columns, without a point object each
        eq, ts = np.array(points.equity, dtype=np.float64), np.array(points.ts_ns, dtype=np.int64)
    else:
        eq = np.fromiter((p.equity for p in points), dtype=np.float64, count=len(points))
        ts = np.fromiter((p.ts_ns for p in points), dtype=np.int64, count=len(points))
    peak = np.maximum.accumulate(eq)
    dd = eq - peak
    worst = int(np.argmin(dd))
    depth = float(-dd[worst])
    pct = depth / float(peak[worst]) if peak[worst] > 0 else 0.0
    longest = 0
    start = None
    for i in range(len(eq)):  # the longest stretch below a peak (peak -> recovery)
        if dd[i] < 0:
            if start is None:
                start = i - 1 if i > 0 else i
        elif start is not None:
            longest = max(longest, int(ts[i] - ts[start]))
            start = None
    if start is not None:
        longest = max(longest, int(ts[-1] - ts[start]))
    return depth, pct, longest / (86_400 * NS), dd


def metrics(trades: Sequence[PnlRecord], daily: Sequence[float], points: Sequence[EquityPoint], capital: float,
            net_total: float | None = None) -> Metrics:  # fmt: skip
    stats = trade_stats(trades)
    sharpe, sortino = ratios(daily, capital)
    depth, pct, days, _ = drawdown(points)
    flags = points.exposed if isinstance(points, EquityCurve) else [p.exposed for p in points]
    exposure = sum(1 for x in flags if x) / len(flags) if flags else 0.0
    net = stats["net_pnl"] if net_total is None else net_total
    return Metrics(
        trades=int(stats["trades"]),
        net_pnl=net,
        gross_pnl=stats["gross_pnl"],
        charges=stats["charges"],
        win_rate=stats["win_rate"],
        profit_factor=stats["profit_factor"],
        avg_trade=stats["avg_trade"],
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=depth,
        max_drawdown_pct=pct,
        max_drawdown_days=days,
        exposure=exposure,
        return_pct=net / capital if capital else 0.0,
    )


def monthly_returns(day_pnl: dict[date, float], capital: float) -> dict[str, float]:
    """``YYYY-MM`` -> that month's PnL / capital."""
    out: dict[str, float] = {}
    for day, pnl in sorted(day_pnl.items()):
        key = f"{day:%Y-%m}"
        out[key] = out.get(key, 0.0) + pnl / capital
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class Report:
    """Everything computed from a ``BacktestResult``; ``write`` puts it on disk."""

    def __init__(self, result: BacktestResult, title: str = "kite-algo backtest") -> None:
        self.result = result
        self.title = title
        trades = result.journal.trades
        days = sorted(result.day_pnl)
        daily = [result.day_pnl[d] for d in days]
        self.total = metrics(trades, daily, result.equity, result.capital, net_total=result.net_pnl)
        self.per_strategy: dict[str, Metrics] = {}
        for sid in sorted({t.strategy for t in trades}):
            own = [t for t in trades if t.strategy == sid]
            by_day: dict[date, float] = dict.fromkeys(days, 0.0)
            for t in own:
                by_day[_ist_date(t.ts_ns)] = by_day.get(_ist_date(t.ts_ns), 0.0) + t.net_pnl
            curve, running = [], result.capital  # per strategy: equity at each closed trade
            for t in own:
                running += t.net_pnl
                curve.append(EquityPoint(t.ts_ns, running, False))
            self.per_strategy[sid] = metrics(own, list(by_day.values()), curve, result.capital)
        self.monthly = monthly_returns(result.day_pnl, result.capital)

    def summary(self) -> dict[str, Any]:
        r = self.result
        return _clean(
            {
                "title": self.title,
                "path": r.path,
                "params": r.params,
                "capital": r.capital,
                "first_day": min(r.day_pnl).isoformat() if r.day_pnl else None,
                "last_day": max(r.day_pnl).isoformat() if r.day_pnl else None,
                "days": len(r.day_pnl),
                "counters": r.counters,
                "elapsed_s": round(r.elapsed_s, 3),
                "total": asdict(self.total),
                "strategies": {k: asdict(v) for k, v in self.per_strategy.items()},
                "monthly_returns": self.monthly,
            }
        )

    def trade_rows(self) -> list[dict[str, object]]:
        return [
            {
                "exit_time": format_ts(t.ts_ns),
                "symbol": t.symbol,
                "strategy": t.strategy,
                "side": t.side.value,
                "quantity": t.quantity,
                "entry_price": t.entry_price,
                "exit_price": t.exit_price,
                "gross_pnl": round(t.gross_pnl, 4),
                "charges": round(t.charges, 4),
                "net_pnl": round(t.net_pnl, 4),
                "holding_seconds": t.holding_seconds,
            }
            for t in self.result.journal.trades
        ]

    def write(self, folder: str | Path) -> dict[str, Path]:
        """summary.json, trades.csv, equity.csv, the journals and report.html into ``folder``."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = self.result.journal.write(out)
        paths["summary"] = out / "summary.json"
        paths["summary"].write_text(json.dumps(self.summary(), indent=2) + "\n")
        paths["trades"] = out / "trades.csv"
        paths["trades"].write_text(csv_text(TRADE_COLUMNS, self.trade_rows()))
        paths["equity"] = out / "equity.csv"
        paths["equity"].write_text(
            csv_text(
                ("timestamp", "equity", "exposed"),
                [
                    {"timestamp": format_ts(p.ts_ns), "equity": round(p.equity, 4), "exposed": p.exposed}
                    for p in self.result.equity
                ],
            )
        )
        paths["html"] = out / "report.html"
        paths["html"].write_text(self.html())
        return paths

    # -- HTML -------------------------------------------------------------------------------------
    def html(self) -> str:
        """One self-contained page: inline SVG plots, no script, no network."""
        s = self.summary()
        rows = "".join(
            f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{_num(v)}</td>" for v in m.values()) + "</tr>"
            for name, m in [("TOTAL", s["total"]), *s["strategies"].items()]
        )
        head = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in s["total"])
        months = "".join(f"<tr><td>{k}</td><td>{v * 100:+.2f}%</td></tr>" for k, v in self.monthly.items())
        trades = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in TRADE_COLUMNS) + "</tr>"
            for r in self.trade_rows()[:2000]
        )
        eq = list(self.result.equity.equity) if isinstance(self.result.equity, EquityCurve) else [
            p.equity for p in self.result.equity
        ]
        _, _, _, dd = drawdown(self.result.equity)
        counters = html.escape(json.dumps(s["counters"]))
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} th{{background:#f4f4f4}}
.plot{{border:1px solid #ddd;margin:.5em 0}} h2{{margin-top:1.5em}}
</style></head><body>
<h1>{html.escape(self.title)}</h1>
<p>{s["first_day"]} to {s["last_day"]}: {s["days"]} sessions, capital {self.result.capital:,.0f}.
Parameters: <code>{html.escape(json.dumps(s["params"]))}</code></p>
<h2>Metrics</h2><table><tr><th></th>{head}</tr>{rows}</table>
<h2>Equity</h2>{_svg_line(eq, "#1f77b4", "equity (₹)")}
<h2>Drawdown</h2>{_svg_line(list(dd), "#d62728", "drawdown (₹)")}
<h2>Monthly returns</h2><table><tr><th>month</th><th>return</th></tr>{months}</table>
<h2>Trades</h2><table><tr>{"".join(f"<th>{c}</th>" for c in TRADE_COLUMNS)}</tr>{trades}</table>
<p>Counters: <code>{counters}</code></p>
</body></html>
"""


def _ist_date(ts_ns: int) -> date:
    from shared.clock import ist_day

    return ist_day(ts_ns)


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.2f}"
    return html.escape(str(v))


def _svg_line(values: Sequence[float], color: str, label: str, width: int = 900, height: int = 220) -> str:
    """An inline SVG polyline of ``values`` (downsampled to the plot's width), with min/max labels."""
    if not values:
        return "<p>(no data)</p>"
    arr = np.asarray(values, dtype=np.float64)
    if arr.size > width * 2:
        idx = np.linspace(0, arr.size - 1, width * 2).astype(np.int64)
        arr = arr[idx]
    lo, hi = float(arr.min()), float(arr.max())
    span = hi - lo or 1.0
    xs = np.linspace(40, width - 10, arr.size)
    ys = 10 + (height - 30) * (1 - (arr - lo) / span)
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    svg = (
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(label)}"><polyline fill="none" stroke="{color}" stroke-width="1.2" points="{pts}"/>'
        f'<text x="2" y="14" font-size="11">{hi:,.0f}</text>'
        f'<text x="2" y="{height - 8}" font-size="11">{lo:,.0f}</text>'
        f'<text x="{width // 2}" y="{height - 4}" font-size="11">{html.escape(label)}</text></svg>'
    )
    return svg
