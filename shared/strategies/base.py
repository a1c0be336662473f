"""The strategy interface: decisions, per-strategy state, the context an engine passes in.

A strategy is pure: it sees closed bars (with the indicator values the engine computed)
and, while it holds a position, ticks; it answers with ``StrategyDecision`` s. It never
sizes a position, never talks to a broker and never reads the wall clock.

The engine decides which decisions are taken (conflict resolution between strategies on
one symbol) and only then calls ``commit``: a strategy's ``positions`` are its *view*
(entered at the signal price), not the broker's book. ``memo`` is per-symbol scratch that
follows the market whatever happens to the decisions (the last EMA cross sign, bars since
the last exit), so a warm-up can rebuild it without trading.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt

from shared.candles import timeframe_ns
from shared.clock import IST_OFFSET_NS, NS
from shared.contracts import Bar, Tick
from shared.enums import SignalKind
from shared.errors import ConfigError
from shared.indicators import IndicatorValues
from shared.indicators.series import SeriesIndicators

DAY_NS: Final = 86_400 * NS
ENTRY_KINDS: Final = frozenset({SignalKind.LONG, SignalKind.SHORT})
DECISION_KINDS: Final = frozenset({SignalKind.LONG, SignalKind.SHORT, SignalKind.EXIT})

ParamValue = float | int | str | bool
JsonDict = dict[str, Any]

_HHMM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


# -- event-time helpers (integer arithmetic, no datetime on the hot path) -------------------
def ist_seconds(ts_ns: int) -> int:
    """Seconds since IST midnight of an event time."""
    return ((ts_ns + IST_OFFSET_NS) % DAY_NS) // NS


def ist_day_number(ts_ns: int) -> int:
    """Days since the epoch, counted in IST (changes at IST midnight)."""
    return (ts_ns + IST_OFFSET_NS) // DAY_NS


def parse_hhmm(value: str, *, where: str) -> int:
    """``"15:10"`` -> seconds since midnight; ConfigError naming ``where`` otherwise."""
    match = _HHMM.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{where}: expected an IST time 'HH:MM' such as '15:10', got {value!r}")
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60


def hhmm(seconds: int) -> str:
    """Seconds since midnight as ``"HH:MM"``."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


