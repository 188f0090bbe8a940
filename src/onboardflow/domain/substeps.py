"""The 12 Yolo Mode sub-steps of step 6 (SPEC §3.1) and the pure rules that schedule them.

The scheduler is a function of the current sub-step statuses and the Yolo Mode configuration; it
never looks at the clock or the database. The runtime calls ``plan_next`` after every change, starts
what it says, records the skips, and ends the job when it reports an outcome.

Scheduling rules:

- A sub-step starts when it is ``pending``, its condition holds, and every sub-step it runs after is
  ``completed``; a skipped ordering-only predecessor (``optional_after``) stands for what it runs
  after in turn.
- A sub-step whose own condition is false is skipped with ``condition not met: <field> is off``. Its
  own condition is checked first, so a switched-off sub-step never reads as blocked.
- A sub-step that runs after a ``failed`` or ``cancelled`` one, directly or transitively, is skipped
  with ``blocked by <key>``, naming the sub-step that failed.
- A sub-step that needs the output of a sub-step skipped for its condition is skipped too, and
  inherits that reason (``onboarding_sync`` without an onboarding user is skipped with
  ``condition not met: onboarding.create_user is off``). An ordering-only predecessor
  (``option_sets`` before ``item_tags``) does not pass its skip on: item tags run without option
  sets, but still only once the menu is imported, and are skipped with the menu import.
- Independent sub-steps keep running after a failure; the outcome waits for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from onboardflow.domain.statuses import (
    ATTEMPTABLE_STEP,
    FINAL_REGISTRATION,
    FINAL_STEP,
    RegistrationStatus,
    StepStatus,
)
from onboardflow.errors import InvalidInput


@dataclass(frozen=True, slots=True, kw_only=True)
class SubStepSpec:
    """One Yolo Mode operation: where it is shown, what it runs after, and when it runs at all."""

    key: str
    label: str
    phase: int
    after: tuple[str, ...] = ()
    optional_after: tuple[str, ...] = ()
    """Predecessors that only order the work: when skipped for their condition, this one still runs."""
    condition: str | None = None
    """Dotted configuration field that must be truthy for this sub-step to run."""
    blocking: bool = False
    """Whether later phases depend on it (display only; ``after`` is what the scheduler follows)."""


SUB_STEPS: tuple[SubStepSpec, ...] = (
    SubStepSpec(key="account", label="Create account", phase=1, blocking=True),
    SubStepSpec(key="code_generation", label="Generate site code", phase=1),
    SubStepSpec(
        key="onboarding_user", label="Create onboarding user", phase=1, condition="onboarding.create_user"
    ),
    SubStepSpec(key="image_upload", label="Upload images", phase=1),
    SubStepSpec(
        key="restaurant_registration",
        label="Register restaurant",
        phase=2,
        after=("account",),
        blocking=True,
    ),
    SubStepSpec(
        key="website_config",
        label="Configure website",
        phase=2,
        after=("restaurant_registration", "code_generation", "image_upload"),
    ),
    SubStepSpec(
        key="services_config", label="Configure services", phase=2, after=("restaurant_registration",)
    ),
    SubStepSpec(key="payment_config", label="Configure payment", phase=2, after=("restaurant_registration",)),
    SubStepSpec(
        key="menu_import",
        label="Import menu",
        phase=2,
        after=("restaurant_registration", "image_upload"),
        condition="menu.import_menu",
        blocking=True,
    ),
    SubStepSpec(
        key="onboarding_sync",
        label="Sync onboarding user",
        phase=2,
        after=("onboarding_user", "restaurant_registration"),
        condition="onboarding.sync",
    ),
    SubStepSpec(
        key="option_sets",
        label="Create option sets",
        phase=3,
        after=("menu_import",),
        condition="option_sets.enabled",
    ),
    SubStepSpec(
        key="item_tags",
        label="Apply item tags",
        phase=4,
        after=("option_sets",),
        optional_after=("option_sets",),
        condition="item_tags.enabled",
    ),
)
"""The sub-steps in display order, which is also a topological order of ``after``."""

SUB_STEP_KEYS: tuple[str, ...] = tuple(spec.key for spec in SUB_STEPS)
PHASES: tuple[str, ...] = ("phase1", "phase2", "phase3", "phase4")

_BY_KEY: Mapping[str, SubStepSpec] = {spec.key: spec for spec in SUB_STEPS}
_FAILED = frozenset({StepStatus.FAILED, StepStatus.CANCELLED})


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulePlan:
    """What to do next: sub-steps to start, sub-steps to skip (with reasons), and the job's outcome.

    ``outcome`` is ``None`` while work remains (after applying ``start`` and ``skip``).
    """

    start: tuple[str, ...] = ()
    skip: tuple[tuple[str, str], ...] = ()
    outcome: RegistrationStatus | None = None


def sub_step_by_key(key: str) -> SubStepSpec:
    """The spec of sub-step ``key``; ``InvalidInput`` for an unknown key."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise InvalidInput(
            "sub_step", f"unknown sub-step {key!r}; expected one of {', '.join(SUB_STEP_KEYS)}"
        ) from None


