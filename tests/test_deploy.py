"""Deployment files: docker-compose.yml, deploy/Dockerfile, .dockerignore and the supervisord configs.

Docker is not available here, so the compose file and Dockerfile are checked statically; the
compose healthcheck command is run for real against Redis, and both supervisord configs (the one
run_trader generates and the bare-metal template) go through supervisor's own parser.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from supervisor.options import ServerOptions

from shared.bus import streams
from shared.bus.redis_bus import Bus
from shared.clock import wall_ns
from shared.contracts import Heartbeat
from shared.enums import ServiceState
from shared.runtime.supervisor import (
    SERVICES,
    TEMPLATE,
    TEMPLATE_KEYS,
    Layout,
    render_conf,
    render_template,
    service_available,
    service_program,
    socket_path_for,
    template_values,
)
from shared.runtime.supervisor import (
    main as supervisor_cli,
)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
REDIS_IN_COMPOSE = "redis://redis:6379/0"

#: The design card's service folders.
DESIGN_CARD = ("feed", "fno", "options", "equity", "risk", "execution", "dashboard")
#: Services whose package is not written yet. Remove a name when its services/<name>/__main__.py
#: lands: the test below fails until this set is exactly the missing ones.
PENDING: set[str] = set()


# -- helpers -----------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def app_services() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in compose()["services"].items() if k != "redis"}


def command_of(svc: dict[str, Any]) -> list[str]:
    cmd = svc["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def environment_of(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment", {})
    if isinstance(env, list):  # KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def copy_sources() -> list[str]:
    sources: list[str] = []
    for word, args in dockerfile_instructions():
        if word == "COPY":
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            sources += parts[:-1]
    return sources


def parse_supervisor_conf(path: Path) -> ServerOptions:
    """Parse with supervisor's own reader; a bad config raises ValueError."""
    opts = ServerOptions()
    opts.configfile = str(path)
    opts.process_config(do_usage=False)
    return opts


def programs_of(opts: ServerOptions) -> dict[str, Any]:
    return {g.name: g.process_configs[0] for g in opts.process_group_configs}


# -- compose -----------------------------------------------------------------------------


def test_design_card_list_is_the_runtime_list() -> None:
    assert tuple(SERVICES) == DESIGN_CARD


def test_compose_has_redis_and_one_service_per_design_card_folder() -> None:
    assert set(compose()["services"]) == {"redis", *DESIGN_CARD}


def test_pending_services_are_exactly_the_ones_not_written_yet() -> None:
    missing = {name for name in DESIGN_CARD if not service_available(name)}
    assert missing == PENDING, "update PENDING in tests/test_deploy.py to the services still missing"


@pytest.mark.parametrize("name", DESIGN_CARD)
def test_compose_service_runs_its_own_module_from_the_shared_dockerfile(name: str) -> None:
    svc = app_services()[name]
    assert svc["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
    cmd = command_of(svc)
    assert cmd[:3] == ["python", "-m", f"services.{name}"]
    assert cmd[3:] == ["--config", "configs/dev.yaml"]
    assert (ROOT / cmd[4]).is_file()
    if name not in PENDING:
        assert service_available(name)


def test_compose_app_services_share_one_redis_url_pointing_at_the_redis_service() -> None:
    urls = {name: environment_of(svc).get("REDIS_URL") for name, svc in app_services().items()}
    assert set(urls.values()) == {REDIS_IN_COMPOSE}, urls
    assert REDIS_IN_COMPOSE.split("//")[1].split(":")[0] in compose()["services"]


def test_compose_app_services_wait_for_healthy_redis_and_restart_unless_stopped() -> None:
    for name, svc in app_services().items():
        assert svc["depends_on"] == {"redis": {"condition": "service_healthy"}}, name
        assert svc["restart"] == "unless-stopped", name
        assert svc["healthcheck"]["test"][0] == "CMD", name
        assert environment_of(svc)["KITE_ALGO_SERVICE"] == name, name


def test_compose_redis_is_redis7_with_a_ping_healthcheck() -> None:
    r = compose()["services"]["redis"]
    assert str(r["image"]).startswith("redis:7")
    assert r["healthcheck"]["test"][1:] == ["redis-cli", "ping"]


def test_compose_named_volumes_are_declared_and_artifacts_is_mounted_everywhere() -> None:
    data = compose()
    declared = set(data.get("volumes") or {})
    for name, svc in data["services"].items():
        for spec in svc.get("volumes", []):
            source = spec.split(":", 1)[0] if isinstance(spec, str) else spec["source"]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} uses undeclared volume {source}"
    for name, svc in app_services().items():
        assert "artifacts:/app/artifacts" in svc["volumes"], name


