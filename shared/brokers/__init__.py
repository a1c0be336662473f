"""The paper broker's pure domain, shared by the execution service and the backtester.

charges      Zerodha brokerage and statutory charges from a dated rate table
orders       ``Order`` and its state machine (transitions as data, idempotent fills)
fill_model   deterministic fills of an order against a depth snapshot
positions    net positions, PnL, cash and the MIS auto square-off times
base         the ``Broker`` protocol execution drives, and ``BrokerEvent`` (an order change)
paper        ``PaperBroker``: the above put together as a simulated Zerodha account

No I/O, no Redis, no wall clock: every time is an event time passed in.
See docs/paper-broker.md.
"""
