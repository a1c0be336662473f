"""Service lifecycle: start-up, signals, heartbeats, logging."""
