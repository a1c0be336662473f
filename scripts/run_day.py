"""The seed's engine-manager entry point, kept for its commands; it delegates to run_trader.

    python -m scripts.run_day --mode paper --engines fno,options --config configs/dev.yaml
    python -m scripts.run_day --login --engines none

Without ``--mode`` the mode is the config's ``trading.mode`` (as in the seed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scripts import run_trader
from shared.config import exit_on_config_error, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scripts.run_day``: translate the seed's flags and call ``run_trader.main``."""
    parser = argparse.ArgumentParser(prog="python -m scripts.run_day", description="Delegates to scripts.run_trader.")
    parser.add_argument("--mode", choices=("paper", "live"), help="default: the config's trading.mode")
    parser.add_argument("--config", help="YAML config (live requires it)")
    parser.add_argument("--engines", default="all", help="fno,options,equity | all | none (default all)")
    parser.add_argument("--login", action="store_true", help="refresh the Kite access token")
    args = parser.parse_args(argv)
    mode = args.mode
    if mode is None and not args.login:
        mode = exit_on_config_error(lambda: load_settings(args.config)).trading.mode
    forwarded = [mode or "paper", "--engines", args.engines]
    if args.config:
        forwarded += ["--config", args.config]
    if args.login:
        forwarded.append("--login")
    return run_trader.main(forwarded)


if __name__ == "__main__":
    sys.exit(main())
