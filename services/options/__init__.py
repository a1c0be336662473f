"""The options engine: ATM CE/PE of each ``trading.options_underlyings`` name, following spot.

Streams in:  ``ticks.NFO`` (group ``options``, read-ahead), ``ticks.INDICES`` (read with a cursor kept
             in the checkpoint, in event-time order with the NFO ticks), ``instruments`` (the day's
             master, at start)
Streams out: ``signals``, ``orders.intents`` (sized in lots, split at the freeze limit),
             ``control.feed`` (FeedSubscription: the strikes around ATM), ``health``
Files out:   ``artifacts/checkpoints/engine_options.json``

Spot: the underlying's index level while fresh (``options.spot_max_age_s``), else its current
future's LTP (the seed's proxy); signals say which (``spot_source``). ATM: the listed strike
nearest the option's forward (the index carried to the option's expiry, or the future carried
back to it), checked on every price; expiry: the nearest, rolled on expiry day from
``options.expiry_roll_cutoff``. Exits ask risk for what the strategy holds.
Strategies: ``strategy_engine.engines.options``. docs/options.md has the long form.
"""
