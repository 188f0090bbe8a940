"""The extraction contract, run against every implementation: simulated and http (sandbox)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from onboardflow.adapters.extraction.protocol import Branding, ExtractionService, Menu
from onboardflow.adapters.extraction.simulated import detect_cuisine
from onboardflow.errors import JobError, PermanentError, RetryableError
from tests.adapters.conftest import Factory, rule

URL = "https://www.ubereats.com/nz/store/joes-pizza/abc123"


async def test_a_menu_has_categories_priced_items_option_groups_and_images(
    make_extraction: Factory[ExtractionService],
) -> None:
    extraction = (await make_extraction()).service
    menu = await extraction.extract_menu(URL, restaurant_name="Joe's Pizza", idempotency_key="m1")
    assert isinstance(menu, Menu)
    assert menu.restaurant_name == "Joe's Pizza"
    assert menu.source_url == URL
    assert menu.currency == "NZD"
    assert next(c.name for c in menu.categories) == "Pizzas"
    assert menu.categories[-1].name == "Drinks"
    assert len(menu.items) >= 10
    assert all(isinstance(item.price, Decimal) and item.price > 0 for item in menu.items)
    assert all(item.price * 2 == (item.price * 2).to_integral_value() for item in menu.items), "50-cent steps"
    groups = [group for item in menu.items for group in item.option_groups]
    assert groups
    assert all(group.options for group in groups)
    assert any(option.price_delta != 0 for group in groups for option in group.options)
    with_images = [item for item in menu.items if item.image_url]
    assert len(with_images) >= len(menu.items) // 2
    assert all(item.image_url and item.image_url.startswith("https://") for item in with_images)


async def test_menus_are_deterministic_for_a_seed(make_extraction: Factory[ExtractionService]) -> None:
    one = (await make_extraction(seed=3)).service
    two = (await make_extraction(seed=3)).service
    other = (await make_extraction(seed=4)).service
    args = {"restaurant_name": "Joe's Pizza", "idempotency_key": "k"}
    menu = await one.extract_menu(URL, **args)
    assert await two.extract_menu(URL, **args) == menu
    assert await other.extract_menu(URL, **args) != menu


async def test_a_cuisine_hint_chooses_the_dishes(make_extraction: Factory[ExtractionService]) -> None:
    extraction = (await make_extraction()).service
    menu = await extraction.extract_menu(
        "https://marketplace.example/store/42",
        restaurant_name="Golden Lotus",
        idempotency_key="k",
        cuisine="Thai",
    )
    assert "Noodles & Rice" in [c.name for c in menu.categories]


def test_the_cuisine_comes_from_the_hint_then_the_name_then_the_url() -> None:
    assert detect_cuisine("Golden Lotus", "https://x.example", "Indian", seed=0) == "indian"
    assert detect_cuisine("Sushi Zen", "https://x.example", None, seed=0) == "sushi"
    assert detect_cuisine("Golden Lotus", "https://x.example/taqueria", None, seed=0) == "mexican"


async def test_branding_has_two_hex_colours_and_a_logo_from_the_source(
    make_extraction: Factory[ExtractionService],
) -> None:
    extraction = (await make_extraction()).service
    found = [
        await extraction.extract_branding(
            "https://joespizza.co.nz", restaurant_name=name, idempotency_key=name
        )
        for name in ("Joe's Pizza", "Hell Pizza", "Pizza Club", "Slice", "Napoli")
    ]
    assert all(isinstance(branding, Branding) for branding in found)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", b.primary_colour) for b in found)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", b.secondary_colour) for b in found)
    assert any(b.logo_url == "https://joespizza.co.nz/logo.png" for b in found)


async def test_a_repeated_key_is_logged_as_a_replay(make_extraction: Factory[ExtractionService]) -> None:
    harness = await make_extraction()
    for _ in range(2):
        await harness.service.extract_branding(URL, restaurant_name="Joe's Pizza", idempotency_key="b")
    assert [c["outcome"] for c in await harness.calls()] == ["ok", "replayed"]


@pytest.mark.parametrize("url", ["not a url", "https://marketplace.example/missing/store"])
async def test_a_bad_or_missing_page_is_permanent(
    make_extraction: Factory[ExtractionService], url: str
) -> None:
    extraction = (await make_extraction()).service
    with pytest.raises(PermanentError):
        await extraction.extract_menu(url, restaurant_name="Joe's Pizza", idempotency_key="k")


@pytest.mark.parametrize(
    ("kind", "error"),
    [("server_error", RetryableError), ("timeout", RetryableError), ("validation_error", PermanentError)],
)
async def test_injected_faults_become_typed_errors(
    make_extraction: Factory[ExtractionService], kind: str, error: type[JobError]
) -> None:
    harness = await make_extraction(rule("extraction", "extract_menu", kind), timeout=1.0)
    with pytest.raises(error):
        await harness.service.extract_menu(URL, restaurant_name="Joe's Pizza", idempotency_key="k")
    branding = await harness.service.extract_branding(URL, restaurant_name="Joe's Pizza", idempotency_key="b")
    assert branding.primary_colour.startswith("#")
