"""One attempt of a Yolo Mode sub-step, in two short transactions on the hot path of every run.

``start_attempt`` marks the sub-step in progress and reads what its Pumpd call needs;
``end_attempt`` records the call and its outcome, keeps the result on the run, and starts the
sub-steps that became ready, under the run's row lock. Both run their statements on the driver
(``driver_sql``) because a registration run makes a dozen of them per sub-step. The rare turns of a
run (a skip, the first or the last sub-step, a retry of a failed run) go through
``registrations.schedule_ready`` and friends, which hold every rule of those turns.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.jobs import ClaimedJob, JobSpec
from onboardflow.domain.retry import RetryPolicy, decide_retry
from onboardflow.domain.statuses import (
    ACTIVE_REGISTRATION,
    FINAL_REGISTRATION,
    RegistrationStatus,
    StepStatus,
    check_transition,
)
from onboardflow.domain.substeps import current_phase, plan_next
from onboardflow.errors import Conflict, NotFound
from onboardflow.store import driver_sql as sql
from onboardflow.store.driver_sql import Json
from onboardflow.store.queue import complete_within, job_row, request_wakeup
from onboardflow.store.registrations import (
    PUMPD_QUEUE,
    SUB_STEP_JOB,
    SUB_STEP_MAX_RETRIES,
    planning_statuses,
    schedule_ready,
    step_job_spec,
)
from onboardflow.store.tables import registration_job_steps, registration_jobs, restaurants

RUNNABLE = frozenset({StepStatus.PENDING.value, StepStatus.RETRYING.value, StepStatus.IN_PROGRESS.value})
PUMPD_ID_NAMES = ("pumpd_user_id", "pumpd_restaurant_id")

_STEP_COLUMNS = sql.table_columns(registration_job_steps)
_ATTEMPT_COLUMNS = sql.table_columns(
    registration_job_steps,
    run_status=registration_jobs.c.status.type,
    execution_config=registration_jobs.c.execution_config.type,
    execution_results=registration_jobs.c.execution_results.type,
    restaurant_id=registration_jobs.c.restaurant_id.type,
    batch_job_id=registration_jobs.c.batch_job_id.type,
)
_RUN_COLUMNS = sql.table_columns(registration_jobs, run_status=registration_jobs.c.status.type)
_RESTAURANT_COLUMNS = sql.table_columns(restaurants)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """A sub-step attempt that has begun: the sub-step in progress and what its call needs."""

    run_id: UUID
    step_id: UUID
    organisation_id: UUID
    restaurant_id: UUID
    key: str
    number: int
    generation: int
    sealed_config: Mapping[str, Any]
    results: Mapping[str, Any]
    restaurant: Mapping[str, Any]

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of one generation of the sub-step."""
        return f"reg-{self.run_id}-{self.key}-{self.generation}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotStarted:
    """Why an attempt does not run: ``superseded``, ``nothing to do`` or ``reopen`` (the failed
    sub-step's job was retried by hand: the caller reopens the failed run)."""

    reason: str
    sub_step: str
    run: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """The external call an attempt made, as the call log keeps it (already redacted)."""

    request: Mapping[str, Any]
    response: Mapping[str, Any] | None
    status: str
    error_message: str | None
    duration_ms: int


