"""The payload each Pumpd operation accepts: the contract the runtime builds payloads to.

Unknown fields are allowed and ignored (the Yolo Mode form carries more than any one operation needs).
Ids have fixed shapes: ``usr_``, ``rst_``, ``onb_`` and ``mnu_`` followed by 12 hex digits.
Fields named like secrets (``password``, ``api_key``) are redacted from every log and copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from onboardflow.adapters.extraction.protocol import Menu

USER_ID_PATTERN: Final = r"^usr_[0-9a-f]{12}$"
RESTAURANT_ID_PATTERN: Final = r"^rst_[0-9a-f]{12}$"
ONBOARDING_USER_ID_PATTERN: Final = r"^onb_[0-9a-f]{12}$"
EMAIL_PATTERN: Final = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
COLOUR_PATTERN: Final = r"^#[0-9a-fA-F]{6}$"
URL_PATTERN: Final = r"^https?://\S+$"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)


class AccountPayload(_Payload):
    """``account``: create the restaurant owner's Pumpd user."""

    email: str = Field(pattern=EMAIL_PATTERN)
    password: str = Field(min_length=8)
    name: str | None = None
    phone: str | None = None


class CodeGenerationPayload(_Payload):
    """``code_generation``: reserve the restaurant's site code (its subdomain)."""

    restaurant_name: str = Field(min_length=1)
    preferred_code: str | None = Field(default=None, pattern=r"^[a-z0-9-]{3,40}$")


class OnboardingUserPayload(_Payload):
    """``onboarding_user``: create the user who receives the onboarding invitation."""

    email: str = Field(pattern=EMAIL_PATTERN)
    name: str = Field(min_length=1)
    password: str | None = None


class ImageSpec(_Payload):
    """One image to upload."""

    source_url: str = Field(pattern=URL_PATTERN)
    kind: Literal["logo", "menu_item"] = "menu_item"


class ImageUploadPayload(_Payload):
    """``image_upload``: copy the logo and menu images to the platform's CDN."""

    images: list[ImageSpec] = Field(default_factory=list)


class RestaurantRegistrationPayload(_Payload):
    """``restaurant_registration``: create the restaurant under the owner's account."""

    pumpd_user_id: str = Field(pattern=USER_ID_PATTERN)
    name: str = Field(min_length=1)
    address: str | None = None
    city: str | None = None
    phone: str | None = None
    email: str | None = None
    cuisine: str | None = None
    opening_hours: dict[str, str] | None = None


class RestaurantScopedPayload(_Payload):
    """Any operation on a registered restaurant."""

    pumpd_restaurant_id: str = Field(pattern=RESTAURANT_ID_PATTERN)


class WebsiteConfigPayload(RestaurantScopedPayload):
    """``website_config``: theme, colours, logo and site code of the ordering website."""

    site_code: str | None = Field(default=None, pattern=r"^[a-z0-9-]{3,40}$")
    primary_colour: str | None = Field(default=None, pattern=COLOUR_PATTERN)
    secondary_colour: str | None = Field(default=None, pattern=COLOUR_PATTERN)
    logo_url: str | None = Field(default=None, pattern=URL_PATTERN)
    theme: str = "modern"


class ServicesConfigPayload(RestaurantScopedPayload):
    """``services_config``: delivery, pickup and dine-in settings."""

    delivery: bool = True
    pickup: bool = True
    dine_in: bool = False
    delivery_radius_km: float | None = Field(default=None, gt=0, le=100)
    minimum_order: Decimal | None = Field(default=None, ge=0)


class PaymentConfigPayload(RestaurantScopedPayload):
    """``payment_config``: the payment provider. Without credentials payments stay in test mode."""

    provider: Literal["stripe", "windcave", "cash"] = "stripe"
    api_key: str | None = None
    account_id: str | None = None
    currency: str = Field(default="NZD", pattern=r"^[A-Z]{3}$")


class MenuImportPayload(RestaurantScopedPayload):
    """``menu_import``: replace the restaurant's menu (the extraction's ``Menu`` as JSON)."""

    menu: Menu


class OnboardingSyncPayload(RestaurantScopedPayload):
    """``onboarding_sync``: give the onboarding user access to the restaurant."""

    onboarding_user_id: str = Field(pattern=ONBOARDING_USER_ID_PATTERN)


class OptionSetOption(_Payload):
    """One option of an option set."""

    name: str = Field(min_length=1)
    price_delta: Decimal = Decimal("0.00")


class OptionSetSpec(_Payload):
    """An option set and the items it applies to."""

    name: str = Field(min_length=1)
    required: bool = False
    min_select: int = Field(default=0, ge=0)
    max_select: int = Field(default=1, ge=1)
    options: list[OptionSetOption] = Field(min_length=1)
    item_names: list[str] = Field(default_factory=list)


class OptionSetsPayload(RestaurantScopedPayload):
    """``option_sets``: create option sets; without ``option_sets`` they come from the imported menu."""

    option_sets: list[OptionSetSpec] | None = None


class ItemTagsPayload(RestaurantScopedPayload):
    """``item_tags``: tag menu items; without ``tags`` they are inferred from names and descriptions."""

    tags: dict[str, list[str]] | None = None


PAYLOADS: Final[Mapping[str, type[_Payload]]] = {
    "account": AccountPayload,
    "code_generation": CodeGenerationPayload,
    "onboarding_user": OnboardingUserPayload,
    "image_upload": ImageUploadPayload,
    "restaurant_registration": RestaurantRegistrationPayload,
    "website_config": WebsiteConfigPayload,
    "services_config": ServicesConfigPayload,
    "payment_config": PaymentConfigPayload,
    "menu_import": MenuImportPayload,
    "onboarding_sync": OnboardingSyncPayload,
    "option_sets": OptionSetsPayload,
    "item_tags": ItemTagsPayload,
}
"""The payload model of every operation."""
