"""TradingEngine: ticks/bars -> indicators -> strategies -> signals and intents."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

from shared.clock import IST_OFFSET_NS, NS
from shared.config import StrategyEngineConfig, StrategySpec
from shared.contracts import Bar, OrderIntent, Signal, Tick
from shared.enums import OrderType, Product, Side, SignalKind
from shared.errors import ConfigError
from shared.indicators import IndicatorValues, ema
from shared.state.formats import signal_record
from shared.strategies import Ema2050Intraday, FnoIntradayTrend, Strategy, StrategyContext, StrategyDecision
from shared.trading import SIGNALS_CSV_COLUMNS, TradingEngine, equity_tag
from shared.trading.records import CONTEXT_KEYS

NS_MIN = 60 * NS
DAY0 = 1_763_337_600 * NS - IST_OFFSET_NS  # 2025-11-17 00:00 IST
OPEN = DAY0 + (9 * 60 + 15) * NS_MIN  # 09:15 IST
TOKEN, SYM = 7, "NIFTY25NOVFUT"
SYMBOLS = {TOKEN: ("NIFTY", SYM, "NFO")}
LONG, SHORT, EXIT, FLAT = SignalKind.LONG, SignalKind.SHORT, SignalKind.EXIT, SignalKind.FLAT


def at(hh: int, mm: int, ss: int = 0, day: int = 0) -> int:
    return DAY0 + day * 86_400 * NS + ((hh * 60 + mm) * 60 + ss) * NS


def minute_bar(i: int, close: float, *, day: int = 0, token: int = TOKEN, volume: int = 100) -> Bar:
    """The i-th 1m bar of a session (09:15 + i), flat OHLC at ``close``."""
    start = OPEN + day * 86_400 * NS + i * NS_MIN
    return Bar(
        ts_event=start + NS_MIN,
        instrument_token=token,
        symbol=SYM,
        timeframe="1m",
        ts_open=start,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=volume,
    )


def sine_closes(n: int = 375, period: int = 120) -> list[float]:
    return [round(100.0 + 5.0 * math.sin(2 * math.pi * i / period), 2) for i in range(n)]


def ema_engine(**kwargs: Any) -> TradingEngine:
    strategy = Ema2050Intraday(timeframe="1m", params={"htf_timeframe": ""})
    return TradingEngine("fno", [strategy], symbols=SYMBOLS, **kwargs)


def signals(outputs: Iterable[Signal | OrderIntent]) -> list[Signal]:
    return [o for o in outputs if isinstance(o, Signal)]


def intents(outputs: Iterable[Signal | OrderIntent]) -> list[OrderIntent]:
    return [o for o in outputs if isinstance(o, OrderIntent)]


def expected_crossover_signals(closes: Sequence[float]) -> list[tuple[int, str, float]]:
    """(bar close time, kind, price) from the batch EMAs and the strategy's written rules."""
    diff = ema(np.array(closes), 20) - ema(np.array(closes), 50)
    cutoff, exit_time = at(15, 0), at(15, 10)
    out: list[tuple[int, str, float]] = []
    last_sign = pos = 0
    for i, d in enumerate(diff):
        ts, close = OPEN + (i + 1) * NS_MIN, closes[i]
        cross = 0
        if not math.isnan(d) and d != 0:
            sign = 1 if d > 0 else -1
            cross = sign if last_sign and sign != last_sign else 0
            last_sign = sign
        if pos and ts >= exit_time:
            out.append((ts, "EXIT", close))
            pos = 0
            continue
        if pos and cross and cross != pos:
            out.append((ts, "EXIT", close))
            pos = 0
        if not pos and cross and ts < cutoff:
            out.append((ts, "LONG" if cross > 0 else "SHORT", close))
            pos = cross
    return out


