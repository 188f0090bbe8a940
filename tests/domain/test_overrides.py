"""Operator overrides: a reason is required, and each step's edited input is checked by field."""

from __future__ import annotations

import pytest

from onboardflow.domain.overrides import check_reason, parse_rerun_input, rerun_input_fields
from onboardflow.errors import InvalidInput


def test_an_override_needs_a_reason() -> None:
    assert check_reason("  wrong   URL ") == "wrong URL"
    with pytest.raises(InvalidInput) as error:
        check_reason("   ")
    assert error.value.field == "reason"


def test_edited_inputs_are_validated_per_step() -> None:
    assert parse_rerun_input("extraction", {"source_url": "https://example.com/menu"}) == {
        "source_url": "https://example.com/menu"
    }
    assert parse_rerun_input("company_details", {"company_number": "123"}) == {"company_number": "123"}
    assert parse_rerun_input("company_search", {"trading_name": "Joe"})["trading_name"] == "Joe"
    with pytest.raises(InvalidInput) as error:
        parse_rerun_input("extraction", {"source_url": "ftp://nope"})
    assert error.value.field == "input.source_url"
    with pytest.raises(InvalidInput) as error:
        parse_rerun_input("yolo_config", {})
    assert error.value.field == "step_key"


def test_every_rerun_input_field_is_one_the_step_accepts() -> None:
    assert rerun_input_fields("extraction") == ("source_url",)
    assert rerun_input_fields("company_search") == ("trading_name", "legal_name", "street_address")
    assert rerun_input_fields("company_details") == ("company_number",)
    assert rerun_input_fields("yolo_execution") == ()
    samples = {"source_url": "https://menus.example.co.nz/a", "company_number": "1234567"}
    for key in ("extraction", "company_search", "company_details"):
        for field in rerun_input_fields(key):
            value = samples.get(field, "Golden Dragon")
            assert parse_rerun_input(key, {field: value})[field] == value
