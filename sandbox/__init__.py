"""Local stand-ins for outside services, for tests and demos (``sandbox.kite``: Zerodha Kite)."""
