"""A local Kite Connect server over the simulated NSE market (docs/sandbox.md).

The real ``kiteconnect`` clients talk to it through their ``root`` arguments:
``KiteConnect(api_key, root="http://127.0.0.1:8700")`` and
``KiteTicker(api_key, access_token, root="ws://127.0.0.1:8700")``.
"""
