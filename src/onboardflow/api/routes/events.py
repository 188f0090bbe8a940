"""The live event stream (server-sent events) of status changes, for pages that would rather not poll."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from onboardflow.api.deps import PrincipalDep, ServicesDep
from onboardflow.errors import InvalidInput
from onboardflow.operations import events as ops

router = APIRouter(tags=["events"])

MAX_EVENT_ID = 2**63 - 1
RETRY_MS = 3000


class EventOut(BaseModel):
    id: int
    entity_type: str
    entity_id: str
    batch_id: str | None
    registration_job_id: str | None
    from_status: str | None
    to_status: str
    reason: str | None
    created_at: str


class EventPageOut(BaseModel):
    events: list[EventOut]
    last_event_id: int


def _resume_point(after: int | None, last_event_id: str | None) -> int | None:
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        if not value.isdigit() or int(value) > MAX_EVENT_ID:
            raise InvalidInput("Last-Event-ID", "must be the id of an event (a whole number)")
        return int(value)
    return after


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {json.dumps(data, separators=(',', ':'))}")
    return "\n".join(lines) + "\n\n"


@router.get(
    "/api/events/stream",
    response_model=EventPageOut,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
async def event_stream(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    batch_id: Annotated[UUID | None, Query(description="Only events of this batch.")] = None,
    registration_job_id: Annotated[
        UUID | None, Query(description="Only events of this registration job and its steps.")
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_EVENT_ID, description="Start after this event id.")
    ] = None,
    accept: Annotated[str | None, Header(max_length=1000, include_in_schema=False)] = None,
    last_event_id: Annotated[
        str | None, Header(max_length=30, description="Resume after this event id (sent by EventSource).")
    ] = None,
) -> Any:
    """Status changes of your organisation (queue jobs, registration jobs, steps, batches).

    With `Accept: text/event-stream`: a server-sent-events stream. Each change is an `event: status`
    whose `id` is the cursor to resume from (`Last-Event-ID`); `event: heartbeat` comes every 15 s
    of quiet; the stream ends after 5 minutes and the client reconnects. Without a resume point it
    starts at the newest event. Otherwise: one JSON page of the events after `after` (default: none
    yet, just the newest id), for clients that poll.
    """
    scope = ops.FeedScope(batch_id=batch_id, registration_job_id=registration_job_id)
    resume = _resume_point(after, last_event_id)
    if "text/event-stream" not in (accept or ""):
        if resume is None:
            await ops.check_scope(services, principal, scope)
            latest = await ops.latest_event_id(services, principal)
            return EventPageOut(events=[], last_event_id=latest)
        events = await ops.list_events(services, principal, scope, after_id=resume, limit=ops.MAX_PAGE)
        last = events[-1]["id"] if events else resume
        return EventPageOut(events=[EventOut.model_validate(e) for e in events], last_event_id=last)

    await ops.check_scope(services, principal, scope)  # a bad scope is a 404, not a broken stream

    async def body() -> AsyncIterator[str]:
        yield f"retry: {RETRY_MS}\n\n"
        async for item in ops.follow_events(
            services, principal, scope, after_id=resume, disconnected=request.is_disconnected
        ):
            if isinstance(item, ops.Heartbeat):
                yield _sse("heartbeat", {"last_event_id": item.last_event_id})
            else:
                yield _sse("status", item.event, item.cursor)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
