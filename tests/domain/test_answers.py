"""The answers to the three waiting steps (SPEC §3)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from onboardflow.domain.answers import (
    ANSWER_STEP_KEYS,
    CompanySearchAnswer,
    CompanySelectionAnswer,
    answer_schema,
    parse_answer,
)
from onboardflow.domain.pipeline import PIPELINE_STEPS
from onboardflow.domain.statuses import StepType
from onboardflow.domain.yolo_config import YoloConfig
from onboardflow.errors import InvalidInput


def rejected_field(step_key: str, data: Any, **options: Any) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse_answer(step_key, data, **options)
    return caught.value.field


def test_answerable_steps_are_the_action_required_steps_of_the_pipeline() -> None:
    waiting = tuple(step.key for step in PIPELINE_STEPS if step.step_type is StepType.ACTION_REQUIRED)
    assert waiting == ANSWER_STEP_KEYS


def test_company_search_accepts_any_one_term_and_blanks_become_none() -> None:
    answer = parse_answer("company_search", {"trading_name": "", "street_address": " 12 Queen Street "})
    assert answer == CompanySearchAnswer(street_address="12 Queen Street")
    assert answer.trading_name is None


def test_company_search_needs_at_least_one_term() -> None:
    assert rejected_field("company_search", {"trading_name": "  ", "legal_name": None}) == "trading_name"
    assert rejected_field("company_search", {}) == "trading_name"


def test_company_search_forbids_unknown_fields() -> None:
    assert rejected_field("company_search", {"trading_name": "Joe's", "city": "Auckland"}) == "city"


def test_company_selection_takes_a_candidate() -> None:
    candidate = uuid4()
    answer = parse_answer("company_selection", {"candidate_id": str(candidate)})
    assert answer == CompanySelectionAnswer(candidate_id=candidate, none_of_these=False)


def test_company_selection_takes_none_of_these() -> None:
    answer = parse_answer("company_selection", {"none_of_these": True})
    assert answer == CompanySelectionAnswer(candidate_id=None, none_of_these=True)


def test_company_selection_needs_exactly_one_choice() -> None:
    assert rejected_field("company_selection", {}) == "candidate_id"
    assert rejected_field("company_selection", {"candidate_id": str(uuid4()), "none_of_these": True}) == (
        "none_of_these"
    )
    assert rejected_field("company_selection", {"candidate_id": "42"}) == "candidate_id"


def test_company_selection_must_pick_one_of_the_steps_candidates() -> None:
    offered = [uuid4(), uuid4()]
    assert parse_answer("company_selection", {"candidate_id": str(offered[1])}, candidate_ids=offered)
    assert rejected_field("company_selection", {"candidate_id": str(uuid4())}, candidate_ids=offered) == (
        "candidate_id"
    )


def test_yolo_config_answer_is_merged_over_the_prefilled_config(valid_config: dict[str, Any]) -> None:
    answer = parse_answer("yolo_config", {"website": {"theme": "light"}}, prefilled=valid_config)
    assert isinstance(answer, YoloConfig)
    assert answer.website.theme == "light"
    assert answer.restaurant.name == "Joe's Pizza"


def test_yolo_config_answer_names_the_field_that_is_wrong_after_merging(valid_config: dict[str, Any]) -> None:
    field = rejected_field("yolo_config", {"payment": {"stripe_api_key": None}}, prefilled=valid_config)
    assert field == "payment.stripe_api_key"


def test_yolo_config_answer_without_prefill_must_be_complete() -> None:
    assert rejected_field("yolo_config", {"website": {"theme": "light"}}) == "account"


def test_answer_that_is_not_an_object_names_the_answer() -> None:
    assert rejected_field("company_search", "Joe's") == "answer"
    assert rejected_field("yolo_config", ["x"]) == "answer"


def test_unknown_step_takes_no_answer() -> None:
    assert rejected_field("extraction", {}) == "step_key"
    with pytest.raises(InvalidInput):
        answer_schema("extraction")


def test_answer_schemas_describe_the_expected_fields() -> None:
    search = answer_schema("company_search")
    assert set(search["properties"]) == {"trading_name", "legal_name", "street_address"}
    assert search["additionalProperties"] is False
    selection = answer_schema("company_selection")
    assert selection["properties"]["candidate_id"]["anyOf"][0] == {"format": "uuid", "type": "string"}
    config = answer_schema("yolo_config")
    assert "required" not in config
    assert set(config["properties"]) >= {"account", "restaurant", "website", "payment"}
