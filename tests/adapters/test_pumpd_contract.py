"""The Pumpd contract, run against every implementation: simulated, http (sandbox) and command."""

from __future__ import annotations

import time
from typing import Any

import pytest

from onboardflow.adapters.pumpd.protocol import PUMPD_OPERATIONS, PumpdResult, PumpdService
from onboardflow.domain.substeps import SUB_STEP_KEYS
from onboardflow.errors import AlreadyDoneError, JobError, PermanentError, RetryableError
from tests.adapters.conftest import Factory, rule

ACCOUNT = {"email": "Joe@JoesPizza.co.nz", "password": "correct-horse-battery", "name": "Joe Bloggs"}
MENU: dict[str, Any] = {
    "restaurant_name": "Joe's Pizza",
    "source_url": "https://marketplace.example/joes-pizza",
    "categories": [
        {
            "name": "Pizzas",
            "items": [
                {
                    "name": "Margherita",
                    "price": "18.50",
                    "description": "Tomato, mozzarella, basil",
                    "image_url": "https://images.marketplace.example/joes-pizza/margherita.jpg",
                    "option_groups": [
                        {
                            "name": "Size",
                            "required": True,
                            "min_select": 1,
                            "max_select": 1,
                            "options": [
                                {"name": "Regular", "price_delta": "0.00"},
                                {"name": "Large", "price_delta": "6.00"},
                            ],
                        }
                    ],
                },
                {"name": "Diavola", "price": "23.00", "description": "Hot salami, chilli"},
            ],
        },
        {"name": "Drinks", "items": [{"name": "Ginger Beer", "price": "6.00"}]},
    ],
}


async def register(pumpd: PumpdService, suffix: str = "") -> tuple[str, str]:
    """Create an account and a restaurant; return (user id, restaurant id)."""
    account = await pumpd.run("account", ACCOUNT, idempotency_key=f"account{suffix}")
    user_id = account.ids["pumpd_user_id"]
    restaurant = await pumpd.run(
        "restaurant_registration",
        {"pumpd_user_id": user_id, "name": "Joe's Pizza", "city": "Auckland"},
        idempotency_key=f"restaurant{suffix}",
    )
    return user_id, restaurant.ids["pumpd_restaurant_id"]


def test_operations_are_exactly_the_sub_step_keys() -> None:
    assert PUMPD_OPERATIONS == SUB_STEP_KEYS


async def test_account_creates_a_user_and_returns_its_id(make_pumpd: Factory[PumpdService]) -> None:
    pumpd = (await make_pumpd()).service
    result = await pumpd.run("account", ACCOUNT, idempotency_key="k1")
    assert isinstance(result, PumpdResult)
    assert result.ids["pumpd_user_id"].startswith("usr_")
    assert result.data["email"] == "joe@joespizza.co.nz"
    assert result.warning is None


async def test_all_twelve_operations_run_in_dependency_order(make_pumpd: Factory[PumpdService]) -> None:
    pumpd = (await make_pumpd()).service
    code = await pumpd.run("code_generation", {"restaurant_name": "Joe's Pizza"}, idempotency_key="code")
    onboarding = await pumpd.run(
        "onboarding_user", {"email": "owner@joespizza.co.nz", "name": "Joe"}, idempotency_key="onb"
    )
    images = await pumpd.run(
        "image_upload",
        {"images": [{"source_url": "https://images.marketplace.example/joes/logo.png", "kind": "logo"}]},
        idempotency_key="img",
    )
    _, restaurant_id = await register(pumpd)
    scoped = {"pumpd_restaurant_id": restaurant_id}
    website = await pumpd.run(
        "website_config",
        {**scoped, "site_code": code.data["site_code"], "primary_colour": "#c0392b"},
        idempotency_key="web",
    )
    services = await pumpd.run("services_config", {**scoped, "dine_in": True}, idempotency_key="svc")
    payment = await pumpd.run("payment_config", {**scoped, "provider": "stripe"}, idempotency_key="pay")
    menu = await pumpd.run("menu_import", {**scoped, "menu": MENU}, idempotency_key="menu")
    sync = await pumpd.run(
        "onboarding_sync",
        {**scoped, "onboarding_user_id": onboarding.ids["onboarding_user_id"]},
        idempotency_key="sync",
    )
    option_sets = await pumpd.run("option_sets", scoped, idempotency_key="ops")
    tags = await pumpd.run("item_tags", scoped, idempotency_key="tags")

    assert code.data["site_code"] == "joes-pizza"
    assert images.data["images"][0]["url"].startswith("https://cdn.pumpd.example/")
    assert website.data["website_url"] == "https://joes-pizza.pumpd.example"
    assert services.data["services"]["dine_in"] is True
    assert payment.data["mode"] == "test"
    assert payment.warning
    assert menu.data["items"] == 3
    assert menu.ids["pumpd_menu_id"].startswith("mnu_")
    assert sync.data["synced"] is True
    assert [s["name"] for s in option_sets.data["option_sets"]] == ["Size"]
    assert tags.data["tags_by_item"]["Diavola"] == ["spicy"]
    assert "drink" in tags.data["tags_by_item"]["Ginger Beer"]


