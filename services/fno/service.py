"""The futures engine: the common engine service over the day's index futures."""

from __future__ import annotations

import logging
from datetime import date

from shared.errors import InstrumentError
from shared.instruments import InstrumentsMaster
from shared.runtime.engine_service import EngineService, Symbols

log = logging.getLogger(__name__)


def futures_universe(master: InstrumentsMaster, names: list[str], day: date) -> Symbols:
    """Token -> (name, tradingsymbol, exchange) of each name's current future on ``day``.

    A name without a listed future is skipped with an error in the log (the others still trade).
    """
    out: Symbols = {}
    for name in names:
        try:
            inst = master.future(name, day)
        except InstrumentError as exc:
            log.error("fno universe: %s skipped: %s", name, exc)
            continue
        out[inst.instrument_token] = (name, inst.tradingsymbol, inst.exchange)
    return out


class FnoService(EngineService):
    """Index futures: ticks.NFO in, signals and order intents out."""

    name = "fno"
    exchange = "NFO"

    def resolve_universe(self, master: InstrumentsMaster, day: date) -> Symbols:
        return futures_universe(master, list(self.settings.trading.fno_universe), day)
