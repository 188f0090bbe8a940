"""The Yolo Mode configuration: what step 6 registers on Pumpd, as validated pydantic models.

Secrets are plain strings whose field names contain ``password``, ``secret``, ``api_key`` or
``token`` (``redaction.is_secret_name``): the store encrypts such fields at rest and the API shows
them as ``***``. When a configuration comes back with ``***`` in a secret field, ``merge_config``
keeps the stored value.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from onboardflow.domain.redaction import REDACTED, is_secret_name
from onboardflow.errors import InvalidInput

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PHONE = re.compile(r"^\+?[0-9 ()-]{6,20}$")
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$")


class FieldError(ValueError):
    """A cross-field rule broken by one named field (relative to the model that checks it)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def _matching(pattern: re.Pattern[str], message: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(message)
        return value

    return check


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


def _opening_hours(value: dict[str, str]) -> dict[str, str]:
    for day, hours in value.items():
        if day not in _WEEKDAYS:
            raise ValueError(f"unknown day {day!r}; expected one of {', '.join(_WEEKDAYS)}")
        ranges = [part.strip() for part in hours.split(",")]
        if hours != "closed" and not all(_HOURS.match(part) for part in ranges):
            raise ValueError(f"{day}: expected 'closed' or ranges like '11:00-14:00, 17:00-21:00'")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_matching(_PHONE, "must be a phone number: 6 to 20 of digits, spaces and + - ( )")),
    Field(json_schema_extra={"pattern": _PHONE.pattern}),
]
Colour = Annotated[
    str,
    StringConstraints(strip_whitespace=True),
    AfterValidator(_matching(_COLOUR, "must be a colour like #1A2B3C")),
    Field(json_schema_extra={"pattern": _COLOUR.pattern}),
]
HttpUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), AfterValidator(_http_url)]


def _secret(**kwargs: Any) -> Any:
    """A field holding a secret: hidden from repr, write-only in the JSON schema."""
    return Field(repr=False, json_schema_extra={"writeOnly": True, "format": "password"}, **kwargs)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountConfig(_Section):
    """The Pumpd user account that will own the restaurant."""

    email: EmailStr
    password: str = _secret(min_length=8, max_length=200)
    phone: Phone


class RestaurantConfig(_Section):
    """The restaurant as registered on Pumpd."""

    name: Text
    address: Text
    city: Text
    phone: Phone
    email: EmailStr
    cuisine: Text
    opening_hours: Annotated[dict[str, str], AfterValidator(_opening_hours)] | None = Field(
        default=None, description="weekday -> 'closed' or 'HH:MM-HH:MM[, HH:MM-HH:MM]'"
    )


class MenuConfig(_Section):
    """Whether and from where to import the menu."""

    import_menu: bool = True
    source: Literal["extracted", "csv", "none"] = "extracted"
    csv_url: HttpUrl | None = None

    @model_validator(mode="after")
    def _check_source(self) -> Self:
        if self.import_menu and self.source == "none":
            raise FieldError("source", "choose a menu source, or turn import_menu off")
        if self.import_menu and self.source == "csv" and not self.csv_url:
            raise FieldError("csv_url", "required when the menu source is csv")
        return self


class OptionSetsConfig(_Section):
    """Whether to create the menu's option sets."""

    enabled: bool = True


class ItemTagsConfig(_Section):
    """Whether to apply item tags to the menu."""

    enabled: bool = True


class WebsiteConfig(_Section):
    """The restaurant's ordering website."""

    theme: Literal["light", "dark"] = "light"
    primary_colour: Colour
    secondary_colour: Colour
    logo_url: HttpUrl | None = None


class ServicesConfig(_Section):
    """The order types the restaurant offers; at least one."""

    delivery: bool = True
    pickup: bool = True
    dine_in: bool = False

    @model_validator(mode="after")
    def _check_any(self) -> Self:
        if not (self.delivery or self.pickup or self.dine_in):
            raise ValueError("turn on at least one of delivery, pickup, dine_in")
        return self


class PaymentConfig(_Section):
    """How the restaurant takes payment."""

    provider: Literal["stripe", "cash", "none"] = "none"
    stripe_api_key: str | None = _secret(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _check_key(self) -> Self:
        if self.provider == "stripe" and not self.stripe_api_key:
            raise FieldError("stripe_api_key", "required when the provider is stripe")
        return self


class OnboardingConfig(_Section):
    """The optional onboarding user and its sync to the restaurant."""

    create_user: bool = False
    sync: bool = False
    user_email: EmailStr | None = None
    user_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None

    @model_validator(mode="after")
    def _check_user(self) -> Self:
        if self.create_user and not self.user_email:
            raise FieldError("user_email", "required when create_user is on")
        return self


class YoloConfig(_Section):
    """Everything step 6 needs to register one restaurant on Pumpd."""

    account: AccountConfig
    restaurant: RestaurantConfig
    menu: MenuConfig = Field(default_factory=MenuConfig)
    option_sets: OptionSetsConfig = Field(default_factory=OptionSetsConfig)
    item_tags: ItemTagsConfig = Field(default_factory=ItemTagsConfig)
    website: WebsiteConfig
    services: ServicesConfig = Field(default_factory=ServicesConfig)
    payment: PaymentConfig = Field(default_factory=PaymentConfig)
    onboarding: OnboardingConfig = Field(default_factory=OnboardingConfig)


def invalid_input_from(error: ValidationError, *, root: str = "") -> InvalidInput:
    """An ``InvalidInput`` naming the dotted field of the first error and carrying all of them.

    ``root`` names errors about the input as a whole (for instance not being an object). Messages never
    include the rejected value, which may be a secret.
    """
    errors: list[dict[str, Any]] = []
    for item in error.errors(include_url=False, include_input=False):
        location = [str(part) for part in item["loc"]]
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            location.append(cause.field)
        message = str(item["msg"]).removeprefix("Value error, ")
        errors.append({"field": ".".join(location) or root, "message": message})
    first = errors[0] if errors else {"field": root, "message": "invalid"}
    return InvalidInput(first["field"], first["message"], errors=errors)


def validate_yolo_config(data: Mapping[str, Any]) -> YoloConfig:
    """Validate a complete configuration; ``InvalidInput`` names the first bad field (``account.email``)."""
    try:
        return YoloConfig.model_validate(data)
    except ValidationError as error:
        raise invalid_input_from(error, root="config") from None


def merge_config(prefilled: Mapping[str, Any], partial: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``partial`` over ``prefilled`` into a new dict; neither input is changed.

    Nested objects merge key by key; any other value in ``partial`` (lists, ``None`` included)
    replaces the prefilled one, so leaving a field out keeps it and sending ``null`` clears it. A
    secret field sent back as ``***`` keeps the prefilled secret.
    """
    merged: dict[str, Any] = copy.deepcopy(dict(prefilled))
    for key, value in partial.items():
        existing = merged.get(key)
        if isinstance(value, Mapping) and isinstance(existing, Mapping):
            merged[key] = merge_config(existing, value)
        elif value == REDACTED and is_secret_name(str(key)) and key in merged:
            continue
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def config_json_schema() -> dict[str, Any]:
    """The JSON schema of a complete Yolo Mode configuration."""
    return YoloConfig.model_json_schema()


def partial_config_json_schema() -> dict[str, Any]:
    """The JSON schema of a partial configuration: the complete one with nothing required."""
    schema: dict[str, Any] = _without_required(config_json_schema())
    return schema


def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            key: _without_required(value)
            for key, value in schema.items()
            if not (key == "required" and isinstance(value, list))
        }
    if isinstance(schema, list):
        return [_without_required(value) for value in schema]
    return schema
