"""Pumpd over HTTP: ``POST {base_url}/pumpd/operations/{operation}`` with the payload as the JSON body
and the ``Idempotency-Key`` header; the answer is a ``PumpdResult`` as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onboardflow.adapters import wire
from onboardflow.adapters.error_mapping import error_from_exception
from onboardflow.adapters.http_client import HttpServiceClient
from onboardflow.adapters.pumpd.protocol import PumpdResult, check_operation


def operation_path(operation: str) -> str:
    """The path of ``operation`` (the sandbox serves the same)."""
    return f"/pumpd/operations/{operation}"


class HttpPumpd:
    """Calls a Pumpd service (or the sandbox) over HTTP."""

    service = "pumpd"

    def __init__(self, client: HttpServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        """Close the HTTP client if it is owned here."""
        await self._client.aclose()

    async def run(self, operation: str, payload: Mapping[str, Any], *, idempotency_key: str) -> PumpdResult:
        """Run ``operation`` remotely."""
        check_operation(operation)
        body = await self._client.request(
            "POST",
            operation_path(operation),
            operation=operation,
            idempotency_key=idempotency_key,
            json_body=wire.dump(dict(payload), dict[str, Any]),
        )
        try:
            return wire.load(PumpdResult, body)
        except Exception as exc:
            raise error_from_exception(exc, service=self.service, operation=operation) from exc
