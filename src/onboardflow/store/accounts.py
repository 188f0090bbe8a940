"""Organisations, users and API tokens."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.records import Organisation, User
from onboardflow.errors import NotFound
from onboardflow.store.tables import api_tokens, organisations, users
from onboardflow.store.types import utcnow


async def insert_organisation(conn: AsyncConnection, name: str) -> Organisation:
    """Create an organisation (``Conflict`` if the name is taken)."""
    now = utcnow()
    row = {"id": uuid4(), "name": name, "settings": {}, "created_at": now, "updated_at": now}
    await conn.execute(sa.insert(organisations).values(**row))
    return Organisation.from_row(row)


async def get_organisation_by_name(conn: AsyncConnection, name: str) -> Organisation:
    """The organisation called ``name``."""
    row = (
        (await conn.execute(sa.select(organisations).where(organisations.c.name == name))).mappings().first()
    )
    if row is None:
        raise NotFound("organisation", f"no organisation named {name!r}")
    return Organisation.from_row(row)


async def get_organisation(conn: AsyncConnection, organisation_id: UUID) -> Organisation:
    """The organisation with this id."""
    row = (
        (await conn.execute(sa.select(organisations).where(organisations.c.id == organisation_id)))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("organisation")
    return Organisation.from_row(row)


async def update_organisation_settings(
    conn: AsyncConnection, organisation_id: UUID, settings: dict[str, Any]
) -> None:
    """Replace the organisation's saved settings (e.g. Yolo Mode defaults)."""
    await conn.execute(
        sa.update(organisations)
        .where(organisations.c.id == organisation_id)
        .values(settings=settings, updated_at=utcnow())
    )


async def count_organisations(conn: AsyncConnection) -> int:
    """How many organisations exist (zero on a fresh database)."""
    return int((await conn.execute(sa.select(sa.func.count()).select_from(organisations))).scalar_one())


async def insert_user(
    conn: AsyncConnection,
    *,
    organisation_id: UUID,
    email: str,
    password_hash: str,
    role: str,
    name: str | None = None,
) -> User:
    """Create a user (``Conflict`` if the email is taken)."""
    now = utcnow()
    row = {
        "id": uuid4(),
        "organisation_id": organisation_id,
        "email": email.lower(),
        "name": name,
        "password_hash": password_hash,
        "role": role,
        "created_at": now,
        "updated_at": now,
    }
    await conn.execute(sa.insert(users).values(**row))
    return User.from_row(row)


async def find_user_by_email(conn: AsyncConnection, email: str) -> User | None:
    """The user with this email in any organisation (sign-in is the one unscoped lookup)."""
    row = (await conn.execute(sa.select(users).where(users.c.email == email.lower()))).mappings().first()
    return None if row is None else User.from_row(row)


async def record_login(conn: AsyncConnection, user_id: UUID) -> None:
    """Remember when the user last signed in."""
    await conn.execute(sa.update(users).where(users.c.id == user_id).values(last_login_at=utcnow()))


async def insert_api_token(
    conn: AsyncConnection,
    *,
    organisation_id: UUID,
    token_hash: str,
    prefix: str,
    name: str,
    role: str,
    user_id: UUID | None = None,
) -> UUID:
    """Store a token by its hash; the token itself is never stored."""
    token_id = uuid4()
    await conn.execute(
        sa.insert(api_tokens).values(
            id=token_id,
            organisation_id=organisation_id,
            user_id=user_id,
            name=name,
            prefix=prefix,
            token_hash=token_hash,
            role=role,
            created_at=utcnow(),
        )
    )
    return token_id


async def find_api_token(conn: AsyncConnection, token_hash: str) -> dict[str, Any] | None:
    """The live (not revoked) token row with this hash."""
    row = (
        (
            await conn.execute(
                sa.select(api_tokens).where(
                    api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
                )
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)
