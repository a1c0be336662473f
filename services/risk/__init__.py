"""The risk service: sizes every order intent and decides ALLOW / REDUCE / BLOCK / HALT_SESSION.

Streams in:  ``orders.intents``, ``positions``, ``fills``, ``orders.events``, ``control``,
             ``instruments`` (group ``risk``); ``ticks.NFO``, ``ticks.NSE`` (read-ahead; only
             the last event time and price per symbol)
Streams out: ``risk.decisions`` (every decision with its rule and reason), ``orders.approved``
             (the same OrderIntent with the approved ``quantity``, for ALLOW and REDUCE),
             ``control`` (SQUARE_OFF_ALL, issued by ``risk``, when the day loss limit halts the
             session), ``health``
Keys in:     ``instruments:latest`` / ``instruments:<day>`` (lot and tick sizes)
Files out:   ``artifacts/checkpoints/risk_state_latest.json`` (its only writer)

Fail-closed: no instruments master, no fresh portfolio snapshot or an unknown instrument
blocks. Every time is event time. The rules and sizing are ``shared.risk`` (docs/risk.md).
"""
