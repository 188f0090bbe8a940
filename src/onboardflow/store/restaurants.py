"""Restaurants, always read and written within one organisation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.records import Restaurant
from onboardflow.errors import NotFound
from onboardflow.store import driver_sql
from onboardflow.store.paging import Page, fetch_page
from onboardflow.store.tables import restaurants
from onboardflow.store.types import utcnow


def new_restaurant_row(organisation_id: UUID, values: Mapping[str, Any]) -> dict[str, Any]:
    """A complete restaurant row from the given fields (the rest empty)."""
    now = utcnow()
    row: dict[str, Any] = {c.name: None for c in restaurants.c}
    row.update({"metadata": {}, **values})
    row.update({"id": row.get("id") or uuid4(), "organisation_id": organisation_id})
    row.update({"created_at": now, "updated_at": now})
    return row


async def insert_restaurants(
    conn: AsyncConnection, organisation_id: UUID, items: Sequence[Mapping[str, Any]]
) -> list[Restaurant]:
    """Create restaurants in one statement."""
    rows = [new_restaurant_row(organisation_id, item) for item in items]
    if rows:
        await conn.execute(sa.insert(restaurants), rows)
    return [Restaurant.from_row(r) for r in rows]


async def get_restaurant(conn: AsyncConnection, organisation_id: UUID, restaurant_id: UUID) -> Restaurant:
    """One restaurant of the organisation; ``NotFound`` for any other."""
    row = await driver_sql.select_owned(conn, restaurants, restaurant_id, organisation_id)
    if row is None:
        raise NotFound("restaurant")
    return Restaurant.from_row(row)


async def list_restaurants(
    conn: AsyncConnection, organisation_id: UUID, *, limit: int, offset: int, search: str | None = None
) -> Page:
    """A page of the organisation's restaurants, newest first."""
    query = sa.select(restaurants).where(restaurants.c.organisation_id == organisation_id)
    if search:
        query = query.where(restaurants.c.name.ilike(f"%{search}%"))
    return await fetch_page(
        conn, query, limit=limit, offset=offset, order_by=(restaurants.c.created_at.desc(), restaurants.c.id)
    )


async def update_restaurant(
    conn: AsyncConnection, organisation_id: UUID, restaurant_id: UUID, values: Mapping[str, Any]
) -> Restaurant:
    """Change the given fields of one restaurant of the organisation."""
    changed = await driver_sql.update_returning(
        conn,
        restaurants,
        {**values, "updated_at": utcnow()},
        {"id": restaurant_id, "organisation_id": organisation_id},
    )
    if len(changed) != 1:
        raise NotFound("restaurant")
    return Restaurant.from_row(changed[0])
