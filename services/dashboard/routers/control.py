"""POST /api/control/...: operator commands. Every route here needs the token (see ``deps.require_token``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.dashboard.deps import Authorised, DashboardDep, client_of
from services.dashboard.schemas import ControlRequest, ControlResult, SymbolControlRequest
from shared.enums import ControlAction

# The token check sits on the router, so no control route can forget it.
router = APIRouter(
    prefix="/api/control",
    tags=["control"],
    dependencies=[Authorised],
    responses={401: {"description": "no or wrong token"}, 503: {"description": "the action journal is unavailable"}},
)


def _issue(
    dash: DashboardDep, request: Request, action: ControlAction, body: ControlRequest, symbol: str = ""
) -> ControlResult:
    return dash.desk.issue(
        action, symbol=symbol, reason=body.reason, operator=body.operator, client=client_of(request),
        market_ns=dash.store.book.as_of_ns,
    )  # fmt: skip


@router.post("/halt", response_model=ControlResult, summary="Halt the session: risk blocks every new entry")
def halt(dash: DashboardDep, request: Request, body: ControlRequest) -> ControlResult:
    return _issue(dash, request, ControlAction.HALT, body)


@router.post("/resume", response_model=ControlResult, summary="Resume after a halt")
def resume(dash: DashboardDep, request: Request, body: ControlRequest) -> ControlResult:
    return _issue(dash, request, ControlAction.RESUME, body)


@router.post("/kill", response_model=ControlResult, summary="Kill one symbol: no new entries on it")
def kill(dash: DashboardDep, request: Request, body: SymbolControlRequest) -> ControlResult:
    return _issue(dash, request, ControlAction.KILL_SYMBOL, body, body.symbol)


@router.post("/revive", response_model=ControlResult, summary="Revive a killed symbol")
def revive(dash: DashboardDep, request: Request, body: SymbolControlRequest) -> ControlResult:
    return _issue(dash, request, ControlAction.REVIVE_SYMBOL, body, body.symbol)


@router.post("/square-off", response_model=ControlResult, summary="Square off every open position")
def square_off(dash: DashboardDep, request: Request, body: ControlRequest) -> ControlResult:
    return _issue(dash, request, ControlAction.SQUARE_OFF_ALL, body)


@router.post("/cancel-orders", response_model=ControlResult, summary="Cancel every open order")
def cancel_orders(dash: DashboardDep, request: Request, body: ControlRequest) -> ControlResult:
    return _issue(dash, request, ControlAction.CANCEL_ALL, body)
