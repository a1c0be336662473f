"""The equity engine: NIFTY 50/100 cash stocks, intraday (MIS), long-only unless configured.

Streams in:  ``ticks.NSE`` (group ``equity``, read-ahead), ``instruments`` (the day's master, at start)
Streams out: ``signals`` (Signal), ``orders.intents`` (OrderIntent tagged ``EQ_<SYMBOL>|<STRATEGY_ID>``), ``health``
Keys in:     ``instruments:<day>`` / ``instruments:latest`` (the feed's instruments CSV)
Files in:    ``artifacts/scanner/<day>/universe.json`` (its ``equity`` list, when the scanner wrote one)
Files out:   ``artifacts/checkpoints/engine_equity.json`` (its only writer)

Universe: the scanner's ``equity`` list for the day, else ``trading.equity_universe_config``
filtered by the master. Strategies: ``strategy_engine.engines.equity``; each gets
``long_only: true`` unless its params say otherwise (no shorting of cash equity). The loop is
``shared.runtime.engine_service`` (docs/engines.md).
"""
