"""What a route needs, as typed dependencies: the dashboard's state and the control token check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.dashboard.controls import ControlDesk
from services.dashboard.history import History
from services.dashboard.live import StreamReader
from services.dashboard.push import PushHub
from services.dashboard.store import Store
from shared.bus.redis_bus import Bus
from shared.config import Settings


@dataclass
class Dashboard:
    """Everything the routes share, built once in the app's lifespan."""

    settings: Settings
    bus: Bus
    store: Store
    history: History
    hub: PushHub
    reader: StreamReader
    desk: ControlDesk


def get_dashboard(request: Request) -> Dashboard:
    dash: Dashboard | None = getattr(request.app.state, "dash", None)
    if dash is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the dashboard is starting")
    return dash


DashboardDep = Annotated[Dashboard, Depends(get_dashboard)]

_bearer = HTTPBearer(auto_error=False, description="DASHBOARD_TOKEN (environment or the secrets file)")


def client_of(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "unknown"


def require_token(
    request: Request,
    dash: DashboardDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries ``Authorization: Bearer <DASHBOARD_TOKEN>``; 503 without the journal."""
    action = request.url.path.rsplit("/", 1)[-1]
    if not dash.desk.authorised(creds.credentials if creds else None):
        dash.desk.refuse(action, client_of(request), "", "no token" if creds is None else "wrong token")
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid dashboard token is required (Authorization: Bearer <DASHBOARD_TOKEN>)"
            if dash.desk.token
            else "controls are disabled: no DASHBOARD_TOKEN is configured",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if dash.desk.journal is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, dash.desk.journal_error)


Authorised = Depends(require_token)
