"""An in-memory image CDN: content-addressed URLs and plausible sizes, deterministic for a seed."""

from __future__ import annotations

import re
from typing import Final

from onboardflow.adapters.cdn.protocol import IMAGE_KINDS, ImageKind, UploadedImage
from onboardflow.adapters.hashing import stable_choice, stable_hex
from onboardflow.adapters.simulation import Effect, Simulation
from onboardflow.errors import PermanentError

CDN_BASE_URL: Final = "https://cdn.pumpd.example"
_URL = re.compile(r"^https?://[^\s/]+\.[^\s/]+\S*$")
_SIZES: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    "logo": ((512, 512), (400, 400), (600, 240), (800, 320)),
    "menu_item": ((1200, 800), (800, 600), (1024, 1024), (1600, 1067)),
}


def simulated_image(source_url: str, kind: str, *, seed: int) -> UploadedImage:
    """The image the simulated CDN stores for ``source_url``; raises ``PermanentError`` for bad input."""
    if kind not in IMAGE_KINDS:
        raise PermanentError(
            f"cdn upload: kind must be one of {', '.join(IMAGE_KINDS)}", details={"kind": kind}
        )
    if not _URL.match(source_url):
        raise PermanentError(
            "cdn upload: source_url must be an http(s) URL", details={"source_url": source_url}
        )
    if "/missing" in source_url or source_url.endswith("/404"):
        raise PermanentError("cdn upload: the source image does not exist (HTTP 404)")
    extension = "png" if kind == "logo" else "jpg"
    width, height = stable_choice(_SIZES[kind], seed, "size", source_url)
    name = stable_hex(seed, "image", source_url, length=20)
    return UploadedImage(
        url=f"{CDN_BASE_URL}/{kind.replace('_', '-')}s/{name}.{extension}",
        width=width,
        height=height,
    )


class SimulatedCdn:
    """The simulated CDN; shares a ``Simulation`` (faults, latency, call log) with the other services."""

    service = "cdn"

    def __init__(self, simulation: Simulation) -> None:
        self._sim = simulation
        self._uploads: dict[str, tuple[str, UploadedImage]] = {}

    def reset(self) -> None:
        """Forget every upload."""
        self._uploads.clear()

    async def upload(self, source_url: str, *, kind: ImageKind, idempotency_key: str) -> UploadedImage:
        """Store the image; a repeated key replays the first answer."""

        def effect() -> tuple[UploadedImage, Effect]:
            fingerprint = f"{kind}|{source_url}"
            seen = self._uploads.get(idempotency_key)
            if seen is not None:
                if seen[0] != fingerprint:
                    raise PermanentError("cdn upload: idempotency key reused for a different image")
                return seen[1], "replayed"
            image = simulated_image(source_url, kind, seed=self._sim.seed)
            self._uploads[idempotency_key] = (fingerprint, image)
            return image, "ok"

        def existing() -> dict[str, str]:
            try:
                return {"url": simulated_image(source_url, kind, seed=self._sim.seed).url}
            except PermanentError:
                return {}

        return await self._sim.call(self.service, "upload", idempotency_key, effect, existing=existing)
