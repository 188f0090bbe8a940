"""The Pumpd request of each Yolo Mode sub-step: built from the configuration, the restaurant row and the
completed sub-steps' results, valid against ``pumpd.payloads`` and accepted by the simulated Pumpd."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from onboardflow.adapters import wire
from onboardflow.adapters.cdn.simulated import CDN_BASE_URL
from onboardflow.adapters.extraction.simulated import generate_branding, generate_menu
from onboardflow.adapters.pumpd.payloads import PAYLOADS
from onboardflow.adapters.pumpd.simulated import SimulatedPumpd
from onboardflow.adapters.simulation import Simulation
from onboardflow.domain.menus import apply_item_tags, normalise_menu
from onboardflow.domain.redaction import REDACTED
from onboardflow.domain.registration_payloads import build_payload, describe_request
from onboardflow.domain.statuses import RegistrationStatus, StepStatus
from onboardflow.domain.substeps import SUB_STEP_KEYS, SUB_STEPS, plan_next
from onboardflow.domain.yolo_config import merge_config, validate_yolo_config
from onboardflow.errors import PermanentError
from tests.domain.conftest import sample_config

SEED = 11
USER_ID = "usr_0123456789ab"
RESTAURANT_ID = "rst_0123456789ab"
ONBOARDING_ID = "onb_0123456789ab"
LOGO_SOURCE = "https://cdn.example.com/joes/logo.png"
LOGO_CDN = "https://cdn.pumpd.example/logos/aaaa.png"


def yolo_config(changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The sample configuration with ``changes`` merged in, validated and dumped as the engine stores it."""
    merged = merge_config(sample_config(), {"item_tags": {"enabled": True}, **(changes or {})})
    return validate_yolo_config(merged).model_dump(mode="json")


def restaurant_row(
    name: str = "Joe's Pizza", url: str = "https://marketplace.example/joes-pizza", cuisine: str = "Pizza"
) -> dict[str, Any]:
    """A restaurant row after extraction and item tagging: the simulated extraction's menu, normalised
    and auto-tagged, and its branding."""
    extracted = generate_menu(url, restaurant_name=name, cuisine=cuisine, seed=SEED)
    menu, _ = apply_item_tags(normalise_menu(wire.dump(extracted)), [{"auto": True}])
    return {
        "name": name,
        "address": "12 Queen Street",
        "city": "Auckland",
        "phone": "09 123 4567",
        "email": "hello@example.co.nz",
        "website": None,
        "cuisine": cuisine,
        "marketplace_url": url,
        "contact_name": "Joe Bloggs",
        "contact_email": "joe@example.co.nz",
        "contact_phone": "021 555 1234",
        "menu": menu,
        "branding": wire.dump(generate_branding(url, restaurant_name=name, seed=SEED)),
        "company": None,
        "pumpd_user_id": None,
        "pumpd_restaurant_id": None,
    }


def small_menu() -> dict[str, Any]:
    """A canonical menu with a shared option group, a same-named different group, tags and images."""
    size = {
        "name": "Size",
        "required": True,
        "min": 1,
        "max": 1,
        "options": [{"name": "Small", "price_delta": "-4.00"}, {"name": "Large", "price_delta": "6.00"}],
    }
    return normalise_menu(
        {
            "currency": "AUD",
            "categories": [
                {
                    "name": "Pizzas",
                    "items": [
                        {
                            "name": "Margherita",
                            "description": "Tomato, basil",
                            "price": "18.00",
                            "image_url": "https://img.example/margherita.jpg",
                            "tags": ["vegetarian"],
                            "option_groups": [size],
                        },
                        {
                            "name": "Diavola",
                            "price": "23.50",
                            "image_url": "https://img.example/diavola.jpg",
                            "tags": ["spicy"],
                            "option_groups": [size],
                        },
                    ],
                },
                {
                    "name": "Drinks",
                    "items": [
                        {
                            "name": "Coke",
                            "price": "4.50",
                            "image_url": "https://img.example/margherita.jpg",
                            "option_groups": [
                                {"name": "Size", "min": 0, "max": 2, "options": [{"name": "Can"}]}
                            ],
                        }
                    ],
                },
            ],
        }
    )


