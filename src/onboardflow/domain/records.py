"""Frozen records of the rows the layers pass around, built ``from_row`` a plain mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self
from uuid import UUID

from onboardflow.domain.statuses import UserRole


class _FromRow:
    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        """Build the record from a row mapping, ignoring columns it does not hold."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in row.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """The record as a plain dict (for JSON responses)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is asking: the organisation every query is scoped to, and the role."""

    organisation_id: UUID
    role: UserRole
    user_id: UUID | None = None
    token_id: UUID | None = None

    @property
    def actor(self) -> str:
        """How events name this principal."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return f"token:{self.token_id}"

    @property
    def is_admin(self) -> bool:
        return self.role in (UserRole.ADMIN, UserRole.SUPER_ADMIN)


@dataclass(frozen=True, slots=True, kw_only=True)
class Organisation(_FromRow):
    id: UUID
    name: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class User(_FromRow):
    id: UUID
    organisation_id: UUID
    email: str
    name: str | None
    role: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Restaurant(_FromRow):
    id: UUID
    organisation_id: UUID
    name: str
    address: str | None
    city: str | None
    phone: str | None
    email: str | None
    website: str | None
    cuisine: str | None
    marketplace_url: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    menu: dict[str, Any] | None
    branding: dict[str, Any] | None
    company: dict[str, Any] | None
    pumpd_user_id: str | None
    pumpd_restaurant_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Lead(_FromRow):
    id: UUID
    organisation_id: UUID
    name: str
    address: str | None
    city: str | None
    phone: str | None
    website: str | None
    cuisine: str | None
    marketplace_url: str | None
    restaurant_id: UUID | None
    converted_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