def test_compose_dashboard_is_published_on_localhost_and_listens_on_all_interfaces_inside() -> None:
    dash = app_services()["dashboard"]
    assert dash["ports"] == ["127.0.0.1:8765:8765"]
    assert environment_of(dash)["KITE_ALGO__DASHBOARD__HOST"] == "0.0.0.0"
    for name, svc in app_services().items():
        if name != "dashboard":
            assert "ports" not in svc, f"{name} should not publish ports"


def _run_healthcheck(redis_url: str, service: str) -> int:
    test = app_services()[service]["healthcheck"]["test"]
    assert test[1] == "python"
    env = {**os.environ, "REDIS_URL": redis_url, "KITE_ALGO_SERVICE": service}
    return subprocess.run([sys.executable, *test[2:]], env=env, capture_output=True, timeout=30, check=False).returncode


@pytest.mark.slow
def test_compose_healthcheck_passes_only_for_a_service_with_a_fresh_heartbeat(
    redis_url: str, redis_client: redis.Redis
) -> None:
    now = wall_ns()
    Bus(redis_client).publish(
        streams.HEALTH,
        Heartbeat(ts_event=now, ts_init=now, service="feed", pid=1, state=ServiceState.RUNNING),
    )
    assert _run_healthcheck(redis_url, "feed") == 0
    assert _run_healthcheck(redis_url, "risk") == 1


# -- Dockerfile --------------------------------------------------------------------------