# -- decisions -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StrategyDecision:
    """What a strategy wants on one symbol now; the engine turns it into a Signal (and an intent).

    ``kind``: LONG/SHORT open a position, EXIT closes the strategy's own. ``price``: the
    price the decision assumes (0 = the bar close or the tick price; a stop hit inside a
    bar gives the stop level). ``stop``/``target``: absolute price levels, 0 = none. The
    context fields feed the ``signals.csv`` columns; left empty, the engine fills generic
    values (see ``shared.trading.records``).
    """

    kind: SignalKind
    confidence: float
    reason: str
    stop: float = 0.0
    target: float = 0.0
    price: float = 0.0
    trend_context: str = ""
    vol_regime: str = ""
    htf_trend: str = ""
    playbook: str = ""
    setup_type: str = ""

    def __post_init__(self) -> None:
        if self.kind not in DECISION_KINDS:
            raise ValueError(f"StrategyDecision.kind: expected LONG, SHORT or EXIT, got {self.kind!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"StrategyDecision.confidence: expected 0..1, got {self.confidence!r}")


def direction_of(kind: str) -> int:
    """+1 for LONG, -1 for SHORT."""
    return 1 if kind == SignalKind.LONG else -1


# -- state -------------------------------------------------------------------------------------
@dataclass(slots=True)
class PositionState:
    """A strategy's open position on one symbol (its view: entered at the signal price)."""

    side: str  # "LONG" or "SHORT"
    entry_price: float
    entry_ts: int
    stop: float = 0.0
    target: float = 0.0
    bars_in_trade: int = 0
    signal_id: str = ""

    @property
    def direction(self) -> int:
        return direction_of(self.side)


@dataclass(slots=True)
class DayStats:
    """A strategy's day so far, on its own view of fills; PnL in price points per unit."""

    day: int = -1  # IST day number (``ist_day_number``)
    trades: int = 0
    wins: int = 0
    losses: int = 0
    day_pnl: float = 0.0


@dataclass(slots=True)
class StrategyState:
    """Everything a strategy must keep across a restart, JSON-able through ``to_dict``."""

    positions: dict[str, PositionState] = field(default_factory=dict)
    memo: dict[str, JsonDict] = field(default_factory=dict)
    day: DayStats = field(default_factory=DayStats)

    def to_dict(self) -> JsonDict:
        return {
            "positions": {symbol: asdict(pos) for symbol, pos in self.positions.items()},
            "memo": {symbol: dict(values) for symbol, values in self.memo.items()},
            "day": asdict(self.day),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str) -> StrategyState:
        try:
            return cls(
                positions={symbol: PositionState(**pos) for symbol, pos in data["positions"].items()},
                memo={symbol: dict(values) for symbol, values in data["memo"].items()},
                day=DayStats(**data["day"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where}: bad strategy state ({exc!r}); expected keys positions, memo, day") from None


@dataclass(slots=True)
class StrategyContext:
    """What the engine knows about the symbol when it calls a strategy."""

    symbol: str
    logical: str
    exchange: str
    instrument_token: int
    ts_event: int
    timeframe: str
    position: PositionState | None
    memo: JsonDict
    htf: IndicatorValues | None = None  # the higher timeframe's indicator values, when declared and seen


# -- the backtester's bar path ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BarArrays:
    """One series of closed bars (one symbol, one timeframe) as columns, oldest first."""

    ts_open: npt.NDArray[np.int64]
    ts_event: npt.NDArray[np.int64]  # each bar's close (its bucket end), when strategies see it
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class VectorPlan:
    """Where a strategy's bar decisions can come from on one series (``Strategy.vector_plan``).

    The bar path calls ``evaluate_bar`` only on the bars where ``candidates`` is True, plus,
    while the strategy holds a position there, on bars where ``bar_exit`` would fire (when
    ``bar_exits``) and on the bars closing at ticks the engine handles anyway. Before each call
    ``sync(memo, i)`` puts the symbol's ``memo`` in the state that evaluating every bar before
    ``i`` would have left: the skipped bars must not change what the strategy decides
    (``i`` runs up to ``len(bars)``: the memory after the last bar, at the end of a run).
    """

    candidates: npt.NDArray[np.bool_]  # per bar: a decision may come here, flat or not
    sync: Callable[[JsonDict, int], None]
    bar_exits: bool = True  # in a position, ``bar_exit``'s stop / target / time exit may decide too


# -- the base class --------------------------------------------------------------------------
INTRADAY_DEFAULTS: Final[Mapping[str, ParamValue]] = {
    "entry_start": "09:15",  # no new entries before (IST)
    "entry_cutoff": "15:00",  # no new entries at or after (IST)
    "exit_time": "15:10",  # close any position at or after (IST), before the MIS square-off
    "long_only": False,
    "htf_timeframe": "",  # "" = none; else a timeframe the engine also builds (e.g. "15m")
}


class Strategy:
    """Base of every strategy: parameters, intraday time rules, state, exits on stops and time.

    Subclasses set ``name`` (the registry name), ``playbook`` and ``defaults`` (their own
    parameters; ``INTRADAY_DEFAULTS`` are added), read parameters in ``configure`` and
    implement ``on_bar``. ``on_tick`` defaults to stop/target/time exits of an open position.
    The engine calls ``evaluate_bar``/``evaluate_tick`` (which keep the bookkeeping) and,
    for each decision it takes, ``commit``.
    """

    name: ClassVar[str] = ""
    playbook: ClassVar[str] = ""
    defaults: ClassVar[Mapping[str, ParamValue]] = {}
    #: True: the engine calls ``on_tick`` on every tick of the symbol, flat or not (a strategy
    #: that enters on ticks); False (default): only while it holds a position there.
    ticks_when_flat: ClassVar[bool] = False

    def __init__(
        self,
        *,
        timeframe: str = "5m",
        priority: int = 0,
        params: Mapping[str, ParamValue] | None = None,
        strategy_id: str | None = None,
    ) -> None:
        raw = dict(params or {})
        given_id = raw.pop("id", None)
        self.id: str = str(strategy_id or given_id or self.name)
        self.timeframe = timeframe
        self.priority = int(priority)
        self.params: dict[str, ParamValue] = resolve_params(self.id, {**INTRADAY_DEFAULTS, **self.defaults}, raw)
        where = f"strategy {self.id!r}"
        self.entry_start_s = parse_hhmm(str(self.params["entry_start"]), where=f"{where} param entry_start")
        self.entry_cutoff_s = parse_hhmm(str(self.params["entry_cutoff"]), where=f"{where} param entry_cutoff")
        self.exit_time_s = parse_hhmm(str(self.params["exit_time"]), where=f"{where} param exit_time")
        if not self.entry_start_s < self.entry_cutoff_s <= self.exit_time_s:
            raise ConfigError(
                f"{where}: expected entry_start < entry_cutoff <= exit_time, got "
                f"{self.params['entry_start']} / {self.params['entry_cutoff']} / {self.params['exit_time']}"
            )
        self.long_only = bool(self.params["long_only"])
        self.htf_timeframe: str | None = str(self.params["htf_timeframe"]) or None
        if self.htf_timeframe is not None and self._htf_ns() <= timeframe_ns(timeframe):
            if "htf_timeframe" in raw:
                raise ConfigError(
                    f"{where} param htf_timeframe: {self.htf_timeframe!r} is not longer than "
                    f"its timeframe {timeframe!r}"
                )
            self.htf_timeframe = None  # a default that does not fit this timeframe: no higher timeframe
        self.state = StrategyState()
        self.configure()

    def _htf_ns(self) -> int:
        try:
            return timeframe_ns(str(self.htf_timeframe))
        except ValueError as exc:
            raise ConfigError(f"strategy {self.id!r} param htf_timeframe: {exc}") from None

    # -- hooks for subclasses ---------------------------------------------------------------
    def configure(self) -> None:
        """Read ``self.params`` into attributes (called once from ``__init__``)."""

    def on_bar(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
        """Decide on a closed bar of ``self.timeframe``; ``ind`` is its indicator values."""
        raise NotImplementedError

    def on_tick(self, tick: Tick, ctx: StrategyContext) -> list[StrategyDecision]:
        """Called for each tick of a symbol while this strategy holds a position there."""
        pos = ctx.position
        if pos is None:
            return []
        decision = self.tick_exit(tick.last_price, tick.ts_event, pos)
        return [decision] if decision is not None else []

    # -- what the engine calls ---------------------------------------------------------------
    @property
    def timeframes(self) -> tuple[str, ...]:
        """Every timeframe this strategy needs the engine to build."""
        return (self.timeframe, self.htf_timeframe) if self.htf_timeframe else (self.timeframe,)

    def evaluate_bar(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
        """Bookkeeping (bars in trade, bars since exit), then ``on_bar``."""
        if ctx.position is not None and bar.ts_event > ctx.position.entry_ts:
            ctx.position.bars_in_trade += 1
        since = ctx.memo.get("bars_since_exit")
        if since is not None:
            ctx.memo["bars_since_exit"] = since + 1
        return self.on_bar(bar, ind, ctx)

    def evaluate_tick(self, tick: Tick, ctx: StrategyContext) -> list[StrategyDecision]:
        return self.on_tick(tick, ctx)

    # -- the bar path (opt-in) -----------------------------------------------------------------
    def vector_plan(self, ind: SeriesIndicators, bars: BarArrays) -> VectorPlan | None:
        """Declare on which bars of a series a decision can come (see ``VectorPlan``); None = not supported.

        A strategy that returns a plan lets the backtester replay 1-minute candles on its bar
        path (``shared.backtest.bars``): indicators computed once as arrays, the strategy
        called only on these bars, the rest of the system only around its orders. The
        journals must come out identical to the tick path's; ``tests/unit/test_backtest_bars.py``
        is the proof for each strategy that opts in. The default (None) keeps the tick path.
        """
        return None

    def bar_path_problem(self) -> str:
        """Why this strategy cannot run on the bar path ("" when it can)."""
        cls = type(self)
        if cls.vector_plan is Strategy.vector_plan:
            return "it does not declare its candidate bars (Strategy.vector_plan)"
        if self.ticks_when_flat:
            return "it decides on ticks while flat (ticks_when_flat)"
        for name in ("on_tick", "evaluate_tick", "evaluate_bar", "tick_exit"):
            if getattr(cls, name) is not getattr(Strategy, name):
                return f"it overrides {name} (the bar path finds tick exits with the base rules only)"
        return ""

    def tick_exit_mask(
        self, pos: PositionState, ts: npt.NDArray[np.int64], price: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """Ticks (of one IST day) at which ``tick_exit`` fires for ``pos``: ``tick_exit``'s tests, vectorised."""
        d = pos.direction
        hit = ((ts + IST_OFFSET_NS) % DAY_NS) // NS >= self.exit_time_s
        if pos.stop > 0:
            hit |= (price - pos.stop) * d <= 0
        if pos.target > 0:
            hit |= (price - pos.target) * d >= 0
        return hit

    def bar_exit_mask(self, pos: PositionState, bars: BarArrays) -> npt.NDArray[np.bool_]:
        """Bars at which ``bar_exit`` fires for ``pos``: its stop, target and time tests, vectorised."""
        d = pos.direction
        hit = ((bars.ts_event + IST_OFFSET_NS) % DAY_NS) // NS >= self.exit_time_s
        adverse = bars.low if d > 0 else bars.high
        favourable = bars.high if d > 0 else bars.low
        if pos.stop > 0:
            hit |= (adverse - pos.stop) * d <= 0
        if pos.target > 0:
            hit |= (favourable - pos.target) * d >= 0
        return hit

    def memo_for(self, symbol: str) -> JsonDict:
        memo = self.state.memo.get(symbol)
        if memo is None:
            memo = self.state.memo[symbol] = {}
        return memo

    def commit(self, symbol: str, decision: StrategyDecision, price: float, ts_event: int, signal_id: str = "") -> None:
        """The engine took ``decision`` at ``price``: open or close this strategy's position."""
        self.roll_day(ist_day_number(ts_event))
        day = self.state.day
        if decision.kind == SignalKind.EXIT:
            pos = self.state.positions.pop(symbol, None)
            if pos is None:
                raise ValueError(f"strategy {self.id!r}: EXIT on {symbol} without a position")
            pnl = (price - pos.entry_price) * pos.direction
            day.day_pnl += pnl
            if pnl > 0:
                day.wins += 1
            else:
                day.losses += 1
            self.memo_for(symbol)["bars_since_exit"] = 0
            return
        if symbol in self.state.positions:
            raise ValueError(f"strategy {self.id!r}: {decision.kind} on {symbol} while already in a position")
        self.state.positions[symbol] = PositionState(
            side=str(decision.kind),
            entry_price=price,
            entry_ts=ts_event,
            stop=decision.stop,
            target=decision.target,
            signal_id=signal_id,
        )
        day.trades += 1

    def roll_day(self, day: int) -> int:
        """Start IST day ``day``: reset day stats, drop positions left from an earlier day.

        An intraday (MIS) position still open at a new day was squared off by the broker,
        so it is dropped without an EXIT. Returns how many were dropped.
        """
        if day <= self.state.day.day:  # forward only: a warm-up replaying older bars changes nothing
            return 0
        dropped = len(self.state.positions) if self.state.day.day >= 0 else 0
        self.state.positions.clear()
        self.state.day = DayStats(day=day)
        return dropped

    def snapshot(self) -> JsonDict:
        """The strategy's state as a JSON-able dict (``restore`` reads it back)."""
        return {"id": self.id, "name": self.name, "timeframe": self.timeframe, "state": self.state.to_dict()}

    def restore(self, data: Mapping[str, Any]) -> None:
        where = f"strategy {self.id!r} snapshot"
        if data.get("id") != self.id or data.get("name") != self.name:
            raise ValueError(
                f"{where}: it is of {data.get('name')!r}/{data.get('id')!r}, expected {self.name!r}/{self.id!r}"
            )
        self.state = StrategyState.from_dict(data["state"], where=where)

    # -- helpers for subclasses --------------------------------------------------------------
    def can_enter(self, ts_event: int) -> bool:
        """Inside the entry window [entry_start, entry_cutoff) IST."""
        seconds = ist_seconds(ts_event)
        return self.entry_start_s <= seconds < self.entry_cutoff_s

    def time_exit_due(self, ts_event: int) -> bool:
        return ist_seconds(ts_event) >= self.exit_time_s

    def exit_decision(self, reason: str, setup_type: str, *, price: float = 0.0) -> StrategyDecision:
        return StrategyDecision(
            SignalKind.EXIT, 1.0, reason, price=price, playbook=self.playbook, setup_type=setup_type
        )

    def tick_exit(self, price: float, ts_event: int, pos: PositionState) -> StrategyDecision | None:
        """Stop, target or time exit at a tick price (a long's stop: price <= stop)."""
        if pos.stop > 0 and (price - pos.stop) * pos.direction <= 0:
            return self.exit_decision(f"stop {pos.stop:.2f} hit", "STOP")
        if pos.target > 0 and (price - pos.target) * pos.direction >= 0:
            return self.exit_decision(f"target {pos.target:.2f} hit", "TARGET")
        if self.time_exit_due(ts_event):
            return self.exit_decision(f"time exit {hhmm(self.exit_time_s)} IST", "TIME_EXIT")
        return None

    def bar_exit(self, bar: Bar, pos: PositionState) -> StrategyDecision | None:
        """Stop or target inside the bar (its high/low), else the time exit at its close.

        When both stop and target lie inside one bar the stop is assumed first (no way to
        tell from OHLC; the cautious choice). A bar that opens beyond the level (a gap)
        exits at its open.
        """
        d = pos.direction
        adverse = bar.low if d > 0 else bar.high
        favourable = bar.high if d > 0 else bar.low
        if pos.stop > 0 and (adverse - pos.stop) * d <= 0:
            fill = bar.open if (bar.open - pos.stop) * d <= 0 else pos.stop
            return self.exit_decision(f"stop {pos.stop:.2f} hit", "STOP", price=fill)
        if pos.target > 0 and (favourable - pos.target) * d >= 0:
            fill = bar.open if (bar.open - pos.target) * d >= 0 else pos.target
            return self.exit_decision(f"target {pos.target:.2f} hit", "TARGET", price=fill)
        if self.time_exit_due(bar.ts_event):
            return self.exit_decision(f"time exit {hhmm(self.exit_time_s)} IST", "TIME_EXIT")
        return None


def resolve_params(
    strategy_id: str, defaults: Mapping[str, ParamValue], given: Mapping[str, Any]
) -> dict[str, ParamValue]:
    """``defaults`` overridden by ``given``; unknown keys and wrong types raise ConfigError."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(f"strategy {strategy_id!r}: unknown param(s) {unknown}; expected some of {sorted(defaults)}")
    out = dict(defaults)
    for key, value in given.items():
        default = defaults[key]
        where = f"strategy {strategy_id!r} param {key!r}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: expected true or false, got {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{where}: expected an integer, got {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where}: expected a number, got {value!r}")
            value = float(value)
        elif not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        out[key] = value
    return out


def clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
