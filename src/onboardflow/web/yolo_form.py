"""The Yolo Mode dialog's form: its fields, and their values prefilled from a restaurant.

The dialog posts the form as the configuration of ``domain.yolo_config`` (the server validates it
and names the bad field); this module only decides what the operator sees first.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from onboardflow.domain.records import Restaurant
from onboardflow.domain.redaction import REDACTED
from onboardflow.domain.yolo_config import merge_config

DEFAULT_PRIMARY = "#1F5FBF"
DEFAULT_SECONDARY = "#FFFFFF"
DEFAULTS_SETTING = "yolo_defaults"


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of the dialog; ``name`` is the dotted path in the configuration."""

    name: str
    label: str
    kind: str = "text"  # text, email, tel, password, url, colour, checkbox, select
    required: bool = False
    choices: tuple[str, ...] = ()
    hint: str | None = None


SECTIONS: tuple[tuple[str, tuple[FormField, ...]], ...] = (
    (
        "Pumpd account",
        (
            FormField("account.email", "Account email", "email", required=True),
            FormField(
                "account.password",
                "Account password",
                "password",
                required=True,
                hint="Generated for you; at least 8 characters. Stored encrypted.",
            ),
            FormField("account.phone", "Account phone", "tel", required=True),
        ),
    ),
    (
        "Restaurant",
        (
            FormField("restaurant.name", "Name", required=True),
            FormField("restaurant.address", "Street address", required=True),
            FormField("restaurant.city", "City", required=True),
            FormField("restaurant.phone", "Phone", "tel", required=True),
            FormField("restaurant.email", "Email", "email", required=True),
            FormField("restaurant.cuisine", "Cuisine", required=True),
        ),
    ),
    (
        "Website",
        (
            FormField("website.theme", "Theme", "select", choices=("light", "dark")),
            FormField("website.primary_colour", "Primary colour", "colour", required=True),
            FormField("website.secondary_colour", "Secondary colour", "colour", required=True),
            FormField("website.logo_url", "Logo URL", "url"),
        ),
    ),
    (
        "Menu",
        (
            FormField("menu.import_menu", "Import the menu", "checkbox"),
            FormField("menu.source", "Menu source", "select", choices=("extracted", "csv", "none")),
            FormField("menu.csv_url", "Menu CSV URL", "url", hint="Only when the source is csv."),
            FormField("option_sets.enabled", "Create option sets", "checkbox"),
            FormField("item_tags.enabled", "Apply item tags", "checkbox"),
        ),
    ),
    (
        "Services and payment",
        (
            FormField("services.delivery", "Delivery", "checkbox"),
            FormField("services.pickup", "Pickup", "checkbox"),
            FormField("services.dine_in", "Dine-in", "checkbox"),
            FormField("payment.provider", "Payment provider", "select", choices=("none", "cash", "stripe")),
            FormField(
                "payment.stripe_api_key",
                "Stripe API key",
                "password",
                hint="Only for stripe.",
            ),
        ),
    ),
    (
        "Onboarding user",
        (
            FormField("onboarding.create_user", "Create an onboarding user", "checkbox"),
            FormField("onboarding.sync", "Sync the onboarding user", "checkbox"),
            FormField("onboarding.user_email", "Onboarding user email", "email"),
            FormField("onboarding.user_name", "Onboarding user name"),
        ),
    ),
)


def _first(*values: Any) -> Any:
    return next((v for v in values if v not in (None, "")), None)


def prefilled_config(restaurant: Restaurant, org_settings: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration prefilled from the restaurant, its branding and company, and the
    organisation's ``yolo_defaults`` setting (restaurant values win over defaults)."""
    branding = restaurant.branding or {}
    company = restaurant.company or {}
    email = _first(restaurant.email, restaurant.contact_email, company.get("email"))
    phone = _first(restaurant.phone, restaurant.contact_phone)
    known: dict[str, Any] = {
        "account": {
            "email": _first(restaurant.contact_email, email),
            "password": secrets.token_urlsafe(12),
            "phone": _first(restaurant.contact_phone, phone),
        },
        "restaurant": {
            "name": restaurant.name,
            "address": restaurant.address,
            "city": restaurant.city,
            "phone": phone,
            "email": email,
            "cuisine": restaurant.cuisine,
        },
        "website": {
            "primary_colour": _first(branding.get("primary_colour"), DEFAULT_PRIMARY),
            "secondary_colour": _first(branding.get("secondary_colour"), DEFAULT_SECONDARY),
            "logo_url": _first(branding.get("cdn_logo_url"), branding.get("logo_url")),
        },
        # Only a stored (extracted) menu can be imported; without one, the menu steps are skipped.
        "menu": {"import_menu": bool(restaurant.menu), "source": "extracted" if restaurant.menu else "none"},
    }
    base = {
        "website": {"theme": "light"},
        "menu": {"import_menu": True, "source": "extracted", "csv_url": None},
        "option_sets": {"enabled": True},
        "item_tags": {"enabled": True},
        "services": {"delivery": True, "pickup": True, "dine_in": False},
        "payment": {"provider": "none", "stripe_api_key": None},
        "onboarding": {"create_user": False, "sync": False, "user_email": None, "user_name": None},
    }
    defaults = org_settings.get(DEFAULTS_SETTING)
    if isinstance(defaults, Mapping):
        # Saved secrets come back redacted (``***``): the operator types them, they are never shown.
        sections = {
            k: {field: v for field, v in section.items() if v != REDACTED}
            for k, section in defaults.items()
            if isinstance(section, Mapping)
        }
        base = merge_config(base, sections)
    present: dict[str, Any] = {
        section: {k: v for k, v in values.items() if v is not None} for section, values in known.items()
    }
    return merge_config(base, present)


def value_at(config: Mapping[str, Any], dotted: str) -> Any:
    """The value of ``config`` at a dotted path, or None."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node
