"""Kite's instruments master: CSV round trips, clear load errors, futures, chains, strikes."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from shared.errors import DataError, InstrumentError
from shared.instruments import COLUMNS, Instrument, InstrumentsMaster
from shared.universe import load_equity_universe

HEADER = ",".join(COLUMNS)
ROWS = [
    "256265,1001,NIFTY 50,NIFTY 50,0,,0,0,0,EQ,INDICES,NSE",
    "260105,1016,NIFTY BANK,NIFTY BANK,0,,0,0,0,EQ,INDICES,NSE",
    "738561,2885,RELIANCE,RELIANCE INDUSTRIES,1520.5,,0,0.05,1,EQ,NSE,NSE",
    "895745,3499,TATASTEEL,TATA STEEL,170.12,,0,0.01,1,EQ,NSE,NSE",
    "13238786,51714,NIFTY26DECFUT,NIFTY,0,2026-12-29,0,0.05,65,FUT,NFO-FUT,NFO",
    "13238530,51713,NIFTY26NOVFUT,NIFTY,0,2026-11-23,0,0.05,65,FUT,NFO-FUT,NFO",
    "12000002,46875,NIFTY26NOV26000CE,NIFTY,0,2026-11-23,26000,0.05,65,CE,NFO-OPT,NFO",
    "12000258,46876,NIFTY26NOV26000PE,NIFTY,0,2026-11-23,26000,0.05,65,PE,NFO-OPT,NFO",
    "12000514,46877,NIFTY26NOV25950CE,NIFTY,0,2026-11-23,25950,0.05,65,CE,NFO-OPT,NFO",
    "12000770,46878,NIFTY26NOV25950PE,NIFTY,0,2026-11-23,25950,0.05,65,PE,NFO-OPT,NFO",
    "12001026,46879,NIFTY26NOV26050CE,NIFTY,0,2026-11-23,26050,0.05,65,CE,NFO-OPT,NFO",
    "12001282,46880,NIFTY26NOV26050PE,NIFTY,0,2026-11-23,26050,0.05,65,PE,NFO-OPT,NFO",
    "12001538,46881,NIFTY26D0126000CE,NIFTY,0,2026-12-01,26000,0.05,65,CE,NFO-OPT,NFO",
]
TEXT = HEADER + "\n" + "\n".join(ROWS) + "\n"
EXPIRY = date(2026, 11, 23)


@pytest.fixture
def master() -> InstrumentsMaster:
    return InstrumentsMaster.from_csv_text(TEXT)


def test_csv_text_round_trips_exactly(master: InstrumentsMaster) -> None:
    assert master.to_csv_text() == TEXT
    assert len(master) == len(ROWS)


def test_csv_file_round_trips_and_the_write_is_atomic(master: InstrumentsMaster, tmp_path: Path) -> None:
    path = tmp_path / "instruments.csv"
    master.to_csv(path)
    assert path.read_text() == TEXT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instruments.csv"]  # no temp file left behind
    assert list(InstrumentsMaster.from_csv(path)) == list(master)
    assert list(InstrumentsMaster.from_csv(io.StringIO(TEXT))) == list(master)


def test_fields_are_parsed_to_kite_types(master: InstrumentsMaster) -> None:
    fut = master.by_symbol("NFO", "NIFTY26NOVFUT")
    assert fut == Instrument(
        13238530, 51713, "NIFTY26NOVFUT", "NIFTY", 0.0, EXPIRY, 0.0, 0.05, 65, "FUT", "NFO-FUT", "NFO"
    )
    assert fut.is_future and not fut.is_option and not fut.is_index
    assert fut.key == "NFO:NIFTY26NOVFUT"
    assert master.by_token(738561).tradingsymbol == "RELIANCE"
    assert master.by_key("NSE:TATASTEEL").tick_size == 0.01


def test_kite_dump_with_quoted_names_loads() -> None:
    text = HEADER + '\n408065,1594,INFY,"INFOSYS",0,,0,0.05,1,EQ,NSE,NSE\n'
    inst = InstrumentsMaster.from_csv_text(text).by_symbol("NSE", "INFY")
    assert inst.name == "INFOSYS" and inst.instrument_token == 408065


def test_bad_integer_names_file_line_and_column() -> None:
    bad = TEXT.replace("RELIANCE INDUSTRIES,1520.5,,0,0.05,1,", "RELIANCE INDUSTRIES,1520.5,,0,0.05,one,")
    with pytest.raises(DataError, match=r"day\.csv:4: column 'lot_size': expected an integer, got 'one'"):
        InstrumentsMaster.from_csv_text(bad, source="day.csv")


def test_bad_expiry_and_bad_instrument_type_are_named() -> None:
    with pytest.raises(DataError, match=r":6: column 'expiry': expected a date"):
        InstrumentsMaster.from_csv_text(TEXT.replace("2026-12-29", "29-12-2026"))
    with pytest.raises(DataError, match=r":2: column 'instrument_type': expected one of EQ, FUT, CE, PE"):
        InstrumentsMaster.from_csv_text(TEXT.replace("0,EQ,INDICES", "0,IDX,INDICES", 1))


def test_unknown_or_missing_header_columns_are_named() -> None:
    with pytest.raises(DataError, match=r":1: unknown column\(s\) 'ltp'"):
        InstrumentsMaster.from_csv_text(TEXT.replace("last_price", "ltp", 1))
    missing = HEADER.removesuffix(",exchange") + "\n"
    with pytest.raises(DataError, match=r":1: missing column\(s\) exchange"):
        InstrumentsMaster.from_csv_text(missing)


def test_short_row_is_named_with_its_line() -> None:
    with pytest.raises(DataError, match=r":4: expected 12 fields, got 11"):
        InstrumentsMaster.from_csv_text(TEXT.replace(",NSE,NSE\n", ",NSE\n", 1))


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        InstrumentsMaster.from_csv(tmp_path / "nope.csv")


def test_duplicate_token_is_rejected() -> None:
    with pytest.raises(DataError, match="738561 is listed twice"):
        InstrumentsMaster.from_csv_text(TEXT + ROWS[2].replace("RELIANCE,", "RELIANCE2,", 1) + "\n")


def test_futures_are_sorted_and_current_month_rolls_near_expiry(master: InstrumentsMaster) -> None:
    assert [f.tradingsymbol for f in master.futures("NIFTY")] == ["NIFTY26NOVFUT", "NIFTY26DECFUT"]
    assert master.future("NIFTY", date(2026, 11, 2)).tradingsymbol == "NIFTY26NOVFUT"
    assert master.future("NIFTY", date(2026, 11, 20)).tradingsymbol == "NIFTY26NOVFUT"  # 3 days left
    # default roll: from the expiry day itself the next month is current
    assert master.future("NIFTY", EXPIRY).tradingsymbol == "NIFTY26DECFUT"
    assert master.future("NIFTY", EXPIRY, roll_days_before_expiry=0).tradingsymbol == "NIFTY26NOVFUT"
    assert master.future("NIFTY", date(2026, 11, 20), roll_days_before_expiry=5).tradingsymbol == "NIFTY26DECFUT"
    with pytest.raises(InstrumentError, match="no NIFTY future"):
        master.future("NIFTY", date(2026, 12, 30))
    with pytest.raises(InstrumentError, match="no futures for 'NIFTYX'"):
        master.futures("NIFTYX")


def test_option_chain_is_sorted_by_strike_then_type(master: InstrumentsMaster) -> None:
    chain = master.option_chain("NIFTY", EXPIRY)
    assert [(o.strike, o.instrument_type) for o in chain] == [
        (25950.0, "CE"),
        (25950.0, "PE"),
        (26000.0, "CE"),
        (26000.0, "PE"),
        (26050.0, "CE"),
        (26050.0, "PE"),
    ]
    assert master.strikes("NIFTY", EXPIRY) == [25950.0, 26000.0, 26050.0]
    assert master.option("NIFTY", EXPIRY, 26000, "PE").tradingsymbol == "NIFTY26NOV26000PE"
    with pytest.raises(InstrumentError, match="no NIFTY options expiring 2026-11-24"):
        master.option_chain("NIFTY", date(2026, 11, 24))
    with pytest.raises(InstrumentError, match="26100 CE"):
        master.option("NIFTY", EXPIRY, 26100, "CE")


def test_expiries_and_nearest_expiry(master: InstrumentsMaster) -> None:
    assert master.expiries("NIFTY") == [EXPIRY, date(2026, 12, 1)]
    assert master.nearest_expiry("NIFTY", date(2026, 11, 20)) == EXPIRY
    assert master.nearest_expiry("NIFTY", EXPIRY) == EXPIRY  # an expiry day still trades its contract
    assert master.nearest_expiry("NIFTY", date(2026, 11, 25)) == date(2026, 12, 1)
    with pytest.raises(InstrumentError):
        master.nearest_expiry("NIFTY", date(2026, 12, 2))


def test_strike_step_comes_from_the_chain(master: InstrumentsMaster) -> None:
    assert master.strike_step("NIFTY", EXPIRY) == 50.0
    # wider strikes far from the money: the most common gap wins
    rows = [
        f"{9000 + i},{i},NIFTY26NOV{k}CE,NIFTY,0,2026-11-23,{k},0.05,65,CE,NFO-OPT,NFO"
        for i, k in enumerate([25000, 25100, 25200, 25250, 25300, 25350, 25400, 25500])
    ]
    wide = InstrumentsMaster.from_csv_text(HEADER + "\n" + "\n".join(rows) + "\n")
    assert wide.strike_step("NIFTY", EXPIRY) == 50.0
    with pytest.raises(InstrumentError, match="1 strike"):
        InstrumentsMaster.from_csv_text(HEADER + "\n" + rows[0] + "\n").strike_step("NIFTY", EXPIRY)


def test_index_resolves_logical_names(master: InstrumentsMaster) -> None:
    assert master.index("NIFTY").instrument_token == 256265
    assert master.index("BANKNIFTY").tradingsymbol == "NIFTY BANK"
    assert master.index("NIFTY 50").is_index
    with pytest.raises(InstrumentError, match=r"no index for 'FINNIFTY'.*NIFTY 50"):
        master.index("FINNIFTY")


def test_equities_exclude_indices(master: InstrumentsMaster) -> None:
    assert [e.tradingsymbol for e in master.equities()] == ["RELIANCE", "TATASTEEL"]


def test_failed_lookups_raise_instrument_error(master: InstrumentsMaster) -> None:
    with pytest.raises(InstrumentError, match="instrument_token 1 is not"):
        master.by_token(1)
    with pytest.raises(InstrumentError, match="NSE:NOPE"):
        master.by_symbol("NSE", "NOPE")
    with pytest.raises(InstrumentError, match="EXCHANGE:TRADINGSYMBOL"):
        master.by_key("RELIANCE")


# -- the equity universe -----------------------------------------------------------------------


def test_shipped_universe_is_the_nifty_100() -> None:
    path = Path(__file__).resolve().parents[2] / "configs" / "universe_equity.csv"
    all_100 = load_equity_universe(path)
    assert len(all_100) == 100 and len(set(all_100)) == 100
    assert len(load_equity_universe(path, include_indices=("NIFTY50",))) == 50
    assert len(load_equity_universe(path, max_symbols=10)) == 10


def test_universe_min_price_filters_on_the_master(master: InstrumentsMaster, tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(
        "tradingsymbol,name,index\nRELIANCE,RELIANCE INDUSTRIES,NIFTY50\n"
        "TATASTEEL,TATA STEEL,NIFTY50\nGONE,RENAMED CO,NIFTY100\n"
    )
    assert load_equity_universe(path) == ["RELIANCE", "TATASTEEL", "GONE"]
    # GONE is not in the master (a rename): dropped; TATASTEEL at 170.12 is under 200
    assert load_equity_universe(path, master=master) == ["RELIANCE", "TATASTEEL"]
    assert load_equity_universe(path, min_price=200, master=master) == ["RELIANCE"]


def test_bad_universe_row_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("tradingsymbol,name,index\nRELIANCE,RELIANCE INDUSTRIES,NIFTY50\nINFY,INFOSYS,SENSEX\n")
    with pytest.raises(DataError, match=r"u\.csv:3: column 'index': expected NIFTY50 or NIFTY100, got 'SENSEX'"):
        load_equity_universe(path)
