"""Progress as the API serves it: the phases of a Yolo Mode run and percentages (SPEC §8).

Phase status rule, first match wins:

- ``failed`` if any sub-step of the phase failed;
- ``cancelled`` if any was cancelled;
- ``pending`` if every sub-step is pending;
- ``skipped`` if every sub-step was skipped;
- ``completed`` if every sub-step is final (completed or skipped);
- ``in_progress`` otherwise (something runs, retries, waits, or part of the phase is done).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onboardflow.domain.statuses import FINAL_REGISTRATION, FINAL_STEP, StepStatus
from onboardflow.domain.substeps import PHASES, SUB_STEP_KEYS, SUB_STEPS


@dataclass(frozen=True, slots=True, kw_only=True)
class SubStepView:
    """One sub-step as shown: its status, its last error and its timing."""

    key: str
    status: StepStatus
    error: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    attempts: int = 0
    duration_ms: int | None = None


def phase_status(statuses: Iterable[StepStatus | str]) -> str:
    """The status of one phase from its sub-steps' statuses (rule in the module docstring)."""
    values = [StepStatus(status) for status in statuses]
    if StepStatus.FAILED in values:
        return StepStatus.FAILED.value
    if StepStatus.CANCELLED in values:
        return StepStatus.CANCELLED.value
    if all(status is StepStatus.PENDING for status in values):
        return StepStatus.PENDING.value
    if all(status is StepStatus.SKIPPED for status in values):
        return StepStatus.SKIPPED.value
    if all(status in FINAL_STEP for status in values):
        return StepStatus.COMPLETED.value
    return StepStatus.IN_PROGRESS.value


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def phases_view(substeps: Sequence[SubStepView], *, detailed: bool = False) -> dict[str, Any]:
    """``{"phase1": {"status", "sub_steps": {key: {"status", "error", "started_at", "completed_at"}}}, ...}``.

    Every one of the 12 sub-steps appears (a missing one as pending); times are ISO 8601 strings.
    ``detailed`` adds ``attempts`` and ``duration_ms`` to each sub-step.
    """
    by_key = {view.key: view for view in substeps}
    phases: dict[str, Any] = {}
    for number, name in enumerate(PHASES, start=1):
        members = [spec.key for spec in SUB_STEPS if spec.phase == number]
        entries: dict[str, Any] = {}
        for key in members:
            view = by_key.get(key) or SubStepView(key=key, status=StepStatus.PENDING)
            entry: dict[str, Any] = {
                "status": StepStatus(view.status).value,
                "error": view.error,
                "started_at": _iso(view.started_at),
                "completed_at": _iso(view.completed_at),
            }
            if detailed:
                entry["attempts"] = view.attempts
                entry["duration_ms"] = view.duration_ms
            entries[key] = entry
        phases[name] = {
            "status": phase_status(entry["status"] for entry in entries.values()),
            "sub_steps": entries,
        }
    return phases


def progress_percent(statuses: Mapping[str, StepStatus | str], *, keys: Sequence[str] = SUB_STEP_KEYS) -> int:
    """The share of ``keys`` (the 12 sub-steps by default) whose status is final, 0..100, rounded down
    so that 100 means everything is final. A missing key counts as pending."""
    if not keys:
        return 0
    final = sum(1 for key in keys if StepStatus(statuses.get(key, StepStatus.PENDING)) in FINAL_STEP)
    return final * 100 // len(keys)


def batch_progress_percent(counts_by_status: Mapping[str, int]) -> int:
    """The share of a batch's registration jobs in a final status (completed, failed, cancelled),
    0..100, rounded down; 0 for an empty batch."""
    if any(count < 0 for count in counts_by_status.values()):
        raise ValueError("counts must be >= 0")
    total = sum(counts_by_status.values())
    if total == 0:
        return 0
    final = sum(count for status, count in counts_by_status.items() if status in FINAL_REGISTRATION)
    return final * 100 // total
