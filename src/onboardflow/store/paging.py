"""Paged reads: one page of rows plus the total, for ``{items, total, limit, offset}`` answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


async def fetch_page(
    conn: AsyncConnection, query: sa.Select[Any], *, limit: int, offset: int, order_by: Any
) -> Page:
    """Run ``query`` for one page (ordered by ``order_by``) and count all its rows."""
    total = (await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(query.order_by(*order_by).limit(limit).offset(offset))
    return Page(items=[dict(r) for r in rows.mappings()], total=total, limit=limit, offset=offset)
