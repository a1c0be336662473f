"""The execution service: the only holder of orders and positions (paper broker, or the Kite broker in live mode).

Streams in:  ``orders.approved`` (OrderIntent sized by risk), ``ticks.NFO`` and ``ticks.NSE`` (fills and
             marks, read ahead), ``control`` (SQUARE_OFF_ALL, CANCEL_ALL; halts and kills are risk's),
             ``signals`` (journaled to signals.csv), ``instruments`` (reload the master)
Streams out: ``orders.events`` (OrderEvent per status change), ``fills`` (Fill), ``positions``
             (PositionSnapshot after every fill and at least every 5 s of event time), ``health``
Keys in:     ``instruments:latest`` (and the key an ``InstrumentsPublished`` names)
Files out:   ``artifacts/orders.csv``, ``pnl.csv``, ``signals.csv``, ``logs/events.jsonl`` (single writer),
             ``checkpoints/paper_state_latest.json`` and ``checkpoints/runtime_state_latest.json``

An intent id is placed at most once, ever: ids seen in orders.csv (all days) are rebuilt at
start, with the last day's positions and open orders (the journal is the truth; the checkpoint
is compared and any difference logged). ``trading.mode: live`` trades through ``shared.brokers.kite`` (docs/kite.md).
"""
