"""Start the whole platform with one command: ``python -m scripts.run_trader paper``.

Every service runs as its own process under supervisord (config generated into
``artifacts/run/supervisord.conf``), so ``supervisorctl`` can inspect and restart them one
by one. Without ``REDIS_URL`` a private ``redis-server`` is started on a free port for the
duration of the run. Ctrl+C (or SIGTERM) stops supervisord, which stops every service in
order, then the private Redis; the exit code is 0.

    python -m scripts.run_trader paper [--config PATH] [--engines fno,options,equity|all|none]
    python -m scripts.run_trader live --config configs/live.yaml
    python -m scripts.run_trader backtest --config configs/backtest.yaml --from ... --to ...
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import redis

from shared.config import DEFAULT_CONFIG, Settings, exit_on_config_error, load_settings
from shared.runtime.logging import setup_logging
from shared.runtime.supervisor import (
    CORE_SERVICES,
    ENGINES,
    SERVICES,
    STOPWAITSECS,
    Layout,
    Program,
    render_conf,
    service_available,
    service_program,
)

log = logging.getLogger("scripts.run_trader")

EXIT_USAGE = 2
_REDIS_START_SECONDS = 10.0
_REDIS_PING_TIMEOUT = 3.0
_POLL_SECONDS = 0.2


class StartupError(Exception):
    """Something the user must fix before the platform can start (exit code 2)."""


# -- command line ------------------------------------------------------------------------


def parse_engines(text: str) -> tuple[str, ...]:
    """``all``, ``none`` or a comma list of engines, in the canonical order."""
    value = text.strip().lower()
    if value == "all":
        return ENGINES
    if value in ("none", ""):
        return ()
    chosen = {e.strip() for e in value.split(",") if e.strip()}
    unknown = sorted(chosen - set(ENGINES))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown engine(s) {', '.join(unknown)}: expected all, none or a comma list of {','.join(ENGINES)}"
        )
    return tuple(e for e in ENGINES if e in chosen)


def build_parser(prog: str = "python -m scripts.run_trader") -> argparse.ArgumentParser:
    """The command line: ``{paper,live} [--config] [--engines] [--login]``."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Start every kite-algo service under supervisord (one command)."
    )
    parser.add_argument("mode", choices=("paper", "live"), help="paper (simulated orders) or live (real orders)")
    parser.add_argument(
        "--config",
        help="YAML config; paper defaults to $KITE_ALGO_CONFIG or configs/dev.yaml, live requires it",
    )
    parser.add_argument(
        "--engines",
        type=parse_engines,
        default=ENGINES,
        metavar="fno,options,equity|all|none",
        help="strategy engines to start besides feed, risk, execution and dashboard (default all)",
    )
    parser.add_argument(
        "--login", action="store_true", help="log in to Kite, write kite.tokens_file (mode 600) and exit"
    )
    return parser


def resolve_config(mode: str, config: str | None) -> Path:
    """The config file for ``mode``; live must name one explicitly."""
    if mode == "live" and not config:
        raise StartupError(
            "live mode places real orders and needs an explicit config: "
            "python -m scripts.run_trader live --config configs/live.yaml"
        )
    chosen = config or os.environ.get("KITE_ALGO_CONFIG") or str(DEFAULT_CONFIG)
    return Path(chosen).expanduser().resolve()


def check_mode(mode: str, settings: Settings) -> None:
    """The command-line mode and the config's ``trading.mode`` must agree."""
    if settings.trading.mode != mode:
        hint = (
            "use a live config, e.g. --config configs/live.yaml"
            if mode == "live"
            else "run `python -m scripts.run_trader live --config ...` to trade live"
        )
        raise StartupError(
            f"{settings.source_file}: key 'trading.mode' is {settings.trading.mode!r} "
            f"but the command asked for {mode!r}; {hint}"
        )


def services_to_start(engines: Sequence[str]) -> tuple[list[str], list[str]]:
    """(written services to start, wanted services whose package does not exist yet)."""
    wanted = [s for s in SERVICES if s in CORE_SERVICES or s in engines]
    present = [s for s in wanted if service_available(s)]
    return present, [s for s in wanted if s not in present]


