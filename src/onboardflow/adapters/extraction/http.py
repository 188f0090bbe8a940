"""The extraction service over HTTP: ``POST {base_url}/extraction/menu`` and ``/extraction/branding``."""

from __future__ import annotations

from typing import Any, TypeVar

from onboardflow.adapters import wire
from onboardflow.adapters.error_mapping import error_from_exception
from onboardflow.adapters.extraction.protocol import Branding, Menu
from onboardflow.adapters.http_client import HttpServiceClient

MENU_PATH = "/extraction/menu"
BRANDING_PATH = "/extraction/branding"
T = TypeVar("T")


class HttpExtraction:
    """Calls an extraction service (or the sandbox) over HTTP."""

    service = "extraction"

    def __init__(self, client: HttpServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        """Close the HTTP client if it is owned here."""
        await self._client.aclose()

    async def extract_menu(
        self, marketplace_url: str, *, restaurant_name: str, idempotency_key: str, cuisine: str | None = None
    ) -> Menu:
        """The menu on ``marketplace_url``."""
        body = {"marketplace_url": marketplace_url, "restaurant_name": restaurant_name, "cuisine": cuisine}
        return await self._post(MENU_PATH, "extract_menu", body, idempotency_key, Menu)

    async def extract_branding(
        self, source_url: str, *, restaurant_name: str, idempotency_key: str
    ) -> Branding:
        """The logo and colours on ``source_url``."""
        body = {"source_url": source_url, "restaurant_name": restaurant_name}
        return await self._post(BRANDING_PATH, "extract_branding", body, idempotency_key, Branding)

    async def _post(self, path: str, operation: str, body: dict[str, Any], key: str, kind: type[T]) -> T:
        answer = await self._client.request(
            "POST", path, operation=operation, idempotency_key=key, json_body=body
        )
        try:
            return wire.load(kind, answer)
        except Exception as exc:
            raise error_from_exception(exc, service=self.service, operation=operation) from exc
