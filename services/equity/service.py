"""The equity engine: the common engine service over the day's NIFTY 50/100 stocks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from shared.config import ROOT, StrategyEngineConfig, StrategySpec
from shared.errors import DataError, InstrumentError
from shared.instruments import InstrumentsMaster
from shared.runtime.engine_service import EngineService, Symbols
from shared.state.scanner import load_universe
from shared.trading.engine import TagFn
from shared.trading.records import equity_tag
from shared.universe import load_equity_universe

log = logging.getLogger(__name__)


def long_only_by_default(specs: Sequence[StrategySpec]) -> list[StrategySpec]:
    """Each spec with ``params.long_only: true`` unless it sets ``long_only`` itself (cash equity)."""
    return [
        spec if "long_only" in spec.params else spec.model_copy(update={"params": {**spec.params, "long_only": True}})
        for spec in specs
    ]


def equity_symbols(master: InstrumentsMaster, names: Sequence[str]) -> Symbols:
    """Token -> (symbol, symbol, "NSE") of each NSE stock in ``names``; unknown names are skipped (logged)."""
    out: Symbols = {}
    for symbol in names:
        try:
            inst = master.by_symbol("NSE", symbol)
        except InstrumentError as exc:
            log.warning("equity universe: %s skipped: %s", symbol, exc)
            continue
        if not inst.is_equity:
            log.warning("equity universe: %s skipped: %s is not a cash stock", symbol, inst.key)
            continue
        out[inst.instrument_token] = (symbol, symbol, inst.exchange)
    return out


class EquityService(EngineService):
    """Cash equities: ticks.NSE in, signals and tagged order intents out."""

    name = "equity"
    exchange = "NSE"

    def tag_fn(self) -> TagFn | None:
        return equity_tag

    def engine_config(self) -> StrategyEngineConfig:
        cfg = super().engine_config()
        specs = cfg.engines.get("equity")
        if not specs:
            return cfg
        return cfg.model_copy(update={"engines": {**cfg.engines, "equity": long_only_by_default(specs)}})

    def universe_names(self, master: InstrumentsMaster, day: date) -> list[str]:
        """The scanner's ``equity`` list of ``day`` when it wrote one, else the configured universe."""
        try:
            universe = load_universe(self.settings.artifacts, day)
        except DataError as exc:
            log.error("equity universe: %s; using trading.equity_universe_config instead", exc)
            universe = None
        if universe is not None and universe.equity is not None:
            log.info("equity universe of %s: %d symbols from the scanner", day, len(universe.equity))
            return list(universe.equity)
        cfg = self.settings.trading.equity_universe_config
        path = Path(cfg.path)
        names = load_equity_universe(
            path if path.is_absolute() else ROOT / path,
            include_indices=tuple(cfg.include_indices),
            min_price=cfg.min_price,
            max_symbols=cfg.max_symbols,
            master=master,
        )
        log.info("equity universe of %s: %d symbols from %s (no scanner file)", day, len(names), path)
        return names

    def resolve_universe(self, master: InstrumentsMaster, day: date) -> Symbols:
        return equity_symbols(master, self.universe_names(master, day))
