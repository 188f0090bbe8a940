"""The image CDN over HTTP: ``POST {base_url}/cdn/uploads`` with ``{"source_url", "kind"}``."""

from __future__ import annotations

from onboardflow.adapters import wire
from onboardflow.adapters.cdn.protocol import ImageKind, UploadedImage
from onboardflow.adapters.error_mapping import error_from_exception
from onboardflow.adapters.http_client import HttpServiceClient

UPLOADS_PATH = "/cdn/uploads"


class HttpCdn:
    """Calls an image CDN (or the sandbox) over HTTP."""

    service = "cdn"

    def __init__(self, client: HttpServiceClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        """Close the HTTP client if it is owned here."""
        await self._client.aclose()

    async def upload(self, source_url: str, *, kind: ImageKind, idempotency_key: str) -> UploadedImage:
        """Copy the image at ``source_url`` to the CDN."""
        body = await self._client.request(
            "POST",
            UPLOADS_PATH,
            operation="upload",
            idempotency_key=idempotency_key,
            json_body={"source_url": source_url, "kind": kind},
        )
        try:
            return wire.load(UploadedImage, body)
        except Exception as exc:
            raise error_from_exception(exc, service=self.service, operation="upload") from exc
