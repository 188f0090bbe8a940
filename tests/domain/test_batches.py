"""Batch rules: when a batch is over, what a pause stops, the batch settings and the bulk modes."""

from __future__ import annotations

import pytest

from onboardflow.domain.batches import (
    BulkMode,
    batch_outcome,
    bulk_answer,
    may_start_automatic_step,
    parse_batch_settings,
)
from onboardflow.errors import InvalidInput


def test_a_batch_with_an_active_job_is_not_over() -> None:
    assert batch_outcome({"completed": 3, "action_required": 1}) is None
    assert batch_outcome({}) is None


def test_a_batch_whose_jobs_all_ended_is_completed_or_failed_if_any_failed() -> None:
    assert batch_outcome({"completed": 3, "cancelled": 1}) == "completed"
    assert batch_outcome({"completed": 3, "failed": 1}) == "failed"


def test_a_paused_or_cancelled_batch_starts_no_automatic_step() -> None:
    assert may_start_automatic_step(None)
    assert may_start_automatic_step("in_progress")
    assert not may_start_automatic_step("paused")
    assert not may_start_automatic_step("cancelled")


def test_batch_settings_are_checked_by_field() -> None:
    assert parse_batch_settings({"auto_confirm_company": True}).auto_confirm_company
    assert not parse_batch_settings(None).auto_confirm_company
    with pytest.raises(InvalidInput) as error:
        parse_batch_settings({"auto_confirm": True})
    assert error.value.field.startswith("settings")


def test_confirm_search_terms_answers_with_the_prefilled_terms() -> None:
    terms = {
        "trading_name": "Joe's Pizza",
        "legal_name": "Joe's Pizza Limited",
        "street_address": "12 Queen St",
    }
    assert (
        bulk_answer(
            BulkMode.CONFIRM_SEARCH_TERMS, step_key="company_search", step_input={"search_terms": terms}
        )
        == terms
    )


def test_accept_preselected_needs_a_preselected_candidate() -> None:
    answer = bulk_answer(
        BulkMode.ACCEPT_PRESELECTED,
        step_key="company_selection",
        step_input={"preselected_candidate_id": "abc"},
    )
    assert answer == {"candidate_id": "abc"}
    with pytest.raises(InvalidInput) as error:
        bulk_answer(BulkMode.ACCEPT_PRESELECTED, step_key="company_selection", step_input={"candidates": []})
    assert error.value.field == "candidate_id"


def test_a_mode_refuses_a_step_it_does_not_answer() -> None:
    with pytest.raises(InvalidInput) as error:
        bulk_answer(BulkMode.APPLY_CONFIG, step_key="company_search", step_input={}, config={})
    assert error.value.field == "step_key"


def test_apply_config_and_answers_pass_their_answer_on() -> None:
    assert bulk_answer(BulkMode.APPLY_CONFIG, step_key="yolo_config", step_input={}, config={"a": 1}) == {
        "a": 1
    }
    assert bulk_answer(BulkMode.ANSWERS, step_key="yolo_config", step_input={}, answer={"b": 2}) == {"b": 2}
    with pytest.raises(InvalidInput):
        bulk_answer(BulkMode.ANSWERS, step_key="yolo_config", step_input={})
