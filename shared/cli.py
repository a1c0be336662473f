"""Inspect the bus from a terminal.

    python -m shared.cli tail ticks.NFO            # follow new entries, one JSON object per line
    python -m shared.cli tail orders.events --from-start --count 20
    python -m shared.cli streams                   # every stream: length, groups, pending, lag

Reads only: it never joins a consumer group, so it cannot steal a service's messages.
Uses ``REDIS_URL`` (or ``--url``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import msgspec
import redis

from shared.bus import codec, streams
from shared.bus.redis_bus import connect
from shared.errors import DecodeError


def entry_json(stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> str:
    """One entry as a JSON line: the decoded body, or the raw fields when it does not decode."""
    head: dict[str, Any] = {"stream": stream, "id": entry_id.decode()}
    try:
        msg = codec.decode(fields)
        head.update(msgspec.to_builtins(msg))
        head["time"] = fields.get(codec.F_TIME, b"").decode()
    except DecodeError as exc:
        head["undecodable"] = str(exc)
        for k, v in fields.items():
            key = k.decode(errors="replace")
            head[key] = v.decode(errors="replace") if key != "body" else v.hex()
    return json.dumps(head, ensure_ascii=False)


def tail(client: redis.Redis, stream: str, *, from_start: bool, count: int | None, follow: bool) -> int:
    printed = 0
    if from_start or not follow:
        last = b"-"
        entries = (
            client.xrange(stream, "-", "+", count=count)
            if from_start
            else list(reversed(client.xrevrange(stream, "+", "-", count=count or 10)))
        )
        for entry_id, fields in entries:
            print(entry_json(stream, entry_id, fields), flush=True)
            printed += 1
            last = entry_id
        if not follow or (count is not None and printed >= count):
            return printed
        cursor = last.decode() if last != b"-" else "$"
    else:
        cursor = "$"
    try:
        while count is None or printed < count:
            resp = client.xread({stream: cursor}, block=1000, count=1000)
            for _, entries in resp or ():
                for entry_id, fields in entries:
                    print(entry_json(stream, entry_id, fields), flush=True)
                    printed += 1
                    cursor = entry_id.decode()
    except KeyboardInterrupt:
        pass
    return printed


def describe_streams(client: redis.Redis) -> list[dict[str, Any]]:
    """Length, groups, pending and lag of every stream that exists (declared ones first)."""
    names = list(streams.ALL_STREAMS)
    for key in client.scan_iter(_type="STREAM"):
        name = key.decode()
        if name not in names:
            names.append(name)
    rows: list[dict[str, Any]] = []
    for name in names:
        if not client.exists(name):
            continue
        groups = []
        for g in client.xinfo_groups(name):
            groups.append(
                {
                    "group": g["name"].decode(),
                    "consumers": g["consumers"],
                    "pending": g["pending"],
                    "lag": g.get("lag"),
                }
            )
        rows.append({"stream": name, "length": client.xlen(name), "groups": groups})
    return rows


def print_streams(rows: list[dict[str, Any]]) -> None:
    print(f"{'stream':<20} {'length':>9}  groups (consumers / pending / lag)")
    for r in rows:
        groups = ", ".join(f"{g['group']} ({g['consumers']}/{g['pending']}/{g['lag']})" for g in r["groups"])
        print(f"{r['stream']:<20} {r['length']:>9}  {groups or '-'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.cli", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="Redis URL (default $REDIS_URL or redis://127.0.0.1:6379/0)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tail", help="print a stream's entries decoded as JSON lines")
    t.add_argument("stream", help="e.g. ticks.NFO, orders.events, deadletter")
    t.add_argument("--from-start", action="store_true", help="start at the oldest entry")
    t.add_argument("-n", "--count", type=int, help="stop after this many entries")
    t.add_argument("--no-follow", action="store_true", help="print what is there and exit")
    s = sub.add_parser("streams", help="list streams with length, groups, pending and lag")
    s.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        client = connect(args.url)
    except ConnectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    if args.cmd == "tail":
        tail(client, args.stream, from_start=args.from_start, count=args.count, follow=not args.no_follow)
        return 0
    rows = describe_streams(client)
    if args.json:
        print(json.dumps(rows))
    else:
        print_streams(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
