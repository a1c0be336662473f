"""Backtest reports: ``GET /api/backtests`` lists them, ``GET /backtests/<name>/report.html`` opens one.

A report is a folder directly under ``backtest.output_dir`` (``python -m scripts.run_trader
backtest`` writes one per run) holding ``summary.json`` and ``report.html``. The HTML is
self-contained (plots inline), so it opens from the dashboard offline, in its own tab.
Only folder names that exist there are served: a name is never joined to a path unchecked.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

from services.dashboard.deps import DashboardDep
from services.dashboard.schemas import BacktestReportOut, BacktestsOut

log = logging.getLogger(__name__)

router = APIRouter(tags=["backtests"])

NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_REPORTS: Final = 200


def reports_dir(dash: DashboardDep) -> Path:
    return Path(dash.settings.backtest.output_dir).resolve()


def _report(folder: Path) -> BacktestReportOut | None:
    """The listing entry of ``folder``; None when it is not a report (or its summary is unreadable)."""
    html, summary = folder / "report.html", folder / "summary.json"
    if not (html.is_file() and summary.is_file() and NAME.fullmatch(folder.name)):
        return None
    try:
        s: dict[str, Any] = json.loads(summary.read_text())
        total = s.get("total") or {}
        return BacktestReportOut(
            name=folder.name,
            title=str(s.get("title") or folder.name),
            first_day=s.get("first_day"),
            last_day=s.get("last_day"),
            days=int(s.get("days") or 0),
            trades=int(total.get("trades") or 0),
            net_pnl=float(total.get("net_pnl") or 0.0),
            strategies=sorted((s.get("strategies") or {}).keys()),
            written_at=html.stat().st_mtime,
            url=f"/backtests/{folder.name}/report.html",
        )
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("%s: not listed, its summary is unreadable: %s", summary, exc)
        return None


@router.get("/api/backtests", response_model=BacktestsOut, summary="Backtest reports, newest first")
def backtests(dash: DashboardDep) -> BacktestsOut:
    root = reports_dir(dash)
    found = [r for d in root.iterdir() if d.is_dir() and (r := _report(d)) is not None] if root.is_dir() else []
    found.sort(key=lambda r: r.written_at, reverse=True)
    return BacktestsOut(folder=str(root), reports=found[:MAX_REPORTS])


@router.get(
    "/backtests/{name}/report.html",
    summary="One backtest's self-contained HTML report",
    response_class=FileResponse,
    responses={404: {"description": "no report of that name under backtest.output_dir"}},
)
def backtest_report(name: str, dash: DashboardDep) -> FileResponse:
    root = reports_dir(dash)
    if not NAME.fullmatch(name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no backtest report named {name!r}")
    path = (root / name / "report.html").resolve()
    if path.parent.parent != root or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no backtest report named {name!r} in {root}")
    return FileResponse(path, media_type="text/html")
