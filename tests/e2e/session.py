"""Run ``python -m scripts.run_trader paper`` for a whole simulated session, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from shared.bus import codec, streams
from shared.cli import describe_streams

ROOT = Path(__file__).resolve().parents[2]
SESSION_DAY = "2026-11-25"


def session_env(redis_url: str, artifacts: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITE_ALGO")}
    env.update(
        {
            "REDIS_URL": redis_url,
            "PYTHONPATH": str(ROOT),
            "KITE_ALGO__SERVICES__ARTIFACTS_DIR": str(artifacts),
            "KITE_ALGO__SERVICES__HEARTBEAT_SECONDS": "1",
            "KITE_ALGO__DATA__SPEED": "max",
            "KITE_ALGO__DATA__DAYS": "1",
            "KITE_ALGO__DATA__START_DATE": SESSION_DAY,
            # One-second steps and no default option strikes: a whole day in well under a minute.
            "KITE_ALGO__DATA__STEP_MS": "1000",
            "KITE_ALGO__DATA__OPTION_STRIKES_EACH_SIDE": "0",
        }
    )
    env.update(overrides)
    return env


class TraderRun:
    """run_trader in the background; waits for the session to be fully processed; stops it."""

    def __init__(self, env: dict[str, str], engines: str = "fno,equity") -> None:
        self.env = env
        self.artifacts = Path(env["KITE_ALGO__SERVICES__ARTIFACTS_DIR"])
        self.redis = redis.Redis.from_url(env["REDIS_URL"])
        self.log = (self.artifacts.parent / "run_trader.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.run_trader", "paper", "--engines", engines],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def feed_event_ns(self) -> tuple[int, bool]:
        """The feed's event time and whether its session is finished (from its heartbeats)."""
        for _, fields in self.redis.xrevrange(streams.HEALTH, count=200):
            hb = codec.decode(fields)
            if getattr(hb, "service", "") == "feed" and "event_time_ns=" in hb.detail:
                ts = int(hb.detail.split("event_time_ns=")[1].split()[0])
                return ts, "finished" in hb.detail
        return 0, False

    def all_read(self) -> bool:
        """Every consumer group has been delivered its stream's newest entry.

        (Redis's own ``lag`` is unreliable once a capped stream has been trimmed.)
        """
        for row in describe_streams(self.redis):
            last = self.redis.xinfo_stream(row["stream"])["last-generated-id"]
            for g in self.redis.xinfo_groups(row["stream"]):
                if g["last-delivered-id"] != last:
                    return False
        return True

    def wait_until(self, fraction: float, timeout: float = 300) -> None:
        """Until the feed has published ``fraction`` of the session (event time)."""
        from datetime import date

        from shared.sim import calendar

        day = date.fromisoformat(SESSION_DAY)
        start, end = calendar.session_open_ns(day), calendar.session_close_ns(day)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            ts, done = self.feed_event_ns()
            if done or (ts and ts >= start + fraction * (end - start)):
                return
            time.sleep(0.2)
        raise TimeoutError(f"the feed did not reach {fraction:.0%} of the session in {timeout} s")

    def wait_finished(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if self.feed_event_ns()[1] and self.all_read():
                time.sleep(3)  # the last batches: handled, journaled, checkpointed
                if self.all_read():
                    return
            time.sleep(0.5)
        raise TimeoutError(f"session not processed within {timeout} s")

    def pid(self, service: str) -> int:
        out = subprocess.run(
            [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(self.artifacts / "run" / "supervisord.conf"),
             "pid", service],
            capture_output=True, text=True, timeout=30,
        ).stdout.strip()
        return int(out)

    def kill9(self, service: str) -> int:
        pid = self.pid(service)
        os.kill(pid, signal.SIGKILL)
        return pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"run_trader exited with {self.proc.returncode}: {self.output()[-3000:]}")

    def output(self) -> str:
        self.log.flush()
        return (self.artifacts.parent / "run_trader.log").read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode
