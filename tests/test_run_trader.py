"""scripts/run_trader.py: argument and config checks, then real runs under supervisord with real Redis."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from scripts import run_day, run_trader
from shared.runtime.supervisor import ENGINES
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent
NIFTY_FUTURE = re.compile(r"NIFTY\d{2}[A-Z]{3}FUT")
NFO_SYMBOL = re.compile(r"[A-Z]+\d{2}[A-Z0-9]{3,5}(FUT|\d+(\.\d+)?(CE|PE))")


# -- helpers -----------------------------------------------------------------------------


def base_env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment, artifacts in tmp_path, no Redis or config chosen."""
    env = dict(os.environ)
    env["KITE_ALGO__SERVICES__ARTIFACTS_DIR"] = str(tmp_path / "artifacts")
    env["PYTHONPATH"] = str(ROOT)
    env.pop("REDIS_URL", None)
    env.pop("KITE_ALGO_CONFIG", None)
    return env


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.run_trader", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def processes_with(marker: str) -> dict[int, str]:
    """pid -> command line of every process whose environment holds ``marker`` (Linux /proc)."""
    found: dict[int, str] = {}
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if needle in environ.split(b"\0"):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def output(tmp_path: Path) -> str:
    return (tmp_path / "out.txt").read_text(errors="replace")


def diagnostics(tmp_path: Path) -> str:
    """run_trader's output and the tail of every service log, for a failure message."""
    parts = [f"--- run_trader output\n{output(tmp_path)}"]
    for log in sorted((tmp_path / "artifacts" / "logs").glob("*.log")):
        parts.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(parts)