def fake_results(**overrides: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Results of every sub-step as Pumpd shapes them; an override of ``None`` leaves that one out."""
    results: dict[str, Mapping[str, Any]] = {
        "account": {"data": {"user_id": USER_ID}, "ids": {"pumpd_user_id": USER_ID}, "warning": None},
        "code_generation": {"data": {"site_code": "joes-pizza"}, "ids": {}, "warning": None},
        "onboarding_user": {"data": {}, "ids": {"onboarding_user_id": ONBOARDING_ID}, "warning": None},
        "image_upload": {
            "data": {
                "images": [
                    {"source_url": LOGO_SOURCE, "kind": "logo", "url": LOGO_CDN},
                    {
                        "source_url": "https://img.example/margherita.jpg",
                        "kind": "menu_item",
                        "url": "https://cdn.pumpd.example/menu-items/m.jpg",
                    },
                ],
                "count": 2,
            },
            "ids": {},
            "warning": None,
        },
        "restaurant_registration": {
            "data": {},
            "ids": {"pumpd_restaurant_id": RESTAURANT_ID, "pumpd_user_id": USER_ID},
            "warning": None,
        },
        **{
            key: {"data": {}, "ids": {"pumpd_restaurant_id": RESTAURANT_ID}, "warning": None}
            for key in SUB_STEP_KEYS[5:]
        },
    }
    for key, value in overrides.items():
        if value is None:
            results.pop(key)
        else:
            results[key] = value
    return results


def build(
    operation: str,
    *,
    config: Mapping[str, Any] | None = None,
    restaurant: Mapping[str, Any] | None = None,
    results: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``build_payload`` with the samples as defaults, checked against the operation's payload model."""
    payload = build_payload(
        operation,
        config=yolo_config() if config is None else config,
        restaurant={**restaurant_row(), "menu": small_menu()} if restaurant is None else restaurant,
        results=fake_results() if results is None else results,
    )
    PAYLOADS[operation].model_validate(payload)
    return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """What a registration run against the simulated Pumpd sent and got back."""

    pumpd: SimulatedPumpd
    payloads: dict[str, dict[str, Any]]
    results: dict[str, dict[str, Any]]
    outcome: RegistrationStatus


async def run_registration(config: Mapping[str, Any], restaurant: Mapping[str, Any]) -> Run:
    """Run the sub-steps as the scheduler orders them, building each payload from the results so far,
    checking it against the contract and sending it to a simulated Pumpd."""
    pumpd = SimulatedPumpd(Simulation(seed=SEED))
    statuses: dict[str, StepStatus] = {}
    payloads: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    while True:
        plan = plan_next(statuses, config)
        statuses |= {key: StepStatus.SKIPPED for key, _ in plan.skip}
        if plan.outcome is not None:
            return Run(pumpd=pumpd, payloads=payloads, results=results, outcome=plan.outcome)
        assert plan.start, f"nothing to start and no outcome: {statuses}"
        for key in plan.start:
            payload = build_payload(key, config=config, restaurant=restaurant, results=results)
            PAYLOADS[key].model_validate(payload)
            result = await pumpd.run(key, payload, idempotency_key=f"job-1:{key}")
            payloads[key], results[key] = payload, result.to_dict()
            statuses[key] = StepStatus.COMPLETED


# --- against the contract and the simulated Pumpd -----------------------------------------------------

SCENARIOS = {
    "everything on, stripe": ({}, restaurant_row()),
    "cash, branding logo, no onboarding": (
        {
            "payment": {"provider": "cash", "stripe_api_key": None},
            "website": {"logo_url": None},
            "onboarding": {"create_user": False, "sync": False},
        },
        restaurant_row(),
    ),
    "no payment provider, no option sets": (
        {"payment": {"provider": "none", "stripe_api_key": None}, "option_sets": {"enabled": False}},
        restaurant_row("Bangkok Street", "https://marketplace.example/bangkok-street", "Thai"),
    ),
    "own website, no logo anywhere, no branding": (
        {"website": {"logo_url": None}},
        {**restaurant_row("Spice of India", "https://spiceofindia.co.nz", "Indian"), "branding": None},
    ),
}


@pytest.mark.parametrize(("changes", "restaurant"), SCENARIOS.values(), ids=list(SCENARIOS))
async def test_every_sub_step_payload_fits_the_contract_and_the_simulated_pumpd_completes_the_run(
    changes: dict[str, Any], restaurant: dict[str, Any]
) -> None:
    run = await run_registration(yolo_config(changes), restaurant)
    assert run.outcome is RegistrationStatus.COMPLETED
    assert run.payloads  # at least the unconditional sub-steps ran
    for key, payload in run.payloads.items():
        assert json.loads(json.dumps(payload)) == payload, f"{key} payload is not plain JSON"
        assert PAYLOADS[key].model_validate(payload)


async def test_a_full_run_registers_the_stored_menu_with_uploaded_images_option_sets_and_tags() -> None:
    restaurant = restaurant_row()
    menu = restaurant["menu"]
    run = await run_registration(yolo_config(), restaurant)
    assert set(run.results) == set(SUB_STEP_KEYS)
    restaurant_id = run.results["restaurant_registration"]["ids"]["pumpd_restaurant_id"]
    state = run.pumpd.state

    imported = state.menus[restaurant_id]["menu"]
    canonical_items = [item for category in menu["categories"] for item in category["items"]]
    imported_items = [item for category in imported["categories"] for item in category["items"]]
    assert [item["name"] for item in imported_items] == [item["name"] for item in canonical_items]
    assert imported["restaurant_name"] == restaurant["name"]
    assert imported["source_url"] == restaurant["marketplace_url"]
    assert [
        [(group["name"], group["min_select"], group["max_select"]) for group in item["option_groups"]]
        for item in imported_items
    ] == [
        [(group["name"], group["min"], group["max"]) for group in item["option_groups"]]
        for item in canonical_items
    ]
    with_images = [item for item in imported_items if item["image_url"]]
    assert with_images
    assert all(item["image_url"].startswith(CDN_BASE_URL) for item in with_images)

    groups = {
        (group["name"], group["min"], group["max"])
        for item in canonical_items
        for group in item["option_groups"]
    }
    assert {(s["name"], s["min_select"], s["max_select"]) for s in state.option_sets[restaurant_id]} == groups

    expected_tags = {item["name"]: item["tags"] for item in canonical_items if item["tags"]}
    assert expected_tags
    assert state.item_tags[restaurant_id] == expected_tags

    website = state.restaurants[restaurant_id]["website"]
    assert website["site_code"] == run.results["code_generation"]["data"]["site_code"]
    assert website["logo_url"].startswith(CDN_BASE_URL)
    assert website["theme"] == "dark"
    assert restaurant_id in state.option_sets  # option sets and tags ran on the registered restaurant
    assert run.results["onboarding_sync"]["data"]["synced"] is True


async def test_payment_without_a_provider_leaves_pumpd_in_test_mode() -> None:
    config = yolo_config({"payment": {"provider": "none", "stripe_api_key": None}})
    run = await run_registration(config, restaurant_row())
    assert run.results["payment_config"]["data"]["mode"] == "test"


# --- predecessors and missing inputs -------------------------------------------------------------------

REQUIRED = [
    (spec.key, before) for spec in SUB_STEPS for before in spec.after if before not in spec.optional_after
]


@pytest.mark.parametrize(("operation", "missing"), REQUIRED, ids=[f"{o}-{m}" for o, m in REQUIRED])
def test_a_sub_step_whose_required_predecessor_has_not_completed_cannot_be_built(
    operation: str, missing: str
) -> None:
    with pytest.raises(
        PermanentError, match=f"^{operation} needs .* from {missing}, which has not completed"
    ):
        build(operation, results=fake_results(**{missing: None}))


def test_restaurant_registration_before_account_names_the_missing_user_id() -> None:
    with pytest.raises(PermanentError, match="needs pumpd_user_id from account") as caught:
        build("restaurant_registration", results={})
    assert caught.value.details["needs"] == "account"


def test_a_completed_result_without_the_needed_id_is_reported() -> None:
    results = fake_results(account={"data": {}, "ids": {}, "warning": "odd"})
    with pytest.raises(PermanentError, match="needs pumpd_user_id from account, whose result has none"):
        build("restaurant_registration", results=results)


def test_item_tags_need_the_restaurant_id_even_though_they_only_run_after_option_sets() -> None:
    results = fake_results(restaurant_registration=None, option_sets=None)
    with pytest.raises(PermanentError, match="needs pumpd_restaurant_id from restaurant_registration"):
        build("item_tags", results=results)


def test_item_tags_build_without_option_sets_which_only_order_them() -> None:
    payload = build("item_tags", results=fake_results(option_sets=None))
    assert payload["pumpd_restaurant_id"] == RESTAURANT_ID


def test_the_first_phase_needs_no_results() -> None:
    for operation in ("account", "code_generation", "onboarding_user", "image_upload"):
        assert build(operation, results={})


def test_an_unknown_operation_is_permanent() -> None:
    with pytest.raises(PermanentError, match="unknown operation 'menu_export'"):
        build_payload("menu_export", config=yolo_config(), restaurant=restaurant_row(), results={})


def test_an_invalid_configuration_is_permanent_and_names_the_field() -> None:
    config = yolo_config()
    config["account"]["password"] = REDACTED  # a secret that was never decrypted
    with pytest.raises(PermanentError, match=r"account cannot use the configuration: account\.password"):
        build("account", config=config)


# --- each operation ------------------------------------------------------------------------------------


def test_account_takes_the_login_from_the_configuration_and_the_name_from_the_contact() -> None:
    assert build("account") == {
        "email": "owner@joespizza.co.nz",
        "password": "s3cret-pass",
        "phone": "+64 21 123 4567",
        "name": "Joe Bloggs",
    }


def test_account_without_a_contact_name_leaves_the_name_out() -> None:
    payload = build("account", restaurant={**restaurant_row(), "contact_name": "  "})
    assert "name" not in payload


def test_code_generation_uses_the_configured_name_and_lets_pumpd_choose_the_code() -> None:
    assert build("code_generation") == {"restaurant_name": "Joe's Pizza"}


def test_onboarding_user_uses_the_configured_user() -> None:
    assert build("onboarding_user") == {"email": "joe@joespizza.co.nz", "name": "Joe"}


def test_onboarding_user_without_a_configured_name_falls_back_to_the_contact_name() -> None:
    config = yolo_config({"onboarding": {"user_name": None}})
    assert build("onboarding_user", config=config)["name"] == "Joe Bloggs"


def test_onboarding_user_without_any_name_is_permanent() -> None:
    config = yolo_config({"onboarding": {"user_name": ""}})
    with pytest.raises(PermanentError, match=r"onboarding_user needs a name: onboarding\.user_name"):
        build("onboarding_user", config=config, restaurant={**restaurant_row(), "contact_name": None})


def test_onboarding_user_without_an_email_is_permanent() -> None:
    config = yolo_config({"onboarding": {"create_user": False, "user_email": None}})
    with pytest.raises(PermanentError, match=r"needs onboarding\.user_email"):
        build("onboarding_user", config=config)


def test_image_upload_sends_the_configured_logo_and_each_distinct_menu_image_once() -> None:
    assert build("image_upload")["images"] == [
        {"source_url": LOGO_SOURCE, "kind": "logo"},
        {"source_url": "https://img.example/margherita.jpg", "kind": "menu_item"},
        {"source_url": "https://img.example/diavola.jpg", "kind": "menu_item"},
    ]


@pytest.mark.parametrize(
    ("branding", "expected"),
    [
        (
            {"logo_url": "https://m.example/logo.png", "cdn_logo_url": "https://cdn.example/l.png"},
            "https://cdn.example/l.png",
        ),
        ({"logo_url": "https://m.example/logo.png"}, "https://m.example/logo.png"),
        ({"logo_url": "not a url"}, None),
        (None, None),
    ],
)
def test_image_upload_without_a_configured_logo_uses_the_branding_logo(
    branding: dict[str, Any] | None, expected: str | None
) -> None:
    config = yolo_config({"website": {"logo_url": None}})
    restaurant = {**restaurant_row(), "menu": small_menu(), "branding": branding}
    images = build("image_upload", config=config, restaurant=restaurant)["images"]
    logos = [image["source_url"] for image in images if image["kind"] == "logo"]
    assert logos == ([expected] if expected else [])


@pytest.mark.parametrize(
    "menu_config",
    [{"import_menu": False}, {"source": "csv", "csv_url": "https://example.com/menu.csv"}],
    ids=["import off", "csv source"],
)
def test_image_upload_leaves_out_menu_images_when_the_stored_menu_is_not_imported(
    menu_config: dict[str, Any],
) -> None:
    images = build("image_upload", config=yolo_config({"menu": menu_config}))["images"]
    assert [image["kind"] for image in images] == ["logo"]


def test_image_upload_with_nothing_to_upload_sends_an_empty_list() -> None:
    config = yolo_config({"website": {"logo_url": None}})
    restaurant = {**restaurant_row(), "menu": None, "branding": None}
    assert build("image_upload", config=config, restaurant=restaurant)["images"] == []


def test_restaurant_registration_sends_the_configured_restaurant_under_the_new_account() -> None:
    assert build("restaurant_registration") == {
        "pumpd_user_id": USER_ID,
        "name": "Joe's Pizza",
        "address": "12 Queen Street, Auckland Central",
        "city": "Auckland",
        "phone": "09 123 4567",
        "email": "hello@joespizza.co.nz",
        "cuisine": "Pizza",
        "opening_hours": {"monday": "11:00-14:00, 17:00-21:00", "sunday": "closed"},
    }


def test_website_config_uses_the_generated_code_and_the_uploaded_logo() -> None:
    assert build("website_config") == {
        "pumpd_restaurant_id": RESTAURANT_ID,
        "site_code": "joes-pizza",
        "theme": "dark",
        "primary_colour": "#C0FFEE",
        "secondary_colour": "#112233",
        "logo_url": LOGO_CDN,
    }


def test_website_config_without_an_uploaded_logo_sends_none() -> None:
    upload = {"data": {"images": [], "count": 0}, "ids": {}, "warning": "no images to upload"}
    assert "logo_url" not in build("website_config", results=fake_results(image_upload=upload))


def test_website_config_needs_the_site_code() -> None:
    code: dict[str, Any] = {"data": {}, "ids": {}, "warning": None}
    with pytest.raises(PermanentError, match="needs site_code from code_generation, whose result has none"):
        build("website_config", results=fake_results(code_generation=code))


def test_services_config_sends_the_configured_order_types_only() -> None:
    config = yolo_config({"services": {"delivery": False, "dine_in": True}})
    assert build("services_config", config=config) == {
        "pumpd_restaurant_id": RESTAURANT_ID,
        "delivery": False,
        "pickup": True,
        "dine_in": True,
    }


@pytest.mark.parametrize(
    ("payment", "expected"),
    [
        (
            {"provider": "stripe", "stripe_api_key": "sk_live_1"},
            {"provider": "stripe", "api_key": "sk_live_1"},
        ),
        ({"provider": "cash", "stripe_api_key": None}, {"provider": "cash"}),
        ({"provider": "none", "stripe_api_key": None}, {}),
    ],
    ids=["stripe", "cash", "none"],
)
def test_payment_config_maps_the_provider_and_takes_the_menu_currency(
    payment: dict[str, Any], expected: dict[str, Any]
) -> None:
    payload = build("payment_config", config=yolo_config({"payment": payment}))
    assert payload == {"pumpd_restaurant_id": RESTAURANT_ID, "currency": "AUD", **expected}


def test_payment_config_without_a_menu_leaves_the_currency_to_pumpd() -> None:
    payload = build("payment_config", restaurant={**restaurant_row(), "menu": None})
    assert "currency" not in payload


def test_menu_import_converts_the_canonical_menu_to_the_extraction_menu() -> None:
    restaurant = {
        **restaurant_row(),
        "name": "Joe's Pizza Ponsonby",
        "marketplace_url": None,
        "website": "https://joes.example",
        "menu": small_menu(),
    }
    payload = build("menu_import", restaurant=restaurant)
    menu = payload["menu"]
    assert payload["pumpd_restaurant_id"] == RESTAURANT_ID
    assert (menu["restaurant_name"], menu["source_url"], menu["currency"]) == (
        "Joe's Pizza Ponsonby",
        "https://joes.example",
        "AUD",
    )
    margherita, diavola = menu["categories"][0]["items"]
    assert margherita == {
        "name": "Margherita",
        "price": "18.00",
        "description": "Tomato, basil",
        "image_url": "https://cdn.pumpd.example/menu-items/m.jpg",
        "tags": ["vegetarian"],
        "option_groups": [
            {
                "name": "Size",
                "required": True,
                "min_select": 1,
                "max_select": 1,
                "options": [
                    {"name": "Small", "price_delta": "-4.00"},
                    {"name": "Large", "price_delta": "6.00"},
                ],
            }
        ],
    }
    assert diavola["description"] is None  # blank in the canonical menu
    (coke,) = menu["categories"][1]["items"]
    assert coke["option_groups"][0] | {"options": []} == {
        "name": "Size",
        "required": False,
        "min_select": 0,
        "max_select": 2,
        "options": [],
    }
    assert diavola["image_url"] == "https://img.example/diavola.jpg"  # not uploaded: kept


def test_menu_import_without_a_stored_menu_is_permanent() -> None:
    with pytest.raises(PermanentError, match="needs the restaurant's extracted menu"):
        build("menu_import", restaurant={**restaurant_row(), "menu": None})


def test_menu_import_from_a_csv_source_is_permanent() -> None:
    config = yolo_config({"menu": {"source": "csv", "csv_url": "https://example.com/menu.csv"}})
    with pytest.raises(PermanentError, match="cannot import a menu from source 'csv'"):
        build("menu_import", config=config)


def test_menu_import_of_an_invalid_stored_menu_names_the_bad_field() -> None:
    menu = small_menu()
    menu["categories"][0]["items"][0]["price"] = "free"
    with pytest.raises(PermanentError, match=r"menu\.categories\.0\.items\.0\.price"):
        build("menu_import", restaurant={**restaurant_row(), "menu": menu})


def test_menu_import_of_a_menu_without_items_is_permanent() -> None:
    menu = {"currency": "NZD", "categories": [{"name": "Pizzas", "items": []}]}
    with pytest.raises(PermanentError, match="needs a menu with items"):
        build("menu_import", restaurant={**restaurant_row(), "menu": menu})


def test_onboarding_sync_links_the_onboarding_user_to_the_restaurant() -> None:
    assert build("onboarding_sync") == {
        "pumpd_restaurant_id": RESTAURANT_ID,
        "onboarding_user_id": ONBOARDING_ID,
    }


def test_option_sets_are_one_per_distinct_option_group_with_the_items_offering_it() -> None:
    assert build("option_sets")["option_sets"] == [
        {
            "name": "Size",
            "required": True,
            "min_select": 1,
            "max_select": 1,
            "options": [{"name": "Small", "price_delta": "-4.00"}, {"name": "Large", "price_delta": "6.00"}],
            "item_names": ["Margherita", "Diavola"],
        },
        {
            "name": "Size (2)",
            "required": False,
            "min_select": 0,
            "max_select": 2,
            "options": [{"name": "Can", "price_delta": "0.00"}],
            "item_names": ["Coke"],
        },
    ]


def test_item_tags_are_the_stored_menus_tags_by_item_name() -> None:
    assert build("item_tags")["tags"] == {"Margherita": ["vegetarian"], "Diavola": ["spicy"]}


@pytest.mark.parametrize("operation", ["option_sets", "item_tags"])
def test_without_a_stored_menu_option_sets_and_tags_are_left_to_pumpd(operation: str) -> None:
    assert build(operation, restaurant={**restaurant_row(), "menu": None}) == {
        "pumpd_restaurant_id": RESTAURANT_ID
    }


# --- purity and the log --------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", SUB_STEP_KEYS)
def test_building_is_deterministic_and_changes_none_of_its_inputs(operation: str) -> None:
    config, restaurant, results = yolo_config(), {**restaurant_row(), "menu": small_menu()}, fake_results()
    before = copy.deepcopy((config, restaurant, results))
    first = build(operation, config=config, restaurant=restaurant, results=results)
    assert build(operation, config=config, restaurant=restaurant, results=results) == first
    assert (config, restaurant, results) == before


def test_describe_request_redacts_secrets_and_keeps_everything_else() -> None:
    account = build("account")
    assert describe_request("account", account) == {**account, "password": REDACTED}
    assert account["password"] == "s3cret-pass"
    payment = build("payment_config")
    assert describe_request("payment_config", payment) == {**payment, "api_key": REDACTED}
    assert "sk_test_123456" not in json.dumps(describe_request("payment_config", payment))


def test_describe_request_of_an_unknown_operation_is_permanent() -> None:
    with pytest.raises(PermanentError, match="unknown operation"):
        describe_request("menu_export", {})
