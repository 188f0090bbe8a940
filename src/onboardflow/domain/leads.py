"""What a lead and a restaurant may hold: the validated input shapes shared by API, web and CLI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl

LEAD_FIELDS = ("name", "address", "city", "phone", "website", "cuisine", "marketplace_url")


class LeadInput(BaseModel):
    """One scraped prospect."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=300)
    address: str | None = Field(default=None, max_length=500)
    city: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    website: HttpUrl | None = None
    cuisine: str | None = Field(default=None, max_length=200)
    marketplace_url: HttpUrl | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class RestaurantInput(BaseModel):
    """A restaurant as created by a person (conversion fills the same fields from a lead)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=300)
    address: str | None = Field(default=None, max_length=500)
    city: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    email: EmailStr | None = None
    website: HttpUrl | None = None
    cuisine: str | None = Field(default=None, max_length=200)
    marketplace_url: HttpUrl | None = None
    contact_name: str | None = Field(default=None, max_length=300)
    contact_email: EmailStr | None = None
    contact_phone: str | None = Field(default=None, max_length=50)
    metadata: dict[str, Any] = Field(default_factory=dict)


class RestaurantUpdate(BaseModel):
    """A partial update of a restaurant: only the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=300)
    address: str | None = Field(default=None, max_length=500)
    city: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    email: EmailStr | None = None
    website: HttpUrl | None = None
    cuisine: str | None = Field(default=None, max_length=200)
    marketplace_url: HttpUrl | None = None
    contact_name: str | None = Field(default=None, max_length=300)
    contact_email: EmailStr | None = None
    contact_phone: str | None = Field(default=None, max_length=50)
    metadata: dict[str, Any] | None = None
