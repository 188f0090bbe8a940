"""The six batch steps (SPEC §3)."""

from __future__ import annotations

import pytest

from onboardflow.domain.pipeline import (
    PIPELINE_STEP_KEYS,
    PIPELINE_STEPS,
    SINGLE_RUN_STEPS,
    next_step,
    step_by_key,
)
from onboardflow.domain.statuses import StepType
from onboardflow.errors import InvalidInput


def test_pipeline_is_the_six_steps_of_the_spec_in_order_with_their_types() -> None:
    assert [(step.number, step.key, step.step_type) for step in PIPELINE_STEPS] == [
        (1, "extraction", StepType.AUTOMATIC),
        (2, "company_search", StepType.ACTION_REQUIRED),
        (3, "company_selection", StepType.ACTION_REQUIRED),
        (4, "company_details", StepType.AUTOMATIC),
        (5, "yolo_config", StepType.ACTION_REQUIRED),
        (6, "yolo_execution", StepType.AUTOMATIC),
    ]
    assert tuple(step.key for step in PIPELINE_STEPS) == PIPELINE_STEP_KEYS


def test_every_step_has_a_label_and_a_description() -> None:
    for step in PIPELINE_STEPS:
        assert step.label.strip()
        assert step.description.strip()


def test_step_by_key_finds_the_step() -> None:
    assert step_by_key("company_selection").number == 3


def test_step_by_key_rejects_an_unknown_key_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        step_by_key("lunch")
    assert caught.value.field == "step_key"


def test_next_step_follows_the_numbering_and_ends_after_execution() -> None:
    chain = ["extraction"]
    while (following := next_step(chain[-1])) is not None:
        chain.append(following.key)
    assert chain == list(PIPELINE_STEP_KEYS)


def test_single_restaurant_run_holds_only_the_execution_step() -> None:
    assert [step.key for step in SINGLE_RUN_STEPS] == ["yolo_execution"]
