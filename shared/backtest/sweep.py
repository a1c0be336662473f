"""Parameter sweeps: a grid of strategy parameters, each point a whole backtest, ranked in one table.

``grid`` is ``{"<strategy name>.<param>": [values...]}`` (the config's ``backtest.sweep`` or
``--sweep``); the product of the lists is run in parallel on local cores
(``concurrent.futures.ProcessPoolExecutor``) or on a Dask cluster (``run_sweep_dask``, the
``dask`` extra). Every point runs the same code as a single backtest; only its figures come
back (a point's trades stay in its worker).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from typing import Any

from shared.config import Settings, StrategySpec
from shared.errors import ConfigError

Value = float | int | str | bool
Grid = Mapping[str, Sequence[Value]]
LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_pct", "max_drawdown_days", "charges"})


def parse_sweep_arg(text: str) -> tuple[str, list[Value]]:
    """``ema20_50_intraday.stop_atr=1,1.5,2`` -> (key, [1, 1.5, 2]) (numbers and booleans typed)."""
    key, sep, values = text.partition("=")
    if not sep or "." not in key or not values:
        raise ConfigError(
            f"--sweep {text!r}: expected <strategy>.<param>=v1,v2,... (e.g. ema20_50_intraday.stop_atr=1,2)"
        )
    return key.strip(), [_typed(v.strip()) for v in values.split(",") if v.strip()]


def _typed(text: str) -> Value:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def points(grid: Grid) -> list[dict[str, Value]]:
    """Every combination of the grid, in a stable order."""
    keys = sorted(grid)
    for key in keys:
        if "." not in key or not grid[key]:
            raise ConfigError(f"backtest.sweep: key {key!r} needs the form <strategy>.<param> and at least one value")
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def apply_point(settings: Settings, point: Mapping[str, Value]) -> Settings:
    """``settings`` with each ``<strategy>.<param>`` of ``point`` set on every spec of that strategy."""
    engines: dict[str, list[StrategySpec]] = {k: list(v) for k, v in settings.strategy_engine.engines.items()}
    found = set()
    for engine, specs in engines.items():
        for i, spec in enumerate(specs):
            params = dict(spec.params)
            for key, value in point.items():
                name, _, param = key.partition(".")
                if spec.name == name or params.get("id") == name:
                    params[param] = value
                    found.add(key)
            engines[engine][i] = spec.model_copy(update={"params": params})
    missing = sorted(set(point) - found)
    if missing:
        raise ConfigError(f"backtest.sweep: {missing} name no strategy in strategy_engine.engines")
    return settings.model_copy(
        update={"strategy_engine": settings.strategy_engine.model_copy(update={"engines": engines})}
    )


def run_point(payload: tuple[Settings, dict[str, Value], dict[str, Any]]) -> dict[str, Any]:
    """One grid point (in a worker): its parameters and total metrics."""
    from shared.backtest import run_backtest
    from shared.backtest.report import Report

    settings, point, kwargs = payload
    result = run_backtest(apply_point(settings, point), progress=False, **kwargs)
    result.params = dict(point)
    report = Report(result)
    return {"params": dict(point), **asdict(report.total), "elapsed_s": round(result.elapsed_s, 3)}


def rank(rows: Iterable[dict[str, Any]], by: str) -> list[dict[str, Any]]:
    """Best first by ``by`` (higher is better, except drawdowns and charges)."""
    rows = list(rows)
    if rows and by not in rows[0]:
        raise ConfigError(
            f"backtest.sweep_rank_by: {by!r} is not a metric ({', '.join(k for k in rows[0] if k != 'params')})"
        )
    sign = 1 if by in LOWER_IS_BETTER else -1
    return sorted(rows, key=lambda r: (sign * float(r[by]), sorted(r["params"].items())))


def _payloads(
    settings: Settings, grid: Grid, kwargs: dict[str, Any]
) -> list[tuple[Settings, dict[str, Value], dict[str, Any]]]:
    pts = points(grid)
    for p in pts:
        apply_point(settings, p)  # a bad key fails here, before any worker starts
    return [(settings, p, kwargs) for p in pts]


def run_sweep(
    settings: Settings,
    grid: Grid,
    *,
    workers: int = 0,
    rank_by: str = "sharpe",
    on_done: Callable[[dict[str, Any]], None] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Run every grid point on up to ``workers`` local processes (0: one per core); ranked rows."""
    payloads = _payloads(settings, grid, kwargs)
    n = min(workers or os.cpu_count() or 1, len(payloads))
    rows: list[dict[str, Any]] = []
    if n <= 1:
        for p in payloads:
            rows.append(run_point(p))
            if on_done:
                on_done(rows[-1])
    else:
        with ProcessPoolExecutor(max_workers=n) as pool:
            for row in pool.map(run_point, payloads):
                rows.append(row)
                if on_done:
                    on_done(row)
    return rank(rows, rank_by)


def run_sweep_dask(
    settings: Settings, grid: Grid, *, address: str | None = None, rank_by: str = "sharpe", **kwargs: Any
) -> list[dict[str, Any]]:
    """The same sweep on a Dask cluster (``address``; None: a ``LocalCluster`` started and stopped here).

    Needs the ``dask`` extra (``pip install 'kite-algo[dask]'``). Every worker must see the
    data folder at the same path (a shared file system when the cluster spans machines).
    """
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError("--dask needs the dask extra: pip install 'dask[distributed]'") from exc
    payloads = _payloads(settings, grid, kwargs)
    if address:
        with Client(address) as client:
            rows = client.gather(client.map(run_point, payloads, pure=False))
    else:
        with LocalCluster(processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
            rows = client.gather(client.map(run_point, payloads, pure=False))
    return rank(rows, rank_by)


def table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] = ("net_pnl", "sharpe", "max_drawdown", "trades", "win_rate")
) -> str:
    """The ranked rows as a plain-text table."""
    keys = sorted({k for r in rows for k in r["params"]})
    head = ["#", *keys, *columns]
    body = [
        [str(i + 1), *(str(r["params"].get(k, "")) for k in keys), *(_cell(r[c]) for c in columns)]
        for i, r in enumerate(rows)
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(x.rjust(w) for x, w in zip(row, widths, strict=True)) for row in [head, *body]]
    return "\n".join(lines)


def _cell(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)
