"""The risk service (real Redis) on option intents: net delta limit cuts or blocks, option margin blocks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import services.risk.service as risk_service
from services.risk.service import RiskService
from shared.bus import streams
from shared.bus.redis_bus import Bus
from shared.clock import NS
from shared.config import Settings, load_settings
from shared.enums import Decision, Side
from shared.instruments import Instrument
from shared.options.chain import select_options
from shared.sim.market import SimMarket
from tests.services.test_risk_service import (
    CAPITAL,
    DAY,
    approved,
    decisions,
    drain,
    intent,
    publish_master,
    snapshot,
    tick,
)

DELTA_LIMIT = 100.0


@pytest.fixture(scope="module")
def market() -> SimMarket:
    m = SimMarket(42, DAY, step_ms=1000)
    for _ in range(1800):  # 09:45
        m.step()
    return m


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str) -> Settings:
    for key in list(os.environ):
        if key.startswith("KITE_ALGO"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("KITE_ALGO__SERVICES__ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("KITE_ALGO__TRADING__PAPER_CAPITAL", str(CAPITAL))
    monkeypatch.setenv("KITE_ALGO__PORTFOLIO__RISK_PER_TRADE_PCT", "0.01")
    monkeypatch.setenv("KITE_ALGO__RISK__GREEKS__MAX_ABS_DELTA", f'{{"NIFTY": {DELTA_LIMIT}}}')
    monkeypatch.setenv("KITE_ALGO__RISK__GREEKS__MAX_MARGIN_PCT", "0.1")  # ₹50,000 of option margin
    monkeypatch.setattr(risk_service, "INPUT_BLOCK_MS", None)
    return load_settings(Path(__file__).resolve().parents[2] / "configs" / "dev.yaml")


@pytest.fixture
def svc(settings: Settings, bus: Bus) -> Iterator[RiskService]:
    service = RiskService(settings, bus)
    service.on_start()
    yield service
    service.on_stop()


def ready(bus: Bus, market: SimMarket) -> tuple[Instrument, Instrument, Instrument, int]:
    """Master, ticks of the NIFTY future and its ATM options, a fresh snapshot; returns (future, CE, PE, now)."""
    master, now = market.master, market.now_ns
    fut = master.future("NIFTY", DAY)
    sel = select_options(
        master, "NIFTY", market.future_price(fut.instrument_token), now, each_side=1, roll_cutoff_s=13 * 3600
    )
    publish_master(bus, master, now)
    for inst in (fut, sel.call, sel.put):
        bus.publish(streams.ticks("NFO"), tick(inst, now, market.model_price(inst.instrument_token)))
    bus.publish(streams.POSITIONS, snapshot(now))
    return fut, sel.call, sel.put, now


def test_a_delta_limit_breach_is_cut_then_blocked_with_the_reason(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, market: SimMarket
) -> None:
    fut, call, put, now = ready(bus, market)
    fut_px, call_px = market.model_price(fut.instrument_token), market.model_price(call.instrument_token)
    # 1: one future lot, +65 delta: inside the limit (pending until it fills, and counted as held)
    bus.publish(
        streams.ORDER_INTENTS,
        intent(fut, "fut-1", now + NS, quantity=65, ref_price=fut_px, stop_loss=round(fut_px - 54, 1)),
    )
    # 2: two lots of the ATM call (+~65 delta) would take net delta to ~130: cut to one lot
    opt = dict(ref_price=call_px, stop_loss=round(call_px * 0.8, 1), engine="options", strategy="fno_intraday_trend")
    bus.publish(streams.ORDER_INTENTS, intent(call, "ce-1", now + 2 * NS, quantity=130, **opt))
    # 3: one more call lot: net delta ~97 + ~32 is past the limit and not even one lot fits
    bus.publish(streams.ORDER_INTENTS, intent(call, "ce-2", now + 3 * NS, quantity=65, **opt))
    # 4: buying the ATM put takes delta back towards zero: never cut by the limit
    put_px = market.model_price(put.instrument_token)
    bus.publish(streams.ORDER_INTENTS, intent(put, "pe-1", now + 4 * NS, quantity=65, ref_price=put_px,
                                              stop_loss=round(put_px * 0.8, 1), engine="options"))  # fmt: skip
    drain(svc)

    by_id = {d.intent_id: d for d in decisions(redis_client)}
    assert by_id["fut-1"].decision == Decision.ALLOW and by_id["fut-1"].quantity == 65
    cut = by_id["ce-1"]
    assert cut.decision == Decision.REDUCE and cut.quantity == 65, cut
    assert "net delta of NIFTY would go from 65.0 to" in cut.reason and "past the limit +/-100" in cut.reason
    blocked = by_id["ce-2"]
    assert blocked.decision == Decision.BLOCK and blocked.rule == "greeks_delta" and blocked.quantity == 0
    assert "net delta of NIFTY" in blocked.reason and "past the limit +/-100" in blocked.reason
    assert "blocked" in blocked.reason
    assert by_id["pe-1"].decision == Decision.ALLOW and by_id["pe-1"].quantity == 65
    assert {o.intent_id: o.quantity for o in approved(redis_client)} == {"fut-1": 65, "ce-1": 65, "pe-1": 65}


def test_option_selling_beyond_the_available_margin_is_blocked(
    svc: RiskService, bus: Bus, redis_client: redis.Redis, market: SimMarket
) -> None:
    _fut, call, put, now = ready(bus, market)
    call_px = market.model_price(call.instrument_token)
    short = dict(engine="options", strategy="atm_short_straddle", side=Side.SELL, quantity=65, ref_price=call_px,
                 stop_loss=round(call_px * 1.3, 1))  # fmt: skip
    bus.publish(streams.ORDER_INTENTS, intent(call, "sell-ce", now + NS, **short))
    # buying is never margin-blocked (the premium is paid)
    put_px = market.model_price(put.instrument_token)
    bus.publish(streams.ORDER_INTENTS, intent(put, "buy-pe", now + 2 * NS, quantity=65, ref_price=put_px,
                                              stop_loss=round(put_px * 0.7, 1), engine="options"))  # fmt: skip
    drain(svc)
    by_id = {d.intent_id: d for d in decisions(redis_client)}
    sold = by_id["sell-ce"]
    assert sold.decision == Decision.BLOCK and sold.rule == "option_margin", sold
    assert "option margin (SPAN-like) would be" in sold.reason and "> 50,000 available" in sold.reason
    assert by_id["buy-pe"].decision in (Decision.ALLOW, Decision.REDUCE)