def test_dockerfile_is_python311_slim_non_root_in_app() -> None:
    instr = dockerfile_instructions()
    assert instr[0] == ("FROM", "python:3.11-slim")
    assert ("WORKDIR", "/app") in instr
    users = [args for word, args in instr if word == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_dockerfile_copies_what_the_package_needs_before_installing_it() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*").rstrip(".") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    instr = dockerfile_instructions()
    install_at = next(i for i, (w, a) in enumerate(instr) if w == "RUN" and "pip install ." in a)
    copied_before = {
        src.rstrip("/")
        for word, args in instr[:install_at]
        if word == "COPY"
        for src in [p for p in shlex.split(args) if not p.startswith("--")][:-1]
    }
    assert {"pyproject.toml", *packages} <= copied_before
    readme = pyproject["project"].get("readme")
    if isinstance(readme, str) and (ROOT / readme).exists():
        assert any(fnmatch.fnmatch(readme, src) for src in copied_before)
    assert "configs" in {s.rstrip("/") for s in copy_sources()}  # compose commands read configs/dev.yaml


def test_dockerfile_copy_sources_exist_and_are_not_dockerignored() -> None:
    ignored = [
        p.strip().rstrip("/") for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    for src in copy_sources():
        if any(c in src for c in "*?["):
            continue  # optional globs (README.m[d])
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repository"
        assert not any(fnmatch.fnmatch(src, pat) for pat in ignored), f"{src} is excluded by .dockerignore"
    assert {"secrets", ".venv", "artifacts"} <= set(ignored)


# -- supervisord configs -------------------------------------------------------------------


def _render_template(tmp_path: Path) -> Path:
    artifacts = tmp_path / "artifacts"
    for sub in ("logs", "run"):  # supervisor requires existing log directories
        (artifacts / sub).mkdir(parents=True, exist_ok=True)
    values = template_values(redis_url="redis://127.0.0.1:6379/0", artifacts=artifacts, python=sys.executable)
    out = tmp_path / "supervisord.conf"
    out.write_text(render_template(TEMPLATE.read_text(), values))
    return out


def test_supervisord_template_renders_into_a_config_supervisor_accepts(tmp_path: Path) -> None:
    opts = parse_supervisor_conf(_render_template(tmp_path))
    programs = programs_of(opts)
    assert set(programs) == set(DESIGN_CARD)
    for name, pc in programs.items():
        assert pc.command.split()[1:3] == ["-m", f"services.{name}"]
        assert pc.environment["REDIS_URL"] == "redis://127.0.0.1:6379/0"
        assert pc.stdout_logfile == str(tmp_path / "artifacts" / "logs" / f"{name}.log")
    assert opts.nodaemon


def test_supervisord_template_programs_match_what_run_trader_generates(tmp_path: Path) -> None:
    template_programs = programs_of(parse_supervisor_conf(_render_template(tmp_path)))
    artifacts = tmp_path / "artifacts"
    generated = [
        service_program(
            n, python=sys.executable, config=ROOT / "configs" / "dev.yaml", artifacts=artifacts,
            redis_url="redis://127.0.0.1:6379/0",
        )
        for n in DESIGN_CARD
    ]
    conf = tmp_path / "generated.conf"
    conf.write_text(render_conf(generated, Layout.under(artifacts)))
    generated_programs = programs_of(parse_supervisor_conf(conf))
    keys = (
        "command", "directory", "environment", "priority", "autostart", "autorestart", "startsecs",
        "startretries", "stopsignal", "stopwaitsecs", "stopasgroup", "killasgroup", "redirect_stderr",
        "stdout_logfile", "stdout_logfile_maxbytes", "stdout_logfile_backups",
    )
    for name in DESIGN_CARD:
        for key in keys:
            assert getattr(template_programs[name], key) == getattr(generated_programs[name], key), (name, key)


def test_generated_config_carries_awkward_paths_and_values_intact(tmp_path: Path) -> None:
    artifacts = tmp_path / "odd dir %s, x" / "artifacts"
    for sub in ("logs", "run"):
        (artifacts / sub).mkdir(parents=True)
    prog = service_program(
        "feed", python=sys.executable, config=tmp_path / "my config.yaml", artifacts=artifacts,
        redis_url="redis://:p%w,d@h:6379/0",
    )
    layout = Layout.under(artifacts)
    conf = tmp_path / "s.conf"
    conf.write_text(render_conf([prog], layout))
    pc = programs_of(parse_supervisor_conf(conf))["feed"]
    assert shlex.split(pc.command) == list(prog.command)
    assert pc.environment == dict(prog.environment)
    assert pc.stdout_logfile == str(artifacts / "logs" / "feed.log")


def test_socket_path_falls_back_to_a_short_one_when_too_long(tmp_path: Path) -> None:
    long_dir = tmp_path / ("x" * 120) / "run"
    sock = socket_path_for(long_dir)
    assert len(str(sock).encode()) <= 100
    assert socket_path_for(Path("/a/run")) == Path("/a/run/supervisor.sock")


def test_render_template_names_a_missing_value_and_rejects_spaces() -> None:
    with pytest.raises(ValueError, match="REDIS_URL"):
        render_template(TEMPLATE.read_text(), {k: "/x" for k in TEMPLATE_KEYS if k != "REDIS_URL"})
    with pytest.raises(ValueError, match="spaces"):
        render_template(TEMPLATE.read_text(), {**{k: "/x" for k in TEMPLATE_KEYS}, "KITE_ALGO_ROOT": "/my dir"})


def test_render_template_command_line_writes_a_parsable_file(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    for sub in ("logs", "run"):
        (artifacts / sub).mkdir(parents=True)
    out = tmp_path / "out.conf"
    rc = supervisor_cli(["--redis-url", "redis://10.0.0.5:6379/0", "--artifacts", str(artifacts), "-o", str(out)])
    assert rc == 0
    assert programs_of(parse_supervisor_conf(out))["risk"].environment["REDIS_URL"] == "redis://10.0.0.5:6379/0"