# -- crossovers end to end -----------------------------------------------------------------------------
def test_crossovers_give_exactly_the_expected_signals_at_the_expected_bars() -> None:
    closes = sine_closes()
    engine = ema_engine()
    outputs = engine.on_bars(minute_bar(i, c) for i, c in enumerate(closes))
    got = [(s.ts_event, str(s.signal), s.price) for s in signals(outputs)]
    expected = expected_crossover_signals(closes)
    assert got == expected
    assert len(expected) >= 6 and expected[-1][1] == "EXIT"
    assert any(ts >= at(15, 0) and kind == "EXIT" for ts, kind, _ in expected)  # a late cross: exit, no entry
    assert engine.positions() == {"ema20_50_intraday": {}}


def test_ticks_through_the_candle_builder_give_the_same_outputs_as_bars() -> None:
    closes = sine_closes()
    by_bars = ema_engine().on_bars(minute_bar(i, c) for i, c in enumerate(closes))
    engine = ema_engine()
    by_ticks: list[Signal | OrderIntent] = []
    for i, c in enumerate(closes):
        t = Tick(
            ts_event=OPEN + i * NS_MIN + 30 * NS,
            instrument_token=TOKEN,
            exchange="NFO",
            symbol=SYM,
            last_price=c,
            volume=100 * (i + 1),
        )
        by_ticks += engine.on_tick(t)
    by_ticks += engine.flush(at(15, 30))
    assert by_ticks == by_bars
    assert engine.counters()["ticks"] == len(closes)


def test_intents_carry_side_product_stop_signal_link_and_tag() -> None:
    closes = sine_closes()
    engine = ema_engine(tag_fn=equity_tag, product=Product.MIS)
    outputs = engine.on_bars(minute_bar(i, c) for i, c in enumerate(closes))
    for sig, intent in zip(outputs[::2], outputs[1::2], strict=False):
        if not isinstance(intent, OrderIntent):
            break
        assert isinstance(sig, Signal) and intent.signal_id == sig.signal_id
        assert intent.ts_event == sig.ts_event and intent.quantity == 0
        assert intent.order_type == OrderType.MARKET and intent.product == Product.MIS
        assert intent.tag == f"EQ_{SYM}|ema20_50_intraday"
        assert (intent.engine, intent.strategy, intent.underlying) == ("fno", "ema20_50_intraday", "NIFTY")
        assert intent.reason.startswith(f"{sig.signal}:")
    first_exit = next(i for i, o in enumerate(outputs) if isinstance(o, Signal) and o.signal == EXIT)
    entry = outputs[1]
    exit_intent = outputs[first_exit + 1]
    assert isinstance(entry, OrderIntent) and isinstance(exit_intent, OrderIntent)
    assert exit_intent.side == (Side.SELL if entry.side == Side.BUY else Side.BUY)


def test_every_signals_csv_column_is_filled() -> None:
    closes = sine_closes()
    outputs = ema_engine(mode="paper", profile="INTRADAY").on_bars(minute_bar(i, c) for i, c in enumerate(closes))
    sigs = signals(outputs)
    assert sigs
    intents = [i for i in outputs if isinstance(i, OrderIntent)]
    assert intents and all(i.profile == "INTRADAY" for i in intents)
    for sig in sigs:
        row = signal_record(sig)  # what the journal writes
        assert set(row) == set(SIGNALS_CSV_COLUMNS)
        assert all(isinstance(sig.indicators[k], str) and sig.indicators[k] for k in CONTEXT_KEYS)
        assert (row["profile"], row["mode"], row["tf"], row["strategy"]) == ("INTRADAY", "paper", "1m", sig.strategy)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(row["timestamp"]))
        for key in ("ema20", "ema50", "rsi14", "atr", "adx14", "adx", "vwap", "rel_volume"):
            assert isinstance(row[key], float), key
        assert row["vol_spike"] in (True, False)
        assert row["setup_type"] in ("CROSSOVER", "TIME_EXIT") and row["playbook"] == "TREND_FOLLOW"
        assert row["trend_context"] in ("UPTREND", "DOWNTREND", "RANGE")
        assert row["vol_regime"] in ("LOW", "NORMAL", "HIGH")
        assert row["htf_trend"] == "NA"  # this strategy has no higher timeframe


