"""scanner/YYYY-MM-DD/universe.json: the seed's format, lot sizes from the instruments master."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from shared.errors import DataError, InstrumentError
from shared.instruments import InstrumentsMaster
from shared.state.paths import StatePaths
from shared.state.scanner import Universe, UniverseEntry, load_universe, universe_meta, write_universe
from shared.state.timefmt import parse_ts

DAY = date(2025, 11, 17)
ASOF = parse_ts("2025-11-17T08:00:00Z")
MASTER_CSV = """\
instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange
12345678,48225,NIFTY25NOVFUT,NIFTY,0,2025-11-25,0,0.1,75,FUT,NFO-FUT,NFO
12345679,48226,NIFTY25DECFUT,NIFTY,0,2025-12-30,0,0.1,75,FUT,NFO-FUT,NFO
87654321,48227,BANKNIFTY25NOVFUT,BANKNIFTY,0,2025-11-25,0,0.2,35,FUT,NFO-FUT,NFO
"""
# The seed document's example, verbatim (its meta lacks FINNIFTY).
SEED_UNIVERSE = {
    "date": "2025-11-17",
    "asof": "2025-11-17T08:00:00Z",
    "fno": ["NIFTY", "BANKNIFTY", "FINNIFTY"],
    "meta": {
        "NIFTY": {"tradingsymbol": "NIFTY25JANFUT", "instrument_token": 12345678, "lot_size": 50},
        "BANKNIFTY": {"tradingsymbol": "BANKNIFTY25JANFUT", "instrument_token": 87654321, "lot_size": 15},
    },
}


def master() -> InstrumentsMaster:
    return InstrumentsMaster.from_csv_text(MASTER_CSV)


def test_meta_takes_the_current_future_and_its_lot_size_from_the_master() -> None:
    meta = universe_meta(master(), ["NIFTY", "BANKNIFTY"], DAY)
    assert meta == {
        "NIFTY": UniverseEntry("NIFTY25NOVFUT", 12345678, 75),
        "BANKNIFTY": UniverseEntry("BANKNIFTY25NOVFUT", 87654321, 35),
    }
    assert universe_meta(master(), ["NIFTY"], date(2025, 11, 25))["NIFTY"].tradingsymbol == "NIFTY25DECFUT"
    with pytest.raises(InstrumentError, match="FINNIFTY"):
        universe_meta(master(), ["FINNIFTY"], DAY)


def test_written_file_is_the_seed_format_and_loads_back(tmp_path: Path) -> None:
    meta = universe_meta(master(), ["NIFTY", "BANKNIFTY"], DAY)
    path = write_universe(tmp_path, DAY, ["NIFTY", "BANKNIFTY"], meta, ASOF, equity=["RELIANCE", "TCS"])
    assert path == StatePaths(tmp_path).universe_json(DAY)
    assert json.loads(path.read_text()) == {
        "date": "2025-11-17",
        "asof": "2025-11-17T08:00:00Z",
        "fno": ["NIFTY", "BANKNIFTY"],
        "meta": {
            "NIFTY": {"tradingsymbol": "NIFTY25NOVFUT", "instrument_token": 12345678, "lot_size": 75},
            "BANKNIFTY": {"tradingsymbol": "BANKNIFTY25NOVFUT", "instrument_token": 87654321, "lot_size": 35},
        },
        "equity": ["RELIANCE", "TCS"],
    }
    assert load_universe(tmp_path, DAY) == Universe(DAY, ASOF, ("NIFTY", "BANKNIFTY"), meta, ("RELIANCE", "TCS"))


def test_the_seed_example_loads(tmp_path: Path) -> None:
    path = StatePaths(tmp_path).universe_json(DAY)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(SEED_UNIVERSE))
    universe = load_universe(tmp_path, DAY)
    assert universe is not None
    assert universe.fno == ("NIFTY", "BANKNIFTY", "FINNIFTY")
    assert universe.meta["BANKNIFTY"].lot_size == 15 and universe.equity is None


def test_no_file_loads_as_none(tmp_path: Path) -> None:
    assert load_universe(tmp_path, DAY) is None


def test_write_needs_meta_for_every_fno_name(tmp_path: Path) -> None:
    meta = universe_meta(master(), ["NIFTY"], DAY)
    with pytest.raises(ValueError, match="BANKNIFTY"):
        write_universe(tmp_path, DAY, ["NIFTY", "BANKNIFTY"], meta, ASOF)
    assert load_universe(tmp_path, DAY) is None


def test_bad_file_names_the_key(tmp_path: Path) -> None:
    path = StatePaths(tmp_path).universe_json(DAY)
    path.parent.mkdir(parents=True)
    bad = json.loads(json.dumps(SEED_UNIVERSE))
    bad["meta"]["NIFTY"]["lot_size"] = "50"
    path.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"universe\.json: key 'meta\.NIFTY\.lot_size': expected a positive integer"):
        load_universe(tmp_path, DAY)
    path.write_text(json.dumps({**SEED_UNIVERSE, "date": "2025-11-18"}))
    with pytest.raises(DataError, match="key 'date'"):
        load_universe(tmp_path, DAY)
