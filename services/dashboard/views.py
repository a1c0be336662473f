"""API models built from the store (shared by the routes and the push channel)."""

from __future__ import annotations

import os
from typing import Any

from services.dashboard.schemas import (
    GroupLagOut,
    PortfolioOut,
    RedisStatusOut,
    ServiceHealthOut,
)
from services.dashboard.store import Store, ist_text
from shared.bus.redis_bus import Bus
from shared.cli import describe_streams
from shared.clock import NS, wall_ns
from shared.contracts import Heartbeat


def portfolio_view(store: Store, *, with_curve: bool = True) -> PortfolioOut:
    with store.lock:
        b = store.book
        return PortfolioOut(
            mode=b.mode, source=b.source, as_of_ns=b.as_of_ns, as_of=ist_text(b.as_of_ns), capital=b.capital,
            cash=b.cash, realized_pnl=b.realized_pnl, unrealized_pnl=b.unrealized_pnl, charges=b.charges,
            day_pnl=b.day_pnl, total_equity=b.total_equity, positions=list(b.positions),
            equity_curve=list(store.equity) if with_curve else [], session=store.session,
        )  # fmt: skip


def service_view(hb: Heartbeat, received_ns: int, now_ns: int) -> ServiceHealthOut:
    return ServiceHealthOut(
        service=hb.service, state=hb.state.value, pid=hb.pid, heartbeat_age_s=max(0.0, (now_ns - received_ns) / NS),
        last_heartbeat=ist_text(received_ns), detail=hb.detail, counters=dict(hb.counters),
    )  # fmt: skip


def services_view(store: Store) -> list[ServiceHealthOut]:
    now = wall_ns()
    with store.lock:
        beats = sorted(store.heartbeats.values(), key=lambda x: x[0].service)
    return [service_view(hb, received, now) for hb, received in beats]


def groups_view(bus: Bus) -> list[GroupLagOut]:
    out = []
    for row in describe_streams(bus.redis):
        for g in row["groups"]:
            lag = g["lag"]
            out.append(
                GroupLagOut(
                    stream=row["stream"], group=g["group"], consumers=int(g["consumers"]), pending=int(g["pending"]),
                    lag=int(lag) if lag is not None else None,
                )
            )
    return out


def redis_view(bus: Bus) -> RedisStatusOut:
    try:
        t0 = wall_ns()
        bus.redis.ping()
        latency = (wall_ns() - t0) / 1e6
        info: dict[str, Any] = bus.redis.info()
        return RedisStatusOut(
            ok=True, latency_ms=latency, version=str(info.get("redis_version", "")),
            used_memory_bytes=int(info.get("used_memory", 0)),
        )  # fmt: skip
    except Exception as exc:  # any failure is the answer here, not an error of the endpoint
        return RedisStatusOut(ok=False, latency_ms=None, error=str(exc)[:300])


def rss_bytes() -> int | None:
    """This process's resident memory (Linux /proc); None elsewhere."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
