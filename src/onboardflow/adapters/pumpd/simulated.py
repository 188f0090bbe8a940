"""An in-memory Pumpd: accounts by email, restaurants by account, site codes, menus, option sets, tags.

Behaviour the contract tests pin:

- the same idempotency key for the same operation replays the stored answer with no second effect
  (a different payload under a used key is a ``PermanentError``, as with real idempotent APIs), for
  the latest ``REPLIES_KEPT`` answers: like a real service's idempotency window, a key much older
  than that is new again (and an account or restaurant made under it then exists: already done);
- creating an account (same email), onboarding user (same email) or restaurant (same account and
  name) that exists, under another key, raises ``AlreadyDoneError`` with the existing ids;
- a payload that breaks ``pumpd.payloads`` raises ``PermanentError`` naming the fields.

Ids are derived from the seed and the content (``usr_`` + 12 hex digits from the email, ...), so a
run is reproducible. The state lives in memory and is lost on restart; an operation on a well-formed
id this Pumpd does not know (issued before a restart) adopts it rather than failing, so a pipeline
resumed after a restart can finish. ``snapshot``/``restore`` carry the state across processes.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from onboardflow.adapters import wire
from onboardflow.adapters.cdn.simulated import simulated_image
from onboardflow.adapters.extraction.protocol import Menu
from onboardflow.adapters.hashing import stable_hex, stable_unit
from onboardflow.adapters.pumpd import payloads as p
from onboardflow.adapters.pumpd.protocol import PumpdResult, check_operation
from onboardflow.adapters.simulation import Effect, Simulation
from onboardflow.errors import AlreadyDoneError, PermanentError

ADMIN_URL: Final = "https://admin.pumpd.example"
SITE_DOMAIN: Final = "pumpd.example"

# fmt: off
_MEAT = ("chicken", "beef", "pork", "lamb", "bacon", "ham", "pepperoni", "prawn", "shrimp", "fish",
         "salmon", "tuna", "duck", "sausage", "chorizo", "anchov", "salami", "mince", "meat", "katsu",
         "teriyaki")
# fmt: on
_VEGETARIAN = (
    "vegetarian",
    "veggie",
    "vege",
    "margherita",
    "mushroom",
    "paneer",
    "tofu",
    "falafel",
    "halloumi",
    "dal",
    "aloo",
    "avocado",
    "edamame",
    "kumara",
)  # fmt: skip
_SPICY = ("spicy", "chilli", "chili", "vindaloo", "jalapeño", "jalapeno", "sriracha", "peri peri", "diablo",
          "hot sauce", "szechuan", "laksa")  # fmt: skip
_DRINK_CATEGORIES = ("drinks", "beverages", "cold drinks", "hot drinks", "coffee")


REPLIES_KEPT = 20_000
"""How many answers the simulated Pumpd keeps for replay, the latest (about 1 to 3 KB each): a worker
on the simulated services runs for days, and a batch of 1,000 restaurants stores some 10,000. A
retry replays within minutes, some hundreds of calls later."""


@dataclass(slots=True)
class PumpdState:
    """Everything the simulated Pumpd knows; JSON-able."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    onboarding_users: dict[str, dict[str, Any]] = field(default_factory=dict)
    restaurants: dict[str, dict[str, Any]] = field(default_factory=dict)
    site_codes: dict[str, str | None] = field(default_factory=dict)
    menus: dict[str, dict[str, Any]] = field(default_factory=dict)
    option_sets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    item_tags: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    replies: dict[str, dict[str, str]] = field(default_factory=dict)
    """Stored answers by ``operation`` + idempotency key: ``{"fingerprint": ..., "result": ...}``,
    the result as JSON text (a record of every call as text, not as nested dicts and lists that the
    garbage collector walks at each full collection of a long-running worker)."""


