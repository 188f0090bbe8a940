"""The image CDN: copies a logo or menu image from a source URL and serves it from its own URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, Protocol

ImageKind = Literal["logo", "menu_item"]
IMAGE_KINDS: Final[tuple[ImageKind, ...]] = ("logo", "menu_item")


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadedImage:
    """An image on the CDN and its size in pixels."""

    url: str
    width: int
    height: int


class ImageCdn(Protocol):
    """Uploads images. The same ``idempotency_key`` replays the first upload."""

    async def upload(self, source_url: str, *, kind: ImageKind, idempotency_key: str) -> UploadedImage:
        """Copy the image at ``source_url`` to the CDN."""
        ...
