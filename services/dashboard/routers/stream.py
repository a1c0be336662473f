"""GET /api/stream: server-sent events, one per change (order, fill, signal, portfolio, health, ...)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.sse import EventSourceResponse, ServerSentEvent

from services.dashboard.deps import DashboardDep
from shared.clock import wall_ns

router = APIRouter(prefix="/api", tags=["stream"])


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    summary="Live events (text/event-stream); the event name is the kind, the data its JSON",
)
async def stream(dash: DashboardDep) -> AsyncIterator[ServerSentEvent]:
    yield ServerSentEvent(event="hello", raw_data=json.dumps({"server_ns": wall_ns()}))
    async for kind, data in dash.hub.subscribe():
        yield ServerSentEvent(event=kind, raw_data=data)
