"""The Redis bus against a real redis-server: groups, acks, pending replay, deadletter, caps."""

from __future__ import annotations

import json
import subprocess
import sys

import redis

from shared.bus import codec, streams
from shared.bus.redis_bus import Bus, connect
from shared.cli import describe_streams
from tests.factories import make_tick

NFO = streams.ticks("NFO")


def test_published_entries_are_readable_with_xrange(bus: Bus, redis_client: redis.Redis) -> None:
    bus.publish_many((NFO, make_tick(i)) for i in range(3))
    entries = redis_client.xrange(NFO, "-", "+", count=3)
    assert [e[1][b"type"] for e in entries] == [b"tick"] * 3
    assert entries[0][1][b"symbol"] == b"NIFTY25NOVFUT"
    assert entries[0][1][b"time"] == b"2025-11-17T09:15:00.000+05:30"


def test_consumer_reads_in_order_and_ack_clears_pending(bus: Bus) -> None:
    consumer = bus.consumer("fno", [NFO], start_id="0")
    bus.publish_many((NFO, make_tick(i)) for i in range(10))
    got = consumer.read(count=100, block_ms=100)
    got += consumer.read(count=100, block_ms=100)
    assert [d.message.ts_event for d in got] == [make_tick(i).ts_event for i in range(10)]
    assert consumer.pending_count() == 10
    assert consumer.ack(got) == 10
    assert consumer.pending_count() == 0


def test_restarted_consumer_gets_its_unacked_entries_first(bus: Bus, redis_url: str) -> None:
    first = bus.consumer("risk", [NFO], consumer_name="risk-1", start_id="0")
    bus.publish_many((NFO, make_tick(i)) for i in range(5))
    read = first.read(count=3, block_ms=100)
    first.ack(read[:1])  # crash after acknowledging only the first
    bus.publish(NFO, make_tick(5))

    restarted = Bus(connect(redis_url)).consumer("risk", [NFO], consumer_name="risk-1", start_id="0")
    replay = restarted.read(count=100, block_ms=100)
    assert [d.message.ts_event for d in replay] == [make_tick(i).ts_event for i in (1, 2)]
    fresh = restarted.read(count=100, block_ms=100)
    assert [d.message.ts_event for d in fresh] == [make_tick(i).ts_event for i in (3, 4, 5)]


def test_claim_stale_takes_over_a_dead_members_entries(bus: Bus) -> None:
    dead = bus.consumer("execution", [NFO], consumer_name="exec-dead", start_id="0")
    bus.publish_many((NFO, make_tick(i)) for i in range(4))
    assert len(dead.read(count=10, block_ms=100)) == 4
    alive = bus.consumer("execution", [NFO], consumer_name="exec-alive", start_id="0")
    assert alive.claim_stale(min_idle_ms=0) == 4
    taken = alive.read(count=10, block_ms=100)
    assert len(taken) == 4
    alive.ack(taken)
    assert alive.pending_count() == 0


def test_bad_entry_goes_to_deadletter_and_the_consumer_carries_on(bus: Bus, redis_client: redis.Redis) -> None:
    consumer = bus.consumer("fno", [NFO], start_id="0")
    bus.publish(NFO, make_tick(0))
    redis_client.xadd(NFO, {"type": "tick", "symbol": "X", "body": b"\x93garbage"})
    redis_client.xadd(NFO, {"hello": "world"})
    bus.publish(NFO, make_tick(1))

    got = consumer.read(count=100, block_ms=100) + consumer.read(count=100, block_ms=100)
    assert [d.message.ts_event for d in got] == [make_tick(0).ts_event, make_tick(1).ts_event]
    assert consumer.dead_lettered == 2
    dead = redis_client.xrange(streams.DEADLETTER)
    assert [e[1][b"source_stream"] for e in dead] == [NFO.encode()] * 2
    assert b"invalid body" in dead[0][1][b"reason"]
    assert b"no 'body' field" in dead[1][1][b"reason"]
    assert dead[0][1][b"body"] == b"\x93garbage"
    consumer.ack(got)
    assert consumer.pending_count() == 0  # bad entries were acknowledged, not left to loop


def test_tick_streams_are_capped_and_order_streams_are_not(bus: Bus, redis_client: redis.Redis) -> None:
    assert streams.maxlen(NFO) is not None
    assert streams.maxlen(streams.ORDER_EVENTS) is None
    assert streams.maxlen(streams.FILLS) is None
    small_cap = 1000
    for i in range(small_cap * 3):
        redis_client.xadd(NFO, codec.encode(make_tick(i)), maxlen=small_cap, approximate=True)
    assert redis_client.xlen(NFO) < small_cap * 2


def test_streams_listing_shows_groups_pending_and_lag(bus: Bus) -> None:
    consumer = bus.consumer("fno", [NFO], start_id="0")
    bus.publish_many((NFO, make_tick(i)) for i in range(7))
    consumer.read(count=3, block_ms=100)
    (row,) = [r for r in describe_streams(bus.redis) if r["stream"] == NFO]
    assert row["length"] == 7
    assert row["groups"] == [{"group": "fno", "consumers": 1, "pending": 3, "lag": 4}]


