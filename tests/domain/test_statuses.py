"""The status families' transition tables: what may follow what, checked in one place."""

from __future__ import annotations

import pytest

from onboardflow.domain.statuses import (
    ATTEMPTABLE_STEP,
    FINAL_JOB,
    JOB_TRANSITIONS,
    STEP_TRANSITIONS,
    JobStatus,
    StepStatus,
    can_transition,
    check_transition,
    sources_of,
)
from onboardflow.errors import InvalidTransition


def test_every_status_an_attempt_begins_from_may_move_to_in_progress() -> None:
    for status in ATTEMPTABLE_STEP - {StepStatus.IN_PROGRESS}:
        assert can_transition("step", status, StepStatus.IN_PROGRESS)
    assert StepStatus.IN_PROGRESS in ATTEMPTABLE_STEP  # an interrupted attempt runs again


def test_no_attempt_begins_from_a_final_or_waiting_step() -> None:
    assert not ATTEMPTABLE_STEP & {
        StepStatus.COMPLETED,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.CANCELLED,
        StepStatus.ACTION_REQUIRED,
    }


def test_a_completed_job_never_changes_again_and_other_final_jobs_only_requeue() -> None:
    assert JOB_TRANSITIONS[JobStatus.COMPLETED] == frozenset()
    for status in FINAL_JOB - {JobStatus.COMPLETED}:
        assert JOB_TRANSITIONS[status] == {JobStatus.QUEUED}


def test_check_transition_names_the_family_and_both_statuses() -> None:
    with pytest.raises(InvalidTransition) as raised:
        check_transition("step", StepStatus.SKIPPED, StepStatus.COMPLETED)
    assert "step" in str(raised.value)
    assert "skipped" in str(raised.value)
    assert "completed" in str(raised.value)


def test_sources_of_lists_exactly_the_statuses_whose_row_allows_the_target() -> None:
    expected = {src for src, targets in STEP_TRANSITIONS.items() if StepStatus.RETRYING in targets}
    assert sources_of("step", StepStatus.RETRYING) == expected
    assert expected == {StepStatus.IN_PROGRESS}
