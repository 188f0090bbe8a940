"""Progress shapes served by the API (SPEC §8)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from onboardflow.domain.progress import (
    SubStepView,
    batch_progress_percent,
    phase_status,
    phases_view,
    progress_percent,
)
from onboardflow.domain.statuses import StepStatus
from onboardflow.domain.substeps import SUB_STEP_KEYS

S = StepStatus
STARTED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DONE = datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)


def test_phases_view_has_the_spec_shape_with_every_sub_step() -> None:
    view = phases_view(
        [
            SubStepView(key="account", status=S.COMPLETED, started_at=STARTED, completed_at=DONE),
            SubStepView(key="code_generation", status=S.FAILED, error="HTTP 500", started_at=STARTED),
        ]
    )
    assert list(view) == ["phase1", "phase2", "phase3", "phase4"]
    assert list(view["phase1"]["sub_steps"]) == [
        "account",
        "code_generation",
        "onboarding_user",
        "image_upload",
    ]
    assert list(view["phase3"]["sub_steps"]) == ["option_sets"]
    assert list(view["phase4"]["sub_steps"]) == ["item_tags"]
    assert sum(len(phase["sub_steps"]) for phase in view.values()) == 12
    assert view["phase1"]["sub_steps"]["account"] == {
        "status": "completed",
        "error": None,
        "started_at": "2024-05-01T12:00:00+00:00",
        "completed_at": "2024-05-01T12:00:03+00:00",
    }
    assert view["phase1"]["sub_steps"]["code_generation"]["error"] == "HTTP 500"
    assert view["phase2"]["sub_steps"]["menu_import"] == {
        "status": "pending",
        "error": None,
        "started_at": None,
        "completed_at": None,
    }
    assert view["phase1"]["status"] == "failed"
    assert view["phase2"]["status"] == "pending"


def test_detailed_phases_view_adds_attempts_and_duration() -> None:
    view = phases_view(
        [SubStepView(key="menu_import", status=S.RETRYING, attempts=2, duration_ms=1500)], detailed=True
    )
    assert view["phase2"]["sub_steps"]["menu_import"]["attempts"] == 2
    assert view["phase2"]["sub_steps"]["menu_import"]["duration_ms"] == 1500
    assert view["phase2"]["status"] == "in_progress"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([S.PENDING, S.PENDING], "pending"),
        ([S.COMPLETED, S.PENDING], "in_progress"),
        ([S.IN_PROGRESS, S.PENDING], "in_progress"),
        ([S.ACTION_REQUIRED, S.COMPLETED], "in_progress"),
        ([S.RETRYING, S.COMPLETED], "in_progress"),
        ([S.COMPLETED, S.SKIPPED], "completed"),
        ([S.COMPLETED, S.COMPLETED], "completed"),
        ([S.SKIPPED, S.SKIPPED], "skipped"),
        ([S.FAILED, S.IN_PROGRESS], "failed"),
        ([S.FAILED, S.CANCELLED], "failed"),
        ([S.CANCELLED, S.COMPLETED], "cancelled"),
    ],
)
def test_phase_status_rule(statuses: list[StepStatus], expected: str) -> None:
    assert phase_status(statuses) == expected


def test_progress_percent_counts_final_sub_steps_of_twelve() -> None:
    assert progress_percent({}) == 0
    assert (
        progress_percent({"account": S.COMPLETED, "code_generation": S.SKIPPED, "image_upload": S.FAILED})
        == 25
    )
    assert progress_percent({"account": S.IN_PROGRESS, "image_upload": S.RETRYING}) == 0
    assert progress_percent(dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED)) == 100


def test_progress_percent_reaches_100_only_when_everything_is_final() -> None:
    almost = dict.fromkeys(SUB_STEP_KEYS, S.COMPLETED) | {"item_tags": S.IN_PROGRESS}
    assert progress_percent(almost) == 91


def test_progress_percent_works_over_other_keys() -> None:
    assert progress_percent({"a": "completed", "b": "pending"}, keys=("a", "b")) == 50


def test_batch_progress_percent_counts_finished_registration_jobs() -> None:
    assert batch_progress_percent({"completed": 2, "failed": 1, "in_progress": 3, "action_required": 2}) == 37
    assert batch_progress_percent({"completed": 5, "cancelled": 1}) == 100
    assert batch_progress_percent({"pending": 4}) == 0
    assert batch_progress_percent({}) == 0


def test_batch_progress_refuses_negative_counts() -> None:
    with pytest.raises(ValueError):
        batch_progress_percent({"completed": -1})
