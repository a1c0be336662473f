"""Strategies by name: the config's ``StrategySpec`` s become ``Strategy`` instances.

A strategy's id is its name, or ``params.id`` when one engine runs the same strategy twice
(for example on 5m and 15m): ids must be unique within an engine (signals, intents and
checkpoints are keyed by them).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.config import StrategySpec
from shared.errors import ConfigError
from shared.strategies.atm_short_straddle import AtmShortStraddle
from shared.strategies.base import Strategy
from shared.strategies.ema20_50_intraday import Ema2050Intraday
from shared.strategies.fno_intraday_trend import FnoIntradayTrend
from shared.strategies.tick_probe import TickProbe

STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Add a strategy class under its ``name`` (usable as a decorator)."""
    if not cls.name:
        raise ValueError(f"register: {cls.__qualname__} has no name")
    existing = STRATEGIES.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"register: {cls.name!r} is already {existing.__qualname__}")
    STRATEGIES[cls.name] = cls
    return cls


def available() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(STRATEGIES)


def build_strategy(spec: StrategySpec, *, where: str = "strategy_engine") -> Strategy:
    """One strategy from its spec; ConfigError naming ``where`` and the name when unknown."""
    cls = STRATEGIES.get(spec.name)
    if cls is None:
        raise ConfigError(f"{where}: unknown strategy {spec.name!r}; expected one of {available()}")
    return cls(timeframe=spec.timeframe, priority=spec.priority, params=dict(spec.params))


def build_strategies(specs: Iterable[StrategySpec], *, where: str = "strategy_engine") -> list[Strategy]:
    """Every spec of one engine, in order; duplicate ids raise ConfigError."""
    out: list[Strategy] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        strategy = build_strategy(spec, where=f"{where}[{i}]")
        if strategy.id in seen:
            raise ConfigError(f"{where}[{i}]: strategy id {strategy.id!r} used twice; give one of them params.id")
        seen.add(strategy.id)
        out.append(strategy)
    return out


register(Ema2050Intraday)
register(FnoIntradayTrend)
register(AtmShortStraddle)
register(TickProbe)