async def test_repeated_key_replays_the_first_answer_without_a_second_effect(
    make_pumpd: Factory[PumpdService],
) -> None:
    harness = await make_pumpd()
    first = await harness.service.run("account", ACCOUNT, idempotency_key="same")
    again = await harness.service.run("account", ACCOUNT, idempotency_key="same")
    assert again == first
    outcomes = [(c["operation"], c["idempotency_key"], c["outcome"]) for c in await harness.calls()]
    assert outcomes == [("account", "same", "ok"), ("account", "same", "replayed")]
    # Only one account exists: a new key finds the first one.
    with pytest.raises(AlreadyDoneError) as caught:
        await harness.service.run("account", ACCOUNT, idempotency_key="other")
    assert caught.value.existing == {"pumpd_user_id": first.ids["pumpd_user_id"]}


async def test_a_key_reused_with_another_payload_is_permanent(make_pumpd: Factory[PumpdService]) -> None:
    pumpd = (await make_pumpd()).service
    await pumpd.run("account", ACCOUNT, idempotency_key="k")
    with pytest.raises(PermanentError, match="another payload"):
        await pumpd.run("account", {**ACCOUNT, "email": "else@example.com"}, idempotency_key="k")


async def test_an_existing_restaurant_on_the_account_is_already_done_with_both_ids(
    make_pumpd: Factory[PumpdService],
) -> None:
    pumpd = (await make_pumpd()).service
    user_id, restaurant_id = await register(pumpd)
    with pytest.raises(AlreadyDoneError) as caught:
        await pumpd.run(
            "restaurant_registration",
            {"pumpd_user_id": user_id, "name": "JOE'S PIZZA"},
            idempotency_key="new",
        )
    assert caught.value.existing == {"pumpd_restaurant_id": restaurant_id, "pumpd_user_id": user_id}


async def test_a_missing_email_is_permanent_and_names_the_field(make_pumpd: Factory[PumpdService]) -> None:
    pumpd = (await make_pumpd()).service
    with pytest.raises(PermanentError, match="email") as caught:
        await pumpd.run("account", {"password": "correct-horse-battery"}, idempotency_key="k")
    assert "correct-horse-battery" not in f"{caught.value} {caught.value.details}"


async def test_an_unknown_operation_is_permanent(make_pumpd: Factory[PumpdService]) -> None:
    pumpd = (await make_pumpd()).service
    with pytest.raises(PermanentError, match="unknown operation"):
        await pumpd.run("launch_rocket", {}, idempotency_key="k")


async def test_a_malformed_restaurant_id_is_permanent(make_pumpd: Factory[PumpdService]) -> None:
    pumpd = (await make_pumpd()).service
    with pytest.raises(PermanentError, match="pumpd_restaurant_id"):
        await pumpd.run("services_config", {"pumpd_restaurant_id": "42"}, idempotency_key="k")


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
async def test_each_injected_fault_becomes_its_typed_error_and_only_the_first_call_fails(
    make_pumpd: Factory[PumpdService], kind: str, error: type[JobError]
) -> None:
    # A script's start-up takes a good part of a second under load: leave the retry room to succeed.
    harness = await make_pumpd(rule("pumpd", "account", kind), timeout=2.5)
    with pytest.raises(error):
        await harness.service.run("account", ACCOUNT, idempotency_key="k")
    result = await harness.service.run("account", ACCOUNT, idempotency_key="k")
    assert result.ids["pumpd_user_id"].startswith("usr_")
    assert [c["outcome"] for c in await harness.calls()] == [f"fault:{kind}", "ok"]


async def test_an_injected_already_exists_reports_the_existing_user_id(
    make_pumpd: Factory[PumpdService],
) -> None:
    harness = await make_pumpd(rule("pumpd", "account", "already_exists", times=5))
    with pytest.raises(AlreadyDoneError) as caught:
        await harness.service.run("account", ACCOUNT, idempotency_key="k")
    assert caught.value.existing["pumpd_user_id"].startswith("usr_")


async def test_rate_limiting_carries_retry_after(make_pumpd: Factory[PumpdService]) -> None:
    harness = await make_pumpd(rule("pumpd", "menu_import", "rate_limited", retry_after=7))
    _, restaurant_id = await register(harness.service)
    with pytest.raises(RetryableError) as caught:
        await harness.service.run(
            "menu_import", {"pumpd_restaurant_id": restaurant_id, "menu": MENU}, idempotency_key="m"
        )
    assert caught.value.retry_after == 7


async def test_a_time_out_is_retryable_and_does_not_outlast_the_time_limit(
    make_pumpd: Factory[PumpdService],
) -> None:
    harness = await make_pumpd(rule("pumpd", "account", "timeout"), timeout=0.5)
    started = time.monotonic()
    with pytest.raises(RetryableError, match="timed out"):
        await harness.service.run("account", ACCOUNT, idempotency_key="k")
    assert time.monotonic() - started < 4


async def test_faults_apply_only_to_their_operation(make_pumpd: Factory[PumpdService]) -> None:
    harness = await make_pumpd(rule("pumpd", "menu_import", "server_error", times=10))
    user_id, _ = await register(harness.service)
    assert user_id.startswith("usr_")


async def test_secrets_stay_out_of_the_call_log(make_pumpd: Factory[PumpdService]) -> None:
    harness = await make_pumpd()
    await harness.service.run("account", ACCOUNT, idempotency_key="k")
    await harness.service.run(
        "payment_config",
        {"pumpd_restaurant_id": "rst_0123456789ab", "api_key": "sk_live_supersecret"},
        idempotency_key="p",
    )
    log = str(await harness.calls())
    assert "correct-horse-battery" not in log
    assert "sk_live_supersecret" not in log
