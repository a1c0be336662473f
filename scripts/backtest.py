"""``python -m scripts.run_trader backtest ...`` and ``backtest-data ...`` (docs/backtesting.md).

    backtest --config configs/backtest.yaml --from 2025-01-01 --to 2025-06-30 \\
             --symbols NIFTY,RELIANCE --strategies ema20_50_intraday [--out DIR] [--data DIR]
             [--sweep ema20_50_intraday.stop_atr=1,1.5,2 ...] [--workers N] [--dask [ADDRESS]]
    backtest-data --out data/history --from 2024-01-01 --to 2025-12-31 --symbols NIFTY,RELIANCE
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from shared.config import ROOT, exit_on_config_error, load_settings
from shared.errors import ConfigError, DataError

EXIT_USAGE = 2
DEFAULT_BACKTEST_CONFIG = ROOT / "configs" / "backtest.yaml"
COMMANDS = ("backtest", "backtest-data")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a date YYYY-MM-DD") from exc


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.run_trader", description="Backtest on history.")
    sub = parser.add_subparsers(dest="command", required=True)
    bt = sub.add_parser("backtest", help="replay history through the strategies, risk and the paper broker")
    bt.add_argument("--config", default=str(DEFAULT_BACKTEST_CONFIG), help="YAML (default configs/backtest.yaml)")
    bt.add_argument("--from", dest="start", type=_day, help="first IST day (default: backtest.start)")
    bt.add_argument("--to", dest="end", type=_day, help="last IST day, included (default: backtest.end)")
    bt.add_argument("--symbols", type=_names, help="comma list: index names trade their future, others NSE stocks")
    bt.add_argument("--strategies", type=_names, help="comma list of strategy names (default: all configured)")
    bt.add_argument("--data", help="history folder (default: backtest.data_path)")
    bt.add_argument("--out", help="report folder (default: backtest.output_dir/<timestamp>)")
    bt.add_argument("--fill-timing", choices=("next_tick", "same_tick"), help="default: backtest.fill_timing")
    bt.add_argument("--path", choices=("auto", "bars", "ticks"),
                    help="auto: the bar path for 1-minute candles when every strategy opts in; "
                         "ticks: replay every tick (default: backtest.path)")  # fmt: skip
    bt.add_argument("--no-progress", action="store_true", help="no progress bar")
    bt.add_argument("--sweep", action="append", default=[], metavar="STRATEGY.PARAM=V1,V2",
                    help="a parameter grid axis (repeat for more); replaces backtest.sweep")  # fmt: skip
    bt.add_argument("--workers", type=int, help="sweep processes (default: backtest.sweep_workers, 0 = cores)")
    bt.add_argument("--rank-by", help="sweep metric to rank by (default: backtest.sweep_rank_by)")
    bt.add_argument("--dask", nargs="?", const="local", help="run the sweep on Dask: a scheduler address or local")
    gen = sub.add_parser("backtest-data", help="write simulated 1-minute history in Kite's candle layout")
    gen.add_argument("--out", default="data/history", help="folder to write (default data/history)")
    gen.add_argument("--from", dest="start", type=_day, default=date(2025, 1, 1))
    gen.add_argument("--to", dest="end", type=_day, default=date(2025, 6, 30))
    gen.add_argument("--symbols", type=_names, default=["NIFTY", "RELIANCE"])
    gen.add_argument("--seed", type=int, default=42)
    return parser


def generate(args: argparse.Namespace) -> int:
    from shared.backtest.generate import generate_history

    started = time.perf_counter()
    counts = generate_history(args.out, args.start, args.end, args.symbols, seed=args.seed)
    print(
        f"wrote {sum(counts.values()):,} candles in {len(counts)} files to {args.out} "
        f"({args.start} .. {args.end}) in {time.perf_counter() - started:.1f} s"
    )
    return 0


def backtest(args: argparse.Namespace) -> int:
    from shared.backtest import run_backtest
    from shared.backtest.report import Report
    from shared.backtest.sweep import parse_sweep_arg, run_sweep, run_sweep_dask, table

    settings = exit_on_config_error(lambda: load_settings(args.config))
    bt = settings.backtest
    kwargs = {
        "data_path": args.data,
        "start": args.start,
        "end": args.end,
        "symbols": args.symbols,
        "strategies": args.strategies,
        "fill_timing": args.fill_timing,
    }
    path = {"path": args.path} if args.path else {}
    out = Path(args.out or Path(bt.output_dir) / time.strftime("%Y%m%d-%H%M%S"))
    grid = dict(parse_sweep_arg(a) for a in args.sweep) if args.sweep else dict(bt.sweep)
    if grid:
        rank_by = args.rank_by or bt.sweep_rank_by
        started = time.perf_counter()
        if args.dask:
            address = None if args.dask == "local" else args.dask
            rows = run_sweep_dask(settings, grid, address=address, rank_by=rank_by, **kwargs)
        else:
            workers = bt.sweep_workers if args.workers is None else args.workers
            rows = run_sweep(settings, grid, workers=workers, rank_by=rank_by, **kwargs)
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
        print(table(rows))
        print(f"{len(rows)} points in {time.perf_counter() - started:.1f} s, ranked by {rank_by}: {out / 'sweep.json'}")
        return 0
    show = bt.progress and not args.no_progress and sys.stderr.isatty()
    result = run_backtest(settings, progress=show, **kwargs, **path)
    result.params = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in kwargs.items() if v is not None}
    report = Report(result)
    paths = report.write(out)
    t = report.total
    ticks = result.counters["ticks"]
    how = "bar path" if result.path == "bars" else "tick path" + (f" ({result.path_note})" if result.path_note else "")
    print(
        f"{len(result.day_pnl)} sessions, {ticks:,} ticks in {result.elapsed_s:.2f} s "
        f"({ticks / max(result.elapsed_s, 1e-9):,.0f} ticks/s) on the {how}\n"
        f"net PnL {t.net_pnl:,.2f} after charges, {t.trades} trades, win rate {t.win_rate:.1%}, "
        f"profit factor {t.profit_factor:.2f}, Sharpe {t.sharpe:.2f}, max drawdown {t.max_drawdown:,.2f}\n"
        f"report: {paths['html']}"
    )
    return 0


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(list(argv))
    try:
        return generate(args) if args.command == "backtest-data" else backtest(args)
    except (ConfigError, DataError) as exc:
        print(f"run_trader {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
