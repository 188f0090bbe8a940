"""Response shapes of the API (requests are validated by the domain's input models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None


class RestaurantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
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


class LeadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
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


class LeadImportOut(BaseModel):
    imported: int
    items: list[LeadOut]


class HealthOut(BaseModel):
    status: str
    database: str | None = None
