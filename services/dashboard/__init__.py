"""The web dashboard: FastAPI + a vendored HTML/JS page, live over server-sent events.

Reads: the journals and checkpoints (history), and the streams ``orders.events``, ``fills``,
``positions``, ``signals``, ``risk.decisions``, ``control``, ``health``, ``bars`` as consumer
group ``dashboard`` (live). Writes: ``control`` (operator commands, token required),
``health`` (its heartbeat) and ``logs/dashboard_actions.jsonl``. Never touches an order.
See docs/dashboard.md.
"""
