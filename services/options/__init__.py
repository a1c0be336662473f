"""The options engine: ATM CE/PE of each ``trading.options_underlyings`` name, following spot.

Streams in:  ``ticks.NFO`` (group ``options``, read-ahead), ``instruments`` (the day's master, at start)
Streams out: ``signals``, ``orders.intents`` (sized in lots, split at the freeze limit),
             ``control.feed`` (FeedSubscription: the strikes around ATM), ``health``
Files out:   ``artifacts/checkpoints/engine_options.json``

Spot proxy: the LTP of each underlying's current future (the seed's choice; the options are
priced on a future, and the engine reads one stream). ATM: the listed strike nearest that
proxy carried to the option's expiry (its forward); expiry: the nearest, rolled on expiry day
from ``options.expiry_roll_cutoff``.
Strategies: ``strategy_engine.engines.options``. docs/options.md has the long form.
"""
