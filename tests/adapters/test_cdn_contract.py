"""The image CDN contract, run against every implementation: simulated and http (sandbox)."""

from __future__ import annotations

import pytest

from onboardflow.adapters.cdn.protocol import ImageCdn, UploadedImage
from onboardflow.errors import AlreadyDoneError, JobError, PermanentError, RetryableError
from tests.adapters.conftest import Factory, rule

LOGO = "https://images.marketplace.example/logos/joes-pizza.png"


async def test_an_upload_returns_a_cdn_url_and_a_size(make_cdn: Factory[ImageCdn]) -> None:
    cdn = (await make_cdn()).service
    image = await cdn.upload(LOGO, kind="logo", idempotency_key="k1")
    assert isinstance(image, UploadedImage)
    assert image.url.startswith("https://cdn.pumpd.example/logos/")
    assert image.url.endswith(".png")
    assert image.width > 0
    assert image.height > 0


async def test_a_repeated_key_replays_the_upload(make_cdn: Factory[ImageCdn]) -> None:
    harness = await make_cdn()
    first = await harness.service.upload(LOGO, kind="logo", idempotency_key="k")
    assert await harness.service.upload(LOGO, kind="logo", idempotency_key="k") == first
    assert [c["outcome"] for c in await harness.calls()] == ["ok", "replayed"]


async def test_the_same_image_gets_the_same_url_under_any_key(make_cdn: Factory[ImageCdn]) -> None:
    cdn = (await make_cdn()).service
    first = await cdn.upload(LOGO, kind="logo", idempotency_key="a")
    assert (await cdn.upload(LOGO, kind="logo", idempotency_key="b")).url == first.url


@pytest.mark.parametrize(
    ("source_url", "kind"),
    [
        ("not a url", "menu_item"),
        ("ftp://x.example/a.png", "logo"),
        ("https://x.example/missing.jpg", "logo"),
    ],
)
async def test_bad_sources_are_permanent(make_cdn: Factory[ImageCdn], source_url: str, kind: str) -> None:
    cdn = (await make_cdn()).service
    with pytest.raises(PermanentError):
        await cdn.upload(source_url, kind=kind, idempotency_key="k")  # type: ignore[arg-type]


async def test_an_unknown_kind_is_permanent(make_cdn: Factory[ImageCdn]) -> None:
    cdn = (await make_cdn()).service
    with pytest.raises(PermanentError):
        await cdn.upload(LOGO, kind="banner", idempotency_key="k")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("server_error", RetryableError),
        ("rate_limited", RetryableError),
        ("timeout", RetryableError),
        ("already_exists", AlreadyDoneError),
        ("validation_error", PermanentError),
    ],
)
async def test_each_injected_fault_becomes_its_typed_error(
    make_cdn: Factory[ImageCdn], kind: str, error: type[JobError]
) -> None:
    harness = await make_cdn(rule("cdn", "upload", kind, retry_after=4), timeout=1.0)
    with pytest.raises(error) as caught:
        await harness.service.upload(LOGO, kind="logo", idempotency_key="k")
    if kind == "rate_limited":
        assert isinstance(caught.value, RetryableError)
        assert caught.value.retry_after == 4
    if kind == "already_exists":
        assert isinstance(caught.value, AlreadyDoneError)
        assert caught.value.existing["url"].startswith("https://cdn.pumpd.example/")
    assert (await harness.service.upload(LOGO, kind="logo", idempotency_key="k")).width > 0
