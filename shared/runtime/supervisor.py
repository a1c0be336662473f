"""The supervisord configuration that runs every service as its own process.

``scripts/run_trader.py`` renders one at start-up (``render_conf``) into
``artifacts/run/supervisord.conf``; a bare-metal host renders
``deploy/supervisord.conf.template`` instead (``render_template``, or
``python -m shared.runtime.supervisor``). Both give each program the same options, so a
service behaves the same under ``run_trader`` and under a system supervisord.

Pure text generation: nothing here starts a process or talks to Redis.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import shlex
import string
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shared.config import DEFAULT_CONFIG, ROOT

#: Every service of the design card, one ``services/<name>/`` package each.
SERVICES: Final = ("feed", "fno", "options", "equity", "risk", "execution", "dashboard")
#: Always started by run_trader (when written).
CORE_SERVICES: Final = ("feed", "risk", "execution", "dashboard")
#: Strategy engines, chosen with ``--engines``.
ENGINES: Final = ("fno", "options", "equity")

# supervisord starts lower priorities first and stops them last: execution and risk are up
# before anything can send them intents, and they drain after the engines have stopped.
PRIORITY: Final[dict[str, int]] = {
    "execution": 100,
    "risk": 200,
    "feed": 300,
    "fno": 400,
    "options": 400,
    "equity": 400,
    "dashboard": 500,
}

STARTSECS: Final = 2
STARTRETRIES: Final = 3
# A service stops after its current slice (about a second); supervisord SIGKILLs after this.
STOPWAITSECS: Final = 10
LOG_MAXBYTES: Final = "50MB"
LOG_BACKUPS: Final = 5

TEMPLATE: Final = ROOT / "deploy" / "supervisord.conf.template"
# AF_UNIX paths are limited to 108 bytes on Linux (104 on macOS).
_MAX_SOCKET_PATH: Final = 100


def service_available(name: str) -> bool:
    """True when ``python -m services.<name>`` can run (its ``__main__`` module exists)."""
    try:
        return importlib.util.find_spec(f"services.{name}.__main__") is not None
    except ModuleNotFoundError:  # the services.<name> package itself is missing
        return False


@dataclass(frozen=True)
class Program:
    """One ``[program:<name>]`` section."""

    name: str
    command: tuple[str, ...]
    directory: Path
    environment: Mapping[str, str]
    logfile: Path
    priority: int = 500


@dataclass(frozen=True)
class Layout:
    """Where supervisord keeps its config, socket, pid file and logs."""

    run_dir: Path
    log_dir: Path
    socket: Path

    @classmethod
    def under(cls, artifacts: Path) -> Layout:
        """The layout inside an artifacts directory: ``run/`` and ``logs/``."""
        run_dir = artifacts / "run"
        return cls(run_dir=run_dir, log_dir=artifacts / "logs", socket=socket_path_for(run_dir))

    @property
    def conf(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    @property
    def logfile(self) -> Path:
        return self.log_dir / "supervisord.log"


def socket_path_for(run_dir: Path) -> Path:
    """``run_dir/supervisor.sock``, or a short path in the temp dir when that is too long for AF_UNIX."""
    wanted = run_dir / "supervisor.sock"
    if len(str(wanted).encode()) <= _MAX_SOCKET_PATH:
        return wanted
    digest = hashlib.sha1(str(run_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"kite-algo-{digest}.sock"


def service_program(
    name: str,
    *,
    python: str,
    config: Path,
    artifacts: Path,
    redis_url: str,
    root: Path = ROOT,
    extra_env: Mapping[str, str] | None = None,
) -> Program:
    """The program that runs ``python -m services.<name> --config <config>``."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}: expected one of {', '.join(SERVICES)}")
    env = {
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(root),
        "KITE_ALGO_CONFIG": str(config),
        # Absolute, so a relative artifacts_dir means the same place for every process.
        "KITE_ALGO__SERVICES__ARTIFACTS_DIR": str(artifacts),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    return Program(
        name=name,
        command=(python, "-m", f"services.{name}", "--config", str(config)),
        directory=root,
        environment=env,
        logfile=artifacts / "logs" / f"{name}.log",
        priority=PRIORITY[name],
    )


def _esc(value: str) -> str:
    """Escape a value for supervisor's ``%(name)s`` interpolation."""
    return value.replace("%", "%%")


def _env_value(key: str, value: str) -> str:
    # supervisor splits `environment=` with a non-POSIX shlex and strips quotes from the ends:
    # a double-quoted value may hold commas and spaces but no double quote.
    if '"' in value or "\n" in value or value.startswith("'") or value.endswith("'"):
        raise ValueError(f"environment {key}={value!r}: supervisor cannot carry quotes or newlines in a value")
    return f'{key}="{_esc(value)}"'


def _program_section(p: Program) -> str:
    env = ",".join(_env_value(k, v) for k, v in p.environment.items())
    lines = [
        f"[program:{p.name}]",
        f"command={_esc(shlex.join(p.command))}",
        f"directory={_esc(str(p.directory))}",
        f"environment={env}",
        f"priority={p.priority}",
        "autostart=true",
        "autorestart=true",
        f"startsecs={STARTSECS}",
        f"startretries={STARTRETRIES}",
        "stopsignal=TERM",
        f"stopwaitsecs={STOPWAITSECS}",
        # Signal the service's whole process group, so nothing it spawned outlives it.
        "stopasgroup=true",
        "killasgroup=true",
        "redirect_stderr=true",
        # supervisor interpolates a program's log file name twice (on read, then per process).
        f"stdout_logfile={_esc(_esc(str(p.logfile)))}",
        f"stdout_logfile_maxbytes={LOG_MAXBYTES}",
        f"stdout_logfile_backups={LOG_BACKUPS}",
    ]
    return "\n".join(lines) + "\n"


def render_conf(programs: Iterable[Program], layout: Layout, *, header: str = "") -> str:
    """A complete supervisord config: control socket, supervisord in the foreground, the programs."""
    sock = _esc(str(layout.socket))
    parts = [
        header + "[unix_http_server]",
        f"file={sock}",
        "chmod=0700",
        "",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={_esc(str(layout.logfile))}",
        "logfile_maxbytes=10MB",
        "logfile_backups=3",
        "loglevel=info",
        f"pidfile={_esc(str(layout.pidfile))}",
        f"childlogdir={_esc(str(layout.log_dir))}",
        "identifier=kite-algo",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{sock}",
        "",
    ]
    sections = [_program_section(p) for p in sorted(programs, key=lambda p: (p.priority, p.name))]
    return "\n".join(parts) + "\n" + "\n".join(sections)


# -- the bare-metal template -------------------------------------------------------------

#: The placeholders of deploy/supervisord.conf.template.
TEMPLATE_KEYS: Final = ("KITE_ALGO_ROOT", "KITE_ALGO_PYTHON", "KITE_ALGO_CONFIG", "KITE_ALGO_ARTIFACTS", "REDIS_URL")


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Fill the ``${NAME}`` placeholders of the template (the same syntax ``envsubst`` reads)."""
    missing = [k for k in TEMPLATE_KEYS if not values.get(k)]
    if missing:
        raise ValueError(f"supervisord template: no value for {', '.join(missing)}")
    for key, value in values.items():
        # Paths go unquoted into command= and directory=; a URL into a quoted environment value.
        if any(c.isspace() or c in "\"'%" for c in value):
            raise ValueError(f"supervisord template: {key}={value!r} must not contain spaces, quotes or %")
    try:
        return string.Template(text).substitute(values)
    except KeyError as exc:
        raise ValueError(f"supervisord template: unknown placeholder ${{{exc.args[0]}}}") from None


def template_values(
    *,
    redis_url: str,
    config: Path = DEFAULT_CONFIG,
    artifacts: Path | None = None,
    python: str | None = None,
    root: Path = ROOT,
) -> dict[str, str]:
    """Placeholder values for this checkout; every path made absolute."""
    return {
        "KITE_ALGO_ROOT": str(root.resolve()),
        "KITE_ALGO_PYTHON": python or sys.executable,
        "KITE_ALGO_CONFIG": str(config.resolve()),
        "KITE_ALGO_ARTIFACTS": str((artifacts or root / "artifacts").resolve()),
        "REDIS_URL": redis_url,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.runtime.supervisor``: print the rendered bare-metal supervisord config."""
    parser = argparse.ArgumentParser(
        prog="python -m shared.runtime.supervisor",
        description="Render deploy/supervisord.conf.template for this checkout (bare-metal runs).",
    )
    parser.add_argument("--redis-url", required=True, help="Redis every service connects to")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML config (default configs/dev.yaml)")
    parser.add_argument("--artifacts", type=Path, help="artifacts directory (default <repo>/artifacts)")
    parser.add_argument("--python", help="interpreter of the installed venv (default: this one)")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    values = template_values(
        redis_url=args.redis_url, config=args.config, artifacts=args.artifacts, python=args.python
    )
    try:
        text = render_template(args.template.read_text(), values)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
