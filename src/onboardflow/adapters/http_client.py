"""The one JSON-over-HTTP client every http adapter uses.

Every call carries an ``Idempotency-Key`` header and runs under a total deadline (``timeout``
seconds for the whole exchange, which httpx's per-phase time-outs do not bound, and which also holds
for in-process transports such as ``httpx.ASGITransport``). Answers become results or typed errors in
``error_mapping``; nothing else here decides what a failure means.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from onboardflow.adapters.error_mapping import error_from_exception, error_from_status
from onboardflow.adapters.hashing import stable_hex
from onboardflow.errors import JobError

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"


class HttpServiceClient:
    """Calls one external service at ``base_url``; owns its ``httpx.AsyncClient`` unless given one."""

    def __init__(
        self,
        *,
        service: str,
        base_url: str = "",
        timeout: float = 30.0,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._headers = dict(headers or {})
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout))

    async def aclose(self) -> None:
        """Close the underlying client if this object created it."""
        if self._owns_client:
            await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        idempotency_key: str | None = None,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer, or raise a typed ``JobError``.

        Without an ``idempotency_key`` (reads) one is derived from the method, path and parameters, so
        that retries of the same read share it.
        """
        key = idempotency_key or read_key(method, path, params)
        headers = {**self._headers, IDEMPOTENCY_HEADER: key, "Accept": "application/json"}
        started = time.monotonic()
        status: int | None = None
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.request(
                    method, self.base_url + path, json=json_body, params=params, headers=headers
                )
                status = response.status_code
                if status >= 300:
                    error = error_from_status(
                        status,
                        headers=response.headers,
                        body=_decode_leniently(response),
                        service=self.service,
                        operation=operation,
                    )
                    if error is not None:
                        raise error
                return response.json() if response.content else None
        except JobError:
            raise
        except TimeoutError as exc:
            raise error_from_exception(
                TimeoutError(f"no answer within {self.timeout:g}s"), service=self.service, operation=operation
            ) from exc
        except Exception as exc:
            raise error_from_exception(exc, service=self.service, operation=operation) from exc
        finally:
            logger.debug(
                "%s %s %s%s -> %s in %.0f ms",
                self.service,
                operation,
                method,
                path,
                status if status is not None else "no answer",
                (time.monotonic() - started) * 1000,
            )


def read_key(method: str, path: str, params: Mapping[str, str] | None = None) -> str:
    """A stable idempotency key for a read: the same request always gets the same key."""
    query = json.dumps(sorted((params or {}).items()))
    return f"read-{stable_hex(method.upper(), path, query, length=24)}"


def _decode_leniently(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]
