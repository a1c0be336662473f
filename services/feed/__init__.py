"""The feed service: owns market data.

Streams in:  ``control.feed`` (subscribe / unsubscribe requests, e.g. the options engine's ATM strikes)
Streams out: ``ticks.NFO``, ``ticks.NSE``, ``ticks.INDICES`` (capped), ``health``, ``instruments``
Keys out:    ``instruments:<day>`` and ``instruments:latest`` (Kite's instruments CSV)
Files out:   ``artifacts/instruments/<day>.csv`` (its only writer)

Sources (``data.source``): ``sim`` (the seeded NSE simulator), ``replay`` (ticks or 1-minute
candles from CSV), ``kite`` (KiteTicker; arrives with the live-trading work).
"""
