"""The six steps every restaurant of a batch moves through (SPEC §3), as data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from onboardflow.domain.statuses import StepType
from onboardflow.errors import InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSpec:
    """One stage of a registration job: automatic, or waiting for a person's answer."""

    key: str
    number: int
    step_type: StepType
    label: str
    description: str


PIPELINE_STEPS: tuple[StepSpec, ...] = (
    StepSpec(
        key="extraction",
        number=1,
        step_type=StepType.AUTOMATIC,
        label="Extraction",
        description="Extract the menu and the branding from the marketplace page, in parallel.",
    ),
    StepSpec(
        key="company_search",
        number=2,
        step_type=StepType.ACTION_REQUIRED,
        label="Company search",
        description=(
            "Confirm the search terms (trading name, legal name, street address); then the companies "
            "register is searched and every candidate is stored with a match score."
        ),
    ),
    StepSpec(
        key="company_selection",
        number=3,
        step_type=StepType.ACTION_REQUIRED,
        label="Company selection",
        description="Pick the restaurant's company among the candidates, or none of them.",
    ),
    StepSpec(
        key="company_details",
        number=4,
        step_type=StepType.AUTOMATIC,
        label="Company details",
        description=(
            "Fetch the chosen company's details and fill in the restaurant's contact person, email and "
            "phone; skipped when no company was chosen."
        ),
    ),
    StepSpec(
        key="yolo_config",
        number=5,
        step_type=StepType.ACTION_REQUIRED,
        label="Yolo Mode configuration",
        description="Approve the registration configuration, prefilled from what is known so far.",
    ),
    StepSpec(
        key="yolo_execution",
        number=6,
        step_type=StepType.AUTOMATIC,
        label="Registration",
        description="Register the restaurant on Pumpd: the 12 Yolo Mode sub-steps.",
    ),
)
"""The batch pipeline, in order."""

PIPELINE_STEP_KEYS: tuple[str, ...] = tuple(step.key for step in PIPELINE_STEPS)

SINGLE_RUN_STEPS: tuple[StepSpec, ...] = tuple(
    step for step in PIPELINE_STEPS if step.key == "yolo_execution"
)
"""The steps of a single-restaurant run ("Complete Setup"): the execution only."""

_BY_KEY: Mapping[str, StepSpec] = {step.key: step for step in PIPELINE_STEPS}


def step_by_key(key: str) -> StepSpec:
    """The step called ``key``; ``InvalidInput`` (field ``step_key``) for an unknown key."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise InvalidInput(
            "step_key", f"unknown step {key!r}; expected one of {', '.join(PIPELINE_STEP_KEYS)}"
        ) from None


def next_step(key: str) -> StepSpec | None:
    """The step after ``key`` in the batch pipeline, or ``None`` after the last one."""
    number = step_by_key(key).number
    return PIPELINE_STEPS[number] if number < len(PIPELINE_STEPS) else None
