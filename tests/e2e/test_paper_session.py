"""A whole simulated session through every service, as `python -m scripts.run_trader paper` runs it.

Slow by nature (a trading day at speed=max through five processes): one session per test.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest
import redis

from shared.bus import codec, streams
from shared.enums import Decision
from shared.state.formats import ORDERS_COLUMNS, SIGNALS_COLUMNS
from shared.state.journal import read_orders
from shared.state.recovery import rebuild_from_journal
from tests.e2e.session import TraderRun, session_env

pytestmark = pytest.mark.slow
CAPITAL_KEY = "paper_capital"


def _decisions(r: redis.Redis) -> dict[str, Decision]:
    out: dict[str, Decision] = {}
    for _, fields in r.xrange(streams.RISK_DECISIONS):
        d = codec.decode(fields)
        out.setdefault(d.intent_id, d.decision)
    return out


def check_session(artifacts: Path, r: redis.Redis) -> dict[str, int]:
    """Every invariant of a finished session; returns a few counts for the caller."""
    # Journals in the seed's column order.
    with (artifacts / "orders.csv").open() as fh:
        assert next(csv.reader(fh)) == list(ORDERS_COLUMNS)
    with (artifacts / "signals.csv").open() as fh:
        header, *signal_rows = list(csv.reader(fh))
    assert header == list(SIGNALS_COLUMNS)
    assert signal_rows, "the engines published no signal in a whole session"
    assert (artifacts / "pnl.csv").exists()

    rows = read_orders(artifacts / "orders.csv")
    orders_by_intent: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row.intent_id:
            orders_by_intent[row.intent_id].add(row.order_id)
    assert orders_by_intent, "no order in a whole session"
    # Every strategy order went through risk and was allowed; none was placed twice.
    decisions = _decisions(r)
    for intent_id, order_ids in orders_by_intent.items():
        if intent_id.startswith(("ASQ", "SQ")):
            continue  # square-offs are the execution service's own duty
        assert decisions.get(intent_id) in (Decision.ALLOW, Decision.REDUCE), intent_id
        assert len(order_ids) == 1, f"intent {intent_id} became orders {order_ids}"
    fills = [row for row in rows if row.fill is not None]
    fill_ids = [(row.order_id, row.fill.fill_id) for row in fills]  # type: ignore[union-attr]
    assert len(fill_ids) == len(set(fill_ids)), "a fill was journaled twice"
    assert r.xlen(streams.FILLS) >= len(fill_ids)  # every journaled fill was published

    # The book: MIS flat after the square-off, and the money identity from an independent ledger.
    state = json.loads((artifacts / "checkpoints" / "paper_state_latest.json").read_text())
    eq = state["equity"]
    assert all(p["quantity"] == 0 for p in state["positions"] if p.get("product", "MIS") == "MIS"), state["positions"]
    capital = eq[CAPITAL_KEY]
    assert eq["ledger_cash"] == pytest.approx(capital + eq["realized_pnl"] - eq["charges"], abs=1e-6)
    assert eq["total_equity"] == pytest.approx(
        capital + eq["realized_pnl"] + eq["unrealized_pnl"] - eq["charges"], abs=1e-6
    )
    assert eq["charges"] > 0  # every fill pays brokerage and taxes

    rebuilt = rebuild_from_journal(artifacts / "orders.csv", capital)
    assert rebuilt.realized_pnl == pytest.approx(eq["realized_pnl"], abs=1e-6)
    assert rebuilt.portfolio.total_charges == pytest.approx(eq["charges"], abs=1e-6)
    assert {(p.symbol, p.quantity) for p in rebuilt.positions if p.quantity} == {
        (p["symbol"], p["quantity"]) for p in state["positions"] if p["quantity"]
    }
    return {"orders": len(orders_by_intent), "fills": len(fills), "signals": len(signal_rows)}


def test_a_whole_paper_session_trades_through_risk_and_ends_flat(redis_url: str, tmp_path: Path) -> None:
    run = TraderRun(session_env(redis_url, tmp_path / "artifacts"))
    try:
        run.wait_finished()
    finally:
        code = run.stop()
    assert code == 0, run.output()[-3000:]
    counts = check_session(tmp_path / "artifacts", redis.Redis.from_url(redis_url))
    assert counts["fills"] > 0


def test_kill_9_of_each_service_mid_session_loses_and_duplicates_nothing(redis_url: str, tmp_path: Path) -> None:
    run = TraderRun(session_env(redis_url, tmp_path / "artifacts"))
    killed: list[tuple[str, int]] = []
    try:
        for fraction, service in ((0.15, "fno"), (0.3, "risk"), (0.45, "execution"), (0.6, "equity"),
                                  (0.75, "feed")):  # fmt: skip
            run.wait_until(fraction)
            killed.append((service, run.kill9(service)))
        run.wait_finished()
        restarted = {s: run.pid(s) for s, _ in killed}
    finally:
        code = run.stop()
    assert code == 0, run.output()[-3000:]
    for service, old_pid in killed:
        assert restarted[service] != old_pid, f"{service} was not restarted by supervisord"
    counts = check_session(tmp_path / "artifacts", redis.Redis.from_url(redis_url))
    assert counts["fills"] > 0
    # The risk service came back with its day: its checkpoint counts trades from before the kill.
    risk = json.loads((tmp_path / "artifacts" / "checkpoints" / "risk_state_latest.json").read_text())
    assert risk, "risk state was not checkpointed"
