"""kite-algo's one library. Services import it; it never imports a service.

Rooms:
  config        typed settings (YAML + environment), validated at start-up
  contracts     every message on the bus: frozen, versioned, event-timed
  clock         IST/UTC conversions and the event clock; the only wall-clock reader
  bus/          stream names (streams.py), msgpack codec, the Redis bus (the only `import redis`)
  instruments   Kite's instruments master: load, write, resolve futures, option chains
  universe      the equity universe (NIFTY 50 / NIFTY 100)
  sim/          the seeded NSE market simulator (pure: no I/O)
  runtime/      service lifecycle, heartbeats, logging
"""
