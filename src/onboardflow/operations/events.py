"""The live feed of status changes a page follows: one page of events, or a bounded stream of them.

Every event is a status transition of a queue job, a registration job, a step or a batch of the
caller's organisation (SPEC §8), optionally narrowed to one batch or one registration job. A stream
starts after ``after_id`` (a resuming client's ``Last-Event-ID``) or, without one, at the newest
event; it sends a heartbeat when nothing happened for a while and ends after ``max_seconds`` so
that no connection is held for ever (an ``EventSource`` reconnects and resumes by itself).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from onboardflow.domain.records import Principal
from onboardflow.errors import InvalidInput
from onboardflow.operations.services import Services
from onboardflow.store import event_feed as store
from onboardflow.store import registrations as registration_store
from onboardflow.store.types import utcnow

MAX_PAGE = 500
POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
MAX_STREAM_SECONDS = 300.0
REVISIT_WINDOW = timedelta(seconds=10)
REMEMBERED_IDS = 5000


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedScope:
    """What a feed follows: the whole organisation, one batch, or one registration job."""

    batch_id: UUID | None = None
    registration_job_id: UUID | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    """One event, and the cursor a client resumes from after it (never lower than before)."""

    event: dict[str, Any]
    cursor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """Nothing happened for a while; the stream is still alive."""

    last_event_id: int


def event_view(row: dict[str, Any]) -> dict[str, Any]:
    """One event as clients see it (no actor, no free-form data)."""
    return {
        "id": int(row["id"]),
        "entity_type": row["entity_type"],
        "entity_id": str(row["entity_id"]),
        "batch_id": str(row["batch_job_id"]) if row["batch_job_id"] else None,
        "registration_job_id": str(row["registration_job_id"]) if row["registration_job_id"] else None,
        "from_status": row["from_status"],
        "to_status": row["to_status"],
        "reason": row["reason"],
        "created_at": row["created_at"].isoformat(),
    }


async def check_scope(services: Services, principal: Principal, scope: FeedScope) -> None:
    """A registration job named by the scope must be the caller's (``NotFound`` otherwise)."""
    if scope.registration_job_id is not None:
        async with services.db.read() as conn:
            await registration_store.get_run(conn, principal.organisation_id, scope.registration_job_id)


async def latest_event_id(services: Services, principal: Principal) -> int:
    """The id of the caller's newest event (0 when none): where a fresh stream starts."""
    async with services.db.read() as conn:
        return await store.latest_event_id(conn, principal.organisation_id)


async def list_events(
    services: Services, principal: Principal, scope: FeedScope, *, after_id: int, limit: int = 100
) -> list[dict[str, Any]]:
    """The caller's events after ``after_id`` within ``scope``, oldest first, at most ``limit``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"must be from 1 to {MAX_PAGE}")
    if after_id < 0:
        raise InvalidInput("after", "must be 0 or more")
    await check_scope(services, principal, scope)
    async with services.db.read() as conn:
        rows = await store.list_feed_events(
            conn,
            principal.organisation_id,
            after_id,
            batch_job_id=scope.batch_id,
            registration_job_id=scope.registration_job_id,
            limit=limit,
        )
    return [event_view(row) for row in rows]


async def follow_events(
    services: Services,
    principal: Principal,
    scope: FeedScope,
    *,
    after_id: int | None = None,
    max_seconds: float = MAX_STREAM_SECONDS,
    poll_seconds: float = POLL_SECONDS,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    disconnected: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[Delivered | Heartbeat]:
    """Yield the caller's new events within ``scope`` as they happen, and heartbeats in between.

    Reads the events table every ``poll_seconds`` (an indexed range read; no connection is held in
    between). Ends after ``max_seconds`` or as soon as ``disconnected()`` says the client left.
    """
    await check_scope(services, principal, scope)
    cursor = after_id if after_id is not None else await latest_event_id(services, principal)
    start = cursor
    delivered: deque[int] = deque(maxlen=REMEMBERED_IDS)
    seen: set[int] = set()
    started = last_sent = time.monotonic()
    while time.monotonic() - started < max_seconds:
        if disconnected is not None and await disconnected():
            return
        async with services.db.read() as conn:
            late = await store.list_recent_feed_events_before(
                conn,
                principal.organisation_id,
                cursor,
                since=utcnow() - REVISIT_WINDOW,
                floor=start,
                batch_job_id=scope.batch_id,
                registration_job_id=scope.registration_job_id,
            )
            rows = await store.list_feed_events(
                conn,
                principal.organisation_id,
                cursor,
                batch_job_id=scope.batch_id,
                registration_job_id=scope.registration_job_id,
                limit=MAX_PAGE,
            )
        fresh = [row for row in (*late, *rows) if int(row["id"]) not in seen]
        for row in fresh:
            event_id = int(row["id"])
            if len(delivered) == delivered.maxlen:
                seen.discard(delivered[0])
            delivered.append(event_id)
            seen.add(event_id)
            cursor = max(cursor, event_id)
            yield Delivered(event=event_view(row), cursor=cursor)
        if fresh:
            last_sent = time.monotonic()
            if len(rows) == MAX_PAGE:
                continue  # more are waiting: read on at once
        elif time.monotonic() - last_sent >= heartbeat_seconds:
            last_sent = time.monotonic()
            yield Heartbeat(last_event_id=cursor)
        await asyncio.sleep(poll_seconds)
