"""Leads, always read and written within one organisation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.records import Lead
from onboardflow.store.paging import Page, fetch_page
from onboardflow.store.tables import leads
from onboardflow.store.types import utcnow


async def insert_leads(
    conn: AsyncConnection, organisation_id: UUID, items: Sequence[Mapping[str, Any]]
) -> list[Lead]:
    """Create leads in one statement."""
    now = utcnow()
    rows = []
    for item in items:
        row: dict[str, Any] = {c.name: None for c in leads.c}
        row.update({"metadata": {}, **item})
        row.update({"id": uuid4(), "organisation_id": organisation_id, "created_at": now, "updated_at": now})
        rows.append(row)
    if rows:
        await conn.execute(sa.insert(leads), rows)
    return [Lead.from_row(r) for r in rows]


async def list_leads(
    conn: AsyncConnection,
    organisation_id: UUID,
    *,
    limit: int,
    offset: int,
    converted: bool | None = None,
) -> Page:
    """A page of the organisation's leads, newest first; optionally only (un)converted ones."""
    query = sa.select(leads).where(leads.c.organisation_id == organisation_id)
    if converted is not None:
        query = query.where(
            leads.c.restaurant_id.is_not(None) if converted else leads.c.restaurant_id.is_(None)
        )
    return await fetch_page(
        conn, query, limit=limit, offset=offset, order_by=(leads.c.created_at.desc(), leads.c.id)
    )