def test_cli_tail_prints_json_lines(bus: Bus, redis_url: str, redis_client: redis.Redis) -> None:
    bus.publish_many((NFO, make_tick(i)) for i in range(3))
    redis_client.xadd(NFO, {"type": "tick", "body": b"\xc1"})
    out = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--url", redis_url, "tail", NFO, "--from-start", "--no-follow"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.splitlines()
    rows = [json.loads(line) for line in out]
    assert [r.get("symbol") for r in rows[:3]] == ["NIFTY25NOVFUT"] * 3
    assert rows[0]["type"] == "tick" and rows[0]["bid_prices"][0] == 24499.95 and rows[0]["bid_quantities"][0] == 65
    assert "undecodable" in rows[3]


def test_cli_streams_lists_the_tick_stream(bus: Bus, redis_url: str) -> None:
    bus.publish(NFO, make_tick(0))
    out = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--url", redis_url, "streams"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    assert "ticks.NFO" in out and "stream" in out.splitlines()[0]


def test_cli_reports_unreachable_redis_clearly() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--url", "redis://127.0.0.1:1/0", "streams"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 3
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in proc.stderr


def test_read_ahead_entries_stay_pending_and_are_replayed_after_a_restart(bus: Bus, redis_url: str) -> None:
    fast = bus.consumer("fno", [NFO], consumer_name="fno-1", start_id="0", read_ahead=True)
    bus.publish_many([(NFO, make_tick(i)) for i in range(10)])
    first = fast.read(count=4, block_ms=100)
    assert [d.message.ts_event for d in first] == [make_tick(i).ts_event for i in range(4)]
    fast.ack(first)
    fast.close()  # a read-ahead batch was in flight: collected, left pending

    restarted = Bus(connect(redis_url)).consumer("fno", [NFO], consumer_name="fno-1", start_id="0")
    seen = []
    while batch := restarted.read(count=100, block_ms=100):
        seen += [d.message.ts_event for d in batch]
        restarted.ack(batch)
    assert seen == [make_tick(i).ts_event for i in range(4, 10)]  # nothing lost, nothing twice


def test_filtered_streams_limit_the_filter_and_an_intents_symbol_joins_it_for_that_read(
    bus: Bus, redis_client: redis.Redis
) -> None:
    from shared.contracts import OrderIntent
    from shared.enums import Product, Side

    consumer = bus.consumer("execution", [streams.ORDERS_APPROVED, NFO], start_id="0", symbols=set(),
                            filtered_streams=[NFO])  # fmt: skip
    order = OrderIntent(ts_event=1, intent_id="i1", strategy="s", engine="fno", exchange="NFO",
                        symbol="BANKNIFTY25NOVFUT", instrument_token=2002, side=Side.BUY, quantity=30,
                        product=Product.MIS)  # fmt: skip
    bus.publish_many([(NFO, make_tick(0)), (NFO, make_tick(1, symbol="BANKNIFTY25NOVFUT", token=2002)),
                      (streams.ORDERS_APPROVED, order)])  # fmt: skip
    got = consumer.read(count=100, block_ms=100)
    # the intent is never filtered; the tick of its symbol read with it is decoded; the other is not
    assert [(d.stream, d.message.symbol) for d in got] == [
        (streams.ORDERS_APPROVED, "BANKNIFTY25NOVFUT"),
        (NFO, "BANKNIFTY25NOVFUT"),
    ]
    consumer.ack(got)
    assert consumer.pending_count() == 0
    bus.publish(NFO, make_tick(2, symbol="BANKNIFTY25NOVFUT", token=2002))
    assert consumer.read(count=10, block_ms=50) == []  # the join lasted one read: the caller owns the filter


def test_symbol_filter_skips_other_symbols_undecoded_and_acks_them(bus: Bus, redis_client: redis.Redis) -> None:
    consumer = bus.consumer("execution", [NFO], start_id="0", symbols={b"NIFTY25NOVFUT"})
    bus.publish_many([(NFO, make_tick(i, symbol="BANKNIFTY25NOVFUT", token=2002)) for i in range(5)])
    redis_client.xadd(NFO, {"type": "tick", "symbol": "OTHER", "time": "t", "body": b"\xc1"})  # bad, not ours
    bus.publish_many([(NFO, make_tick(i)) for i in range(3)])
    got = consumer.read(count=100, block_ms=100)
    assert [d.message.symbol for d in got] == ["NIFTY25NOVFUT"] * 3
    assert consumer.dead_lettered == 0  # never decoded, so never judged
    consumer.ack(got)
    assert consumer.pending_count() == 0
    consumer.symbols.add(b"BANKNIFTY25NOVFUT")  # the universe can grow while running
    bus.publish(NFO, make_tick(9, symbol="BANKNIFTY25NOVFUT", token=2002))
    assert [d.message.symbol for d in consumer.read(count=10, block_ms=100)] == ["BANKNIFTY25NOVFUT"]
