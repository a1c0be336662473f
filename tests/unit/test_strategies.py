"""The seed's strategies and the strategy base, called directly with hand-made indicator values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.clock import IST_OFFSET_NS, NS
from shared.config import StrategySpec
from shared.contracts import Bar, Tick
from shared.enums import SignalKind
from shared.errors import ConfigError
from shared.indicators import SIGNAL_KEYS, IndicatorValues
from shared.strategies import (
    Ema2050Intraday,
    FnoIntradayTrend,
    Strategy,
    StrategyContext,
    StrategyDecision,
    available,
    build_strategies,
    build_strategy,
)
from shared.strategies.base import ist_day_number, ist_seconds, parse_hhmm

DAY0 = 1_763_337_600 * NS - IST_OFFSET_NS  # 2025-11-17 00:00 IST
SYM = "NIFTY25NOVFUT"
LONG, SHORT, EXIT = SignalKind.LONG, SignalKind.SHORT, SignalKind.EXIT


def at(hh: int, mm: int, ss: int = 0, day: int = 0) -> int:
    return DAY0 + day * 86_400 * NS + ((hh * 60 + mm) * 60 + ss) * NS


def bar(
    ts: int, close: float, *, high: float | None = None, low: float | None = None, open_: float | None = None
) -> Bar:
    o = close if open_ is None else open_
    return Bar(
        ts_event=ts,
        instrument_token=1,
        symbol=SYM,
        timeframe="5m",
        ts_open=ts - 300 * NS,
        open=o,
        high=max(o, close) if high is None else high,
        low=min(o, close) if low is None else low,
        close=close,
        volume=1000,
    )


def tick(ts: int, price: float) -> Tick:
    return Tick(ts_event=ts, instrument_token=1, exchange="NFO", symbol=SYM, last_price=price)


def ind(**values: Any) -> IndicatorValues:
    out: IndicatorValues = dict.fromkeys(SIGNAL_KEYS)
    out["vol_spike"] = False
    out.update(values)
    return out


def ctx(strategy: Strategy, ts: int, htf: IndicatorValues | None = None) -> StrategyContext:
    return StrategyContext(
        symbol=SYM,
        logical="NIFTY",
        exchange="NFO",
        instrument_token=1,
        ts_event=ts,
        timeframe=strategy.timeframe,
        position=strategy.state.positions.get(SYM),
        memo=strategy.memo_for(SYM),
        htf=htf,
    )


def run_bar(
    strategy: Strategy, b: Bar, values: IndicatorValues, htf: IndicatorValues | None = None
) -> list[StrategyDecision]:
    """Like the engine with one strategy: evaluate, then commit every decision at its price."""
    decisions = strategy.evaluate_bar(b, values, ctx(strategy, b.ts_event, htf))
    for d in decisions:
        strategy.commit(SYM, d, d.price or b.close, b.ts_event)
    return decisions


def run_tick(strategy: Strategy, t: Tick) -> list[StrategyDecision]:
    decisions = strategy.evaluate_tick(t, ctx(strategy, t.ts_event))
    for d in decisions:
        strategy.commit(SYM, d, d.price or t.last_price, t.ts_event)
    return decisions


def kinds(decisions: list[StrategyDecision]) -> list[str]:
    return [str(d.kind) for d in decisions]


def ema_ind(diff: float, atr: float = 10.0) -> IndicatorValues:
    return ind(ema20=100.0 + diff, ema50=100.0, atr=atr)


# -- time helpers ---------------------------------------------------------------------------------
def test_ist_helpers_count_from_ist_midnight() -> None:
    assert ist_seconds(at(15, 10)) == 15 * 3600 + 600
    assert ist_day_number(at(23, 59)) == ist_day_number(at(0, 0)) == ist_day_number(at(0, 0, day=1)) - 1
    assert parse_hhmm("09:15", where="x") == 33_300


@pytest.mark.parametrize("bad", ["9.15", "25:00", "15:60", "", "15"])
def test_parse_hhmm_rejects_malformed_times_naming_the_key(bad: str) -> None:
    with pytest.raises(ConfigError, match="param exit_time"):
        parse_hhmm(bad, where="strategy 'x' param exit_time")


# -- ema20_50_intraday --------------------------------------------------------------------------------
def test_ema_cross_up_is_long_then_cross_down_exits_and_reverses() -> None:
    s = Ema2050Intraday(params={"htf_timeframe": ""})
    diffs = [-2.0, -1.0, 0.5, 1.0, 2.0, -0.3, -1.0]
    got = [kinds(run_bar(s, bar(at(10, 5 * i), 100.0), ema_ind(d))) for i, d in enumerate(diffs)]
    assert got == [[], [], ["LONG"], [], [], ["EXIT", "SHORT"], []]
    assert s.state.positions[SYM].side == "SHORT"
    assert s.state.day.trades == 2


def test_ema_first_warm_bar_is_no_cross_and_touching_zero_is_no_cross() -> None:
    s = Ema2050Intraday(params={"htf_timeframe": ""})
    seq = [ema_ind(5.0), ema_ind(0.0), ema_ind(3.0), ind(), ema_ind(-1.0)]
    got = [kinds(run_bar(s, bar(at(10, 5 * i), 100.0), v)) for i, v in enumerate(seq)]
    assert got == [[], [], [], [], ["SHORT"]]


def test_ema_zero_between_opposite_signs_still_crosses_once() -> None:
    s = Ema2050Intraday(params={"htf_timeframe": ""})
    got = [kinds(run_bar(s, bar(at(10, 5 * i), 100.0), ema_ind(d))) for i, d in enumerate([-1.0, 0.0, 1.0, 1.0])]
    assert got == [[], [], ["LONG"], []]


def test_ema_long_only_never_shorts_but_exits_on_the_down_cross() -> None:
    s = Ema2050Intraday(params={"long_only": True, "htf_timeframe": ""})
    diffs = [1.0, -1.0, 1.0, -1.0]
    got = [kinds(run_bar(s, bar(at(10, 5 * i), 100.0), ema_ind(d))) for i, d in enumerate(diffs)]
    assert got == [[], [], ["LONG"], ["EXIT"]]
    assert SYM not in s.state.positions


def test_ema_without_reverse_only_exits_on_the_opposite_cross() -> None:
    s = Ema2050Intraday(params={"reverse": False, "htf_timeframe": ""})
    got = [kinds(run_bar(s, bar(at(10, 5 * i), 100.0), ema_ind(d))) for i, d in enumerate([-1.0, 1.0, -1.0])]
    assert got == [[], ["LONG"], ["EXIT"]]


@pytest.mark.parametrize(("hh", "mm", "expected"), [(14, 55, ["LONG"]), (15, 0, []), (15, 5, []), (9, 15, ["LONG"])])
def test_ema_enters_only_before_the_cutoff(hh: int, mm: int, expected: list[str]) -> None:
    s = Ema2050Intraday(params={"entry_cutoff": "15:00", "htf_timeframe": ""})
    run_bar(s, bar(at(hh, mm) - 300 * NS, 100.0), ema_ind(-1.0))
    assert kinds(run_bar(s, bar(at(hh, mm), 100.0), ema_ind(1.0))) == expected


def test_ema_entry_start_blocks_early_crosses() -> None:
    s = Ema2050Intraday(params={"entry_start": "09:30", "htf_timeframe": ""})
    run_bar(s, bar(at(9, 20), 100.0), ema_ind(-1.0))
    assert run_bar(s, bar(at(9, 25), 100.0), ema_ind(1.0)) == []


def test_ema_time_exit_at_exit_time_on_bar_and_on_tick() -> None:
    s = Ema2050Intraday(params={"exit_time": "15:10", "htf_timeframe": ""})
    run_bar(s, bar(at(14, 0), 100.0), ema_ind(-1.0))
    assert kinds(run_bar(s, bar(at(14, 5), 100.0), ema_ind(1.0))) == ["LONG"]
    assert run_bar(s, bar(at(15, 5), 101.0), ema_ind(1.0)) == []
    assert run_tick(s, tick(at(15, 9, 59), 101.0)) == []
    exits = run_tick(s, tick(at(15, 10, 1), 102.0))
    assert kinds(exits) == ["EXIT"] and exits[0].setup_type == "TIME_EXIT"
    assert s.state.day.wins == 1 and s.state.day.day_pnl == pytest.approx(2.0)

    s2 = Ema2050Intraday(params={"exit_time": "15:10", "htf_timeframe": ""})
    run_bar(s2, bar(at(14, 0), 100.0), ema_ind(-1.0))
    run_bar(s2, bar(at(14, 5), 100.0), ema_ind(1.0))
    exits = run_bar(s2, bar(at(15, 10), 99.0), ema_ind(1.0))
    assert kinds(exits) == ["EXIT"] and exits[0].setup_type == "TIME_EXIT"
    assert s2.state.day.losses == 1


def test_ema_confidence_grows_with_separation_over_atr_and_stays_in_0_1() -> None:
    def confidence(diff: float) -> float:
        s = Ema2050Intraday(params={"htf_timeframe": ""})
        run_bar(s, bar(at(10, 0), 100.0), ema_ind(-1.0))
        (d,) = run_bar(s, bar(at(10, 5), 100.0), ema_ind(diff, atr=10.0))
        return d.confidence

    small, mid, huge = confidence(0.01), confidence(2.5), confidence(1e6)
    assert 0.5 <= small < mid < huge == 1.0
    assert mid == pytest.approx(0.5 + 0.5 * (0.25 / 0.5))


def test_ema_optional_atr_stop_and_target_are_set_from_the_close() -> None:
    s = Ema2050Intraday(params={"stop_atr": 2.0, "target_atr": 4.0, "htf_timeframe": ""})
    run_bar(s, bar(at(10, 0), 100.0), ema_ind(1.0))
    (d,) = run_bar(s, bar(at(10, 5), 100.0), ema_ind(-1.0, atr=5.0))
    assert (d.kind, d.stop, d.target) == (SHORT, 110.0, 80.0)


def test_ema_htf_filter_blocks_entries_against_the_higher_timeframe() -> None:
    bearish = ind(ema20=90.0, ema50=100.0)
    s = Ema2050Intraday(params={"htf_filter": True})
    assert s.timeframes == ("5m", "15m")
    run_bar(s, bar(at(10, 0), 100.0), ema_ind(-1.0), bearish)
    assert run_bar(s, bar(at(10, 5), 100.0), ema_ind(1.0), bearish) == []
    assert kinds(run_bar(s, bar(at(10, 10), 100.0), ema_ind(-1.0), bearish)) == ["SHORT"]


# -- fno_intraday_trend --------------------------------------------------------------------------------
BULL_HTF = ind(ema20=105.0, ema50=100.0)
BEAR_HTF = ind(ema20=95.0, ema50=100.0)


def trend_ind(direction: int = 1, *, adx: float = 30.0, vwap: float | None = 99.0, atr: float = 2.0) -> IndicatorValues:
    return ind(ema20=100.0 + direction, ema50=100.0, adx14=adx, adx=adx, atr=atr, vwap=vwap)


def test_fno_enters_long_with_atr_stop_and_target_when_everything_agrees() -> None:
    s = FnoIntradayTrend()
    assert s.timeframes == ("5m", "15m")
    (d,) = run_bar(s, bar(at(10, 0), 100.0), trend_ind(adx=30.0), BULL_HTF)
    assert d.kind == LONG
    assert (d.stop, d.target) == (97.0, 106.0)
    assert d.confidence == pytest.approx(0.75)
    assert d.htf_trend == "BULLISH" and d.setup_type == "TREND_CONTINUATION"


def test_fno_htf_filter_blocks_counter_trend_entries() -> None:
    s = FnoIntradayTrend()
    assert run_bar(s, bar(at(10, 0), 100.0), trend_ind(+1, vwap=99.0), BEAR_HTF) == []
    assert run_bar(s, bar(at(10, 5), 100.0), trend_ind(-1, vwap=101.0), BULL_HTF) == []
    assert run_bar(s, bar(at(10, 10), 100.0), trend_ind(+1), None) == []  # 15m not seen yet
    (d,) = run_bar(s, bar(at(10, 15), 100.0), trend_ind(-1, vwap=101.0), BEAR_HTF)
    assert (d.kind, d.stop, d.target) == (SHORT, 103.0, 94.0)


@pytest.mark.parametrize(
    ("values", "params", "entered"),
    [
        (trend_ind(adx=19.9), {}, False),
        (trend_ind(adx=20.0), {}, True),
        (trend_ind(vwap=100.5), {}, False),  # close below VWAP for a long
        (trend_ind(vwap=None), {}, True),  # no VWAP (index): condition skipped
        (trend_ind(vwap=None), {"require_vwap": True}, False),
        (trend_ind(atr=2.0) | {"atr": None}, {}, False),
    ],
)
def test_fno_entry_conditions(values: IndicatorValues, params: dict[str, Any], entered: bool) -> None:
    s = FnoIntradayTrend(params=params)
    assert bool(run_bar(s, bar(at(10, 0), 100.0), values, BULL_HTF)) is entered


def test_fno_atr_stop_and_target_hit_on_ticks() -> None:
    s = FnoIntradayTrend()
    run_bar(s, bar(at(10, 0), 100.0), trend_ind(), BULL_HTF)  # stop 97, target 106
    assert run_tick(s, tick(at(10, 1), 97.05)) == []
    (d,) = run_tick(s, tick(at(10, 2), 96.9))
    assert (d.kind, d.setup_type) == (EXIT, "STOP")
    assert s.state.day.losses == 1 and s.state.day.day_pnl == pytest.approx(-3.1)

    s = FnoIntradayTrend()
    run_bar(s, bar(at(10, 0), 100.0), trend_ind(-1, vwap=101.0), BEAR_HTF)  # short: stop 103, target 94
    assert run_tick(s, tick(at(10, 1), 102.9)) == []
    (d,) = run_tick(s, tick(at(10, 2), 94.0))
    assert (d.kind, d.setup_type) == (EXIT, "TARGET")
    assert s.state.day.wins == 1


def test_fno_stop_and_target_on_bar_high_low_stop_first_and_gaps_at_the_open() -> None:
    def exit_after(next_bar: Bar) -> StrategyDecision:
        s = FnoIntradayTrend()
        run_bar(s, bar(at(10, 0), 100.0), trend_ind(), BULL_HTF)  # stop 97, target 106
        (d,) = run_bar(s, next_bar, trend_ind(), BULL_HTF)
        return d

    assert (exit_after(bar(at(10, 5), 99.0, low=96.0)).price, "STOP") == (97.0, "STOP")
    both = exit_after(bar(at(10, 5), 100.0, high=107.0, low=96.0))
    assert (both.setup_type, both.price) == ("STOP", 97.0)
    assert exit_after(bar(at(10, 5), 95.0, open_=95.5)).price == 95.5  # gapped through the stop
    target = exit_after(bar(at(10, 5), 105.0, high=106.5))
    assert (target.setup_type, target.price) == ("TARGET", 106.0)


def test_fno_trend_flip_exits_and_cooldown_delays_reentry() -> None:
    s = FnoIntradayTrend(params={"cooldown_bars": 2})
    run_bar(s, bar(at(10, 0), 100.0), trend_ind(), BULL_HTF)
    (d,) = run_bar(s, bar(at(10, 5), 100.0), trend_ind(-1), BULL_HTF)
    assert (d.kind, d.setup_type) == (EXIT, "TREND_FLIP")
    assert run_bar(s, bar(at(10, 10), 100.0), trend_ind(), BULL_HTF) == []  # 1 bar since exit
    assert kinds(run_bar(s, bar(at(10, 15), 100.0), trend_ind(), BULL_HTF)) == ["LONG"]


def test_fno_no_entry_after_cutoff_and_time_exit() -> None:
    s = FnoIntradayTrend()
    assert run_bar(s, bar(at(15, 0), 100.0), trend_ind(), BULL_HTF) == []
    assert run_bar(s, bar(at(9, 25), 100.0), trend_ind(), BULL_HTF) == []  # before entry_start 09:30
    run_bar(s, bar(at(14, 55), 100.0), trend_ind(), BULL_HTF)
    assert run_bar(s, bar(at(15, 5), 100.5), trend_ind(), BULL_HTF) == []
    (d,) = run_bar(s, bar(at(15, 10), 100.5), trend_ind(), BULL_HTF)
    assert d.setup_type == "TIME_EXIT"


def test_fno_long_only_skips_shorts() -> None:
    s = FnoIntradayTrend(params={"long_only": True})
    assert run_bar(s, bar(at(10, 0), 100.0), trend_ind(-1, vwap=101.0), BEAR_HTF) == []


def test_fno_needs_a_higher_timeframe() -> None:
    with pytest.raises(ConfigError, match="htf_timeframe is required"):
        FnoIntradayTrend(params={"htf_timeframe": ""})


# -- base: params, state ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"adx_minimum": 20}, r"unknown param\(s\) \['adx_minimum'\]"),
        ({"adx_min": "high"}, "param 'adx_min': expected a number"),
        ({"cooldown_bars": 2.5}, "param 'cooldown_bars': expected an integer"),
        ({"long_only": 1}, "param 'long_only': expected true or false"),
        ({"entry_cutoff": "15:20", "exit_time": "15:10"}, "entry_start < entry_cutoff <= exit_time"),
        ({"htf_timeframe": "5m"}, "param htf_timeframe: '5m' is not longer than its timeframe '5m'"),
        ({"htf_timeframe": "15 minutes"}, "param htf_timeframe: timeframe '15 minutes'"),
    ],
)
def test_bad_params_raise_config_error_naming_strategy_and_key(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        FnoIntradayTrend(params=params)


def test_integer_params_are_accepted_for_float_params() -> None:
    assert FnoIntradayTrend(params={"adx_min": 25}).adx_min == 25.0


def test_registry_builds_from_specs_and_rejects_unknown_and_duplicate_ids() -> None:
    assert {"ema20_50_intraday", "fno_intraday_trend"} <= set(available())
    s = build_strategy(StrategySpec(name="ema20_50_intraday", timeframe="15m", priority=3, params={"long_only": True}))
    assert isinstance(s, Ema2050Intraday)
    assert (s.id, s.timeframe, s.priority, s.long_only) == ("ema20_50_intraday", "15m", 3, True)
    assert s.htf_timeframe is None  # the default 15m label does not fit a 15m strategy: dropped
    with pytest.raises(ConfigError, match=r"strategy_engine\[0\]: unknown strategy 'nope'; expected one of"):
        build_strategy(StrategySpec(name="nope"), where="strategy_engine[0]")
    twice = [StrategySpec(name="ema20_50_intraday"), StrategySpec(name="ema20_50_intraday", timeframe="15m")]
    with pytest.raises(ConfigError, match="used twice"):
        build_strategies(twice)
    twice[1] = StrategySpec(name="ema20_50_intraday", timeframe="15m", params={"id": "ema_15m"})
    assert [s.id for s in build_strategies(twice)] == ["ema20_50_intraday", "ema_15m"]


def test_strategy_snapshot_restores_positions_memo_and_day_stats_through_json() -> None:
    s = FnoIntradayTrend()
    run_bar(s, bar(at(10, 0), 100.0), trend_ind(), BULL_HTF)
    s.memo_for(SYM)["bars_since_exit"] = 7
    copy = FnoIntradayTrend()
    copy.restore(json.loads(json.dumps(s.snapshot(), allow_nan=False)))
    assert copy.state == s.state
    assert run_tick(copy, tick(at(10, 3), 96.0)) == run_tick(s, tick(at(10, 3), 96.0))
    with pytest.raises(ValueError, match="expected 'ema20_50_intraday'"):
        Ema2050Intraday().restore(s.snapshot())


def test_new_day_drops_left_over_positions_and_resets_day_stats() -> None:
    s = FnoIntradayTrend()
    run_bar(s, bar(at(10, 0), 100.0), trend_ind(), BULL_HTF)
    assert s.state.day.trades == 1
    assert s.roll_day(ist_day_number(at(9, 15, day=1))) == 1
    assert s.state.positions == {} and s.state.day.trades == 0
    assert s.roll_day(ist_day_number(at(10, 0))) == 0  # never backwards (a warm-up replaying old bars)
    assert s.state.day.day == ist_day_number(at(9, 15, day=1))


def test_commit_rejects_an_exit_without_position_and_a_second_entry() -> None:
    s = FnoIntradayTrend()
    with pytest.raises(ValueError, match="EXIT on NIFTY25NOVFUT without a position"):
        s.commit(SYM, StrategyDecision(EXIT, 1.0, "x"), 100.0, at(10, 0))
    s.commit(SYM, StrategyDecision(LONG, 1.0, "x"), 100.0, at(10, 0))
    with pytest.raises(ValueError, match="already in a position"):
        s.commit(SYM, StrategyDecision(SHORT, 1.0, "x"), 100.0, at(10, 5))


def test_decision_validates_kind_and_confidence() -> None:
    with pytest.raises(ValueError, match="LONG, SHORT or EXIT"):
        StrategyDecision(SignalKind.FLAT, 0.5, "x")
    with pytest.raises(ValueError, match=r"0\.\.1"):
        StrategyDecision(LONG, 1.5, "x")
