"""The request each Yolo Mode sub-step sends to Pumpd (SPEC §3.1), built from what is known when it runs.

``build_payload`` reads the Yolo Mode configuration (secrets decrypted), the restaurant row and the
results of the sub-steps that already completed (``{"data", "ids", "warning"}``, as ``PumpdResult``
holds them) and returns a JSON-able payload in the shape ``adapters.pumpd.payloads`` describes for the
operation (the domain may not import that module; the tests check every payload against it). Fields
without a value are left out, so Pumpd's defaults apply.

Where each operation's payload comes from:

- ``account``: ``config.account`` (email, password, phone) and the restaurant's ``contact_name``;
- ``code_generation``: ``config.restaurant.name``;
- ``onboarding_user``: ``config.onboarding.user_email`` and ``user_name`` (else the restaurant's
  ``contact_name``);
- ``image_upload``: the logo (``config.website.logo_url``, else the branding's ``cdn_logo_url``, else
  its ``logo_url``) and, when the extracted menu is imported, every distinct item image of the stored menu;
- ``restaurant_registration``: ``config.restaurant`` and ``pumpd_user_id`` from ``account``;
- ``website_config``: ``config.website``, ``site_code`` from ``code_generation``, the uploaded logo's URL
  from ``image_upload``;
- ``services_config``: ``config.services``;
- ``payment_config``: ``config.payment`` (provider ``none`` sends no provider and no key: payments stay in
  test mode) and the stored menu's currency;
- ``menu_import``: the stored menu as the extraction's ``Menu`` (``restaurant_name`` and ``source_url``
  from the restaurant; item images replaced by their uploaded URLs from ``image_upload``);
- ``onboarding_sync``: ``onboarding_user_id`` from ``onboarding_user``;
- ``option_sets``: one option set per distinct option group of the stored menu, with the items offering it;
- ``item_tags``: the stored menu's item tags by item name.

Every operation after ``restaurant_registration`` also carries its ``pumpd_restaurant_id``. An operation
whose required predecessors (``substeps.SUB_STEPS``) have not completed, or whose inputs are missing,
raises ``PermanentError`` naming what it needs. Pure and deterministic: equal inputs give equal payloads,
so a retried sub-step sends the same request under the same idempotency key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from onboardflow.domain.menus import MenuData, normalise_menu
from onboardflow.domain.redaction import redact
from onboardflow.domain.substeps import SUB_STEP_KEYS, sub_step_by_key
from onboardflow.domain.yolo_config import YoloConfig, validate_yolo_config
from onboardflow.errors import InvalidInput, PermanentError

_OUTPUTS: Final[Mapping[str, str]] = {
    "account": "pumpd_user_id",
    "code_generation": "site_code",
    "onboarding_user": "onboarding_user_id",
    "image_upload": "the uploaded images",
    "restaurant_registration": "pumpd_restaurant_id",
    "menu_import": "the imported menu",
}
"""What a sub-step's successors take from its result, for error messages."""
_URL: Final = re.compile(r"^https?://\S+$")
_CURRENCY: Final = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Inputs:
    """Everything one payload is built from."""

    operation: str
    config: YoloConfig
    restaurant: Mapping[str, Any]
    results: Mapping[str, Mapping[str, Any]]

    def fail(self, message: str, **details: Any) -> NoReturn:
        """Raise ``PermanentError`` with ``message`` about this operation."""
        raise PermanentError(f"{self.operation} {message}", details={"operation": self.operation, **details})

    def result(self, key: str) -> Mapping[str, Any]:
        """The result of completed sub-step ``key``."""
        found = self.results.get(key)
        if not isinstance(found, Mapping):
            needed = _OUTPUTS.get(key, "the result")
            self.fail(f"needs {needed} from {key}, which has not completed", needs=key)
        return found

    def _part(self, key: str, part: str, name: str) -> Any:
        section = self.result(key).get(part)
        value = section.get(name) if isinstance(section, Mapping) else None
        if value is None or value == "":
            self.fail(f"needs {name} from {key}, whose result has none", needs=key)
        return value

    def id_from(self, key: str, name: str) -> str:
        """The id ``name`` that sub-step ``key`` returned."""
        return str(self._part(key, "ids", name))

    def data_from(self, key: str, name: str) -> Any:
        """The data field ``name`` that sub-step ``key`` returned."""
        return self._part(key, "data", name)

    def restaurant_id(self) -> str:
        """The Pumpd restaurant id that ``restaurant_registration`` returned."""
        return self.id_from("restaurant_registration", "pumpd_restaurant_id")

    def stored_menu(self) -> MenuData | None:
        """The restaurant's canonical menu, ``None`` when none is stored; an error when it is invalid."""
        raw = self.restaurant.get("menu")
        if raw is None:
            return None
        try:
            return normalise_menu(raw)
        except InvalidInput as error:
            self.fail(f"cannot read the restaurant's stored menu: {error.message}")


