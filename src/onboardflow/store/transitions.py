"""Status changes as compare-and-set updates that write their event row in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.statuses import check_transition
from onboardflow.store import driver_sql
from onboardflow.store.events import event_row
from onboardflow.store.tables import events
from onboardflow.store.types import utcnow


async def apply(conn: AsyncConnection, statement: driver_sql.Transition) -> bool:
    """Carry out a ``transition`` as a compare-and-set: False, with nothing written, when the row
    was no longer as ``statement`` found it (someone else moved it)."""
    # One statement on PostgreSQL: the event row is written only if the update moved the row.
    return await driver_sql.update_logged(
        conn, statement.table, statement.values, statement.where, log=statement.log, entry=statement.entry
    )


def transition(
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
) -> driver_sql.Transition:
    """Move one row from ``current`` to ``target``, with its event row, as a statement: strict in a
    ``driver_sql`` plan (the transaction fails with ``Conflict`` if the row is no longer ``current``,
    so a plan may hold it, ``driver_sql.Hold``), a compare-and-set through ``apply``. The transition
    table is checked at once (``InvalidTransition`` if forbidden)."""
    check_transition(family, current, target)
    where: dict[str, Any] = {"id": row_id, "status": current}
    if organisation_id is not None:
        where["organisation_id"] = organisation_id
    update_values: dict[str, Any] = {"status": target, **(values or {})}
    if "updated_at" in table.c:
        update_values.setdefault("updated_at", utcnow())
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
    return driver_sql.Transition(table, update_values, where, log=events, entry=event)