def condition_holds(condition: str | None, config: Mapping[str, Any]) -> bool:
    """Whether the dotted ``condition`` field of ``config`` is truthy; a missing field is falsy."""
    if condition is None:
        return True
    value: Any = config
    for part in condition.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False
        value = value[part]
    return bool(value)


def _successors() -> Mapping[str, frozenset[str]]:
    direct: dict[str, set[str]] = {key: set() for key in SUB_STEP_KEYS}
    for spec in SUB_STEPS:
        for predecessor in spec.after:
            direct[predecessor].add(spec.key)
    closure: dict[str, frozenset[str]] = {}
    for key in reversed(SUB_STEP_KEYS):  # reverse topological order: successors are already closed
        reach = set(direct[key])
        for successor in direct[key]:
            reach |= closure[successor]
        closure[key] = frozenset(reach)
    return closure


_DOWNSTREAM = _successors()


def downstream_of(key: str) -> frozenset[str]:
    """Every sub-step that runs after ``key``, directly or transitively (``key`` itself excluded)."""
    sub_step_by_key(key)
    return _DOWNSTREAM[key]


def _normalise(statuses: Mapping[str, StepStatus | str]) -> dict[str, StepStatus]:
    return {key: StepStatus(statuses.get(key, StepStatus.PENDING)) for key in SUB_STEP_KEYS}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Disposition:
    """Where a sub-step stands, as far as its successors are concerned."""

    state: str  # one of _PRECEDENCE
    reason: str = ""
    root: str = ""
    through: _Disposition | None = None
    """For a skipped sub-step: what its own predecessors say, which an ordering-only successor follows."""


# A switched-off predecessor outranks a failed one: the sub-step would not have run either way.
_PRECEDENCE = ("condition", "failed", "skipped", "waiting", "done")


def _upstream(spec: SubStepSpec, known: Mapping[str, _Disposition]) -> _Disposition:
    """The combined disposition of what ``spec`` runs after: the worst one by ``_PRECEDENCE``."""
    worst = _Disposition(state="done")
    for name in spec.after:
        disposition = known[name]
        if name in spec.optional_after and disposition.through is not None:
            disposition = disposition.through
        elif disposition.state == "failed":
            disposition = _Disposition(
                state="failed", reason=f"blocked by {disposition.root}", root=disposition.root
            )
        elif disposition.state == "skipped":
            disposition = _Disposition(state="skipped", reason=f"needs {name}, which was skipped")
        if _PRECEDENCE.index(disposition.state) < _PRECEDENCE.index(worst.state):
            worst = disposition
    return worst


def _dispose(
    spec: SubStepSpec, status: StepStatus, config: Mapping[str, Any], known: Mapping[str, _Disposition]
) -> tuple[_Disposition, bool]:
    """The disposition of one sub-step given its predecessors' ones; also whether it may start now."""
    if status is StepStatus.COMPLETED:
        return _Disposition(state="done"), False
    if status in _FAILED:
        return _Disposition(state="failed", root=spec.key), False
    if status not in (StepStatus.PENDING, StepStatus.SKIPPED):
        return _Disposition(state="waiting"), False  # in progress, retrying or waiting for a person
    upstream = _upstream(spec, known)
    if not condition_holds(spec.condition, config):
        reason = f"condition not met: {spec.condition} is off"
        return _Disposition(state="condition", reason=reason, through=upstream), False
    if upstream.state in ("failed", "condition", "skipped"):
        return _Disposition(
            state=upstream.state, reason=upstream.reason, root=upstream.root, through=upstream
        ), False
    if status is StepStatus.SKIPPED:
        # Skipped for a reason the statuses and configuration no longer explain (an operator, or a
        # configuration changed since): successors that need its output cannot run either.
        return _Disposition(state="skipped", reason="skipped", through=upstream), False
    return _Disposition(state="waiting"), upstream.state == "done"


