"""The reads and writes of converting leads into restaurants of a batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.statuses import ACTIVE_REGISTRATION
from onboardflow.store.tables import leads, registration_jobs, restaurants
from onboardflow.store.types import utcnow


async def lock_leads(
    conn: AsyncConnection, organisation_id: UUID, lead_ids: Sequence[UUID]
) -> list[dict[str, Any]]:
    """The organisation's leads among ``lead_ids``, locked (PostgreSQL) so that two conversions of
    one lead cannot both succeed; in the order given."""
    query = sa.select(leads).where(leads.c.organisation_id == organisation_id, leads.c.id.in_(list(lead_ids)))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    found = {r["id"]: dict(r) for r in (await conn.execute(query)).mappings()}
    return [found[i] for i in lead_ids if i in found]


async def find_unconverted_leads(
    conn: AsyncConnection,
    organisation_id: UUID,
    *,
    city: str | None,
    cuisine: str | None,
    name_contains: str | None,
    limit: int,
) -> list[UUID]:
    """Ids of the organisation's unconverted leads matching the filter, oldest first."""
    query = sa.select(leads.c.id).where(
        leads.c.organisation_id == organisation_id, leads.c.restaurant_id.is_(None)
    )
    if city:
        query = query.where(sa.func.lower(leads.c.city) == city.lower())
    if cuisine:
        query = query.where(sa.func.lower(leads.c.cuisine) == cuisine.lower())
    if name_contains:
        query = query.where(leads.c.name.ilike(f"%{name_contains}%"))
    rows = await conn.execute(query.order_by(leads.c.created_at, leads.c.id).limit(limit))
    return [r.id for r in rows]


async def mark_converted(conn: AsyncConnection, pairs: Sequence[tuple[UUID, UUID]]) -> None:
    """Point each lead (first of a pair) at its new restaurant (second) and mark it converted."""
    if not pairs:
        return
    now = utcnow()
    await conn.execute(
        sa.update(leads)
        .where(leads.c.id == sa.bindparam("lead_id"))
        .values(restaurant_id=sa.bindparam("new_restaurant_id"), converted_at=now, updated_at=now),
        [{"lead_id": lead_id, "new_restaurant_id": restaurant_id} for lead_id, restaurant_id in pairs],
    )


async def existing_restaurant_ids(
    conn: AsyncConnection, organisation_id: UUID, restaurant_ids: Sequence[UUID]
) -> set[UUID]:
    """Which of ``restaurant_ids`` are restaurants of the organisation."""
    rows = await conn.execute(
        sa.select(restaurants.c.id).where(
            restaurants.c.organisation_id == organisation_id, restaurants.c.id.in_(list(restaurant_ids))
        )
    )
    return {r.id for r in rows}


async def restaurants_with_active_runs(
    conn: AsyncConnection, organisation_id: UUID, restaurant_ids: Sequence[UUID]
) -> set[UUID]:
    """Which of ``restaurant_ids`` have an active registration job (in a batch or alone)."""
    rows = await conn.execute(
        sa.select(registration_jobs.c.restaurant_id).where(
            registration_jobs.c.organisation_id == organisation_id,
            registration_jobs.c.restaurant_id.in_(list(restaurant_ids)),
            registration_jobs.c.status.in_([s.value for s in ACTIVE_REGISTRATION]),
        )
    )
    return {r.restaurant_id for r in rows}
