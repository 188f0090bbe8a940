"""Status families and their transition tables (SPEC §4).

Every status change anywhere in onboardflow is checked here, by ``check_transition``;
the store then applies it as a compare-and-set and writes an event row. The database
CHECK constraints are generated from the same enums.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from onboardflow.errors import InvalidTransition


class BatchStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"


class RegistrationStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    ACTION_REQUIRED = "action_required"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    ACTION_REQUIRED = "action_required"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class JobStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class UserRole(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"
    SUPER_ADMIN = "super_admin"


class StepType(StrEnum):
    AUTOMATIC = "automatic"
    ACTION_REQUIRED = "action_required"


_B, _R, _S, _J = BatchStatus, RegistrationStatus, StepStatus, JobStatus

BATCH_TRANSITIONS: Mapping[BatchStatus, frozenset[BatchStatus]] = {
    _B.PENDING: frozenset({_B.IN_PROGRESS, _B.PAUSED, _B.CANCELLED, _B.COMPLETED, _B.FAILED}),
    _B.IN_PROGRESS: frozenset({_B.COMPLETED, _B.FAILED, _B.PAUSED, _B.CANCELLED}),
    _B.PAUSED: frozenset({_B.IN_PROGRESS, _B.PENDING, _B.CANCELLED}),
    _B.FAILED: frozenset({_B.IN_PROGRESS}),
    _B.COMPLETED: frozenset({_B.IN_PROGRESS}),
    _B.CANCELLED: frozenset(),
}

REGISTRATION_TRANSITIONS: Mapping[RegistrationStatus, frozenset[RegistrationStatus]] = {
    _R.PENDING: frozenset({_R.IN_PROGRESS, _R.ACTION_REQUIRED, _R.CANCELLED, _R.FAILED, _R.COMPLETED}),
    _R.IN_PROGRESS: frozenset({_R.ACTION_REQUIRED, _R.COMPLETED, _R.FAILED, _R.CANCELLED}),
    _R.ACTION_REQUIRED: frozenset({_R.IN_PROGRESS, _R.COMPLETED, _R.FAILED, _R.CANCELLED}),
    _R.FAILED: frozenset({_R.IN_PROGRESS, _R.PENDING, _R.COMPLETED}),
    _R.CANCELLED: frozenset({_R.PENDING, _R.IN_PROGRESS}),
    _R.COMPLETED: frozenset({_R.IN_PROGRESS, _R.PENDING}),
}

STEP_TRANSITIONS: Mapping[StepStatus, frozenset[StepStatus]] = {
    _S.PENDING: frozenset(
        {_S.IN_PROGRESS, _S.ACTION_REQUIRED, _S.SKIPPED, _S.CANCELLED, _S.FAILED, _S.COMPLETED}
    ),
    _S.IN_PROGRESS: frozenset(
        {_S.COMPLETED, _S.FAILED, _S.RETRYING, _S.ACTION_REQUIRED, _S.SKIPPED, _S.CANCELLED, _S.PENDING}
    ),
    _S.ACTION_REQUIRED: frozenset({_S.IN_PROGRESS, _S.COMPLETED, _S.SKIPPED, _S.CANCELLED, _S.PENDING}),
    _S.RETRYING: frozenset({_S.IN_PROGRESS, _S.FAILED, _S.CANCELLED, _S.SKIPPED, _S.PENDING}),
    _S.FAILED: frozenset({_S.PENDING, _S.SKIPPED, _S.IN_PROGRESS}),
    _S.SKIPPED: frozenset({_S.PENDING}),
    _S.COMPLETED: frozenset({_S.PENDING}),
    _S.CANCELLED: frozenset({_S.PENDING}),
}

JOB_TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    _J.PENDING: frozenset({_J.QUEUED, _J.IN_PROGRESS, _J.PAUSED, _J.CANCELLED}),
    _J.QUEUED: frozenset({_J.IN_PROGRESS, _J.PENDING, _J.PAUSED, _J.CANCELLED}),
    _J.IN_PROGRESS: frozenset({_J.COMPLETED, _J.FAILED, _J.QUEUED, _J.PENDING, _J.CANCELLED}),
    _J.PAUSED: frozenset({_J.QUEUED, _J.PENDING, _J.CANCELLED}),
    _J.FAILED: frozenset({_J.QUEUED}),
    _J.CANCELLED: frozenset({_J.QUEUED}),
    _J.COMPLETED: frozenset(),
}

FINAL_BATCH = frozenset({_B.COMPLETED, _B.FAILED, _B.CANCELLED})
FINAL_REGISTRATION = frozenset({_R.COMPLETED, _R.FAILED, _R.CANCELLED})
ACTIVE_REGISTRATION = frozenset({_R.PENDING, _R.IN_PROGRESS, _R.ACTION_REQUIRED})
FINAL_STEP = frozenset({_S.COMPLETED, _S.FAILED, _S.SKIPPED, _S.CANCELLED})
ATTEMPTABLE_STEP = frozenset({_S.PENDING, _S.RETRYING, _S.IN_PROGRESS})
"""Statuses an automatic step's or sub-step's attempt may begin from; it moves to ``in_progress``
(one still ``in_progress`` was interrupted, and runs again)."""
FINAL_JOB = frozenset({_J.COMPLETED, _J.FAILED, _J.CANCELLED})
WAITING_JOB = frozenset({_J.PENDING, _J.QUEUED})
ACTIVE_JOB = frozenset({_J.PENDING, _J.QUEUED, _J.IN_PROGRESS})

_TABLES: Mapping[str, Mapping[Any, frozenset[Any]]] = {
    "batch": BATCH_TRANSITIONS,
    "registration_job": REGISTRATION_TRANSITIONS,
    "step": STEP_TRANSITIONS,
    "job": JOB_TRANSITIONS,
}


def can_transition(family: str, current: str, target: str) -> bool:
    """Whether ``family`` (batch, registration_job, step, job) may go from ``current`` to ``target``."""
    table = _TABLES[family]
    return target in table.get(current, frozenset())


def check_transition(family: str, current: str, target: str) -> None:
    """Raise ``InvalidTransition`` unless the transition table allows ``current`` -> ``target``."""
    if not can_transition(family, current, target):
        raise InvalidTransition(family, current, target)


RETRYABLE_RUNS = frozenset({RegistrationStatus.FAILED, RegistrationStatus.CANCELLED})


def check_run_retry(status: str, *, from_step: str | None) -> None:
    """A registration job may be retried once it failed or was cancelled; re-running from a chosen
    sub-step is also allowed after it completed."""
    allowed = RETRYABLE_RUNS | ({RegistrationStatus.COMPLETED} if from_step is not None else set())
    if status not in allowed:
        raise InvalidTransition("registration_job", status, RegistrationStatus.IN_PROGRESS.value)


def sources_of(family: str, target: str) -> frozenset[str]:
    """Every status of ``family`` from which ``target`` may be reached (for compare-and-set updates)."""
    return frozenset(src for src, targets in _TABLES[family].items() if target in targets)