# -- ids -------------------------------------------------------------------------------------------------
def test_ids_are_deterministic_unique_and_kite_tag_sized() -> None:
    bars = [minute_bar(i, c) for i, c in enumerate(sine_closes())]
    first, second = ema_engine().on_bars(bars), ema_engine().on_bars(bars)
    assert first == second
    ids = [i.intent_id for i in intents(first)]
    assert len(ids) == len(set(ids)) >= 6
    assert all(re.fullmatch(r"[0-9a-f]{20}", i) for i in ids)
    sids = [s.signal_id for s in signals(first)]
    assert len(sids) == len(set(sids))
    other = TradingEngine(
        "equity", [Ema2050Intraday(timeframe="1m", params={"htf_timeframe": ""})], symbols=SYMBOLS
    ).on_bars(bars)
    assert not {i.intent_id for i in intents(other)} & set(ids)  # the engine is part of the id


def test_a_redelivered_bar_produces_nothing() -> None:
    closes = sine_closes()
    engine = ema_engine()
    bars = [minute_bar(i, c) for i, c in enumerate(closes)]
    outputs = engine.on_bars(bars)
    first_signal_bar = next(i for i, b in enumerate(bars) if b.ts_event == signals(outputs)[0].ts_event)
    assert engine.on_bar(bars[first_signal_bar]) == []
    assert engine.counters()["stale_bars"] == 1