class SimulatedPumpd:
    """The simulated Pumpd; shares a ``Simulation`` (faults, latency, call log) with the other services."""

    service = "pumpd"

    def __init__(
        self, simulation: Simulation, *, state: PumpdState | None = None, replies_kept: int = REPLIES_KEPT
    ) -> None:
        self._sim = simulation
        self.state = state or PumpdState()
        self._replies_kept = replies_kept
        self._handlers: Mapping[str, Callable[[Any], PumpdResult]] = {
            "account": self._account,
            "code_generation": self._code_generation,
            "onboarding_user": self._onboarding_user,
            "image_upload": self._image_upload,
            "restaurant_registration": self._restaurant_registration,
            "website_config": self._website_config,
            "services_config": self._services_config,
            "payment_config": self._payment_config,
            "menu_import": self._menu_import,
            "onboarding_sync": self._onboarding_sync,
            "option_sets": self._option_sets,
            "item_tags": self._item_tags,
        }

    def reset(self) -> None:
        """Forget everything."""
        self.state = PumpdState()

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON-able data."""
        return dataclasses.asdict(self.state)

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from a ``snapshot``."""
        self.state = PumpdState(**copy.deepcopy(dict(data)))

    async def run(self, operation: str, payload: Mapping[str, Any], *, idempotency_key: str) -> PumpdResult:
        """Run one operation (see the module docstring for replay and already-exists rules)."""
        check_operation(operation)
        if not idempotency_key:
            raise PermanentError(f"pumpd {operation}: an idempotency key is required")
        fingerprint = _fingerprint(payload)

        def effect() -> tuple[PumpdResult, Effect]:
            reply_key = f"{operation}:{idempotency_key}"
            stored = self.state.replies.get(reply_key)
            if stored is not None:
                if stored["fingerprint"] != fingerprint:
                    message = f"idempotency key {idempotency_key!r} was used with another payload"
                    raise PermanentError(f"pumpd {operation}: {message}")
                return _result(json.loads(stored["result"])), "replayed"
            request = _validate(operation, payload)
            result = self._handlers[operation](request)
            stored_result = json.dumps(result.to_dict())
            replies = self.state.replies
            replies[reply_key] = {"fingerprint": fingerprint, "result": stored_result}
            while len(replies) > self._replies_kept:
                del replies[next(iter(replies))]  # the oldest: dicts keep their insertion order
            return result, "ok"

        return await self._sim.call(
            self.service,
            operation,
            idempotency_key,
            effect,
            existing=lambda: self._existing_ids(operation, payload),
        )

    # Ids are functions of the seed and the content, so a re-run with the same seed gets the same ids.

    def _user_id(self, email: str) -> str:
        return f"usr_{stable_hex(self._sim.seed, 'user', email.lower())}"

    def _restaurant_id(self, user_id: str, name: str) -> str:
        return f"rst_{stable_hex(self._sim.seed, 'restaurant', user_id, _name_key(name))}"

    def _onboarding_user_id(self, email: str) -> str:
        return f"onb_{stable_hex(self._sim.seed, 'onboarding', email.lower())}"

    def _existing_ids(self, operation: str, payload: Mapping[str, Any]) -> dict[str, str]:
        """The ids an injected ``already_exists`` fault reports: those the operation would have made."""
        email, name = str(payload.get("email", "")), str(payload.get("name", ""))
        user_id, restaurant_id = payload.get("pumpd_user_id"), payload.get("pumpd_restaurant_id")
        if operation == "account" and email:
            return {"pumpd_user_id": self._find_user(email) or self._user_id(email)}
        if operation == "onboarding_user" and email:
            return {"onboarding_user_id": self._onboarding_user_id(email)}
        if operation == "restaurant_registration" and isinstance(user_id, str) and name:
            return {"pumpd_restaurant_id": self._restaurant_id(user_id, name), "pumpd_user_id": user_id}
        return {"pumpd_restaurant_id": restaurant_id} if isinstance(restaurant_id, str) else {}

    def _find_user(self, email: str) -> str | None:
        wanted = email.lower()
        return next((uid for uid, user in self.state.users.items() if user.get("email") == wanted), None)

    def _user(self, user_id: str) -> dict[str, Any]:
        return self.state.users.setdefault(user_id, {"id": user_id, "adopted": True})

    def _restaurant(self, restaurant_id: str) -> dict[str, Any]:
        return self.state.restaurants.setdefault(restaurant_id, {"id": restaurant_id, "adopted": True})

    def _reserve_code(self, wanted: str) -> str:
        base = _slug(wanted)[:32].strip("-") or "site"
        code, number = base, 2
        while code in self.state.site_codes:
            code, number = f"{base}-{number}", number + 1
        self.state.site_codes[code] = None
        return code

    def _account(self, request: p.AccountPayload) -> PumpdResult:
        email = request.email.lower()
        found = self._find_user(email)
        if found is not None:
            raise AlreadyDoneError(
                f"pumpd account: {email} already has an account", existing={"pumpd_user_id": found}
            )
        user_id = self._user_id(email)
        created = self._sim.now().isoformat()
        self.state.users[user_id] = {
            "id": user_id,
            "email": email,
            "name": request.name,
            "phone": request.phone,
            "created_at": created,
        }
        data = {"user_id": user_id, "email": email, "name": request.name, "login_url": f"{ADMIN_URL}/login"}
        return PumpdResult(data={**data, "created_at": created}, ids={"pumpd_user_id": user_id})

    def _code_generation(self, request: p.CodeGenerationPayload) -> PumpdResult:
        wanted = request.preferred_code or request.restaurant_name
        code = self._reserve_code(wanted)
        warning = None if code == _slug(wanted)[:32].strip("-") else f"site code {_slug(wanted)!r} was taken"
        data = {
            "site_code": code,
            "subdomain": f"{code}.{SITE_DOMAIN}",
            "website_url": f"https://{code}.{SITE_DOMAIN}",
        }
        return PumpdResult(data=data, warning=warning and f"{warning}; reserved {code!r}")

    def _onboarding_user(self, request: p.OnboardingUserPayload) -> PumpdResult:
        email = request.email.lower()
        user_id = self._onboarding_user_id(email)
        if user_id in self.state.onboarding_users and not self.state.onboarding_users[user_id].get("adopted"):
            raise AlreadyDoneError(
                f"pumpd onboarding_user: {email} is already an onboarding user",
                existing={"onboarding_user_id": user_id},
            )
        self.state.onboarding_users[user_id] = {"id": user_id, "email": email, "name": request.name}
        token = stable_hex(self._sim.seed, "invite", user_id, length=20)
        invite = f"https://onboarding.{SITE_DOMAIN}/invite/{token}"
        data = {"onboarding_user_id": user_id, "email": email, "name": request.name, "invite_url": invite}
        return PumpdResult(data=data, ids={"onboarding_user_id": user_id})

    def _image_upload(self, request: p.ImageUploadPayload) -> PumpdResult:
        uploaded = []
        for image in request.images:
            stored = simulated_image(image.source_url, image.kind, seed=self._sim.seed)
            uploaded.append({"source_url": image.source_url, "kind": image.kind, **wire.dump(stored)})
        warning = None if uploaded else "no images to upload"
        return PumpdResult(data={"images": uploaded, "count": len(uploaded)}, warning=warning)

    def _restaurant_registration(self, request: p.RestaurantRegistrationPayload) -> PumpdResult:
        user_id = request.pumpd_user_id
        self._user(user_id)
        key = _name_key(request.name)
        for restaurant_id, restaurant in self.state.restaurants.items():
            if restaurant.get("user_id") == user_id and restaurant.get("name_key") == key:
                raise AlreadyDoneError(
                    f"pumpd restaurant_registration: {request.name!r} is already registered on this account",
                    existing={"pumpd_restaurant_id": restaurant_id, "pumpd_user_id": user_id},
                )
        restaurant_id = self._restaurant_id(user_id, request.name)
        fields = request.model_dump(mode="json", include={"address", "city", "phone", "email", "cuisine"})
        self.state.restaurants[restaurant_id] = {
            "id": restaurant_id,
            "user_id": user_id,
            "name": request.name,
            "name_key": key,
            **fields,
            "opening_hours": request.opening_hours,
        }
        data = {
            "restaurant_id": restaurant_id,
            "name": request.name,
            "status": "draft",
            "admin_url": f"{ADMIN_URL}/restaurants/{restaurant_id}",
        }
        return PumpdResult(data=data, ids={"pumpd_restaurant_id": restaurant_id, "pumpd_user_id": user_id})

    def _website_config(self, request: p.WebsiteConfigPayload) -> PumpdResult:
        restaurant = self._restaurant(request.pumpd_restaurant_id)
        code = request.site_code or restaurant.get("site_code")
        warning = None
        if code is None:
            code = self._reserve_code(str(restaurant.get("name") or request.pumpd_restaurant_id))
            warning = f"no site code given; reserved {code!r}"
        owner = self.state.site_codes.get(code)
        if owner not in (None, request.pumpd_restaurant_id):
            raise PermanentError(f"pumpd website_config: site code {code!r} belongs to another restaurant")
        self.state.site_codes[code] = request.pumpd_restaurant_id
        website = {
            "site_code": code,
            "website_url": f"https://{code}.{SITE_DOMAIN}",
            "theme": request.theme,
            "primary_colour": request.primary_colour or "#1f2937",
            "secondary_colour": request.secondary_colour or "#f59e0b",
            "logo_url": request.logo_url,
        }
        restaurant["site_code"], restaurant["website"] = code, website
        return PumpdResult(
            data=dict(website), ids={"pumpd_restaurant_id": request.pumpd_restaurant_id}, warning=warning
        )

    def _services_config(self, request: p.ServicesConfigPayload) -> PumpdResult:
        if not (request.delivery or request.pickup or request.dine_in):
            raise PermanentError("pumpd services_config: enable at least one of delivery, pickup, dine_in")
        services = request.model_dump(
            mode="json", include={"delivery", "pickup", "dine_in", "delivery_radius_km", "minimum_order"}
        )
        self._restaurant(request.pumpd_restaurant_id)["services"] = services
        return PumpdResult(
            data={"services": services}, ids={"pumpd_restaurant_id": request.pumpd_restaurant_id}
        )

    def _payment_config(self, request: p.PaymentConfigPayload) -> PumpdResult:
        live = request.provider == "cash" or bool(request.api_key)
        payment = {
            "provider": request.provider,
            "mode": "live" if live else "test",
            "currency": request.currency,
            "account_id": request.account_id,
        }
        self._restaurant(request.pumpd_restaurant_id)["payment"] = payment
        warning = None if live else "no payment credentials: payments are in test mode"
        return PumpdResult(
            data=dict(payment), ids={"pumpd_restaurant_id": request.pumpd_restaurant_id}, warning=warning
        )

    def _menu_import(self, request: p.MenuImportPayload) -> PumpdResult:
        restaurant_id, menu = request.pumpd_restaurant_id, request.menu
        if not menu.items:
            raise PermanentError("pumpd menu_import: the menu has no items")
        previous = self.state.menus.get(restaurant_id)
        version = int(previous["version"]) + 1 if previous else 1
        menu_id = f"mnu_{stable_hex(self._sim.seed, 'menu', restaurant_id, version)}"
        item_ids = {
            item.name: f"itm_{stable_hex(self._sim.seed, menu_id, index)}"
            for index, item in enumerate(menu.items)
        }
        self._restaurant(restaurant_id)
        self.state.menus[restaurant_id] = {
            "id": menu_id,
            "version": version,
            "menu": wire.dump(menu),
            "item_ids": item_ids,
        }
        notes = []
        if previous:
            notes.append(f"replaced menu {previous['id']}")
        without_images = sum(1 for item in menu.items if not item.image_url)
        if without_images:
            notes.append(f"{without_images} item(s) have no image")
        data = {
            "menu_id": menu_id,
            "version": version,
            "categories": len(menu.categories),
            "items": len(menu.items),
            "item_ids": item_ids,
        }
        return PumpdResult(
            data=data,
            ids={"pumpd_restaurant_id": restaurant_id, "pumpd_menu_id": menu_id},
            warning="; ".join(notes) or None,
        )

    def _onboarding_sync(self, request: p.OnboardingSyncPayload) -> PumpdResult:
        restaurant = self._restaurant(request.pumpd_restaurant_id)
        self.state.onboarding_users.setdefault(
            request.onboarding_user_id, {"id": request.onboarding_user_id, "adopted": True}
        )
        linked = restaurant.setdefault("onboarding_user_ids", [])
        if request.onboarding_user_id not in linked:
            linked.append(request.onboarding_user_id)
        data = {
            "synced": True,
            "onboarding_user_id": request.onboarding_user_id,
            "restaurant_id": request.pumpd_restaurant_id,
        }
        return PumpdResult(data=data, ids={"pumpd_restaurant_id": request.pumpd_restaurant_id})

    def _menu_of(self, restaurant_id: str) -> Menu | None:
        stored = self.state.menus.get(restaurant_id)
        return wire.load(Menu, stored["menu"]) if stored else None

    def _option_sets(self, request: p.OptionSetsPayload) -> PumpdResult:
        restaurant_id = request.pumpd_restaurant_id
        self._restaurant(restaurant_id)
        menu = self._menu_of(restaurant_id)
        notes: list[str] = []
        if request.option_sets is not None:
            specs = [spec.model_dump(mode="json") for spec in request.option_sets]
        elif menu is None:
            specs, notes = [], ["no menu imported: no option sets derived"]
        else:
            specs = _option_sets_from_menu(menu)
        if menu is not None:
            names = {item.name for item in menu.items}
            unknown = sorted({name for spec in specs for name in spec["item_names"] if name not in names})
            if unknown:
                notes.append(f"not on the menu: {', '.join(unknown)}")
        created = [
            {**spec, "id": f"ops_{stable_hex(self._sim.seed, restaurant_id, 'option_set', spec['name'])}"}
            for spec in specs
        ]
        self.state.option_sets[restaurant_id] = created
        summary = [
            {"id": s["id"], "name": s["name"], "options": len(s["options"]), "items": len(s["item_names"])}
            for s in created
        ]
        return PumpdResult(
            data={"option_sets": summary, "count": len(summary)},
            ids={"pumpd_restaurant_id": restaurant_id},
            warning="; ".join(notes) or None,
        )

    def _item_tags(self, request: p.ItemTagsPayload) -> PumpdResult:
        restaurant_id = request.pumpd_restaurant_id
        self._restaurant(restaurant_id)
        menu = self._menu_of(restaurant_id)
        notes: list[str] = []
        if request.tags is not None:
            tags = {name: sorted(set(values)) for name, values in request.tags.items() if values}
        elif menu is None:
            tags, notes = {}, ["no menu imported: no tags inferred"]
        else:
            tags = _infer_tags(menu, seed=self._sim.seed)
        if menu is not None:
            unknown = sorted(set(tags) - {item.name for item in menu.items})
            if unknown:
                notes.append(f"not on the menu: {', '.join(unknown)}")
        self.state.item_tags[restaurant_id] = tags
        data = {
            "tagged_items": len(tags),
            "tags": sorted({tag for values in tags.values() for tag in values}),
            "tags_by_item": tags,
        }
        return PumpdResult(
            data=data, ids={"pumpd_restaurant_id": restaurant_id}, warning="; ".join(notes) or None
        )


