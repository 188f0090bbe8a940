"""Reading the events table as a live feed: the newest id, and the events after a cursor.

Event ids come from the database in insert order, but on PostgreSQL transactions commit in any
order: an event with a lower id can become visible after a higher one was read. A feed therefore
also re-reads a short recent window below its cursor (``list_recent_feed_events_before``) and
drops the ids it has already delivered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.store.tables import events

FEED_COLUMNS = (
    events.c.id,
    events.c.entity_type,
    events.c.entity_id,
    events.c.batch_job_id,
    events.c.registration_job_id,
    events.c.from_status,
    events.c.to_status,
    events.c.reason,
    events.c.created_at,
)
REVISIT_IDS = 1000


async def latest_event_id(conn: AsyncConnection, organisation_id: UUID) -> int:
    """The id of the organisation's newest event, or 0 when it has none."""
    query = sa.select(sa.func.max(events.c.id)).where(events.c.organisation_id == organisation_id)
    value = (await conn.execute(query)).scalar_one_or_none()
    return int(value or 0)


def _scoped(
    query: sa.Select[Any], batch_job_id: UUID | None, registration_job_id: UUID | None
) -> sa.Select[Any]:
    if batch_job_id is not None:
        query = query.where(events.c.batch_job_id == batch_job_id)
    if registration_job_id is not None:
        query = query.where(
            sa.or_(
                events.c.registration_job_id == registration_job_id,
                events.c.entity_id == registration_job_id,
            )
        )
    return query


async def list_feed_events(
    conn: AsyncConnection,
    organisation_id: UUID,
    after_id: int,
    *,
    batch_job_id: UUID | None = None,
    registration_job_id: UUID | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The organisation's events after ``after_id`` (oldest first), narrowed to a batch or a run.

    A run's events are those of the run itself and of its steps.
    """
    query = (
        sa.select(*FEED_COLUMNS)
        .where(events.c.organisation_id == organisation_id, events.c.id > after_id)
        .order_by(events.c.id)
        .limit(limit)
    )
    return [
        dict(r) for r in (await conn.execute(_scoped(query, batch_job_id, registration_job_id))).mappings()
    ]


async def list_recent_feed_events_before(
    conn: AsyncConnection,
    organisation_id: UUID,
    cursor: int,
    *,
    since: datetime,
    floor: int = 0,
    batch_job_id: UUID | None = None,
    registration_job_id: UUID | None = None,
) -> list[dict[str, Any]]:
    """Events at or below ``cursor`` (within ``REVISIT_IDS`` of it, above ``floor``) created since
    ``since``, oldest first: the ones a feed may have passed before their transaction committed."""
    query = (
        sa.select(*FEED_COLUMNS)
        .where(
            events.c.organisation_id == organisation_id,
            events.c.id <= cursor,
            events.c.id > max(floor, cursor - REVISIT_IDS),
            events.c.created_at >= since,
        )
        .order_by(events.c.id)
        .limit(REVISIT_IDS)
    )
    return [
        dict(r) for r in (await conn.execute(_scoped(query, batch_job_id, registration_job_id))).mappings()
    ]
