"""The seeded NSE market simulator (pure: no I/O beyond reading its own seed data).

calendar   trading days, session times, Tuesday expiries and NSE holidays
black76    option prices on the future and the volatility smile
specs      the sim's seed data: index contract specs, ``equities.csv``
listing    Kite-style tradingsymbols and stable tokens for the day's contracts
intraday   U-shaped intraday volatility and activity
board      the day's instruments as numpy arrays, and their fair prices
plan       many steps' ticks computed at once (prices, trades, volume, OI, depth)
market     ``SimMarket``: the session, step by step, as ``Tick`` messages
"""