def _validate(operation: str, payload: Mapping[str, Any]) -> BaseModel:
    try:
        return p.PAYLOADS[operation].model_validate(dict(payload))
    except ValidationError as exc:
        # Field names and messages only: pydantic's ``input`` could echo a secret back.
        errors = [
            {"field": ".".join(str(part) for part in error["loc"]) or "payload", "message": error["msg"]}
            for error in exc.errors()
        ]
        summary = "; ".join(f"{error['field']}: {error['message']}" for error in errors[:5])
        raise PermanentError(
            f"pumpd {operation}: invalid payload: {summary}", details={"errors": errors}
        ) from None


def _fingerprint(payload: Mapping[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _result(data: Mapping[str, Any]) -> PumpdResult:
    return PumpdResult(data=dict(data["data"]), ids=dict(data["ids"]), warning=data.get("warning"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("'", "")).strip("-")


def _name_key(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower().replace("'", "")).split())


def _option_sets_from_menu(menu: Menu) -> list[dict[str, Any]]:
    """One option set per distinct option group, applied to every item that offers it."""
    sets: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in menu.items:
        for group in item.option_groups:
            options = tuple((option.name, str(option.price_delta)) for option in group.options)
            key = (group.name, group.required, group.min_select, group.max_select, options)
            found = sets.setdefault(
                key,
                {
                    "name": group.name,
                    "required": group.required,
                    "min_select": group.min_select,
                    "max_select": group.max_select,
                    "options": [{"name": name, "price_delta": delta} for name, delta in options],
                    "item_names": [],
                },
            )
            found["item_names"].append(item.name)
    names: dict[str, int] = {}
    for spec in sets.values():
        count = names[spec["name"]] = names.get(spec["name"], 0) + 1
        if count > 1:
            spec["name"] = f"{spec['name']} ({count})"
    return list(sets.values())


def _infer_tags(menu: Menu, *, seed: int) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for category in menu.categories:
        for item in category.items:
            text = f"{item.name} {item.description or ''}".lower()
            found = set(item.tags)
            if category.name.lower() in _DRINK_CATEGORIES:
                found.add("drink")
            elif not any(word in text for word in _MEAT) and any(word in text for word in _VEGETARIAN):
                found.add("vegetarian")
            if "vegan" in text:
                found.add("vegan")
            if any(word in text for word in _SPICY):
                found.add("spicy")
            if re.search(r"\b(gluten[- ]free|gf)\b", text):
                found.add("gluten_free")
            if stable_unit(seed, "popular", menu.restaurant_name, item.name) < 0.2:
                found.add("popular")
            if found:
                tags[item.name] = sorted(found)
    return tags
