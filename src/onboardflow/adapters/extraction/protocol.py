"""The extraction service: a restaurant's menu and branding, read from its marketplace page or website."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuOption:
    """One choice in an option group; ``price_delta`` is added to the item's price."""

    name: str
    price_delta: Decimal = Decimal("0.00")


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionGroup:
    """A set of choices offered with an item (size, extras, ...)."""

    name: str
    required: bool = False
    min_select: int = 0
    max_select: int = 1
    options: tuple[MenuOption, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuItem:
    """One dish or drink."""

    name: str
    price: Decimal
    description: str | None = None
    image_url: str | None = None
    option_groups: tuple[OptionGroup, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuCategory:
    """A heading of the menu and its items, in menu order."""

    name: str
    items: tuple[MenuItem, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Menu:
    """A restaurant's menu as extracted. Prices are in ``currency``."""

    restaurant_name: str
    source_url: str
    currency: str = "NZD"
    categories: tuple[MenuCategory, ...] = ()

    @property
    def items(self) -> tuple[MenuItem, ...]:
        """Every item, in menu order."""
        return tuple(item for category in self.categories for item in category.items)


@dataclass(frozen=True, slots=True, kw_only=True)
class Branding:
    """A restaurant's logo and colours (``#rrggbb``)."""

    source_url: str
    logo_url: str | None
    primary_colour: str
    secondary_colour: str


class ExtractionService(Protocol):
    """Reads menus and branding. Both calls are reads: repeating one is harmless."""

    async def extract_menu(
        self, marketplace_url: str, *, restaurant_name: str, idempotency_key: str, cuisine: str | None = None
    ) -> Menu:
        """The menu on ``marketplace_url``; ``cuisine`` is an optional hint."""
        ...

    async def extract_branding(
        self, source_url: str, *, restaurant_name: str, idempotency_key: str
    ) -> Branding:
        """The logo and colours from a marketplace page or the restaurant's own website."""
        ...