def plan_next(
    statuses: Mapping[str, StepStatus | str], config: Mapping[str, Any] | BaseModel
) -> SchedulePlan:
    """Plan the next scheduling step of a Yolo Mode run (see the module docstring for the rules).

    ``statuses`` maps sub-step keys to their status (a missing key counts as ``pending``); ``config``
    is the Yolo Mode configuration, as a model or a mapping (where a missing switch counts as off).
    Skips are planned transitively in one call.
    """
    if isinstance(config, BaseModel):
        config = config.model_dump()
    current = _normalise(statuses)
    known: dict[str, _Disposition] = {}
    start: list[str] = []
    skip: list[tuple[str, str]] = []
    for spec in SUB_STEPS:
        status = current[spec.key]
        disposition, ready = _dispose(spec, status, config, known)
        known[spec.key] = disposition
        if status is StepStatus.PENDING:
            if ready:
                start.append(spec.key)
            elif disposition.state != "waiting":
                skip.append((spec.key, disposition.reason))
    projected = current | dict.fromkeys((key for key, _ in skip), StepStatus.SKIPPED)
    return SchedulePlan(
        start=tuple(start), skip=tuple(skip), outcome=None if start else outcome_of(projected)
    )


def plan_turn(
    statuses: Mapping[str, StepStatus | str], config: Mapping[str, Any] | BaseModel
) -> SchedulePlan:
    """One scheduling turn of a run: ``plan_next`` again after its skips (a skip can make more
    sub-steps ready) until it skips nothing more; every skip and start of the turn, in order, and
    the run's outcome if it ends with this turn."""
    planned: dict[str, StepStatus | str] = dict(statuses)
    start: list[str] = []
    skip: list[tuple[str, str]] = []
    while True:
        plan = plan_next(planned, config)
        skip += plan.skip
        planned.update(dict.fromkeys((key for key, _reason in plan.skip), StepStatus.SKIPPED))
        start += plan.start
        planned.update(dict.fromkeys(plan.start, StepStatus.IN_PROGRESS))
        if not plan.skip:
            return SchedulePlan(start=tuple(start), skip=tuple(skip), outcome=plan.outcome)


def outcome_of(statuses: Mapping[str, StepStatus | str]) -> RegistrationStatus | None:
    """The job's outcome once every sub-step is final: failed beats cancelled beats completed.

    ``None`` while any sub-step is not final.
    """
    current = _normalise(statuses)
    if any(status not in FINAL_STEP for status in current.values()):
        return None
    if StepStatus.FAILED in current.values():
        return RegistrationStatus.FAILED
    if StepStatus.CANCELLED in current.values():
        return RegistrationStatus.CANCELLED
    return RegistrationStatus.COMPLETED


def reset_for_retry(statuses: Mapping[str, StepStatus | str], from_step: str | None = None) -> frozenset[str]:
    """The sub-steps a retry sets back to ``pending``.

    Without ``from_step``: every failed or cancelled sub-step and everything downstream of it. With
    ``from_step``: that sub-step and everything downstream of it. Sub-steps already ``pending`` are
    left out (there is nothing to reset), and completed sub-steps outside that set are kept.
    """
    current = _normalise(statuses)
    if from_step is not None:
        if from_step not in _BY_KEY:
            raise InvalidInput(
                "from_step", f"unknown sub-step {from_step!r}; expected one of {', '.join(SUB_STEP_KEYS)}"
            )
        roots = {from_step}
    else:
        roots = {key for key, status in current.items() if status in _FAILED}
    targets: set[str] = set(roots)
    for root in roots:
        targets |= _DOWNSTREAM[root]
    return frozenset(key for key in targets if current[key] is not StepStatus.PENDING)


def current_phase(statuses: Mapping[str, StepStatus | str]) -> str | None:
    """The lowest phase (``phase1`` .. ``phase4``) that holds a sub-step not yet final; ``None`` when
    every sub-step is final."""
    current = _normalise(statuses)
    phases = [spec.phase for spec in SUB_STEPS if current[spec.key] not in FINAL_STEP]
    return f"phase{min(phases)}" if phases else None


def attempt_start(*, step_status: str, run_status: str, holds_the_step: bool) -> str:
    """Whether the queue job of a sub-step's attempt may begin it, as one word:

    - ``begin``: the job still holds the sub-step (it is the sub-step's current job), the sub-step
      may begin an attempt (``ATTEMPTABLE_STEP``) and its run is not final;
    - ``superseded``: another job holds the sub-step now (a retry or a reschedule replaced this one);
    - ``reopen``: the sub-step and its run failed and this job was retried by hand (from the queue
      dashboard): the run is retried from this sub-step;
    - ``nothing to do``: the run is final or the sub-step is past an attempt (done, skipped,
      cancelled).
    """
    failed = step_status == StepStatus.FAILED
    if not holds_the_step and not failed:
        return "superseded"
    if failed and run_status == RegistrationStatus.FAILED:
        return "reopen"
    if run_status in FINAL_REGISTRATION or step_status not in ATTEMPTABLE_STEP:
        return "nothing to do"
    return "begin"