def _event(
    step: Mapping[str, Any],
    *,
    organisation_id: UUID,
    run_id: UUID,
    batch_job_id: UUID | None,
    current: str,
    target: str,
    actor: str,
    reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    check_transition("step", current, target)
    return {
        "organisation_id": organisation_id,
        "entity_type": "step",
        "entity_id": step["id"],
        "batch_job_id": batch_job_id,
        "registration_job_id": run_id,
        "from_status": current,
        "to_status": target,
        "actor": actor,
        "reason": reason,
        "data": Json({"step_key": step["step_key"]}),
        "created_at": now,
    }


async def start_attempt(
    conn: AsyncConnection,
    *,
    job: ClaimedJob,
    run_id: UUID,
    step_id: UUID,
    actor: str,
    now: datetime,
) -> Attempt | NotStarted:
    """Begin the attempt that ``job`` runs: the sub-step moves to ``in_progress`` (an interrupted
    attempt stays there with the new attempt number), unless the run or the sub-step moved on."""
    params = {"step_id": step_id, "run_id": run_id, "organisation_id": job.organisation_id}
    rows = await sql.fetch(conn, "sub_steps", "attempt_of_sub_step", params, columns=_ATTEMPT_COLUMNS)
    if not rows:
        raise NotFound("registration job")
    row = rows[0]
    status, run_status = str(row["status"]), str(row["run_status"])
    if row["job_id"] != job.id and status != StepStatus.FAILED.value:
        return NotStarted(reason="superseded", sub_step=status, run=run_status)
    if status == StepStatus.FAILED.value and run_status == RegistrationStatus.FAILED.value:
        return NotStarted(reason="reopen", sub_step=status, run=run_status)
    if run_status in FINAL_REGISTRATION or status not in RUNNABLE:
        return NotStarted(reason="nothing to do", sub_step=status, run=run_status)
    attempt = int(row["attempts"]) + 1
    if status != StepStatus.IN_PROGRESS.value:
        event = _event(
            row,
            organisation_id=row["organisation_id"],
            run_id=run_id,
            batch_job_id=row["batch_job_id"],
            current=status,
            target=StepStatus.IN_PROGRESS.value,
            actor=actor,
            reason=None,
            now=now,
        )
    async with sql.pipelined(conn):
        started = await sql.send(
            conn,
            "sub_steps",
            "start_sub_step",
            {"attempts": attempt, "now": now, "job_id": job.id, "step_id": step_id, "current": status},
        )
        if status != StepStatus.IN_PROGRESS.value:
            await sql.send(conn, "sub_steps", "insert_event", event)
        restaurant = await sql.fetch(
            conn,
            "sub_steps",
            "restaurant_of_run",
            {"restaurant_id": row["restaurant_id"], "organisation_id": row["organisation_id"]},
            columns=_RESTAURANT_COLUMNS,
        )
    if started.rowcount != 1:
        # Moved meanwhile (cancelled, or re-queued): the pipeline also logged an event, so undo all.
        raise Conflict("the sub-step changed while its attempt began")
    if not restaurant:
        raise NotFound("restaurant")
    return Attempt(
        run_id=run_id,
        step_id=step_id,
        organisation_id=row["organisation_id"],
        restaurant_id=row["restaurant_id"],
        key=str(row["step_key"]),
        number=attempt,
        generation=int((row["input"] or {}).get("generation", 0)),
        sealed_config=row["execution_config"],
        results=dict(row["execution_results"] or {}),
        restaurant=restaurant[0],
    )


async def end_attempt(
    conn: AsyncConnection,
    attempt: Attempt,
    *,
    job: ClaimedJob,
    call: Call,
    result: Mapping[str, Any] | None,
    error: BaseException | None,
    config: Mapping[str, Any],
    worker_id: str,
    now: datetime,
    rng: random.Random,
) -> dict[str, Any]:
    """Record the call and how the attempt ended, start what became ready, and complete ``job``.

    The outcome is ``completed`` (result kept on the run, Pumpd ids on the run and the restaurant),
    ``retrying`` (the next attempt queued at the back-off time), ``failed`` (no retries left or a
    permanent error; the caller fails the job) or ``discarded`` when the sub-step was cancelled or
    re-queued meanwhile. The queue job is completed here, in the same transaction, for the first two.
    """
    actor = f"worker:{worker_id}"
    params = {"run_id": attempt.run_id}
    async with sql.pipelined(conn):
        locked = await sql.send(conn, "sub_steps", f"lock_run_{conn.dialect.name}", params)
        read = await sql.send(conn, "sub_steps", "sub_steps_of_run", params)
        runs = await sql.rows_of(conn, locked, columns=_RUN_COLUMNS)
        rows = await sql.rows_of(conn, read, columns=_STEP_COLUMNS)
    if not runs:
        raise NotFound("registration job")
    run = {"id": attempt.run_id, **runs[0], "status": runs[0]["run_status"]}
    by_key = {str(r["step_key"]): r for r in rows}
    step = by_key[attempt.key]
    discarded = step["status"] != StepStatus.IN_PROGRESS.value or step["job_id"] != job.id
    change = None if discarded else _change(attempt, run, step, result=result, error=error, now=now, rng=rng)
    async with sql.pipelined(conn):
        await sql.send(conn, "sub_steps", "insert_call", _call_row(attempt, call, now))
        if change is None:
            return {"outcome": "discarded", "sub_step": step["status"]}
        if change.retry_job is not None:
            await _queue(conn, change.retry_job)
        await sql.send(
            conn,
            "sub_steps",
            "end_sub_step",
            {
                **change.values,
                "status": change.target.value,
                "step_id": step["id"],
                "job_id": job.id,
                "now": now,
            },
        )
        step.update(status=change.target.value, job_id=change.values["next_job_id"])
        statuses = {key: str(s["status"]) for key, s in by_key.items()}
        await _update_run(conn, attempt, run, change, current_phase(statuses), now)
        events = [
            _event(
                step,
                organisation_id=attempt.organisation_id,
                run_id=attempt.run_id,
                batch_job_id=run["batch_job_id"],
                current=StepStatus.IN_PROGRESS.value,
                target=change.target.value,
                actor=actor,
                reason=change.reason,
                now=now,
            )
        ]
        await sql.execute_many(conn, "sub_steps", "insert_event", events)
        planned = await _start_ready(conn, run, list(by_key.values()), config=config, now=now)
        if change.outcome["outcome"] != "failed":
            await complete_within(
                conn,
                job_id=job.id,
                attempt=job.attempts,
                result=change.outcome,
                duration_ms=call.duration_ms,
                worker_id=worker_id,
                now=now,
            )
    if not planned:
        # A skip, the run's end or its first turn: the general scheduler holds those rules.
        await schedule_ready(conn, attempt.run_id, config=config, actor=actor)
    return change.outcome


@dataclass(slots=True, kw_only=True)
class _Change:
    target: StepStatus
    values: dict[str, Any]
    outcome: dict[str, Any]
    result: dict[str, Any] | None = None
    reason: str | None = None
    retry_job: dict[str, Any] | None = None


def _change(
    attempt: Attempt,
    run: Mapping[str, Any],
    step: Mapping[str, Any],
    *,
    result: Mapping[str, Any] | None,
    error: BaseException | None,
    now: datetime,
    rng: random.Random,
) -> _Change:
    """What the sub-step row becomes after this attempt (and the job of the next one, if any)."""
    values: dict[str, Any] = {
        "result": Json(None),
        "warning": None,
        "error_message": None,
        "completed_at": now,
        "duration_ms": int((now - (step["started_at"] or now)).total_seconds() * 1000),
        "next_attempt_at": None,
        "next_job_id": step["job_id"],
    }
    if error is None:
        assert result is not None
        values.update(result=Json(dict(result)), warning=result.get("warning"))
        return _Change(
            target=StepStatus.COMPLETED,
            values=values,
            result=dict(result),
            outcome={"outcome": "completed", "ids": result.get("ids")},
        )
    decision = decide_retry(
        attempt=attempt.number,
        policy=RetryPolicy(max_retries=int(step["max_retries"])),
        error=error,
        now=now,
        rng=rng,
    )
    message = str(error) or type(error).__name__
    values["error_message"] = message
    if not decision.retry:
        return _Change(
            target=StepStatus.FAILED,
            values=values,
            reason=decision.reason,
            outcome={"outcome": "failed", "error": message},
        )
    retry_job = job_row(
        _sub_step_spec(run, {**step, "attempts": attempt.number}, run_at=decision.run_at), now
    )
    values.update(
        completed_at=None,
        duration_ms=step["duration_ms"],
        next_attempt_at=decision.run_at,
        next_job_id=retry_job["id"],
    )
    run_at = decision.run_at.isoformat() if decision.run_at else None
    return _Change(
        target=StepStatus.RETRYING,
        values=values,
        reason=decision.reason,
        retry_job=retry_job,
        outcome={"outcome": "retrying", "next_attempt_at": run_at},
    )


def _call_row(attempt: Attempt, call: Call, now: datetime) -> dict[str, Any]:
    return {
        "organisation_id": attempt.organisation_id,
        "registration_job_id": attempt.run_id,
        "step_key": attempt.key,
        "restaurant_id": attempt.restaurant_id,
        "service": "pumpd",
        "operation": attempt.key,
        "idempotency_key": attempt.idempotency_key,
        "attempt": attempt.number,
        "request": Json(dict(call.request)),
        "response": Json(None if call.response is None else dict(call.response)),
        "status": call.status,
        "error_message": call.error_message,
        "duration_ms": call.duration_ms,
        "now": now,
    }


async def _update_run(
    conn: AsyncConnection,
    attempt: Attempt,
    run: Mapping[str, Any],
    change: _Change,
    phase: str | None,
    now: datetime,
) -> None:
    """Keep a completed sub-step's result and Pumpd ids on the run (and the ids on the restaurant),
    and show the phase the run is now in."""
    if run["status"] not in ACTIVE_REGISTRATION:
        phase = run["current_phase"]
    if change.target is not StepStatus.COMPLETED:
        if phase != run["current_phase"]:
            params = {"current_phase": phase, "now": now, "run_id": attempt.run_id}
            await sql.send(conn, "sub_steps", "set_current_phase", params)
        return
    result = change.result or {}
    ids = {name: str(v) for name in PUMPD_ID_NAMES if (v := (result.get("ids") or {}).get(name))}
    found = {name: ids.get(name) for name in PUMPD_ID_NAMES}
    await sql.send(
        conn,
        "sub_steps",
        f"keep_result_{conn.dialect.name}",
        {
            "key": attempt.key,
            "result": Json(result),
            **found,
            "current_phase": phase,
            "now": now,
            "run_id": attempt.run_id,
        },
    )
    if ids:
        await sql.send(
            conn,
            "sub_steps",
            "restaurant_pumpd_ids",
            {
                **found,
                "now": now,
                "restaurant_id": attempt.restaurant_id,
                "organisation_id": attempt.organisation_id,
            },
        )


def _sub_step_spec(
    run: Mapping[str, Any], step: Mapping[str, Any], *, run_at: datetime | None = None
) -> JobSpec:
    return step_job_spec(
        run, step, job_type=SUB_STEP_JOB, queue=PUMPD_QUEUE, max_retries=SUB_STEP_MAX_RETRIES, run_at=run_at
    )


async def _queue(conn: AsyncConnection, row: Mapping[str, Any]) -> None:
    """Insert one job row built by ``queue.job_row`` and ask for a wake-up after commit."""
    params = {**row, "input_payload": Json(row["input_payload"]), "metadata": Json(row["metadata"])}
    await sql.send(conn, "sub_steps", "insert_job", params)
    request_wakeup(conn, str(row["queue"]))


async def _start_ready(
    conn: AsyncConnection,
    run: Mapping[str, Any],
    sub_steps: list[dict[str, Any]],
    *,
    config: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Queue the sub-steps that became ready. False when the run takes a rarer turn (a skip, its end,
    its first step, or it is not running): ``schedule_ready`` handles those after this."""
    if run["status"] != RegistrationStatus.IN_PROGRESS.value:
        return run["status"] not in ACTIVE_REGISTRATION
    plan = plan_next(planning_statuses(sub_steps), config)
    if plan.skip or plan.outcome is not None:
        return False
    by_key = {str(s["step_key"]): s for s in sub_steps}
    for key in plan.start:
        row = job_row(_sub_step_spec(run, by_key[key]), now)
        await _queue(conn, row)
        params = {"job_id": row["id"], "now": now, "step_id": by_key[key]["id"]}
        await sql.send(conn, "sub_steps", "point_sub_step_at_job", params)
    return True