# -- scripted strategies for conflicts, stops, time rules ----------------------------------------------
class Scripted(Strategy):
    """Returns the decisions scripted for each bar close; the base class handles ticks."""

    name: ClassVar[str] = "scripted"
    playbook: ClassVar[str] = "TEST"

    def __init__(self, sid: str, script: dict[int, list[StrategyDecision]], priority: int = 0, **params: Any) -> None:
        super().__init__(timeframe="1m", priority=priority, params=params, strategy_id=sid)
        self.script = script

    def on_bar(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
        return list(self.script.get(bar.ts_event, []))


def dec(kind: SignalKind, confidence: float = 0.5, *, stop: float = 0.0, target: float = 0.0) -> StrategyDecision:
    return StrategyDecision(kind, confidence, f"scripted {kind}", stop=stop, target=target)


T1, T2, T3 = OPEN + NS_MIN, OPEN + 2 * NS_MIN, OPEN + 3 * NS_MIN


def run_script(mode: str, a: dict[int, list[StrategyDecision]], b: dict[int, list[StrategyDecision]], **kw: Any):  # type: ignore[no-untyped-def]
    engine = TradingEngine(
        "fno",
        [Scripted("a", a, priority=kw.get("pa", 0)), Scripted("b", b, priority=kw.get("pb", 0))],
        mode,
        symbols=SYMBOLS,
    )
    return engine, engine.on_bars([minute_bar(0, 100.0), minute_bar(1, 100.0), minute_bar(2, 100.0)])


def summary(outputs: Iterable[Signal | OrderIntent]) -> list[tuple[str, str]]:
    return [(s.strategy, str(s.signal)) for s in signals(outputs)]


@pytest.mark.parametrize(
    ("mode", "expected", "taken"),
    [
        ("highest_confidence", [("b", "SHORT"), ("a", "FLAT")], "b"),
        ("priority", [("a", "LONG"), ("b", "FLAT")], "a"),
        ("net_out", [("a", "FLAT"), ("b", "FLAT")], None),
    ],
)
def test_conflict_resolution_modes_on_opposite_entries(
    mode: str, expected: list[tuple[str, str]], taken: str | None
) -> None:
    engine, outputs = run_script(mode, {T1: [dec(LONG, 0.6)]}, {T1: [dec(SHORT, 0.9)]}, pa=5, pb=1)
    assert summary(outputs) == expected
    assert [i.strategy for i in intents(outputs)] == ([taken] if taken else [])
    dropped = [s for s in signals(outputs) if s.signal == FLAT]
    assert all(re.match(r"(LONG|SHORT) dropped \(" + mode, s.reason) for s in dropped)
    assert engine.counters()["dropped"] == len(dropped)


def test_net_out_with_entries_on_one_side_takes_the_most_confident() -> None:
    _, outputs = run_script("net_out", {T1: [dec(LONG, 0.6)]}, {T1: [dec(LONG, 0.9)]})
    assert summary(outputs) == [("b", "LONG"), ("a", "FLAT")]


def test_ties_break_by_priority_then_id() -> None:
    _, outputs = run_script("highest_confidence", {T1: [dec(LONG, 0.7)]}, {T1: [dec(SHORT, 0.7)]}, pb=1)
    assert summary(outputs)[0] == ("b", "SHORT")
    _, outputs = run_script("priority", {T1: [dec(LONG, 0.7)]}, {T1: [dec(SHORT, 0.7)]})
    assert summary(outputs)[0] == ("a", "LONG")


def test_opposite_position_of_another_strategy_blocks_entries_until_it_exits() -> None:
    a = {T1: [dec(LONG)], T3: [dec(EXIT)]}
    b = {T2: [dec(SHORT, 0.99)], T3: [dec(SHORT, 0.99)]}
    engine, outputs = run_script("highest_confidence", a, b)
    assert summary(outputs) == [("a", "LONG"), ("b", "FLAT"), ("a", "EXIT"), ("b", "SHORT")]
    assert "opposite position held by a" in signals(outputs)[1].reason
    assert [i.side for i in intents(outputs)] == [Side.BUY, Side.SELL, Side.SELL]
    assert engine.positions() == {"a": {}, "b": {SYM: "SHORT"}}


def test_exits_always_pass_and_stale_proposals_are_dropped() -> None:
    a = {T1: [dec(LONG)], T2: [dec(LONG, 0.99)], T3: [dec(EXIT)]}
    b = {T1: [dec(EXIT)], T3: [dec(LONG, 0.2)]}
    _, outputs = run_script("highest_confidence", a, b)
    assert summary(outputs) == [("a", "LONG"), ("b", "FLAT"), ("a", "FLAT"), ("a", "EXIT"), ("b", "LONG")]
    reasons = [s.reason for s in signals(outputs) if s.signal == FLAT]
    assert "no position" in reasons[0] and "already in position" in reasons[1]


def test_atr_stop_on_ticks_exits_at_the_tick_price_with_an_id_independent_of_the_tick() -> None:
    def engine_after_entry() -> TradingEngine:
        engine = TradingEngine("fno", [Scripted("a", {T1: [dec(LONG, stop=98.0, target=104.0)]})], symbols=SYMBOLS)
        engine.on_bars([minute_bar(0, 100.0)])
        return engine

    def stop_tick(ts: int, price: float) -> Tick:
        return Tick(ts_event=ts, instrument_token=TOKEN, exchange="NFO", symbol=SYM, last_price=price)

    engine = engine_after_entry()
    assert engine.on_tick(stop_tick(T1 + 5 * NS, 98.5)) == []
    sig, intent = engine.on_tick(stop_tick(T1 + 20 * NS, 97.9))
    assert isinstance(sig, Signal) and isinstance(intent, OrderIntent)
    assert (sig.signal, sig.price, sig.ts_event, intent.side) == (EXIT, 97.9, T1 + 20 * NS, Side.SELL)
    assert "stop 98.00 hit" in sig.reason and sig.indicators["setup_type"] == "STOP"
    assert engine.positions() == {"a": {}}
    assert engine.on_tick(stop_tick(T1 + 25 * NS, 97.0)) == []  # flat: ticks skip the strategy

    later = engine_after_entry().on_tick(stop_tick(T1 + 50 * NS, 97.5))
    assert intents(later)[0].intent_id == intent.intent_id  # same bar bucket, another tick: same id
    target = engine_after_entry().on_tick(stop_tick(T1 + 50 * NS, 104.0))
    assert signals(target)[0].indicators["setup_type"] == "TARGET"


def test_time_exit_on_ticks_and_no_entries_after_the_cutoff() -> None:
    entry_ts = at(14, 59)
    late = at(15, 0)
    engine = TradingEngine(
        "fno", [Scripted("a", {entry_ts: [dec(LONG)]}), Ema2050Intraday(timeframe="1m")], symbols=SYMBOLS
    )
    assert summary(engine.on_bars([minute_bar((entry_ts - OPEN) // NS_MIN - 1, 100.0)])) == [("a", "LONG")]
    tick = Tick(ts_event=at(15, 10, 0), instrument_token=TOKEN, exchange="NFO", symbol=SYM, last_price=101.0)
    out = engine.on_tick(tick)
    assert summary(out) == [("a", "EXIT")] and signals(out)[0].indicators["setup_type"] == "TIME_EXIT"
    ema_strategy = engine.strategies[1]
    assert not ema_strategy.can_enter(late) and ema_strategy.can_enter(late - NS)


def test_a_new_day_drops_positions_without_emitting_an_exit() -> None:
    engine = TradingEngine("fno", [Scripted("a", {T1: [dec(LONG)]})], symbols=SYMBOLS)
    engine.on_bars([minute_bar(0, 100.0)])
    next_day = Tick(ts_event=at(9, 15, 5, day=1), instrument_token=TOKEN, exchange="NFO", symbol=SYM, last_price=90.0)
    assert engine.on_tick(next_day) == []
    assert engine.positions() == {"a": {}}
    assert engine.counters()["positions_dropped_at_day_end"] == 1


def test_unknown_instruments_are_ignored_and_counted() -> None:
    engine = ema_engine()
    assert engine.on_tick(Tick(ts_event=T1, instrument_token=99, exchange="NFO", symbol="X", last_price=1.0)) == []
    assert engine.on_bar(minute_bar(0, 1.0, token=99)) == []
    assert (engine.counters()["unknown_ticks"], engine.counters()["unknown_bars"]) == (1, 1)


# -- configuration ---------------------------------------------------------------------------------------
def test_from_config_builds_the_engines_strategies() -> None:
    cfg = StrategyEngineConfig(
        conflict_resolution="priority",
        engines={"fno": [StrategySpec(name="fno_intraday_trend"), StrategySpec(name="ema20_50_intraday", priority=2)]},
    )
    engine = TradingEngine.from_config("fno", cfg, symbols=SYMBOLS)
    assert [s.id for s in engine.strategies] == ["fno_intraday_trend", "ema20_50_intraday"]
    assert engine.conflict_resolution == "priority" and engine.timeframes == ("5m", "15m")
    assert TradingEngine.from_config("options", cfg, symbols=SYMBOLS).strategies == ()
    bad = StrategyEngineConfig(engines={"fno": [StrategySpec(name="nope")]})
    with pytest.raises(ConfigError, match=r"strategy_engine\.engines\.fno\[0\]: unknown strategy 'nope'"):
        TradingEngine.from_config("fno", bad, symbols=SYMBOLS)


def test_exit_time_must_precede_the_mis_square_off_of_each_exchange() -> None:
    late = {"exit_time": "15:20"}
    TradingEngine("fno", [Ema2050Intraday(params=late)], symbols=SYMBOLS)  # NFO squares off at 15:25
    with pytest.raises(ConfigError, match=r"exit_time 15:20 is not before the MIS square-off 15:20 of NSE"):
        TradingEngine("equity", [Ema2050Intraday(params=late)], symbols={1: ("INFY", "INFY", "NSE")})
    TradingEngine("equity", [Ema2050Intraday(params=late)], symbols={1: ("INFY", "INFY", "NSE")}, product=Product.CNC)
    with pytest.raises(ConfigError, match="conflict_resolution: 'vote'"):
        TradingEngine("fno", [], "vote", symbols=SYMBOLS)


# -- warm-up and restart ---------------------------------------------------------------------------------
def test_warm_up_emits_nothing_and_never_opens_positions() -> None:
    bars = [minute_bar(i, c) for i, c in enumerate(sine_closes())]
    live = ema_engine()
    live.on_bars(bars)
    warm = ema_engine()
    assert warm.warm_up(bars) == len(bars)
    assert warm.counters()["signals"] == warm.counters()["intents"] == 0
    assert warm.positions() == {"ema20_50_intraday": {}}
    # the market memory follows the bars (no trades: no bars_since_exit)
    assert warm.strategies[0].state.memo[SYM]["sign"] == live.strategies[0].state.memo[SYM]["sign"]
    assert "bars_since_exit" not in warm.strategies[0].state.memo[SYM]
    assert warm.warm_up(bars) == 0  # already seen: skipped


def test_warm_up_then_live_bars_equal_an_engine_that_saw_everything_live() -> None:
    closes = sine_closes()
    bars = [minute_bar(i, c) for i, c in enumerate(closes)]
    first_signal_ts = expected_crossover_signals(closes)[0][0]
    split = next(i for i, b in enumerate(bars) if b.ts_event >= first_signal_ts) - 2
    assert split > 50  # past the EMA50 warm-up: the warm-up set the last cross sign
    everything = ema_engine().on_bars(bars)
    warm = ema_engine()
    warm.warm_up(bars[:split])
    assert warm.on_bars(bars[split:]) == everything


def test_snapshot_restore_round_trip_on_bars_mid_position() -> None:
    closes = sine_closes()
    bars = [minute_bar(i, c) for i, c in enumerate(closes)]
    split = (expected_crossover_signals(closes)[0][0] - OPEN) // NS_MIN + 5
    reference = ema_engine()
    reference.on_bars(bars[:split])
    assert reference.positions()["ema20_50_intraday"]  # in a position at the split
    snap = json.loads(json.dumps(reference.snapshot(), allow_nan=False))
    restored = ema_engine()
    assert restored.restore(snap) == []
    assert restored.on_bars(bars[split:]) == reference.on_bars(bars[split:])


def random_walk_ticks(days: int = 3, step_s: int = 5, seed: int = 7) -> list[Tick]:
    rng = random.Random(seed)
    price, out = 24_500.0, []
    for day in range(days):
        base = OPEN + day * 86_400 * NS
        for k in range(375 * 60 // step_s):
            price = max(1.0, price + rng.gauss(0.05 * math.sin(k / 900 + day), 2.5))
            ts = base + k * step_s * NS
            out.append(
                Tick(ts_event=ts, instrument_token=TOKEN, exchange="NFO", symbol=SYM, last_price=round(price, 1))
            )
    return out


def drive(engine: TradingEngine, ticks: Sequence[Tick], flush_every: int = 15 * NS_MIN) -> list[Signal | OrderIntent]:
    """Feed ticks, flushing at every 15-minute boundary of the session (as a service timer would)."""
    out: list[Signal | OrderIntent] = []
    for t in ticks:
        boundary = OPEN + (t.ts_event - OPEN) // flush_every * flush_every
        out += engine.flush(boundary)
        out += engine.on_tick(t)
    return out


def both_strategies() -> TradingEngine:
    return TradingEngine("fno", [FnoIntradayTrend(), Ema2050Intraday()], symbols=SYMBOLS)


def test_snapshot_restore_round_trip_on_ticks_gives_identical_subsequent_output() -> None:
    ticks = random_walk_ticks()
    reference = both_strategies()
    reference_out: list[list[Signal | OrderIntent]] = []
    split = None
    for i, t in enumerate(ticks):
        on_boundary = t.ts_event >= OPEN + 86_400 * NS and (t.ts_event - OPEN) % (15 * NS_MIN) == 0
        if split is None and on_boundary and any(reference.positions().values()):
            split = i
        reference_out.append(drive(reference, [t]))
    assert split is not None, "the walk should leave a position open at some 15m boundary of day 2+"
    expected = [o for chunk in reference_out[split:] for o in chunk]
    assert len(signals(expected)) >= 2

    before = both_strategies()
    drive(before, ticks[:split])
    before.flush(ticks[split].ts_event)
    snap = json.loads(json.dumps(before.snapshot(), allow_nan=False))
    restored = both_strategies()
    assert restored.restore(snap) == []
    assert any(restored.positions().values())
    assert drive(restored, ticks[split:]) == expected


def test_a_snapshot_taken_mid_bar_restores_the_bars_in_progress() -> None:
    ticks = random_walk_ticks()
    reference = both_strategies()
    outputs = [drive(reference, [t]) for t in ticks]
    # mid-bar of every timeframe: 7 minutes and a bit into a 15m bar of day 2
    split = next(i for i, t in enumerate(ticks)
                 if t.ts_event >= OPEN + 86_400 * NS and (t.ts_event - OPEN) % (15 * NS_MIN) > 7 * NS_MIN)  # fmt: skip
    before = both_strategies()
    drive(before, ticks[:split])
    snap = json.loads(json.dumps(before.snapshot(), allow_nan=False))
    restored = both_strategies()
    assert restored.restore(snap) == []  # nothing partial: the candles came back too
    assert drive(restored, ticks[split:]) == [o for chunk in outputs[split:] for o in chunk]
    assert {k: v.values for k, v in restored._series.items()} == {k: v.values for k, v in reference._series.items()}
    snap.pop("candles")  # a checkpoint from before the candles were kept: restored, with a note
    assert any("may be partial" in n for n in both_strategies().restore(snap))


def test_restore_rejects_another_engines_snapshot_and_notes_unknown_strategies() -> None:
    snap = ema_engine().snapshot()
    with pytest.raises(ValueError, match="expected format 1 of 'equity'"):
        TradingEngine("equity", [], symbols=SYMBOLS).restore(snap)
    other = TradingEngine("fno", [Scripted("a", {})], symbols=SYMBOLS)
    notes = other.restore(snap)
    assert any("'ema20_50_intraday' skipped" in n for n in notes) and any("'a' starts fresh" in n for n in notes)


# -- strategies that trade on ticks while flat (ticks_when_flat) ------------------------------
def test_tick_probe_enters_and_exits_on_ticks_with_one_id_per_minute_and_kind() -> None:
    from shared.strategies.tick_probe import TickProbe

    probe = TickProbe(timeframe="1m", params={"enter_at": 2, "spread_ticks": 1, "hold_ticks": 3})
    engine = TradingEngine("fno", [probe], symbols=SYMBOLS)
    intents: list[OrderIntent] = []
    for k in range(12 * 60):  # 12 minutes of one tick a second from 09:20
        ts = at(9, 20, 0) + k * NS
        tick = Tick(ts_event=ts, instrument_token=TOKEN, exchange="NFO", symbol=SYM, last_price=100.0 + (k % 7) * 0.05)
        intents += [m for m in engine.on_tick(tick) if isinstance(m, OrderIntent)]
    sides = [i.side for i in intents]
    assert sides == [Side.BUY, Side.SELL] * 12  # one round trip a minute
    for i in intents:  # decided on a tick: the intent carries that tick's event time
        second = (i.ts_event - at(9, 20, 0)) // NS
        assert second % 60 == (1 if i.side == Side.BUY else 4)  # the 2nd tick of the minute, then 3 ticks held
    assert len({i.intent_id for i in intents}) == len(intents)
    assert all(i.stop_loss == pytest.approx(i.ref_price * 0.995) for i in intents if i.side == Side.BUY)


def test_a_strategy_without_ticks_when_flat_sees_no_ticks_while_flat() -> None:
    seen: list[int] = []

    class Watcher(Strategy):
        name: ClassVar[str] = "watcher"

        def on_bar(self, bar: Bar, ind: IndicatorValues, ctx: StrategyContext) -> list[StrategyDecision]:
            return []

        def on_tick(self, tick: Tick, ctx: StrategyContext) -> list[StrategyDecision]:
            seen.append(tick.ts_event)
            return []

    engine = TradingEngine("fno", [Watcher(timeframe="1m")], symbols=SYMBOLS)
    engine.on_tick(Tick(ts_event=at(9, 20), instrument_token=TOKEN, exchange="NFO", symbol=SYM, last_price=100.0))
    assert seen == []
    Watcher.ticks_when_flat = True
    engine = TradingEngine("fno", [Watcher(timeframe="1m")], symbols=SYMBOLS)
    engine.on_tick(Tick(ts_event=at(9, 21), instrument_token=TOKEN, exchange="NFO", symbol=SYM, last_price=100.0))
    assert seen == [at(9, 21)]
