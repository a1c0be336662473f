"""``python -m sandbox.kite [--port 8700] [--seed 42] [--speed 1] [--day 2026-11-24]``: a local Kite."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from sandbox.kite.config import SandboxConfig
from sandbox.kite.runner import serve

_DEFAULTS = SandboxConfig()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox.kite", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--day", type=date.fromisoformat, default=None, help="first session (YYYY-MM-DD)")
    p.add_argument("--speed", type=float, default=1.0, help="market seconds per wall second")
    p.add_argument("--step-ms", type=int, default=250)
    p.add_argument("--api-key", default=_DEFAULTS.api_key)
    p.add_argument("--api-secret", default=_DEFAULTS.api_secret)
    p.add_argument("--redirect-url", default=_DEFAULTS.redirect_url)
    p.add_argument("--capital", type=float, default=_DEFAULTS.capital)
    p.add_argument("--tokens-per-connection", type=int, default=_DEFAULTS.tokens_per_connection)
    args = p.parse_args(argv)
    if args.speed <= 0 or args.step_ms <= 0:
        print("--speed and --step-ms must be positive", file=sys.stderr)
        return 2
    cfg = SandboxConfig(
        api_key=args.api_key, api_secret=args.api_secret, redirect_url=args.redirect_url, seed=args.seed,
        day=args.day, step_ms=args.step_ms, speed=args.speed, capital=args.capital,
        tokens_per_connection=args.tokens_per_connection,
    )  # fmt: skip
    print(f"Kite sandbox on http://{args.host}:{args.port} (api_key {cfg.api_key}); Ctrl-C stops it", flush=True)
    serve(cfg, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
