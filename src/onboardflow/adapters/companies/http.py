"""The companies register over HTTP: ``GET {base_url}/companies/search?name=...`` (or ``?address=``)
and ``GET {base_url}/companies/{company_number}``."""

from __future__ import annotations

from urllib.parse import quote

from onboardflow.adapters import wire
from onboardflow.adapters.companies.protocol import CompanyDetails, CompanySummary
from onboardflow.adapters.error_mapping import error_from_exception
from onboardflow.adapters.http_client import HttpServiceClient

SEARCH_PATH = "/companies/search"


def company_path(company_number: str) -> str:
    """The path of one company."""
    return f"/companies/{quote(company_number, safe='')}"


class HttpCompanies:
    """Calls a companies register (or the sandbox) over HTTP."""

    service = "companies"

    def __init__(self, client: HttpServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        """Close the HTTP client if it is owned here."""
        await self._client.aclose()

    async def search_by_name(self, name: str) -> list[CompanySummary]:
        """Companies resembling ``name``."""
        return await self._search("search_by_name", {"name": name})

    async def search_by_address(self, address: str) -> list[CompanySummary]:
        """Companies registered at ``address``."""
        return await self._search("search_by_address", {"address": address})

    async def get_company(self, company_number: str) -> CompanyDetails:
        """The details of one company."""
        body = await self._client.request("GET", company_path(company_number), operation="get_company")
        try:
            return wire.load(CompanyDetails, body)
        except Exception as exc:
            raise error_from_exception(exc, service=self.service, operation="get_company") from exc

    async def _search(self, operation: str, params: dict[str, str]) -> list[CompanySummary]:
        body = await self._client.request("GET", SEARCH_PATH, operation=operation, params=params)
        try:
            return wire.load_list(CompanySummary, body)
        except Exception as exc:
            raise error_from_exception(exc, service=self.service, operation=operation) from exc