def wait_for(
    what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes], tmp_path: Path, seconds: float = 20
) -> None:
    """Poll ``check`` until true; fail early if run_trader exits meanwhile, showing its logs."""
    deadline = time.monotonic() + seconds
    while not check():
        if proc.poll() is not None:
            pytest.fail(f"run_trader exited with {proc.returncode} while waiting for {what}\n{diagnostics(tmp_path)}")
        if "entered FATAL state" in output(tmp_path):  # a service gave up: no point waiting
            pytest.fail(f"a service went FATAL while waiting for {what}\n{diagnostics(tmp_path)}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{diagnostics(tmp_path)}")
        time.sleep(0.1)


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start run_trader in the background (output in tmp_path/out.txt); kill it if a test fails."""
    procs: list[subprocess.Popen[bytes]] = []

    def launch(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (tmp_path / "out.txt").open("wb") as out:  # the child keeps its own copy of the fd
            proc = subprocess.Popen(
                [sys.executable, "-m", "scripts.run_trader", *args],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        return proc

    yield launch
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- command line and config checks (no processes) --------------------------------------


def test_parse_engines_accepts_all_none_and_lists_in_canonical_order() -> None:
    assert run_trader.parse_engines("all") == ENGINES
    assert run_trader.parse_engines("none") == ()
    assert run_trader.parse_engines("equity, fno,equity") == ("fno", "equity")


def test_parse_engines_rejects_an_unknown_engine() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="futures"):
        run_trader.parse_engines("fno,futures")


def test_unknown_engine_on_the_command_line_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run_trader.main(["paper", "--engines", "crypto"])
    assert exc.value.code == 2
    assert "crypto" in capsys.readouterr().err


def test_live_without_config_exits_2_and_asks_for_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_trader.main(["live"]) == 2
    assert "--config configs/live.yaml" in capsys.readouterr().err


def test_live_with_a_paper_config_exits_2_naming_trading_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_trader.main(["live", "--config", str(ROOT / "configs" / "dev.yaml")]) == 2
    err = capsys.readouterr().err
    assert "trading.mode" in err and "'paper'" in err


def test_paper_with_a_live_config_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_trader.main(["paper", "--config", str(ROOT / "configs" / "live.yaml")]) == 2
    assert "'live'" in capsys.readouterr().err


def test_login_without_api_key_and_secret_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("KITE_API_KEY", "KITE_API_SECRET", "KITE_ALGO__KITE__API_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert run_trader.main(["paper", "--login"]) == 2
    assert "KITE_API_SECRET" in capsys.readouterr().err


def test_run_day_login_with_no_engines_behaves_as_run_trader_login(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("KITE_API_KEY", "KITE_API_SECRET", "KITE_ALGO__KITE__API_KEY"):
        monkeypatch.delenv(var, raising=False)
    assert run_day.main(["--login", "--engines", "none"]) == 2
    assert "KITE_API_SECRET" in capsys.readouterr().err


def test_run_day_delegates_mode_and_config_to_run_trader_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_day.main(["--mode", "live"]) == 2
    assert "explicit config" in capsys.readouterr().err
    assert run_day.main(["--mode", "live", "--config", str(ROOT / "configs" / "dev.yaml")]) == 2
    assert "trading.mode" in capsys.readouterr().err


def test_mask_url_hides_the_password() -> None:
    assert run_trader.mask_url("redis://:s3cret@db:6379/0") == "redis://:***@db:6379/0"
    assert run_trader.mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_services_to_start_always_includes_the_core_and_only_chosen_engines() -> None:
    present, missing = run_trader.services_to_start(("options",))
    wanted = set(present) | set(missing)
    assert wanted == {"feed", "risk", "execution", "dashboard", "options"}
    assert not set(present) & set(missing)


# -- start-up failures (real CLI) -------------------------------------------------------


@pytest.mark.slow
def test_bad_config_exits_2_and_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("trading:\n  mode: paper\ndata:\n  sped: 5\n")
    result = run_cli(["paper", "--config", str(bad)], base_env(tmp_path))
    assert result.returncode == 2
    assert "data.sped" in result.stderr and str(bad) in result.stderr


@pytest.mark.slow
def test_live_without_config_exits_2_from_the_command_line(tmp_path: Path) -> None:
    result = run_cli(["live"], base_env(tmp_path))
    assert result.returncode == 2
    assert "explicit config" in result.stderr


@pytest.mark.slow
def test_unreachable_redis_url_exits_2_naming_it(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    result = run_cli(["paper", "--engines", "none"], env)
    assert result.returncode == 2
    assert env["REDIS_URL"] in result.stderr and "PING" in result.stderr


@pytest.mark.slow
def test_missing_redis_server_exits_2_and_says_how_to_install_it(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    env["PATH"] = str(tmp_path)  # no redis-server here; python is run by absolute path
    result = run_cli(["paper", "--engines", "none"], env)
    assert result.returncode == 2
    assert "redis-server is not on PATH" in result.stderr and "make setup" in result.stderr


# -- real runs ---------------------------------------------------------------------------


@pytest.mark.slow
def test_paper_run_streams_nifty_futures_and_stops_cleanly_on_sigint(
    tmp_path: Path, redis_url: str, redis_client: redis.Redis, launched: Callable[..., subprocess.Popen[bytes]]
) -> None:
    env = base_env(tmp_path)
    env["REDIS_URL"] = redis_url
    env["KITE_ALGO__DATA__SPEED"] = "max"
    marker = f"KITE_ALGO__SERVICES__ARTIFACTS_DIR={env['KITE_ALGO__SERVICES__ARTIFACTS_DIR']}"
    proc = launched(["paper", "--engines", "none"], env)

    wait_for("ticks on ticks.NFO", lambda: redis_client.xlen("ticks.NFO") > 0, proc, tmp_path)
    symbols = [f[b"symbol"].decode() for _, f in redis_client.xrange("ticks.NFO", count=500)]
    assert any(NIFTY_FUTURE.fullmatch(s) for s in symbols), symbols[:10]
    assert all(NFO_SYMBOL.fullmatch(s) for s in symbols), [s for s in symbols if not NFO_SYMBOL.fullmatch(s)][:5]

    conf = tmp_path / "artifacts" / "run" / "supervisord.conf"
    status: list[str] = []

    def feed_running() -> bool:
        ctl = [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(conf), "status", "feed"]
        status[:] = [subprocess.run(ctl, capture_output=True, text=True, check=False).stdout]
        return "RUNNING" in status[0]

    wait_for("supervisorctl to report feed RUNNING", feed_running, proc, tmp_path)
    running = processes_with(marker)
    assert any("supervisord" in cmd for cmd in running.values()), running
    assert any("services.feed" in cmd for cmd in running.values()), running

    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0, output(tmp_path)
    assert processes_with(marker) == {}
    sup_log = (tmp_path / "artifacts" / "logs" / "supervisord.log").read_text()
    assert "stopped: feed" in sup_log and "SIGKILL" not in sup_log


@pytest.mark.slow
def test_paper_run_without_redis_url_starts_a_private_redis_and_stops_it(
    tmp_path: Path, launched: Callable[..., subprocess.Popen[bytes]]
) -> None:
    env = base_env(tmp_path)
    marker = f"KITE_ALGO__SERVICES__ARTIFACTS_DIR={env['KITE_ALGO__SERVICES__ARTIFACTS_DIR']}"
    proc = launched(["paper", "--engines", "none"], env)

    urls: list[str] = []

    def banner_url() -> bool:
        urls[:] = re.findall(r"redis:\s+(redis://127\.0\.0\.1:\d+/0)", output(tmp_path))
        return bool(urls)

    wait_for("the banner's Redis URL", banner_url, proc, tmp_path)
    client = redis.Redis.from_url(urls[0], socket_connect_timeout=2)
    assert client.ping()
    assert (tmp_path / "artifacts" / "redis").is_dir()
    wait_for("supervisord", lambda: any("supervisord" in c for c in processes_with(marker).values()), proc, tmp_path)

    # A second run on the same artifacts is refused while this one is up.
    second = run_cli(["paper", "--engines", "none"], env)
    assert second.returncode == 2 and "already" in second.stderr

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, output(tmp_path)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()
    assert processes_with(marker) == {}


@pytest.mark.slow
def test_killing_run_trader_outright_still_leaves_no_process_behind(
    tmp_path: Path, launched: Callable[..., subprocess.Popen[bytes]]
) -> None:
    # SIGKILL gives run_trader no chance to clean up: supervisord and redis-server get SIGTERM
    # from the kernel (parent-death signal) and supervisord stops the services.
    env = base_env(tmp_path)
    marker = f"KITE_ALGO__SERVICES__ARTIFACTS_DIR={env['KITE_ALGO__SERVICES__ARTIFACTS_DIR']}"
    proc = launched(["paper", "--engines", "none"], env)
    wait_for("supervisord", lambda: any("supervisord" in c for c in processes_with(marker).values()), proc, tmp_path)

    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == {}
