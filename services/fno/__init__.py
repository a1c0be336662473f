"""The futures engine: index futures (NIFTY, BANKNIFTY, FINNIFTY) on 5m/15m bars.

Streams in:  ``ticks.NFO`` (group ``fno``, read-ahead), ``instruments`` (the day's master, at start)
Streams out: ``signals`` (Signal), ``orders.intents`` (OrderIntent, quantity 0: risk sizes it), ``health``
Keys in:     ``instruments:<day>`` / ``instruments:latest`` (the feed's instruments CSV)
Files out:   ``artifacts/checkpoints/engine_fno.json`` (its only writer)

Universe: the current-month future of each ``trading.fno_universe`` name on the session day
(``InstrumentsMaster.future``, rolled before expiry); product MIS. Strategies:
``strategy_engine.engines.fno``. The loop is ``shared.runtime.engine_service`` (docs/engines.md).
"""
