"""The companies register: find the legal company behind a restaurant and read its details."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class CompanySummary:
    """A search hit. ``nzbn`` is the 13-digit New Zealand Business Number; ``status`` is the register's
    (``Registered``, ``Removed``, ``In Liquidation``)."""

    company_number: str
    nzbn: str
    name: str
    status: str
    registered_address: str
    incorporated_on: date


@dataclass(frozen=True, slots=True, kw_only=True)
class Director:
    """A current director."""

    name: str
    appointed_on: date


@dataclass(frozen=True, slots=True, kw_only=True)
class CompanyDetails:
    """Everything the pipeline keeps about the chosen company."""

    company_number: str
    nzbn: str
    legal_name: str
    status: str
    incorporated_on: date
    registered_address: str
    directors: tuple[Director, ...] = ()
    contact_email: str | None = None
    contact_phone: str | None = None


class CompaniesRegister(Protocol):
    """Searches the register. All calls are reads."""

    async def search_by_name(self, name: str) -> list[CompanySummary]:
        """Companies whose names resemble ``name`` (a trading name or a legal-name guess)."""
        ...

    async def search_by_address(self, address: str) -> list[CompanySummary]:
        """Companies registered at ``address``."""
        ...

    async def get_company(self, company_number: str) -> CompanyDetails:
        """The details of one company; ``PermanentError`` if the number is unknown."""
        ...
