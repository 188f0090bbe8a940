"""Simulated extraction: realistic menus and brands, deterministic for (seed, restaurant, URL).

The cuisine is the ``cuisine`` hint when it names one of ``catalogue.CUISINES``, else the first cuisine
whose keywords appear in the restaurant's name or URL, else one chosen by hash. Each category keeps a
hash-chosen subset of its dishes (at least three, or all if fewer), prices move by up to +/-10 % in
50-cent steps, about one item in seven has no image, and every menu ends with drinks.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final
from urllib.parse import urlsplit

from onboardflow.adapters.extraction import catalogue
from onboardflow.adapters.extraction.protocol import (
    Branding,
    Menu,
    MenuCategory,
    MenuItem,
    MenuOption,
    OptionGroup,
)
from onboardflow.adapters.hashing import stable_choice, stable_int, stable_sample, stable_unit
from onboardflow.adapters.simulation import Effect, Simulation
from onboardflow.errors import PermanentError

IMAGE_HOST: Final = "https://images.marketplace.example"
_URL = re.compile(r"^https?://[^\s/]+\.[^\s/]+\S*$")


def detect_cuisine(restaurant_name: str, url: str, hint: str | None, *, seed: int) -> str:
    """The catalogue cuisine a menu is generated from (rule in the module docstring)."""
    if hint:
        lowered = hint.lower()
        for cuisine, words in catalogue.KEYWORDS.items():
            if lowered == cuisine or any(word in lowered for word in words):
                return cuisine
    text = f"{restaurant_name} {url}".lower()
    for cuisine, words in catalogue.KEYWORDS.items():
        if any(word in text for word in words):
            return cuisine
    return stable_choice(sorted(catalogue.CUISINES), seed, "cuisine", restaurant_name.lower())


def generate_menu(marketplace_url: str, *, restaurant_name: str, cuisine: str | None, seed: int) -> Menu:
    """The menu the simulated extraction finds on ``marketplace_url``."""
    _check_url(marketplace_url)
    if not restaurant_name.strip():
        raise PermanentError("extraction menu: restaurant_name must not be empty")
    kind = detect_cuisine(restaurant_name, marketplace_url, cuisine, seed=seed)
    basis = (seed, restaurant_name.lower(), marketplace_url)
    slug = _slug(restaurant_name)
    categories = []
    for name, dishes in [*catalogue.CUISINES[kind].items(), ("Drinks", catalogue.DRINKS)]:
        count = min(len(dishes), 3 + stable_int(*basis, "count", name) % (len(dishes) - 1))
        items = tuple(
            _item(dish, slug=slug, basis=basis) for dish in stable_sample(dishes, count, *basis, name)
        )
        categories.append(MenuCategory(name=name, items=items))
    return Menu(restaurant_name=restaurant_name, source_url=marketplace_url, categories=tuple(categories))


def generate_branding(source_url: str, *, restaurant_name: str, seed: int) -> Branding:
    """The logo and colours the simulated extraction finds on ``source_url``."""
    _check_url(source_url)
    kind = detect_cuisine(restaurant_name, source_url, None, seed=seed)
    primary, secondary = stable_choice(catalogue.PALETTES[kind], seed, "palette", restaurant_name.lower())
    parts = urlsplit(source_url)
    marketplace = "marketplace" in parts.netloc or "ubereats" in parts.netloc or "doordash" in parts.netloc
    logo = (
        f"{IMAGE_HOST}/logos/{_slug(restaurant_name)}.png"
        if marketplace
        else f"{parts.scheme}://{parts.netloc}/logo.png"
    )
    has_logo = stable_unit(seed, "logo", restaurant_name.lower()) >= 0.1
    return Branding(
        source_url=source_url,
        logo_url=logo if has_logo else None,
        primary_colour=primary,
        secondary_colour=secondary,
    )


class SimulatedExtraction:
    """The simulated extraction service; shares a ``Simulation`` with the other services."""

    service = "extraction"

    def __init__(self, simulation: Simulation) -> None:
        self._sim = simulation
        self._seen: set[str] = set()

    def reset(self) -> None:
        """Forget which idempotency keys were seen."""
        self._seen.clear()

    async def extract_menu(
        self, marketplace_url: str, *, restaurant_name: str, idempotency_key: str, cuisine: str | None = None
    ) -> Menu:
        """Generate the menu for ``marketplace_url``."""

        def effect() -> tuple[Menu, Effect]:
            menu = generate_menu(
                marketplace_url, restaurant_name=restaurant_name, cuisine=cuisine, seed=self._sim.seed
            )
            return menu, self._mark(f"menu:{idempotency_key}")

        return await self._sim.call(self.service, "extract_menu", idempotency_key, effect)

    async def extract_branding(
        self, source_url: str, *, restaurant_name: str, idempotency_key: str
    ) -> Branding:
        """Generate the branding for ``source_url``."""

        def effect() -> tuple[Branding, Effect]:
            branding = generate_branding(source_url, restaurant_name=restaurant_name, seed=self._sim.seed)
            return branding, self._mark(f"branding:{idempotency_key}")

        return await self._sim.call(self.service, "extract_branding", idempotency_key, effect)

    def _mark(self, key: str) -> Effect:
        if key in self._seen:
            return "replayed"
        self._seen.add(key)
        return "ok"


def _item(dish: catalogue.Dish, *, slug: str, basis: tuple[object, ...]) -> MenuItem:
    name, description, base, groups = dish
    factor = Decimal(str(round(0.9 + 0.2 * stable_unit(*basis, "price", name), 3)))
    price = (Decimal(base) * factor * 2).quantize(Decimal("1")) / 2
    has_image = stable_unit(*basis, "image", name) >= 1 / 7
    return MenuItem(
        name=name,
        description=description or None,
        price=price.quantize(Decimal("0.01")),
        image_url=f"{IMAGE_HOST}/{slug}/{_slug(name)}.jpg" if has_image else None,
        option_groups=tuple(_group(group) for group in groups),
    )


def _group(name: str) -> OptionGroup:
    required, low, high, options = catalogue.OPTION_GROUPS[name]
    return OptionGroup(
        name=name,
        required=required,
        min_select=low,
        max_select=high,
        options=tuple(MenuOption(name=option, price_delta=Decimal(delta)) for option, delta in options),
    )


def _check_url(url: str) -> None:
    if not _URL.match(url):
        raise PermanentError("extraction: the source must be an http(s) URL", details={"url": url})
    if "/missing" in url or url.rstrip("/").endswith("/404"):
        raise PermanentError("extraction: the page does not exist (HTTP 404)", details={"url": url})


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("'", "")).strip("-") or "restaurant"
