"""Journals: the seed's columns, one locked writer, torn-line repair, typed rows back with file:line errors."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from shared.contracts import Fill, OrderEvent, Signal
from shared.enums import OrderStatus, OrderType, Product, Side, SignalKind
from shared.errors import DataError
from shared.state.formats import ORDERS_COLUMNS, PNL_COLUMNS, SIGNALS_COLUMNS, PnlRecord
from shared.state.journal import (
    CsvJournal,
    EventLog,
    JournalLockedError,
    OrdersJournal,
    PnlJournal,
    SignalsJournal,
    read_events,
    read_orders,
    read_pnl,
    read_signals,
)
from shared.state.timefmt import format_ts, parse_ts

# Copied verbatim from the seed document ("State, Journals, and Analytics").
SEED_ORDERS_HEADER = (
    "timestamp,symbol,side,quantity,price,status,tf,profile,strategy,parent_signal_timestamp,underlying,extra"
)
SEED_ORDERS_ROW = (
    "2025-11-17T09:30:00Z,NIFTY25JANFUT,BUY,50,24500,FILLED,5m,INTRADAY,ema20_50_intraday,2025-11-17T09:29:00Z,NIFTY,{}"
)
SEED_SIGNALS_HEADER = (
    "timestamp,signal_id,logical,symbol,price,signal,tf,reason,profile,mode,confidence,trend_context,vol_regime,"
    "htf_trend,playbook,setup_type,ema20,ema50,ema100,ema200,rsi14,atr,adx14,adx,vwap,rel_volume,vol_spike,strategy"
)
SEED_SIGNALS_ROW = (
    "2025-11-17T09:29:00Z,abc123,NIFTY,NIFTY25JANFUT,24500,LONG,5m,EMA20>EMA50,INTRADAY,paper,0.85,UPTREND,NORMAL,"
    "BULLISH,TREND_FOLLOW,BREAKOUT,24450,24400,24300,24200,65,50,25,25,24450,1.2,false,ema20_50_intraday"
)
T_FILL = parse_ts("2025-11-17T09:30:00Z")
T_SIGNAL = parse_ts("2025-11-17T09:29:00Z")


def seed_signal() -> Signal:
    return Signal(
        ts_event=T_SIGNAL,
        signal_id="abc123",
        strategy="ema20_50_intraday",
        logical="NIFTY",
        symbol="NIFTY25JANFUT",
        price=24500.0,
        signal=SignalKind.LONG,
        timeframe="5m",
        reason="EMA20>EMA50",
        confidence=0.85,
        indicators={
            "profile": "INTRADAY",
            "mode": "paper",
            "trend_context": "UPTREND",
            "vol_regime": "NORMAL",
            "htf_trend": "BULLISH",
            "playbook": "TREND_FOLLOW",
            "setup_type": "BREAKOUT",
            "ema20": 24450.0,
            "ema50": 24400.0,
            "ema100": 24300.0,
            "ema200": 24200.0,
            "rsi14": 65.0,
            "atr": 50.0,
            "adx14": 25.0,
            "adx": 25.0,
            "vwap": 24450.0,
            "rel_volume": 1.2,
            "vol_spike": False,
        },
    )


def order_event(
    status: OrderStatus = OrderStatus.FILLED, filled: int = 50, ts: int = T_FILL, **kw: object
) -> OrderEvent:
    fields: dict[str, object] = {
        "ts_event": ts,
        "order_id": "ord-1",
        "intent_id": "int-1",
        "symbol": "NIFTY25JANFUT",
        "exchange": "NFO",
        "side": Side.BUY,
        "order_type": OrderType.MARKET,
        "product": Product.MIS,
        "quantity": 50,
        "filled_quantity": filled,
        "price": 0.0,
        "average_price": 24500.0 if filled else 0.0,
        "status": status,
        "strategy": "ema20_50_intraday",
    }
    fields.update(kw)
    return OrderEvent(**fields)  # type: ignore[arg-type]


def a_fill(fill_id: str = "t1", quantity: int = 50, price: float = 24500.0, charges: float = 33.123) -> Fill:
    return Fill(
        ts_event=T_FILL,
        fill_id=fill_id,
        order_id="ord-1",
        intent_id="int-1",
        symbol="NIFTY25JANFUT",
        exchange="NFO",
        side=Side.BUY,
        quantity=quantity,
        price=price,
        charges=charges,
    )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# -- the seed's formats --------------------------------------------------------------------


def test_column_orders_are_the_seeds_exactly() -> None:
    assert ",".join(ORDERS_COLUMNS) == SEED_ORDERS_HEADER
    assert ",".join(SIGNALS_COLUMNS) == SEED_SIGNALS_HEADER
    assert PNL_COLUMNS[0] == "timestamp" and PNL_COLUMNS[-1] == "extra"


def test_signal_row_is_byte_identical_to_the_seed_example(tmp_path: Path) -> None:
    path = tmp_path / "signals.csv"
    with SignalsJournal(path) as journal:
        journal.append(seed_signal())
    assert lines(path) == [SEED_SIGNALS_HEADER, SEED_SIGNALS_ROW]


def test_signal_row_reads_back_as_the_same_signal(tmp_path: Path) -> None:
    path = tmp_path / "signals.csv"
    with SignalsJournal(path) as journal:
        journal.append(seed_signal())
        journal.append(seed_signal(), mode="live", profile="SWING")
    rows = read_signals(path)
    assert rows[0].to_signal() == seed_signal()
    assert rows[0].line == 2
    assert (rows[1].indicators["mode"], rows[1].indicators["profile"]) == ("live", "SWING")


def test_seed_orders_example_row_parses(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(SEED_ORDERS_HEADER + "\n" + SEED_ORDERS_ROW + "\n")
    (row,) = read_orders(path)
    assert (row.symbol, row.side, row.quantity, row.price, row.status) == (
        "NIFTY25JANFUT",
        Side.BUY,
        50,
        24500.0,
        OrderStatus.FILLED,
    )
    assert (row.tf, row.profile, row.strategy, row.underlying) == ("5m", "INTRADAY", "ema20_50_intraday", "NIFTY")
    assert row.parent_signal_timestamp == "2025-11-17T09:29:00Z"
    assert row.extra == {} and row.fill is None and row.ts_ns == T_FILL


def test_order_row_has_the_seed_columns_and_extra_carries_the_fill(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    with OrdersJournal(path) as journal:
        journal.append_order_event(
            order_event(),
            tf="5m",
            profile="INTRADAY",
            parent_signal_ts=T_SIGNAL,
            underlying="NIFTY",
            extra={"signal_id": "abc123"},
            fill=a_fill(),
        )
    header, row_text = lines(path)
    assert header == SEED_ORDERS_HEADER
    assert row_text.startswith(SEED_ORDERS_ROW[: -len("{}")])
    (row,) = read_orders(path)
    assert row.order_id == "ord-1" and row.intent_id == "int-1"
    assert (row.exchange, row.product, row.order_type) == ("NFO", Product.MIS, OrderType.MARKET)
    assert (row.filled_quantity, row.average_price) == (50, 24500.0)
    assert row.fill is not None
    assert (row.fill.fill_id, row.fill.quantity, row.fill.price, row.fill.charges) == ("t1", 50, 24500.0, 33.123)
    assert row.extra["signal_id"] == "abc123"


def test_extra_cannot_override_the_journals_own_keys(tmp_path: Path) -> None:
    with OrdersJournal(tmp_path / "orders.csv") as journal, pytest.raises(ValueError, match="order_id"):
        journal.append_order_event(order_event(), extra={"order_id": "other"})


def test_a_fill_of_another_order_is_refused(tmp_path: Path) -> None:
    other = Fill(ts_event=T_FILL, fill_id="t9", order_id="ord-2", intent_id="i", symbol="NIFTY25JANFUT",
                 exchange="NFO", side=Side.BUY, quantity=1, price=1.0)  # fmt: skip
    with OrdersJournal(tmp_path / "orders.csv") as journal, pytest.raises(ValueError, match="ord-2"):
        journal.append_order_event(order_event(), fill=other)


def test_pnl_rows_read_back_equal(tmp_path: Path) -> None:
    rec = PnlRecord(
        ts_ns=T_FILL + 250_000_000,
        symbol="RELIANCE",
        strategy="s1",
        side=Side.SELL,
        quantity=7,
        entry_price=2501.35,
        exit_price=2490.1,
        gross_pnl=78.75,
        charges=1.2345678,
        net_pnl=78.75 - 1.2345678,
        holding_seconds=312.25,
        extra={"product": "MIS"},
    )
    path = tmp_path / "pnl.csv"
    with PnlJournal(path) as journal:
        journal.append(rec)
    (back,) = read_pnl(path)
    assert back == PnlRecord(**{**{f: getattr(rec, f) for f in rec.__slots__}, "line": 2})  # type: ignore[attr-defined]
    assert lines(path)[1].startswith("2025-11-17T09:30:00.250Z,RELIANCE,s1,SELL,7,2501.35,2490.1,78.75,")


# -- one writer, header once, one line per record ------------------------------------------


def test_header_is_written_once_across_reopens(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    for i in range(3):
        with CsvJournal(path, ("a", "b")) as journal:
            journal.append({"a": i, "b": "x"})
    assert lines(path) == ["a,b", "0,x", "1,x", "2,x"]


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    first = OrdersJournal(path)
    with pytest.raises(JournalLockedError, match=str(path)):
        OrdersJournal(path)
    first.close()
    OrdersJournal(path).close()  # released on close


def test_another_process_cannot_open_a_held_journal(tmp_path: Path) -> None:
    path = tmp_path / "signals.csv"
    code = (
        "import sys\nfrom shared.state.journal import SignalsJournal, JournalLockedError\n"
        "try:\n    SignalsJournal(sys.argv[1])\nexcept JournalLockedError:\n    sys.exit(3)\n"
    )
    with SignalsJournal(path):
        held = subprocess.run([sys.executable, "-c", code, str(path)], check=False)
    free = subprocess.run([sys.executable, "-c", code, str(path)], check=False)
    assert (held.returncode, free.returncode) == (3, 0)


def test_a_file_with_another_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("timestamp,symbol\n")
    with pytest.raises(DataError, match=r"orders\.csv:1: header"):
        OrdersJournal(path)


def test_unknown_column_is_an_error(tmp_path: Path) -> None:
    with CsvJournal(tmp_path / "x.csv", ("a",)) as journal, pytest.raises(ValueError, match="unknown column"):
        journal.append({"b": 1})


def test_newlines_in_text_never_split_a_row(tmp_path: Path) -> None:
    path = tmp_path / "signals.csv"
    sig = Signal(ts_event=T_SIGNAL, signal_id="s", strategy="st", logical="X", symbol="X", price=1.5,
                 signal=SignalKind.EXIT, timeframe="1m", reason="stop\nhit, \"hard\"")  # fmt: skip
    with SignalsJournal(path, durable=True) as journal:
        journal.append(sig)
    assert len(lines(path)) == 2
    (row,) = read_signals(path)
    assert row.reason == 'stop hit, "hard"'


# -- crashes -------------------------------------------------------------------------------


def test_torn_last_line_is_truncated_on_open_and_appends_stay_clean(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "orders.csv"
    with OrdersJournal(path) as journal:
        journal.append_order_event(order_event(OrderStatus.OPEN, 0))
    torn = b"2025-11-17T09:30:00Z,NIFTY25JANFUT,BU"
    with path.open("ab") as fh:
        fh.write(torn)
    assert len(read_orders(path)) == 1  # readers skip the unterminated line
    with caplog.at_level(logging.WARNING), OrdersJournal(path) as journal:
        assert journal.repaired == torn
        journal.append_order_event(order_event(), fill=a_fill())
    assert "torn" in caplog.text and str(path) in caplog.text
    rows = read_orders(path)
    assert [r.status for r in rows] == [OrderStatus.OPEN, OrderStatus.FILLED]
    assert [r.line for r in rows] == [2, 3]


def test_nul_tail_after_a_power_cut_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n\0\0\0\0")
    with CsvJournal(path, ("a", "b")) as journal:
        assert journal.repaired == b"\0\0\0\0"
        journal.append({"a": 3, "b": 4})
    assert lines(path) == ["a,b", "1,2", "3,4"]


def test_torn_header_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,")
    with CsvJournal(path, ("a", "b")) as journal:
        journal.append({"a": 1, "b": 2})
    assert lines(path) == ["a,b", "1,2"]


# -- bad rows name file:line ---------------------------------------------------------------


def test_bad_side_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    bad = SEED_ORDERS_ROW.replace(",BUY,", ",HOLD,")
    path.write_text(f"{SEED_ORDERS_HEADER}\n{SEED_ORDERS_ROW}\n{bad}\n")
    with pytest.raises(DataError, match=r"orders\.csv:3: column 'side': expected BUY or SELL, got 'HOLD'"):
        read_orders(path)


def test_bad_extra_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    row = SEED_ORDERS_ROW.replace(",{}", ',"{""fill_id"":""t1"",""fill_quantity"":-5,""fill_price"":10}"')
    path.write_text(f"{SEED_ORDERS_HEADER}\n{row}\n")
    with pytest.raises(DataError, match=r"orders\.csv:2: column 'extra\.fill_quantity'"):
        read_orders(path)


def test_wrong_field_count_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "signals.csv"
    path.write_text(f"{SEED_SIGNALS_HEADER}\n{SEED_SIGNALS_ROW}\n{SEED_SIGNALS_ROW},extra\n")
    with pytest.raises(DataError, match=r"signals\.csv:3: expected 28 fields, got 29"):
        read_signals(path)


def test_missing_journal_reads_as_empty(tmp_path: Path) -> None:
    assert read_orders(tmp_path / "none.csv") == []


# -- timestamps ----------------------------------------------------------------------------


def test_timestamps_are_seed_style_and_keep_milliseconds_only_when_needed() -> None:
    assert format_ts(T_FILL) == "2025-11-17T09:30:00Z"
    assert format_ts(T_FILL + 250_999_999) == "2025-11-17T09:30:00.250Z"  # truncated, never rounded up
    assert parse_ts("2025-11-17T09:30:00.250Z") == T_FILL + 250_000_000
    assert parse_ts("2025-11-17T09:30:00.000000001Z") == T_FILL + 1
    for bad in ("2025-11-17 09:30:00", "2025-02-30T00:00:00Z", "2025-11-17T09:30:00+05:30"):
        with pytest.raises(ValueError):
            parse_ts(bad)


# -- events.jsonl --------------------------------------------------------------------------


def test_event_log_round_trip_and_torn_repair(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "events.jsonl"
    with EventLog(path) as log:
        log.append("halt", T_FILL, service="risk", reason="max daily loss\nhit")
    with path.open("ab") as fh:
        fh.write(b'{"ts":"2025')
    with EventLog(path) as log:
        assert log.repaired == b'{"ts":"2025'
        log.append("resume", T_FILL + 1_000_000_000)
        with pytest.raises(ValueError, match="reserved"):
            log.append("x", T_FILL, ts="2020")
    events = read_events(path)
    assert [e["event"] for e in events] == ["halt", "resume"]
    assert events[0] == {
        "ts": "2025-11-17T09:30:00Z",
        "ts_ns": T_FILL,
        "event": "halt",
        "service": "risk",
        "reason": "max daily loss\nhit",
    }


def test_bad_event_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"event":"a"}\nnot json\n')
    with pytest.raises(DataError, match=r"events\.jsonl:2"):
        read_events(path)
