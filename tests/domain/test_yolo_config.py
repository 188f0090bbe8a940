"""The Yolo Mode configuration: validation naming the field, merging, schema."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboardflow.domain.yolo_config import (
    YoloConfig,
    config_json_schema,
    merge_config,
    partial_config_json_schema,
    validate_yolo_config,
)
from onboardflow.errors import InvalidInput


def with_value(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``config`` with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    changed = copy.deepcopy(config)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return changed


def rejection(config: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_yolo_config(config)
    return caught.value


def test_valid_config_round_trips_through_json(valid_config: dict[str, Any]) -> None:
    model = validate_yolo_config(valid_config)
    dumped = model.model_dump(mode="json")
    assert dumped == valid_config
    assert validate_yolo_config(dumped) == model


def test_minimal_config_gets_the_defaults(valid_config: dict[str, Any]) -> None:
    minimal = {key: valid_config[key] for key in ("account", "restaurant", "website")}
    model = validate_yolo_config(minimal)
    assert model.menu.import_menu is True
    assert model.option_sets.enabled is True
    assert model.item_tags.enabled is True
    assert model.services.delivery is True
    assert model.payment.provider == "none"
    assert model.onboarding.create_user is False


def test_secrets_stay_out_of_the_repr(valid_config: dict[str, Any]) -> None:
    text = repr(validate_yolo_config(valid_config))
    assert "s3cret-pass" not in text
    assert "sk_test_123456" not in text


def test_secret_fields_are_named_so_the_store_encrypts_them() -> None:
    schema = config_json_schema()["$defs"]
    assert "password" in schema["AccountConfig"]["properties"]
    assert "stripe_api_key" in schema["PaymentConfig"]["properties"]
    assert schema["AccountConfig"]["properties"]["password"]["writeOnly"] is True


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("account.email", "not-an-email", "account.email"),
        ("account.email", ..., "account.email"),
        ("account.password", "short", "account.password"),
        ("account.phone", "call me", "account.phone"),
        ("account.nickname", "joe", "account.nickname"),
        ("restaurant.name", "   ", "restaurant.name"),
        ("restaurant.email", "hello", "restaurant.email"),
        ("restaurant.opening_hours", {"funday": "closed"}, "restaurant.opening_hours"),
        ("restaurant.opening_hours", {"monday": "9am-5pm"}, "restaurant.opening_hours"),
        ("menu.source", "pdf", "menu.source"),
        ("menu.source", "none", "menu.source"),
        ("menu.source", "csv", "menu.csv_url"),
        ("menu.csv_url", "ftp://menus.example.com/a.csv", "menu.csv_url"),
        ("option_sets.enabled", "maybe", "option_sets.enabled"),
        ("item_tags.colour", "red", "item_tags.colour"),
        ("website.theme", "neon", "website.theme"),
        ("website.primary_colour", "red", "website.primary_colour"),
        ("website.secondary_colour", "#12345", "website.secondary_colour"),
        ("website.logo_url", "logo.png", "website.logo_url"),
        ("services", {"delivery": False, "pickup": False, "dine_in": False}, "services"),
        ("payment.provider", "bitcoin", "payment.provider"),
        ("payment.stripe_api_key", None, "payment.stripe_api_key"),
        ("onboarding.user_email", None, "onboarding.user_email"),
        ("surprise", {}, "surprise"),
    ],
)
def test_each_invalid_case_names_its_field(
    valid_config: dict[str, Any], path: str, value: Any, field: str
) -> None:
    error = rejection(with_value(valid_config, path, value))
    assert error.field == field
    assert error.errors[0] == {"field": field, "message": error.errors[0]["message"]}
    assert error.errors[0]["message"]


def test_csv_source_with_a_url_is_valid(valid_config: dict[str, Any]) -> None:
    config = with_value(valid_config, "menu", {"source": "csv", "csv_url": "https://menus.example.com/a.csv"})
    assert validate_yolo_config(config).menu.csv_url == "https://menus.example.com/a.csv"


def test_no_menu_import_needs_no_source(valid_config: dict[str, Any]) -> None:
    config = with_value(valid_config, "menu", {"import_menu": False, "source": "none"})
    assert validate_yolo_config(config).menu.import_menu is False


def test_payment_without_stripe_needs_no_key(valid_config: dict[str, Any]) -> None:
    config = with_value(valid_config, "payment", {"provider": "cash"})
    assert validate_yolo_config(config).payment.stripe_api_key is None


def test_onboarding_without_a_user_needs_no_email(valid_config: dict[str, Any]) -> None:
    config = with_value(valid_config, "onboarding", {"create_user": False})
    assert validate_yolo_config(config).onboarding.user_email is None


def test_first_error_is_named_and_all_errors_are_carried(valid_config: dict[str, Any]) -> None:
    config = with_value(valid_config, "account.email", "nope")
    config = with_value(config, "website.primary_colour", "blue")
    error = rejection(config)
    assert error.field == "account.email"
    assert [item["field"] for item in error.errors] == ["account.email", "website.primary_colour"]


def test_messages_never_echo_the_rejected_secret(valid_config: dict[str, Any]) -> None:
    error = rejection(with_value(valid_config, "account.password", "hunter2"))
    assert "hunter2" not in str(error)
    assert "hunter2" not in repr(error.errors)


def test_missing_sections_are_each_named(valid_config: dict[str, Any]) -> None:
    error = rejection({})
    assert {item["field"] for item in error.errors} == {"account", "restaurant", "website"}


def test_input_that_is_not_an_object_names_the_config() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_yolo_config(["not", "an", "object"])  # type: ignore[arg-type]
    assert caught.value.field == "config"


def test_text_fields_are_trimmed_but_passwords_are_kept_exactly(valid_config: dict[str, Any]) -> None:
    config = with_value(valid_config, "restaurant.name", "  Joe's Pizza  ")
    config = with_value(config, "account.password", "  spaced out  ")
    model = validate_yolo_config(config)
    assert model.restaurant.name == "Joe's Pizza"
    assert model.account.password == "  spaced out  "


# -- merge ------------------------------------------------------------------------------------------


def test_merge_lets_the_partial_win_and_keeps_the_rest() -> None:
    prefilled = {"restaurant": {"name": "Joe's", "city": "Auckland"}, "website": {"theme": "light"}}
    partial = {"restaurant": {"name": "Joe's Pizza"}, "payment": {"provider": "cash"}}
    assert merge_config(prefilled, partial) == {
        "restaurant": {"name": "Joe's Pizza", "city": "Auckland"},
        "website": {"theme": "light"},
        "payment": {"provider": "cash"},
    }


def test_merge_changes_neither_input() -> None:
    prefilled = {"restaurant": {"name": "Joe's"}}
    partial = {"restaurant": {"city": "Wellington"}}
    merged = merge_config(prefilled, partial)
    merged["restaurant"]["name"] = "changed"
    assert prefilled == {"restaurant": {"name": "Joe's"}}
    assert partial == {"restaurant": {"city": "Wellington"}}


def test_merge_null_clears_and_lists_are_replaced_not_concatenated() -> None:
    prefilled = {"website": {"logo_url": "https://cdn/logo.png"}, "tags": ["a", "b"]}
    merged = merge_config(prefilled, {"website": {"logo_url": None}, "tags": ["c"]})
    assert merged == {"website": {"logo_url": None}, "tags": ["c"]}


def test_merge_replaces_a_scalar_with_an_object_and_back() -> None:
    assert merge_config({"menu": "none"}, {"menu": {"source": "csv"}}) == {"menu": {"source": "csv"}}
    assert merge_config({"menu": {"source": "csv"}}, {"menu": None}) == {"menu": None}


def test_merge_keeps_the_stored_secret_when_the_mask_comes_back() -> None:
    prefilled = {"account": {"password": "s3cret-pass"}, "payment": {"stripe_api_key": "sk_live_1"}}
    partial = {"account": {"password": "***"}, "payment": {"stripe_api_key": "sk_live_2"}}
    assert merge_config(prefilled, partial) == {
        "account": {"password": "s3cret-pass"},
        "payment": {"stripe_api_key": "sk_live_2"},
    }


def test_one_partial_applied_to_many_restaurants_keeps_each_ones_own_data(
    valid_config: dict[str, Any],
) -> None:
    second = with_value(valid_config, "restaurant.name", "Ana's Tacos")
    shared = {"payment": {"provider": "cash"}, "website": {"theme": "light"}}
    merged = [validate_yolo_config(merge_config(prefilled, shared)) for prefilled in (valid_config, second)]
    assert [model.restaurant.name for model in merged] == ["Joe's Pizza", "Ana's Tacos"]
    assert all(model.payment.provider == "cash" and model.website.theme == "light" for model in merged)


json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
json_objects = st.recursive(
    st.dictionaries(st.text(max_size=3), json_leaves, max_size=3),
    lambda children: st.dictionaries(st.text(max_size=3), st.one_of(json_leaves, children), max_size=3),
    max_leaves=10,
)


@given(prefilled=json_objects, partial=json_objects)
def test_merge_with_itself_or_nothing_changes_nothing(
    prefilled: dict[str, Any], partial: dict[str, Any]
) -> None:
    merged = merge_config(prefilled, partial)
    assert merge_config(merged, partial) == merged
    assert merge_config(prefilled, {}) == prefilled
    assert merge_config({}, partial) == partial


# -- schema -----------------------------------------------------------------------------------------


def test_json_schema_forbids_extra_fields_and_requires_the_identity_sections() -> None:
    schema = config_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"account", "restaurant", "website"}
    assert schema["$defs"]["WebsiteConfig"]["properties"]["primary_colour"]["pattern"] == "^#[0-9A-Fa-f]{6}$"


def test_partial_schema_requires_nothing_but_keeps_the_shape() -> None:
    schema = partial_config_json_schema()
    assert "required" not in schema
    assert all("required" not in definition for definition in schema["$defs"].values())
    assert (
        schema["$defs"]["AccountConfig"]["properties"].keys()
        == YoloConfig.model_json_schema()["$defs"]["AccountConfig"]["properties"].keys()
    )
