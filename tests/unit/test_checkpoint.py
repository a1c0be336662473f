"""Checkpoints: atomic writes, the .bak policy, corrupt files, the seed's structure; state paths."""

from __future__ import annotations

import json
import logging
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from shared.brokers.positions import Portfolio
from shared.config import Settings
from shared.enums import Product, Side
from shared.state.checkpoint import (
    SEED_KEYS,
    CheckpointError,
    backup_path,
    build_state_checkpoint,
    check_state_checkpoint,
    corrupt_path,
    read_checkpoint,
    read_checkpoint_or_backup,
    write_checkpoint,
)
from shared.state.paths import StatePaths
from shared.state.timefmt import parse_ts
from shared.state.trades import StrategyStats

# The seed document's example, verbatim.
SEED_CHECKPOINT = json.loads(
    """{
  "mode": "paper",
  "equity": {"paper_capital": 500000, "cash": 498500, "realized_pnl": -1500, "unrealized_pnl": 200, "day_pnl": -1300},
  "positions": [{"symbol": "NIFTY25JANFUT", "quantity": 50, "avg_price": 24500, "realized_pnl": -200}],
  "open_orders": [],
  "strategies": {"ema20_50_intraday": {"day_pnl": -500, "open_trades": 1, "win_trades": 0, "loss_trades": 1}},
  "universe": {"date": "2025-11-17", "fno": ["NIFTY", "BANKNIFTY", "FINNIFTY"]},
  "last_heartbeat_ts": "2025-11-17T09:30:00Z"
}"""
)
HEARTBEAT = parse_ts("2025-11-17T09:30:00Z")


def checkpoint_path(tmp_path: Path) -> Path:
    return StatePaths(tmp_path).checkpoint("paper")


# -- files ---------------------------------------------------------------------------------


def test_write_then_read_round_trips_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path)
    write_checkpoint(path, SEED_CHECKPOINT)
    assert read_checkpoint(path) == SEED_CHECKPOINT
    assert sorted(p.name for p in path.parent.iterdir()) == ["paper_state_latest.json"]


def test_missing_checkpoint_reads_as_none(tmp_path: Path) -> None:
    assert read_checkpoint(checkpoint_path(tmp_path)) is None
    assert read_checkpoint_or_backup(checkpoint_path(tmp_path)) == (None, None)


def test_each_write_keeps_the_previous_good_one_as_bak(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path)
    for n in range(3):
        write_checkpoint(path, {"n": n})
    assert read_checkpoint(path) == {"n": 2}
    assert read_checkpoint(backup_path(path)) == {"n": 1}


def test_corrupt_checkpoint_raises_naming_the_file_and_the_backup(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path)
    write_checkpoint(path, {"n": 1})
    write_checkpoint(path, {"n": 2})
    path.write_text('{"n": 3, "equity": {')  # a torn or hand-edited file
    with pytest.raises(
        CheckpointError, match=rf"{path}:1:\d+: corrupt checkpoint.*previous good checkpoint is .*\.bak"
    ):
        read_checkpoint(path)


def test_fallback_reads_the_backup_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = checkpoint_path(tmp_path)
    write_checkpoint(path, {"n": 1})
    write_checkpoint(path, {"n": 2})
    path.write_bytes(b"\0\0\0")
    with caplog.at_level(logging.ERROR):
        assert read_checkpoint_or_backup(path) == ({"n": 1}, backup_path(path))
    assert "corrupt" in caplog.text


def test_both_unusable_is_an_error(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="no backup"):
        read_checkpoint_or_backup(path)