# -- Redis -------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to print)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def ping_redis(url: str, timeout: float = _REDIS_PING_TIMEOUT) -> None:
    """PING ``url``; ``StartupError`` naming the URL when it does not answer."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise StartupError(
            f"REDIS_URL={mask_url(url)} does not answer PING ({exc}); start Redis there, "
            "or unset REDIS_URL to let run_trader start a private redis-server"
        ) from None
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if run_trader itself is killed (Linux only)."""
    libc_name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or libc_name is None:
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(libc_name, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _spawn(argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
    # Own session: a Ctrl+C in the terminal reaches only run_trader, which then stops the
    # children in order (services first, Redis last) instead of everything at once.
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=_die_with_parent, **kwargs)  # type: ignore[call-overload]


class PrivateRedis:
    """A ``redis-server`` on a free localhost port, data dir under ``artifacts/redis``.

    Persistence is off: the journals and checkpoints on disk are the durable record, and a
    fresh bus on every run keeps stale consumer groups from an old run out of the way.
    """

    def __init__(self, artifacts: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise StartupError(
                "redis-server is not on PATH: run `make setup` (or install it: apt-get install redis-server), "
                "or point REDIS_URL at a running Redis"
            )
        self.exe = exe
        self.data_dir = artifacts / "redis"
        self.logfile = artifacts / "logs" / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, attempts: int = 3) -> str:
        """Start the server (retrying on a port race) and return its URL once it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):
            port = _free_port()
            self.proc = _spawn(
                [self.exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--daemonize", "no", "--dir", str(self.data_dir), "--logfile", str(self.logfile)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            self.url = f"redis://127.0.0.1:{port}/0"
            if self._wait_ready():
                return self.url
        raise StartupError(f"redis-server did not start (see {self.logfile})")

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + _REDIS_START_SECONDS
        try:
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    client.ping()
                    return True
                except redis.ConnectionError:
                    time.sleep(0.02)
        finally:
            client.close()
        self.stop()
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it does not go within 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@contextlib.contextmanager
def redis_for_run(artifacts: Path) -> Iterator[tuple[str, PrivateRedis | None]]:
    """``$REDIS_URL`` after a PING, or a private redis-server stopped on exit."""
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        ping_redis(url)
        yield url, None
        return
    server = PrivateRedis(artifacts)
    try:
        yield server.start(), server
    finally:
        server.stop()


# -- supervisord -------------------------------------------------------------------------


def supervisor_running(layout: Layout) -> bool:
    """True when a supervisord already listens on this layout's control socket."""
    if not layout.socket.exists():
        return False
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(layout.socket))
        except OSError:
            return False  # a stale socket from a killed run; supervisord replaces it
    return True


def write_conf(programs: Sequence[Program], layout: Layout, mode: str) -> Path:
    """Write the supervisord config (and create its run and log directories); return its path."""
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    header = (
        f"; Generated by `python -m scripts.run_trader {mode}` on every start: edits are overwritten.\n"
        "; Inspect: supervisorctl -c <this file> status | tail -f <name> | restart <name>\n"
    )
    layout.conf.write_text(render_conf(programs, layout, header=header))
    return layout.conf


