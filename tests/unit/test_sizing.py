"""The portfolio engine: risk-based sizing, lot rounding, budget/leverage/exposure caps, exits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import PortfolioConfig
from shared.contracts import OrderIntent
from shared.enums import Side
from shared.instruments import InstrumentsMaster
from shared.risk.sizing import (
    CAP_BUDGET,
    CAP_EXPOSURE,
    CAP_INPUT,
    CAP_LEVERAGE,
    CAP_POSITION,
    CAP_REQUESTED,
    CAP_RISK,
    SizingResult,
    is_reducing,
    size_intent,
    strategy_budget_left,
)

MASTER_CSV = """\
instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange
256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE
9001,35001,NIFTY26APRFUT,NIFTY,0,2026-04-28,0,0.1,65,FUT,NFO-FUT,NFO
408065,1594,INFY,INFOSYS,0,,0,0.1,1,EQ,NSE,NSE
"""
MASTER = InstrumentsMaster.from_csv_text(MASTER_CSV)
NIFTY = MASTER.by_symbol("NFO", "NIFTY26APRFUT")
INFY = MASTER.by_symbol("NSE", "INFY")
CRORE = 10_000_000.0


def intent(**kw: Any) -> OrderIntent:
    base: dict[str, Any] = dict(
        ts_event=1,
        intent_id="i1",
        strategy="trend",
        engine="fno",
        exchange="NFO",
        symbol=NIFTY.tradingsymbol,
        instrument_token=NIFTY.instrument_token,
        side=Side.BUY,
    )
    base.update(kw)
    return OrderIntent(**base)


def size(it: OrderIntent, **kw: Any) -> SizingResult:
    args: dict[str, Any] = dict(
        equity=CRORE,
        lot_size=NIFTY.lot_size,
        tick_size=NIFTY.tick_size,
        price=26_000.0,
        atr_stop_distance=None,
        open_exposure=0.0,
        config=PortfolioConfig(),
        strategy_budget=None,
    )
    args.update(kw)
    return size_intent(it, **args)


def test_lot_size_comes_from_the_master() -> None:
    assert NIFTY.lot_size == 65
    assert INFY.lot_size == 1


def test_risk_sizing_rounds_down_to_whole_lots() -> None:
    # 1% of 1 crore = 1,00,000 at risk; stop 500 away -> 200 units -> 3 lots of 65
    r = size(intent(stop_loss=25_500.0))
    assert r.quantity == 195
    assert r.capped_by == CAP_RISK
    assert "3 lot(s) of 65" in r.reason
    assert r.price == 26_000.0


def test_zero_with_reason_when_less_than_one_lot_fits() -> None:
    # 1% of 10 lakh = 10,000 / 500 = 20 units < one lot of 65
    r = size(intent(stop_loss=25_500.0), equity=1_000_000.0)
    assert r.quantity == 0
    assert "less than one lot (65)" in r.reason
    assert r.capped_by in (CAP_RISK, CAP_EXPOSURE, CAP_LEVERAGE)


def test_equity_rounds_to_whole_shares() -> None:
    # 1% of 5 lakh = 5,000 / 15 = 333.3 units; exposure 0.8 * 5 lakh / 1500 = 266.7 -> 266 shares
    r = size(
        intent(exchange="NSE", symbol="INFY", stop_loss=1_485.0),
        equity=500_000.0,
        lot_size=INFY.lot_size,
        price=1_500.0,
    )
    assert r.quantity == 266
    assert r.capped_by == CAP_EXPOSURE
    r = size(
        intent(exchange="NSE", symbol="INFY", stop_loss=1_485.0),
        equity=500_000.0,
        lot_size=1,
        price=1_500.0,
        config=PortfolioConfig(max_exposure_pct=1.0),
    )
    assert r.quantity == 333
    assert r.capped_by == CAP_RISK


def test_atr_distance_is_used_when_the_intent_has_no_stop() -> None:
    r = size(intent(), atr_stop_distance=500.0)
    assert r.quantity == 195
    assert "ATR" in r.reason


def test_size_it_intent_without_stop_or_atr_is_zero() -> None:
    r = size(intent())
    assert r.quantity == 0
    assert "no stop distance" in r.reason


def test_stop_on_the_wrong_side_is_zero() -> None:
    r = size(intent(side=Side.BUY, stop_loss=26_100.0))
    assert r.quantity == 0
    assert "wrong side" in r.reason
    r = size(intent(side=Side.SELL, stop_loss=26_500.0))
    assert r.quantity == 195  # a short's stop is above the price


def test_stop_closer_than_one_tick_counts_as_one_tick() -> None:
    # 0.1% of 1 crore = 10,000 at risk; a stop 0.01 away would allow 10 lakh units, one tick of 5 allows 2,000
    cfg = PortfolioConfig(risk_per_trade_pct=0.001, max_leverage=100.0, max_exposure_pct=1.0)
    it = intent(exchange="NSE", symbol="INFY", stop_loss=1_499.99)
    r = size(it, equity=CRORE, lot_size=1, price=1_500.0, tick_size=5.0, config=cfg)
    assert (r.quantity, r.capped_by) == (2_000, CAP_RISK)
    r = size(it, equity=CRORE, lot_size=1, price=1_500.0, tick_size=0.0, config=cfg)
    assert (r.quantity, r.capped_by) == (6_666, CAP_EXPOSURE)


def test_leverage_cap_counts_open_exposure() -> None:
    # 2 x 1 crore = 2 crore limit, 1.9 crore open -> 10 lakh room / 26,000 = 38 units < 1 lot
    r = size(intent(stop_loss=25_500.0), open_exposure=19_000_000.0)
    assert r.quantity == 0
    assert r.capped_by == CAP_LEVERAGE
    # 18 lakh room -> 69 units -> 1 lot
    r = size(intent(stop_loss=25_500.0), open_exposure=18_200_000.0)
    assert r.quantity == 65
    assert r.capped_by == CAP_LEVERAGE
    assert 18_200_000.0 + r.quantity * 26_000.0 <= 2 * CRORE


def test_exposure_cap_limits_one_symbol() -> None:
    # 0.8 crore per symbol; 60 lakh held -> 20 lakh room -> 76 units -> 1 lot
    r = size(intent(stop_loss=25_500.0), position_quantity=230, symbol_exposure=6_000_000.0)
    assert r.quantity == 65
    assert r.capped_by == CAP_EXPOSURE
    # default symbol exposure: |position| x price
    r = size(intent(stop_loss=25_500.0), position_quantity=260)
    assert r.quantity == 0
    assert r.capped_by == CAP_EXPOSURE


def test_strategy_budget_caps_the_strategy() -> None:
    cfg = PortfolioConfig(strategy_budgets={"trend": 0.1})
    left = strategy_budget_left(cfg, "trend", equity=CRORE, strategy_exposure=500_000.0)
    assert left == pytest.approx(0.1 * 2.0 * CRORE - 500_000.0)
    assert strategy_budget_left(cfg, "other", equity=CRORE, strategy_exposure=0.0) is None
    assert strategy_budget_left(cfg, "trend", equity=CRORE, strategy_exposure=5 * CRORE) == 0.0
    # 20 lakh budget / 26,000 = 76 units -> 1 lot; 15 lakh left -> 57 units -> nothing
    full = strategy_budget_left(cfg, "trend", equity=CRORE, strategy_exposure=0.0)
    r = size(intent(stop_loss=25_500.0), config=cfg, strategy_budget=full)
    assert (r.quantity, r.capped_by) == (65, CAP_BUDGET)
    r = size(intent(stop_loss=25_500.0), config=cfg, strategy_budget=left)
    assert (r.quantity, r.capped_by) == (0, CAP_BUDGET)
    assert "trend budget left 1,500,000" in r.reason


def test_explicit_quantity_is_kept_when_it_fits_and_never_increased() -> None:
    r = size(intent(quantity=65, stop_loss=25_500.0))
    assert (r.quantity, r.capped_by) == (65, "")
    # no stop: an explicit quantity is still checked against the caps
    r = size(intent(quantity=65))
    assert r.quantity == 65


def test_explicit_quantity_is_reduced_to_what_fits() -> None:
    r = size(intent(quantity=650, stop_loss=25_500.0))
    assert r.quantity == 195
    assert r.capped_by == CAP_RISK
    r = size(intent(quantity=650), open_exposure=18_200_000.0)
    assert (r.quantity, r.capped_by) == (65, CAP_LEVERAGE)


def test_explicit_quantity_off_the_lot_grid_rounds_down() -> None:
    r = size(intent(quantity=100, stop_loss=25_500.0))
    assert (r.quantity, r.capped_by) == (65, CAP_REQUESTED)
    assert "rounded down" in r.reason


def test_exit_closes_the_position_and_ignores_exposure_caps() -> None:
    # far over every cap: leverage room negative, symbol exposure huge
    over = dict(open_exposure=10 * CRORE, symbol_exposure=10 * CRORE, strategy_budget=0.0)
    r = size(intent(side=Side.SELL), position_quantity=130, **over)
    assert (r.quantity, r.capped_by) == (130, "")
    r = size(intent(side=Side.SELL, quantity=65), position_quantity=130, **over)
    assert r.quantity == 65
    r = size(intent(side=Side.BUY, quantity=65), position_quantity=-65, **over)
    assert r.quantity == 65


def test_exit_is_never_sized_beyond_the_position() -> None:
    r = size(intent(side=Side.SELL, quantity=260), position_quantity=130)
    assert (r.quantity, r.capped_by) == (130, CAP_POSITION)


def test_exit_sizes_from_what_earlier_approved_exits_leave() -> None:
    # 195 of a short 1,950 left: 1,755 are being closed by an exit approved before (not filled yet)
    r = size(intent(side=Side.BUY), position_quantity=-195, closing_quantity=1755)
    assert (r.quantity, r.capped_by) == (195, "")
    assert r.reason == (
        "exit: closes the 195 left of the position of trend (1755 being closed by approved exits not filled yet)"
    )
    r = size(intent(side=Side.BUY, quantity=1755), position_quantity=-195, closing_quantity=1755)
    assert (r.quantity, r.capped_by) == (195, CAP_POSITION) and "requested 1755 > the 195 left" in r.reason
    r = size(intent(side=Side.BUY, quantity=130), position_quantity=-195, closing_quantity=1755)
    assert (r.quantity, r.capped_by) == (130, "")


def test_adding_to_a_position_is_an_entry() -> None:
    assert not is_reducing(Side.BUY, 65)
    assert is_reducing(Side.SELL, 65)
    assert is_reducing(Side.BUY, -1)
    assert not is_reducing(Side.SELL, 0)
    r = size(intent(stop_loss=25_500.0), position_quantity=65, open_exposure=19_900_000.0)
    assert (r.quantity, r.capped_by) == (0, CAP_LEVERAGE)


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        (dict(lot_size=0), "lot size 0"),
        (dict(price=0.0), "no price"),
        (dict(equity=-5.0), "equity -5"),
    ],
)
def test_unusable_inputs_size_to_zero(kw: dict[str, Any], fragment: str) -> None:
    r = size(intent(stop_loss=25_500.0), **kw)
    assert (r.quantity, r.capped_by) == (0, CAP_INPUT)
    assert fragment in r.reason


def test_binary_fractions_do_not_lose_a_unit() -> None:
    # 5,000 / 0.1 is 49,999.999... in floating point
    r = size(
        intent(exchange="NSE", symbol="X", stop_loss=99.9),
        equity=500_000.0,
        lot_size=1,
        price=100.0,
        config=PortfolioConfig(max_leverage=1000.0, max_exposure_pct=1.0),
    )
    assert r.quantity == 5_000  # exposure: 5 lakh / 100
    r = size(
        intent(exchange="NSE", symbol="X", stop_loss=0.2),
        equity=500_000.0,
        lot_size=1,
        price=0.3,
        config=PortfolioConfig(max_leverage=1000.0, max_exposure_pct=1.0),
    )
    assert r.quantity == 50_000


@settings(max_examples=300, deadline=None)
@given(
    equity=st.floats(1e4, 1e8),
    price=st.floats(1.0, 60_000.0),
    stop_frac=st.floats(0.0005, 0.2),
    lot=st.sampled_from([1, 15, 25, 30, 65, 75]),
    open_frac=st.floats(0.0, 3.0),
    requested=st.integers(0, 5_000),
    leverage=st.floats(0.1, 5.0),
    exposure_pct=st.floats(0.01, 1.0),
    budget=st.none() | st.floats(0.0, 1e8),
)
def test_entries_never_exceed_any_cap(
    equity: float,
    price: float,
    stop_frac: float,
    lot: int,
    open_frac: float,
    requested: int,
    leverage: float,
    exposure_pct: float,
    budget: float | None,
) -> None:
    cfg = PortfolioConfig(max_leverage=leverage, max_exposure_pct=exposure_pct)
    open_exposure = open_frac * equity
    r = size(
        intent(quantity=requested, stop_loss=price * (1 - stop_frac)),
        equity=equity,
        lot_size=lot,
        price=price,
        open_exposure=open_exposure,
        config=cfg,
        strategy_budget=budget,
        tick_size=0.05,
    )
    notional = r.quantity * price
    tol = 1e-6 * max(equity, 1.0)
    assert r.quantity % lot == 0
    assert r.quantity >= 0
    if requested:
        assert r.quantity <= requested
    if r.quantity:
        assert open_exposure + notional <= leverage * equity + tol
    assert notional <= exposure_pct * equity + tol
    if budget is not None:
        assert notional <= budget + tol
    stop = max(price * stop_frac, 0.05)
    assert r.quantity * stop <= equity * cfg.risk_per_trade_pct * (1 + 1e-9) + tol
