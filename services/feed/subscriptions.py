"""Who asked for which instrument: a token streams while at least one requester wants it."""

from __future__ import annotations

from shared.contracts import FeedSubscription
from shared.enums import FeedAction
from shared.errors import InstrumentError
from shared.instruments import InstrumentsMaster


class Subscriptions:
    def __init__(self) -> None:
        self._wanted: dict[int, set[str]] = {}

    def resolve(self, req: FeedSubscription, master: InstrumentsMaster) -> set[int]:
        """The request's tokens, symbols (``NFO:NIFTY26NOVFUT``) resolved through the master."""
        tokens = set(req.instrument_tokens)
        for key in req.symbols:
            exchange, _, symbol = key.partition(":")
            if not symbol:
                raise InstrumentError(f"symbol {key!r} must be EXCHANGE:TRADINGSYMBOL, e.g. NFO:NIFTY26NOVFUT")
            tokens.add(master.by_symbol(exchange, symbol).instrument_token)
        for t in tokens:
            master.by_token(t)  # unknown token -> InstrumentError
        return tokens

    def apply(self, req: FeedSubscription, tokens: set[int]) -> tuple[set[int], set[int]]:
        """Record the request; returns (tokens to start streaming, tokens to stop)."""
        start: set[int] = set()
        stop: set[int] = set()
        for t in tokens:
            holders = self._wanted.setdefault(t, set())
            if req.action is FeedAction.SUBSCRIBE:
                if not holders:
                    start.add(t)
                holders.add(req.requester)
            else:
                holders.discard(req.requester)
                if not holders:
                    stop.add(t)
                    del self._wanted[t]
        return start, stop

    def held_by(self, requester: str) -> set[int]:
        return {t for t, who in self._wanted.items() if requester in who}