class StopFlag:
    """Set by SIGINT / SIGTERM / SIGHUP; the main loop does the stopping."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        else:
            print("run_trader: already stopping, waiting for the services to exit", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopFlag]:
        """Catch the stop signals for the duration of the block, then restore the old handlers."""
        sigs = [signal.SIGINT, signal.SIGTERM]
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # keep `nohup` working
            sigs.append(signal.SIGHUP)
        previous = {sig: signal.signal(sig, self) for sig in sigs}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def supervise(conf: Path, stop: StopFlag, server: PrivateRedis | None, n_programs: int) -> int:
    """Run supervisord in the foreground until a signal (exit 0) or until it or Redis dies (exit 1)."""
    proc = _spawn([sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)], stdin=subprocess.DEVNULL)
    failed = False
    while proc.poll() is None and stop.signum is None:
        if server is not None and not server.alive():
            log.error("the private redis-server exited (see %s); stopping every service", server.logfile)
            failed = True
            break
        time.sleep(_POLL_SECONDS)
    if proc.poll() is not None:  # `supervisorctl shutdown`, or supervisord failed
        if proc.returncode == 0:
            log.info("supervisord shut down; stopping")
            return 0
        log.error("supervisord exited on its own with code %s (see its log above)", proc.returncode)
        return 1
    proc.terminate()  # supervisord stops the programs in reverse priority order, then exits
    # Programs stop one after another; each gets STOPWAITSECS before supervisord SIGKILLs it.
    try:
        rc = proc.wait(n_programs * STOPWAITSECS + 15)
    except subprocess.TimeoutExpired:
        log.error("supervisord did not stop in time; killing it")
        proc.kill()
        proc.wait()
        return 1
    if rc != 0:
        log.error("supervisord exited with code %s while stopping", rc)
    return 1 if failed or rc != 0 else 0


# -- main --------------------------------------------------------------------------------


def _show(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (shorter to copy)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _supervisorctl() -> str:
    exe = Path(sys.executable).parent / "supervisorctl"
    return _show(exe) if exe.exists() else f"{sys.executable} -m supervisor.supervisorctl"


def banner(
    mode: str, services: Sequence[str], missing: Sequence[str], settings: Settings, config: Path,
    redis_url: str, server: PrivateRedis | None, layout: Layout,
) -> str:
    """The start-up summary: services, Redis, logs, how to inspect, the dashboard URL."""
    shown_url = mask_url(redis_url)
    where = "from REDIS_URL"
    if server is not None and server.proc is not None:
        where = f"private redis-server, pid {server.proc.pid}, stops with run_trader"
    lines = [
        f"kite-algo {mode.upper()}: starting {', '.join(services) or 'no services'} under supervisord",
    ]
    if missing:
        lines.append(f"  not written yet:  {', '.join(missing)} (skipped)")
    lines += [
        f"  config:           {_show(config)}",
        f"  redis:            {shown_url}  ({where})",
        f"  logs:             {_show(layout.log_dir)}/<service>.log  (supervisord.log, redis.log)",
        f"  status:           {_supervisorctl()} -c {_show(layout.conf)} status",
        f"  streams:          redis-cli -u {shown_url} XRANGE ticks.NFO - + COUNT 3",
        "                    python -m shared.cli tail ticks.NFO",
    ]
    if "dashboard" in services:
        lines.append(f"  dashboard:        http://{settings.dashboard.host}:{settings.dashboard.port}")
        lines.append(f"                    controls {dashboard_controls_note(settings)}")
    lines.append("  stop:             Ctrl+C")
    if mode == "live":
        lines.insert(1, "  *** LIVE MODE: orders go to the broker with real money ***")
    return "\n".join(lines)


def dashboard_controls_note(settings: Settings) -> str:
    """Whether the dashboard's controls (halt, square off, ...) will accept a token, for the banner."""
    if os.environ.get("DASHBOARD_TOKEN", "").strip():
        return "enabled (DASHBOARD_TOKEN from the environment)"
    secrets = Path(settings.dashboard.secrets_file)
    if secrets.is_file() and "DASHBOARD_TOKEN=" in secrets.read_text(errors="replace"):
        return f"enabled (DASHBOARD_TOKEN from {secrets})"
    return f"disabled: set DASHBOARD_TOKEN (environment or {secrets}) to halt or square off from the page"


def run(mode: str, config: Path, engines: Sequence[str]) -> int:
    """Validate, start Redis and supervisord, wait for a signal, stop everything."""
    settings = exit_on_config_error(lambda: load_settings(config))
    check_mode(mode, settings)
    setup_logging("run_trader", settings.services.log_level)
    artifacts = settings.artifacts.resolve()
    layout = Layout.under(artifacts)
    if supervisor_running(layout):
        raise StartupError(
            f"another run is already using {artifacts} (its supervisord answers on {layout.socket}); "
            f"stop it first: {_supervisorctl()} -c {_show(layout.conf)} shutdown"
        )
    services, missing = services_to_start(engines)
    for name in missing:
        log.info("services/%s is not written yet (no services.%s.__main__): not started", name, name)
    if not services:
        log.warning("no service package exists yet: supervisord will run with nothing to supervise")

    with StopFlag().installed() as stop, redis_for_run(artifacts) as (redis_url, server):
        if stop.signum is not None:
            return 0
        programs = [
            service_program(name, python=sys.executable, config=config, artifacts=artifacts, redis_url=redis_url)
            for name in services
        ]
        conf = write_conf(programs, layout, mode)
        print(banner(mode, services, missing, settings, config, redis_url, server, layout), flush=True)
        rc = supervise(conf, stop, server, len(programs))
    log.info("stopped (exit %d)", rc)
    return rc


def login_and_exit(mode: str, config: str | None) -> int:
    """``--login``: the Kite login flow (scripts/kite_login.py); 0 when the tokens file is written."""
    from kiteconnect.exceptions import KiteException

    from scripts.kite_login import login
    from shared.errors import ConfigError

    path = Path(config).expanduser().resolve() if config else resolve_config("paper", None)
    settings = exit_on_config_error(lambda: load_settings(path))
    try:
        login(settings)
    except (ConfigError, KiteException) as exc:
        print(f"run_trader --login: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"now start the platform: python -m scripts.run_trader {mode}" + (f" --config {config}" if config else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scripts.run_trader``; returns the exit code (2: usage, config or start-up error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("backtest", "backtest-data"):  # one process, no Redis: scripts/backtest.py
        from scripts.backtest import main as backtest_main

        return backtest_main(argv)
    args = build_parser().parse_args(argv)
    if args.login:
        return login_and_exit(args.mode, args.config)
    try:
        config = resolve_config(args.mode, args.config)
        return run(args.mode, config, args.engines)
    except StartupError as exc:
        print(f"run_trader: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
