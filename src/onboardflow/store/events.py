"""The events table: one row for every status transition, written in the transition's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.store.tables import events
from onboardflow.store.types import utcnow


def event_row(
    *,
    organisation_id: UUID | None,
    entity_type: str,
    entity_id: UUID,
    from_status: str | None,
    to_status: str,
    actor: str,
    reason: str | None = None,
    data: Mapping[str, Any] | None = None,
    batch_job_id: UUID | None = None,
    registration_job_id: UUID | None = None,
) -> dict[str, Any]:
    """The values of one event row."""
    return {
        "organisation_id": organisation_id,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "batch_job_id": batch_job_id,
        "registration_job_id": registration_job_id,
        "from_status": from_status,
        "to_status": to_status,
        "actor": actor,
        "reason": reason,
        "data": dict(data) if data is not None else None,
        "created_at": utcnow(),
    }


async def record_events(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert event rows (built with ``event_row``) in one statement."""
    if rows:
        await conn.execute(sa.insert(events), list(rows))


async def list_events_after(
    conn: AsyncConnection,
    organisation_id: UUID,
    after_id: int,
    *,
    batch_job_id: UUID | None = None,
    entity_id: UUID | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The organisation's events newer than ``after_id``, oldest first (for live streams)."""
    query = (
        sa.select(events)
        .where(events.c.organisation_id == organisation_id, events.c.id > after_id)
        .order_by(events.c.id)
        .limit(limit)
    )
    if batch_job_id is not None:
        query = query.where(events.c.batch_job_id == batch_job_id)
    if entity_id is not None:
        query = query.where(
            sa.or_(events.c.entity_id == entity_id, events.c.registration_job_id == entity_id)
        )
    return [dict(row) for row in (await conn.execute(query)).mappings()]
