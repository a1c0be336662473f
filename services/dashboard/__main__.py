"""``python -m services.dashboard [--config PATH]``: serve the dashboard with uvicorn on dashboard.host:port."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from services.dashboard.app import create_app
from shared.bus.redis_bus import Bus
from shared.config import exit_on_config_error, load_settings
from shared.runtime.logging import setup_logging

log = logging.getLogger("services.dashboard")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.dashboard", description="The kite-algo web dashboard.")
    parser.add_argument("--config", help="YAML config (default $KITE_ALGO_CONFIG or configs/dev.yaml)")
    args = parser.parse_args(argv)
    settings = exit_on_config_error(lambda: load_settings(args.config))
    setup_logging("dashboard", settings.services.log_level)
    try:
        bus = Bus.from_url(settings.redis.url)
    except ConnectionError as exc:
        log.error("%s", exc)
        return 3
    cfg = settings.dashboard
    log.info("dashboard on http://%s:%d", cfg.host, cfg.port)
    uvicorn.run(
        create_app(settings, bus), host=cfg.host, port=cfg.port, log_level=settings.services.log_level.lower(),
        access_log=False,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
