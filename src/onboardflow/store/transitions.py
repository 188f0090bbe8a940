"""Status changes as compare-and-set updates that write their event row in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.statuses import check_transition
from onboardflow.store.events import event_row, record_events
from onboardflow.store.tables import events
from onboardflow.store.types import utcnow


async def apply_transition(
    conn: AsyncConnection,
    table: sa.Table,
    family: str,
    *,
    row_id: UUID,
    organisation_id: UUID | None,
    current: str,
    target: str,
    actor: str,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
    data: Mapping[str, Any] | None = None,
    batch_job_id: UUID | None = None,
    registration_job_id: UUID | None = None,
) -> bool:
    """Move one row from ``current`` to ``target`` if it is still ``current``.

    The transition table is checked first (``InvalidTransition`` if forbidden). Returns False when
    the row was no longer ``current`` (someone else moved it); nothing is written then.
    """
    check_transition(family, current, target)
    where = [table.c.id == row_id, table.c.status == current]
    if organisation_id is not None:
        where.append(table.c.organisation_id == organisation_id)
    update_values: dict[str, Any] = {"status": target, **(values or {})}
    if "updated_at" in table.c:
        update_values.setdefault("updated_at", utcnow())
    moved = sa.update(table).where(*where).values(**update_values)
    event = event_row(
        organisation_id=organisation_id,
        entity_type=family,
        entity_id=row_id,
        from_status=current,
        to_status=target,
        actor=actor,
        reason=reason,
        data=data,
        batch_job_id=batch_job_id,
        registration_job_id=registration_job_id,
    )
    if conn.dialect.name == "postgresql":
        # One statement: the event row is written only if the update moved the row.
        changed = moved.returning(table.c.id).cte("moved")
        logged = (
            sa.insert(events)
            .from_select(
                list(event),
                sa.select(
                    *(sa.literal(value, type_=events.c[name].type) for name, value in event.items())
                ).select_from(changed),
            )
            .returning(events.c.id)
        )
        return len((await conn.execute(logged)).all()) == 1
    if (await conn.execute(moved)).rowcount != 1:
        return False
    await record_events(conn, [event])
    return True