def build_payload(
    operation: str,
    *,
    config: Mapping[str, Any] | YoloConfig,
    restaurant: Mapping[str, Any],
    results: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The payload Pumpd's ``operation`` accepts (sources in the module docstring).

    ``PermanentError`` for an unknown operation, an invalid configuration, a required predecessor that
    has not completed, or a missing input.
    """
    builder = _BUILDERS.get(operation)
    if builder is None:
        raise PermanentError(
            f"unknown operation {operation!r}; expected one of {', '.join(SUB_STEP_KEYS)}",
            details={"operation": operation},
        )
    try:
        checked = config if isinstance(config, YoloConfig) else validate_yolo_config(config)
    except InvalidInput as error:
        raise PermanentError(
            f"{operation} cannot use the configuration: {error.message}",
            details={"operation": operation, "field": error.field},
        ) from None
    inputs = _Inputs(operation=operation, config=checked, restaurant=restaurant, results=results)
    spec = sub_step_by_key(operation)
    for key in spec.after:
        if key not in spec.optional_after:
            inputs.result(key)
    return {name: value for name, value in builder(inputs).items() if value is not None}


def describe_request(operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` as the registration log records it for ``operation``: a copy with secrets redacted."""
    if operation not in _BUILDERS:
        raise PermanentError(f"unknown operation {operation!r}", details={"operation": operation})
    described: dict[str, Any] = redact(dict(payload))
    return described


# --- small readers -----------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    """``value`` stripped, or ``None`` when it is not a non-blank string."""
    return (value.strip() or None) if isinstance(value, str) else None


def _url(value: object) -> str | None:
    text = _text(value)
    return text if text is not None and _URL.match(text) else None


def _branding(restaurant: Mapping[str, Any]) -> Mapping[str, Any]:
    branding = restaurant.get("branding")
    return branding if isinstance(branding, Mapping) else {}


def _logo_source(inputs: _Inputs) -> str | None:
    branding = _branding(inputs.restaurant)
    return (
        _url(inputs.config.website.logo_url)
        or _url(branding.get("cdn_logo_url"))
        or _url(branding.get("logo_url"))
    )


def _imports_extracted_menu(config: YoloConfig) -> bool:
    return config.menu.import_menu and config.menu.source == "extracted"


def _uploaded(inputs: _Inputs, kind: str) -> dict[str, str]:
    """Source URL -> uploaded URL of the images of ``kind`` that ``image_upload`` returned."""
    data = inputs.result("image_upload").get("data")
    images = data.get("images") if isinstance(data, Mapping) else None
    found: dict[str, str] = {}
    for image in images if isinstance(images, list) else []:
        if isinstance(image, Mapping) and image.get("kind") == kind:
            source, url = _url(image.get("source_url")), _url(image.get("url"))
            if source is not None and url is not None:
                found.setdefault(source, url)
    return found


# --- builders ----------------------------------------------------------------------------------------


def _account(inputs: _Inputs) -> dict[str, Any]:
    account = inputs.config.account
    return {
        "email": account.email,
        "password": account.password,
        "phone": account.phone,
        "name": _text(inputs.restaurant.get("contact_name")),
    }


def _code_generation(inputs: _Inputs) -> dict[str, Any]:
    return {"restaurant_name": inputs.config.restaurant.name}


def _onboarding_user(inputs: _Inputs) -> dict[str, Any]:
    onboarding = inputs.config.onboarding
    if not onboarding.user_email:
        inputs.fail("needs onboarding.user_email in the configuration")
    name = _text(onboarding.user_name) or _text(inputs.restaurant.get("contact_name"))
    if name is None:
        inputs.fail(
            "needs a name: onboarding.user_name in the configuration or the restaurant's contact_name"
        )
    return {"email": onboarding.user_email, "name": name}


def _image_upload(inputs: _Inputs) -> dict[str, Any]:
    images: list[dict[str, str]] = []
    logo = _logo_source(inputs)
    if logo is not None:
        images.append({"source_url": logo, "kind": "logo"})
    menu = inputs.stored_menu() if _imports_extracted_menu(inputs.config) else None
    if menu is not None:
        seen: set[str] = set()
        for category in menu["categories"]:
            for item in category["items"]:
                url = item["image_url"]
                if url is not None and url not in seen:
                    seen.add(url)
                    images.append({"source_url": url, "kind": "menu_item"})
    return {"images": images}


def _restaurant_registration(inputs: _Inputs) -> dict[str, Any]:
    restaurant = inputs.config.restaurant
    return {
        "pumpd_user_id": inputs.id_from("account", "pumpd_user_id"),
        "name": restaurant.name,
        "address": restaurant.address,
        "city": restaurant.city,
        "phone": restaurant.phone,
        "email": restaurant.email,
        "cuisine": restaurant.cuisine,
        "opening_hours": restaurant.opening_hours,
    }


def _website_config(inputs: _Inputs) -> dict[str, Any]:
    website = inputs.config.website
    return {
        "pumpd_restaurant_id": inputs.restaurant_id(),
        "site_code": inputs.data_from("code_generation", "site_code"),
        "theme": website.theme,
        "primary_colour": website.primary_colour,
        "secondary_colour": website.secondary_colour,
        "logo_url": next(iter(_uploaded(inputs, "logo").values()), None),
    }


def _services_config(inputs: _Inputs) -> dict[str, Any]:
    services = inputs.config.services
    return {
        "pumpd_restaurant_id": inputs.restaurant_id(),
        "delivery": services.delivery,
        "pickup": services.pickup,
        "dine_in": services.dine_in,
    }


def _payment_config(inputs: _Inputs) -> dict[str, Any]:
    payment = inputs.config.payment
    menu = inputs.restaurant.get("menu")
    currency = menu.get("currency") if isinstance(menu, Mapping) else None
    payload: dict[str, Any] = {
        "pumpd_restaurant_id": inputs.restaurant_id(),
        "currency": currency if isinstance(currency, str) and _CURRENCY.match(currency) else None,
    }
    if payment.provider == "stripe":
        payload |= {"provider": "stripe", "api_key": payment.stripe_api_key}
    elif payment.provider == "cash":
        payload["provider"] = "cash"
    return payload


def _menu_import(inputs: _Inputs) -> dict[str, Any]:
    source = inputs.config.menu.source
    if source != "extracted":
        inputs.fail(
            f"cannot import a menu from source {source!r}: only the restaurant's stored (extracted) menu "
            "can be imported; a CSV menu must be parsed into the restaurant's menu first"
        )
    menu = inputs.stored_menu()
    if menu is None:
        inputs.fail("needs the restaurant's extracted menu (menu.source is 'extracted'), and none is stored")
    if not any(category["items"] for category in menu["categories"]):
        inputs.fail("needs a menu with items, and the restaurant's stored menu has none")
    restaurant = inputs.restaurant
    return {
        "pumpd_restaurant_id": inputs.restaurant_id(),
        "menu": _extraction_menu(
            menu,
            restaurant_name=_text(restaurant.get("name")) or inputs.config.restaurant.name,
            source_url=_text(restaurant.get("marketplace_url")) or _text(restaurant.get("website")) or "",
            image_urls=_uploaded(inputs, "menu_item"),
        ),
    }


def _onboarding_sync(inputs: _Inputs) -> dict[str, Any]:
    return {
        "pumpd_restaurant_id": inputs.restaurant_id(),
        "onboarding_user_id": inputs.id_from("onboarding_user", "onboarding_user_id"),
    }


def _option_sets(inputs: _Inputs) -> dict[str, Any]:
    menu = inputs.stored_menu()
    return {
        "pumpd_restaurant_id": inputs.restaurant_id(),
        "option_sets": _option_sets_of(menu) if menu is not None else None,
    }


def _item_tags(inputs: _Inputs) -> dict[str, Any]:
    menu = inputs.stored_menu()
    return {
        "pumpd_restaurant_id": inputs.restaurant_id(),
        "tags": _item_tags_of(menu) if menu is not None else None,
    }


_BUILDERS: Final[Mapping[str, Callable[[_Inputs], dict[str, Any]]]] = {
    "account": _account,
    "code_generation": _code_generation,
    "onboarding_user": _onboarding_user,
    "image_upload": _image_upload,
    "restaurant_registration": _restaurant_registration,
    "website_config": _website_config,
    "services_config": _services_config,
    "payment_config": _payment_config,
    "menu_import": _menu_import,
    "onboarding_sync": _onboarding_sync,
    "option_sets": _option_sets,
    "item_tags": _item_tags,
}


# --- menu conversions --------------------------------------------------------------------------------


def _extraction_menu(
    menu: MenuData, *, restaurant_name: str, source_url: str, image_urls: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A canonical menu as the extraction's ``Menu`` in JSON: groups get ``min_select``/``max_select``,
    a blank description becomes ``None``, item ids are dropped and each image URL found in
    ``image_urls`` is replaced by its value (its uploaded copy)."""
    replaced = image_urls or {}

    def item_of(item: Mapping[str, Any]) -> dict[str, Any]:
        image = item["image_url"]
        return {
            "name": item["name"],
            "price": item["price"],
            "description": item["description"] or None,
            "image_url": replaced.get(image, image) if image is not None else None,
            "tags": list(item["tags"]),
            "option_groups": [
                {
                    "name": group["name"],
                    "required": group["required"],
                    "min_select": group["min"],
                    "max_select": group["max"],
                    "options": [dict(option) for option in group["options"]],
                }
                for group in item["option_groups"]
            ],
        }

    return {
        "restaurant_name": restaurant_name,
        "source_url": source_url,
        "currency": menu["currency"],
        "categories": [
            {"name": category["name"], "items": [item_of(item) for item in category["items"]]}
            for category in menu["categories"]
        ],
    }


def _option_sets_of(menu: MenuData) -> list[dict[str, Any]]:
    """One option set per distinct option group of a canonical menu (same name, settings and options),
    with the names of the items offering it, in menu order; a name shared by different groups gets
    " (2)", " (3)", ... on its later sets."""
    sets: dict[tuple[Any, ...], dict[str, Any]] = {}
    for category in menu["categories"]:
        for item in category["items"]:
            for group in item["option_groups"]:
                options = tuple((option["name"], option["price_delta"]) for option in group["options"])
                key = (group["name"].casefold(), group["required"], group["min"], group["max"], options)
                found = sets.setdefault(
                    key,
                    {
                        "name": group["name"],
                        "required": group["required"],
                        "min_select": group["min"],
                        "max_select": group["max"],
                        "options": [{"name": name, "price_delta": delta} for name, delta in options],
                        "item_names": [],
                    },
                )
                if item["name"] not in found["item_names"]:
                    found["item_names"].append(item["name"])
    counts: dict[str, int] = {}
    for spec in sets.values():
        count = counts[spec["name"].casefold()] = counts.get(spec["name"].casefold(), 0) + 1
        if count > 1:
            spec["name"] = f"{spec['name']} ({count})"
    return list(sets.values())


def _item_tags_of(menu: MenuData) -> dict[str, list[str]]:
    """Item name -> its tags (sorted; the union when a name repeats) for every tagged item of a menu."""
    tags: dict[str, set[str]] = {}
    for category in menu["categories"]:
        for item in category["items"]:
            if item["tags"]:
                tags.setdefault(item["name"], set()).update(item["tags"])
    return {name: sorted(values) for name, values in tags.items()}