def test_writing_over_a_corrupt_file_moves_it_aside_and_keeps_the_good_backup(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = checkpoint_path(tmp_path)
    write_checkpoint(path, {"n": 1})
    write_checkpoint(path, {"n": 2})
    path.write_text("garbage")
    with caplog.at_level(logging.ERROR):
        write_checkpoint(path, {"n": 3})
    assert read_checkpoint(path) == {"n": 3}
    assert read_checkpoint(backup_path(path)) == {"n": 1}  # not the garbage
    assert corrupt_path(path).read_text() == "garbage"
    assert str(corrupt_path(path)) in caplog.text


def test_non_json_data_is_refused_before_touching_the_file(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path)
    write_checkpoint(path, {"n": 1})
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        write_checkpoint(path, {"x": float("nan")})
    assert read_checkpoint(path) == {"n": 1}
    assert not backup_path(path).exists()


# -- the seed's structure ------------------------------------------------------------------


def a_portfolio() -> Portfolio:
    p = Portfolio(500_000.0)
    p.apply_fill("NIFTY25JANFUT", Product.NRML, Side.BUY, 75, 24_500.0, 40.0, "NFO")
    p.apply_fill("NIFTY25JANFUT", Product.NRML, Side.SELL, 25, 24_492.0, 25.0, "NFO")  # realizes -200
    p.apply_fill("RELIANCE", Product.MIS, Side.BUY, 10, 2_450.0, 3.0, "NSE")
    p.apply_fill("RELIANCE", Product.MIS, Side.SELL, 10, 2_440.0, 4.0, "NSE")  # realizes -100, flat
    p.mark("NIFTY25JANFUT", 24_504.0)
    return p


def build(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "mode": "paper",
        "portfolio": a_portfolio(),
        "last_heartbeat_ns": HEARTBEAT,
        "universe_date": date(2025, 11, 17),
        "fno": ["NIFTY", "BANKNIFTY", "FINNIFTY"],
        "strategies": {"ema20_50_intraday": StrategyStats(-500.0, 1, 0, 1)},
    }
    args.update(kw)
    return build_state_checkpoint(**args)


def test_built_checkpoint_has_every_seed_key_with_its_meaning() -> None:
    data = build()
    assert list(data)[: len(SEED_KEYS)] == list(SEED_KEYS)
    check_state_checkpoint(data)
    eq = data["equity"]
    assert eq["paper_capital"] == 500_000.0
    assert eq["realized_pnl"] == -300.0
    assert eq["unrealized_pnl"] == 50 * 4.0
    assert eq["charges"] == 72.0
    assert eq["cash"] == 500_000.0 - 300.0 - 72.0  # the seed's cash: capital + realized (- charges)
    assert eq["day_pnl"] == -300.0 + 200.0 - 72.0
    assert eq["ledger_cash"] == a_portfolio().cash
    nifty, reliance = data["positions"]
    assert {k: nifty[k] for k in ("symbol", "quantity", "avg_price", "realized_pnl")} == {
        "symbol": "NIFTY25JANFUT",
        "quantity": 50,
        "avg_price": 24_500.0,
        "realized_pnl": -200.0,
    }
    assert (nifty["product"], reliance["quantity"], reliance["realized_pnl"]) == ("NRML", 0, -100.0)
    assert data["strategies"]["ema20_50_intraday"]["loss_trades"] == 1
    assert data["universe"] == {"date": "2025-11-17", "fno": ["NIFTY", "BANKNIFTY", "FINNIFTY"]}
    assert data["last_heartbeat_ts"] == "2025-11-17T09:30:00Z"
    json.dumps(data, allow_nan=False)


def test_extra_keys_are_added_but_cannot_replace_seed_keys() -> None:
    assert build(extra={"risk": {"halted": False}})["risk"] == {"halted": False}
    with pytest.raises(ValueError, match="'equity'"):
        build(extra={"equity": {}})


def test_the_seed_example_passes_the_check() -> None:
    check_state_checkpoint(SEED_CHECKPOINT, "seed")


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda d: d.pop("open_orders"), "open_orders"),
        (lambda d: d["equity"].update(cash="498500"), "equity.cash"),
        (lambda d: d["positions"][0].update(quantity=50.5), "positions[0].quantity"),
        (lambda d: d["strategies"]["ema20_50_intraday"].pop("win_trades"), "strategies.ema20_50_intraday.win_trades"),
        (lambda d: d.update(last_heartbeat_ts="09:30"), "last_heartbeat_ts"),
    ],
)
def test_check_names_the_bad_key(mutate: Any, key: str) -> None:
    data = json.loads(json.dumps(SEED_CHECKPOINT))
    mutate(data)
    with pytest.raises(CheckpointError, match="^" + re.escape(f"ckpt.json: key {key!r}")):
        check_state_checkpoint(data, "ckpt.json")


# -- paths ---------------------------------------------------------------------------------


def test_state_paths_follow_the_seed_layout(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    assert paths.checkpoint("live") == tmp_path / "checkpoints" / "live_state_latest.json"
    assert paths.checkpoint("runtime") == tmp_path / "checkpoints" / "runtime_state_latest.json"
    assert (paths.orders_csv, paths.signals_csv, paths.pnl_csv) == (
        tmp_path / "orders.csv",
        tmp_path / "signals.csv",
        tmp_path / "pnl.csv",
    )
    assert paths.events_log == tmp_path / "logs" / "events.jsonl"
    assert paths.universe_json(date(2025, 11, 17)) == tmp_path / "scanner" / "2025-11-17" / "universe.json"
    with pytest.raises(ValueError, match="backtest"):
        paths.checkpoint("backtest")
    settings = Settings.model_validate({"services": {"artifacts_dir": str(tmp_path / "a")}})
    assert StatePaths.from_settings(settings).orders_csv == tmp_path / "a" / "orders.csv"
