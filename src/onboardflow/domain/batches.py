"""Batches of registration jobs (SPEC §3, §4): their settings, when they are over, what may start while
one is paused, and what each bulk answer mode of the action queue means.

Rules, decided once here:

- A batch is over when every registration job of it is final (completed, failed or cancelled): it is
  then ``failed`` when at least one job failed, else ``completed``. One restaurant's failure never
  stops the others.
- While a batch is ``paused`` (or ``cancelled``) no automatic step starts; a step job that comes up
  parks itself (its step stays ``pending`` without a queue job) and ``resume`` queues it again.
  Waiting steps can still be answered while paused.
- Bulk modes: ``confirm_search_terms`` answers a ``company_search`` step with its own prefilled
  terms; ``accept_preselected`` answers a ``company_selection`` step with its pre-selected candidate
  (an item without one is refused); ``apply_config`` answers a ``yolo_config`` step with one partial
  configuration merged over each step's prefilled one; ``answers`` gives every item its own answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from onboardflow.domain.statuses import FINAL_REGISTRATION, BatchStatus, RegistrationStatus
from onboardflow.domain.yolo_config import invalid_input_from
from onboardflow.errors import InvalidInput

MAX_BATCH_RESTAURANTS = 5000
"""The most restaurants one conversion or batch may hold."""


class BatchSettings(BaseModel):
    """How a batch behaves.

    ``auto_confirm_company``: a company that is clearly the one (see ``matching.preselect``) is chosen
    without asking; the others still wait for a person.
    """

    model_config = ConfigDict(extra="forbid")

    auto_confirm_company: bool = False


def parse_batch_settings(data: Mapping[str, Any] | None) -> BatchSettings:
    """Validated batch settings; ``InvalidInput`` naming ``settings.<field>``."""
    try:
        return BatchSettings.model_validate(dict(data or {}))
    except ValidationError as error:
        invalid = invalid_input_from(error, root="settings")
        raise InvalidInput(
            f"settings.{invalid.field}" if invalid.field != "settings" else "settings",
            invalid.errors[0]["message"],
        ) from None


def batch_outcome(run_counts: Mapping[str, int]) -> BatchStatus | None:
    """What a batch becomes from the number of its registration jobs per status: ``None`` while any
    job is still active (or the batch is empty), else ``failed`` if any job failed, else ``completed``."""
    total = sum(run_counts.values())
    if total == 0:
        return None
    if any(count > 0 for status, count in run_counts.items() if status not in FINAL_REGISTRATION):
        return None
    if run_counts.get(RegistrationStatus.FAILED.value, 0) > 0:
        return BatchStatus.FAILED
    return BatchStatus.COMPLETED


HALTED_BATCH = frozenset({BatchStatus.PAUSED, BatchStatus.CANCELLED})


def may_start_automatic_step(batch_status: str | None) -> bool:
    """Whether an automatic step of a job of a batch in ``batch_status`` may start now (``None``: the
    job has no batch)."""
    return batch_status is None or BatchStatus(batch_status) not in HALTED_BATCH


class BulkMode(StrEnum):
    CONFIRM_SEARCH_TERMS = "confirm_search_terms"
    ACCEPT_PRESELECTED = "accept_preselected"
    APPLY_CONFIG = "apply_config"
    ANSWERS = "answers"


BULK_MODE_STEP: Mapping[BulkMode, str | None] = {
    BulkMode.CONFIRM_SEARCH_TERMS: "company_search",
    BulkMode.ACCEPT_PRESELECTED: "company_selection",
    BulkMode.APPLY_CONFIG: "yolo_config",
    BulkMode.ANSWERS: None,
}
"""The step a bulk mode answers (``None``: any step that waits)."""

SEARCH_TERM_FIELDS = ("trading_name", "legal_name", "street_address")


def bulk_answer(
    mode: BulkMode,
    *,
    step_key: str,
    step_input: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    answer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The answer one item of a bulk request gives to its step (validated later like any answer).

    ``InvalidInput`` when the mode does not fit the step (field ``step_key``), when there is no
    pre-selected candidate (``candidate_id``), or when the item lacks its answer (``answer``).
    """
    expected = BULK_MODE_STEP[mode]
    if expected is not None and step_key != expected:
        raise InvalidInput("step_key", f"mode {mode.value} answers {expected} steps, not {step_key}")
    if mode is BulkMode.CONFIRM_SEARCH_TERMS:
        terms = step_input.get("search_terms") or {}
        return {name: terms.get(name) for name in SEARCH_TERM_FIELDS}
    if mode is BulkMode.ACCEPT_PRESELECTED:
        chosen = step_input.get("preselected_candidate_id")
        if not chosen:
            raise InvalidInput("candidate_id", "no candidate is clearly the one; choose one yourself")
        return {"candidate_id": str(chosen)}
    if mode is BulkMode.APPLY_CONFIG:
        return dict(config or {})
    if answer is None:
        raise InvalidInput("answer", "give an answer for this item")
    return dict(answer)
