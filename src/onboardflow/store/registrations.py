"""Registration runs: the registration job, its step rows and the 12 sub-step rows of step 6.

``schedule_ready`` is the one place a run moves forward: it applies ``domain.substeps.plan_turn``
inside the caller's transaction (skips recorded, ready sub-steps enqueued as queue jobs, the run
finished when the plan reports an outcome). Callers hold the run's row lock (``lock_run``) so that
two sub-steps finishing at once see each other's result. A single-restaurant run is created with its
first turn already taken (``start_single_run``), by the same rule.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.jobs import JobSpec
from onboardflow.domain.pipeline import StepSpec
from onboardflow.domain.retry import RetryDecision, RetryPolicy, decide_retry
from onboardflow.domain.statuses import (
    ACTIVE_REGISTRATION,
    FINAL_STEP,
    RegistrationStatus,
    StepStatus,
    StepType,
    check_transition,
)
from onboardflow.domain.substeps import SUB_STEPS, current_phase, plan_turn, reset_for_retry
from onboardflow.errors import NotFound
from onboardflow.store import driver_sql
from onboardflow.store.batches import on_run_finished_plan
from onboardflow.store.engine import Database
from onboardflow.store.events import event_row, record_events
from onboardflow.store.paging import Page, fetch_page
from onboardflow.store.queue import enqueue_many, job_insert, job_row
from onboardflow.store.tables import registration_job_steps as steps
from onboardflow.store.tables import registration_jobs as runs
from onboardflow.store.tables import registration_logs
from onboardflow.store.tables import restaurants as restaurants_table
from onboardflow.store.transitions import apply, transition
from onboardflow.store.types import utcnow

SUB_STEP_JOB = "registration.sub_step"
PUMPD_QUEUE = "pumpd"
EXECUTION_STEP = "yolo_execution"
SUB_STEP_MAX_RETRIES = 3
ACTIVE_RUN_INDEX = "uq_registration_jobs_one_active_single_run"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewRun:
    id: UUID
    execution_step_id: UUID


async def insert_run(
    conn: AsyncConnection,
    *,
    organisation_id: UUID,
    restaurant_id: UUID,
    pipeline: Sequence[StepSpec],
    execution_config: Mapping[str, Any],
    batch_job_id: UUID | None = None,
    created_by: UUID | None = None,
    actor: str,
) -> NewRun:
    """Create a registration job with a row per pipeline step and the 12 sub-step rows of step 6.

    A second active single-restaurant run of the same restaurant raises ``Conflict`` with
    ``constraint`` naming the unique index (the database decides, not a read before the write).
    """
    now = utcnow()
    run_id = uuid4()
    await conn.execute(
        sa.insert(runs).values(
            id=run_id,
            organisation_id=organisation_id,
            batch_job_id=batch_job_id,
            restaurant_id=restaurant_id,
            status=RegistrationStatus.PENDING.value,
            current_step=pipeline[0].key,
            execution_config=dict(execution_config),
            execution_results={},
            created_by=created_by,
            metadata={},
            created_at=now,
            updated_at=now,
        )
    )
    step_rows = [
        _step_row(run_id, organisation_id, spec.key, spec.number, spec.label, spec.step_type, now)
        for spec in pipeline
    ]
    execution_step_id = next(r["id"] for r in step_rows if r["step_key"] == EXECUTION_STEP)
    sub_rows = [
        {
            **_step_row(run_id, organisation_id, spec.key, number, spec.label, StepType.AUTOMATIC, now),
            "parent_step_id": execution_step_id,
            "phase": spec.phase,
        }
        for number, spec in enumerate(SUB_STEPS, start=1)
    ]
    await conn.execute(sa.insert(steps), [*step_rows, *sub_rows])
    await record_events(
        conn,
        [
            event_row(
                organisation_id=organisation_id,
                entity_type="registration_job",
                entity_id=run_id,
                from_status=None,
                to_status=RegistrationStatus.PENDING.value,
                actor=actor,
                batch_job_id=batch_job_id,
                registration_job_id=run_id,
            )
        ],
    )
    return NewRun(id=run_id, execution_step_id=execution_step_id)


async def start_single_run(
    db: Database,
    *,
    organisation_id: UUID,
    restaurant_id: UUID,
    execution_config: Mapping[str, Any],
    config: Mapping[str, Any],
    created_by: UUID | None,
    actor: str,
) -> tuple[UUID, bool]:
    """The restaurant's active single-restaurant run, or a new one created in the state its first
    scheduling turn leaves it in (``schedule_ready`` would give the same rows and events): its
    sub-steps that can start queued, the conditional ones switched off skipped, the run and its
    execution step in progress. Returns (run id, whether it was created).

    One write transaction, of a few statements sent together (on SQLite run in one go,
    ``Database.write_plan``); a concurrent start that created the run first makes it raise ``Conflict``
    (the database's unique index decides) and the caller reads that run instead.
    """
    plan = _start_plan(
        organisation_id=organisation_id,
        restaurant_id=restaurant_id,
        execution_config=execution_config,
        config=config,
        created_by=created_by,
        actor=actor,
        now=utcnow(),
    )
    return await db.write_plan(plan)


def _start_plan(
    *,
    organisation_id: UUID,
    restaurant_id: UUID,
    execution_config: Mapping[str, Any],
    config: Mapping[str, Any],
    created_by: UUID | None,
    actor: str,
    now: datetime,
) -> driver_sql.Plan[tuple[UUID, bool]]:
    owner, single_runs = yield [
        driver_sql.Fetch("runs", "owner_of_restaurant", {"restaurant_id": restaurant_id}, _RESTAURANT_OWNER),
        driver_sql.Fetch(
            "runs",
            "single_runs_of_restaurant",
            {"restaurant_id": restaurant_id, "organisation_id": organisation_id},
            _RUN_ID,
        ),
    ]
    if not owner or owner[0]["organisation_id"] != organisation_id:
        raise NotFound("restaurant")
    active = [row for row in single_runs if row["status"] in ACTIVE_REGISTRATION]
    if active:
        return active[0]["id"], False
    run_id = uuid4()
    execution = _step_row(run_id, organisation_id, EXECUTION_STEP, 6, "Registration", StepType.AUTOMATIC, now)
    execution.update(status=StepStatus.IN_PROGRESS.value, started_at=now)
    sub_steps = {
        spec.key: {
            **_step_row(run_id, organisation_id, spec.key, number, spec.label, StepType.AUTOMATIC, now),
            "parent_step_id": execution["id"],
            "phase": spec.phase,
        }
        for number, spec in enumerate(SUB_STEPS, start=1)
    }
    turn = plan_turn(dict.fromkeys(sub_steps, StepStatus.PENDING.value), config)
    run = {"id": run_id, "organisation_id": organisation_id, "restaurant_id": restaurant_id}

    def event(entity: str, row_id: UUID, before: str | None, after: str, **more: Any) -> driver_sql.Write:
        row = event_row(
            organisation_id=organisation_id,
            entity_type=entity,
            entity_id=row_id,
            from_status=before,
            to_status=after,
            actor=actor,
            registration_job_id=run_id,
            **more,
        )
        row.update(created_at=now, data=driver_sql.Json(row["data"]))
        return driver_sql.Write("sub_steps", "insert_event", row)

    events = [event("registration_job", run_id, None, RegistrationStatus.PENDING.value)]
    jobs: list[driver_sql.Write] = []
    for key, reason in turn.skip:
        check_transition("step", StepStatus.PENDING, StepStatus.SKIPPED)
        sub_steps[key].update(status=StepStatus.SKIPPED.value, skip_reason=reason, completed_at=now)
        events.append(
            event("step", sub_steps[key]["id"], "pending", "skipped", reason=reason, data={"step_key": key})
        )
    for key in turn.start:
        row = job_row(sub_step_job_spec(run, sub_steps[key]), now)
        sub_steps[key]["job_id"] = row["id"]
        jobs.append(job_insert(row))
    check_transition("step", StepStatus.PENDING, StepStatus.IN_PROGRESS)
    check_transition("registration_job", RegistrationStatus.PENDING, RegistrationStatus.IN_PROGRESS)
    events += [
        event("step", execution["id"], "pending", "in_progress", data={"step_key": EXECUTION_STEP}),
        event("registration_job", run_id, "pending", "in_progress"),
    ]
    phase = current_phase({key: row["status"] for key, row in sub_steps.items()})
    yield [
        driver_sql.Write(
            "runs",
            "insert_run",
            {
                **run,
                "batch_job_id": None,
                "status": RegistrationStatus.IN_PROGRESS.value,
                "current_step": EXECUTION_STEP,
                "current_phase": phase,
                "execution_config": driver_sql.Json(dict(execution_config)),
                "execution_results": driver_sql.Json({}),
                "created_by": created_by,
                "metadata": driver_sql.Json({}),
                "started_at": now,
                "created_at": now,
                "updated_at": now,
            },
        ),
        *(
            driver_sql.Write("runs", "insert_step", _insertable(row))
            for row in (execution, *sub_steps.values())
        ),
        *jobs,
        *events,
    ]
    if jobs:
        yield driver_sql.Wake(PUMPD_QUEUE)
    return run_id, True


_RESTAURANT_OWNER = {"organisation_id": restaurants_table.c.organisation_id.type}
_RUN_ID = {"id": runs.c.id.type}


def _insertable(step: Mapping[str, Any]) -> dict[str, Any]:
    """A step row as ``runs.insert_step`` takes it."""
    return {
        "job_id": None,
        "skip_reason": None,
        "started_at": None,
        "completed_at": None,
        **step,
        "input": driver_sql.Json(step["input"]),
    }


def _step_row(
    run_id: UUID, organisation_id: UUID, key: str, number: int, label: str, step_type: StepType, now: datetime
) -> dict[str, Any]:
    return {
        "id": uuid4(),
        "organisation_id": organisation_id,
        "registration_job_id": run_id,
        "parent_step_id": None,
        "step_key": key,
        "step_number": number,
        "phase": None,
        "label": label,
        "step_type": step_type.value,
        "status": StepStatus.PENDING.value,
        "attempts": 0,
        "max_retries": SUB_STEP_MAX_RETRIES,
        "input": {"generation": 0},
        "created_at": now,
        "updated_at": now,
    }


async def lock_run(conn: AsyncConnection, organisation_id: UUID | None, run_id: UUID) -> dict[str, Any]:
    """The run, locked for the rest of the transaction (``FOR UPDATE`` on PostgreSQL; SQLite's
    writer holds the database lock already)."""
    run = await driver_sql.select_owned(conn, runs, run_id, organisation_id, for_update=True)
    if run is None:
        raise NotFound("registration job")
    return run


@dataclass(frozen=True, slots=True)
class LockedStep:
    """A run locked for the rest of the transaction, one of its steps and its batch's status."""

    run: dict[str, Any]
    step: dict[str, Any]
    batch_status: str | None
    following: dict[str, Any] | None = None
    """The step asked for as the one that follows (``lock_run_and_step(following=...)``)."""


async def lock_run_and_step(
    conn: AsyncConnection,
    organisation_id: UUID | None,
    run_id: UUID,
    step_id: UUID,
    *,
    following: str | None = None,
) -> LockedStep:
    """``lock_run``, the step ``step_id`` of the run, the status of the run's batch and, when
    ``following`` names one, the run's pipeline step of that key, read after the lock was taken, in
    one round trip on PostgreSQL (the step job's begin and end)."""
    plan = lock_run_and_step_plan(organisation_id, run_id, step_id, following=following)
    locked, _more = await driver_sql.carry_out(conn, plan)
    return locked


def lock_run_and_step_plan(
    organisation_id: UUID | None,
    run_id: UUID,
    step_id: UUID,
    *,
    following: str | None = None,
    reads: Sequence[driver_sql.Statement] = (),
) -> driver_sql.Plan[tuple[LockedStep, list[Any]]]:
    """``lock_run_and_step`` in a plan, with the answers of ``reads`` read in the same step."""
    locking: list[driver_sql.Statement] = [
        driver_sql.Rows(runs, {"id": run_id}, for_update=True),
        driver_sql.Rows(steps, {"id": step_id}),
        driver_sql.Fetch("pipeline", "batch_status_of_run", {"run_id": run_id}),
    ]
    if following is not None:
        locking.append(driver_sql.Rows(steps, step_key_of(run_id, following)))
    answers = yield [*locking, *reads]
    run_rows, step_rows, batch_rows = answers[:3]
    after_rows = answers[3] if following is not None else []
    run = driver_sql.owned(run_rows, organisation_id)
    if run is None:
        raise NotFound("registration job")
    if not step_rows or step_rows[0]["registration_job_id"] != run_id:
        raise NotFound("step")
    locked = LockedStep(
        run=run,
        step=step_rows[0],
        batch_status=str(batch_rows[0]["status"]) if batch_rows else None,
        following=after_rows[0] if after_rows else None,
    )
    return locked, answers[len(locking) :]


def step_key_of(run_id: UUID, key: str) -> dict[str, Any]:
    """The condition of the run's pipeline step ``key`` (for ``driver_sql.Rows``)."""
    return {"registration_job_id": run_id, "step_key": key, "parent_step_id": None}


async def get_run(conn: AsyncConnection, organisation_id: UUID, run_id: UUID) -> dict[str, Any]:
    """One run of the organisation."""
    row = (
        (
            await conn.execute(
                sa.select(runs).where(runs.c.id == run_id, runs.c.organisation_id == organisation_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("registration job")
    return dict(row)


async def list_steps(conn: AsyncConnection, run_id: UUID) -> list[dict[str, Any]]:
    """Every step and sub-step row of a run, steps first, each in its order."""
    rows = await conn.execute(
        sa.select(steps)
        .where(steps.c.registration_job_id == run_id)
        .order_by(steps.c.parent_step_id.is_not(None), steps.c.step_number)
    )
    return [dict(r) for r in rows.mappings()]


async def get_step(conn: AsyncConnection, step_id: UUID) -> dict[str, Any]:
    """One step or sub-step row."""
    rows = await driver_sql.select_where(conn, steps, {"id": step_id})
    if not rows:
        raise NotFound("step")
    return rows[0]


async def find_active_single_run(
    conn: AsyncConnection, organisation_id: UUID, restaurant_id: UUID
) -> dict[str, Any] | None:
    """The restaurant's active single-restaurant run, if any."""
    row = (
        (
            await conn.execute(
                sa.select(runs).where(
                    runs.c.organisation_id == organisation_id,
                    runs.c.restaurant_id == restaurant_id,
                    runs.c.batch_job_id.is_(None),
                    runs.c.status.in_([s.value for s in ACTIVE_REGISTRATION]),
                )
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


async def latest_single_run(
    conn: AsyncConnection, organisation_id: UUID, restaurant_id: UUID
) -> dict[str, Any] | None:
    """The restaurant's most recent single-restaurant run, active or not."""
    row = (
        (
            await conn.execute(
                sa.select(runs)
                .where(
                    runs.c.organisation_id == organisation_id,
                    runs.c.restaurant_id == restaurant_id,
                    runs.c.batch_job_id.is_(None),
                )
                .order_by(runs.c.created_at.desc(), runs.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


async def list_runs(
    conn: AsyncConnection,
    organisation_id: UUID,
    *,
    limit: int,
    offset: int,
    restaurant_id: UUID | None = None,
    status: str | None = None,
) -> Page:
    """A page of the organisation's runs, newest first."""
    query = sa.select(runs).where(runs.c.organisation_id == organisation_id)
    if restaurant_id is not None:
        query = query.where(runs.c.restaurant_id == restaurant_id)
    if status is not None:
        query = query.where(runs.c.status == status)
    return await fetch_page(
        conn, query, limit=limit, offset=offset, order_by=(runs.c.created_at.desc(), runs.c.id)
    )


async def set_step(
    conn: AsyncConnection,
    step: Mapping[str, Any],
    target: StepStatus,
    *,
    actor: str,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> bool:
    """Move a step or sub-step row to ``target`` (checked, compare-and-set, with an event)."""
    return await apply(conn, step_transition(step, target, actor=actor, values=values, reason=reason))


async def set_run(
    conn: AsyncConnection,
    run: Mapping[str, Any],
    target: RegistrationStatus,
    *,
    actor: str,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> bool:
    """Move a run to ``target`` (checked, compare-and-set, with an event)."""
    return await apply(conn, run_transition(run, target, actor=actor, values=values, reason=reason))


def step_transition(
    step: Mapping[str, Any],
    target: StepStatus,
    *,
    actor: str,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> driver_sql.Transition:
    """A step or sub-step row's move to ``target``: strict in a plan (it may be held,
    ``driver_sql.Hold``), a compare-and-set through ``set_step``."""
    return transition(
        steps,
        "step",
        row_id=step["id"],
        organisation_id=step["organisation_id"],
        current=step["status"],
        target=target.value,
        actor=actor,
        values=values,
        reason=reason,
        data={"step_key": step["step_key"]},
        registration_job_id=step["registration_job_id"],
    )


def run_transition(
    run: Mapping[str, Any],
    target: RegistrationStatus,
    *,
    actor: str,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> driver_sql.Transition:
    """A run's move to ``target``: strict in a plan (it may be held, ``driver_sql.Hold``), a
    compare-and-set through ``set_run``."""
    return transition(
        runs,
        "registration_job",
        row_id=run["id"],
        organisation_id=run["organisation_id"],
        current=run["status"],
        target=target.value,
        actor=actor,
        values=values,
        reason=reason,
        batch_job_id=run["batch_job_id"],
        registration_job_id=run["id"],
    )


def run_values(run_id: UUID, values: Mapping[str, Any]) -> driver_sql.Change:
    """``update_run_values`` as a statement of a plan."""
    return driver_sql.Change(runs, {**values, "updated_at": utcnow()}, {"id": run_id})


def step_values(step_id: UUID, values: Mapping[str, Any]) -> driver_sql.Change:
    """``update_step_values`` as a statement of a plan."""
    return driver_sql.Change(steps, {**values, "updated_at": utcnow()}, {"id": step_id})


async def update_run_values(conn: AsyncConnection, run_id: UUID, values: Mapping[str, Any]) -> None:
    """Change columns of a run other than its status."""
    await driver_sql.update_where(conn, runs, {**values, "updated_at": utcnow()}, {"id": run_id})


async def update_step_values(conn: AsyncConnection, step_id: UUID, values: Mapping[str, Any]) -> None:
    """Change columns of a step other than its status."""
    await driver_sql.update_where(conn, steps, {**values, "updated_at": utcnow()}, {"id": step_id})


async def reopen_run(
    conn: AsyncConnection, run: Mapping[str, Any], *, actor: str, from_step: str | None = None
) -> frozenset[str]:
    """Set sub-steps back to pending for a retry and the run back in progress; returns their keys.

    Without ``from_step``: what failed or was cancelled, and what that blocked. With ``from_step``:
    that sub-step and everything downstream of it. Completed independent sub-steps are kept. Each
    reset sub-step gets a new generation, so its external calls carry new idempotency keys.
    """
    rows = await list_steps(conn, run["id"])
    sub_steps = {s["step_key"]: s for s in rows if s["parent_step_id"] is not None}
    keys = reset_for_retry({k: s["status"] for k, s in sub_steps.items()}, from_step)
    for key in sorted(keys):
        step = sub_steps[key]
        generation = int((step["input"] or {}).get("generation", 0)) + 1
        await set_step(
            conn,
            step,
            StepStatus.PENDING,
            actor=actor,
            reason="retry" + (f" from {from_step}" if from_step else ""),
            values={
                "attempts": 0,
                "job_id": None,
                "next_attempt_at": None,
                "error_message": None,
                "skip_reason": None,
                "warning": None,
                "completed_at": None,
                "duration_ms": None,
                "input": {**(step["input"] or {}), "generation": generation},
            },
        )
    execution = next(r for r in rows if r["step_key"] == EXECUTION_STEP)
    if execution["status"] in FINAL_STEP:
        await set_step(
            conn,
            execution,
            StepStatus.PENDING,
            actor=actor,
            values={"completed_at": None, "error_message": None},
        )
    if run["status"] not in ACTIVE_REGISTRATION:
        await set_run(
            conn,
            run,
            RegistrationStatus.IN_PROGRESS,
            actor=actor,
            reason="retry",
            values={"completed_at": None, "cancelled_at": None, "error_message": None},
        )
    return keys


async def list_calls(conn: AsyncConnection, organisation_id: UUID, run_id: UUID) -> list[dict[str, Any]]:
    """The external calls of a run, oldest first."""
    rows = await conn.execute(
        sa.select(registration_logs)
        .where(
            registration_logs.c.registration_job_id == run_id,
            registration_logs.c.organisation_id == organisation_id,
        )
        .order_by(registration_logs.c.id)
    )
    return [dict(r) for r in rows.mappings()]


def planning_statuses(sub_steps: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Sub-step statuses as the scheduler should see them: queued ones count as started."""
    return {
        s["step_key"]: (
            StepStatus.IN_PROGRESS.value
            if s["status"] == StepStatus.PENDING.value and s["job_id"]
            else s["status"]
        )
        for s in sub_steps
    }


def step_ids_of(payload: Mapping[str, Any]) -> tuple[UUID, UUID]:
    """The run and the step (or sub-step) that a job built by ``step_job_spec`` runs."""
    return UUID(payload["registration_job_id"]), UUID(payload["step_id"])


def step_job_spec(
    run: Mapping[str, Any],
    step: Mapping[str, Any],
    *,
    job_type: str,
    queue: str,
    max_retries: int,
    run_at: datetime | None = None,
) -> JobSpec:
    """The queue job that runs one attempt of a step or sub-step of ``run``.

    Its unique key names the step, its generation and its attempt, so the same attempt is never
    queued twice.
    """
    generation = int((step.get("input") or {}).get("generation", 0))
    return JobSpec(
        job_type=job_type,
        queue=queue,
        payload={"registration_job_id": str(run["id"]), "step_id": str(step["id"]), "key": step["step_key"]},
        organisation_id=run["organisation_id"],
        restaurant_id=run["restaurant_id"],
        run_at=run_at,
        max_retries=max_retries,
        timeout_seconds=300,
        unique_key=f"{job_type}:{step['id']}:{generation}:{step['attempts']}",
        job_category="registration",
    )


def sub_step_job_spec(
    run: Mapping[str, Any], step: Mapping[str, Any], *, run_at: datetime | None = None
) -> JobSpec:
    """The queue job that runs one attempt of a Yolo Mode sub-step (on the Pumpd queue)."""
    return step_job_spec(
        run, step, job_type=SUB_STEP_JOB, queue=PUMPD_QUEUE, max_retries=SUB_STEP_MAX_RETRIES, run_at=run_at
    )


async def enqueue_sub_steps(
    conn: AsyncConnection,
    run: Mapping[str, Any],
    sub_steps: Sequence[Mapping[str, Any]],
    *,
    run_at: datetime | None = None,
) -> list[UUID]:
    """Queue one execution of each of ``sub_steps`` and point each at its queue job (two statements
    for any number of them)."""
    if not sub_steps:
        return []
    specs = [sub_step_job_spec(run, sub_step, run_at=run_at) for sub_step in sub_steps]
    queued = [job.id for job in await enqueue_many(conn, specs)]
    await point_steps_at_jobs(conn, [s["id"] for s in sub_steps], queued)
    return queued


async def point_steps_at_jobs(
    conn: AsyncConnection, step_ids: Sequence[UUID], job_ids: Sequence[UUID]
) -> None:
    """Point each step at the queue job that runs its next attempt (one statement for all)."""
    if not step_ids:
        return
    await conn.execute(
        sa.update(steps)
        .where(steps.c.id == sa.bindparam("step_id"))
        .values(job_id=sa.bindparam("queued"), updated_at=utcnow()),
        [{"step_id": step_id, "queued": job_id} for step_id, job_id in zip(step_ids, job_ids, strict=True)],
    )


async def retry_later_or_fail(
    conn: AsyncConnection,
    run: Mapping[str, Any],
    step: Mapping[str, Any],
    *,
    error: BaseException,
    attempt: int,
    actor: str,
    now: datetime,
    rng: random.Random,
    enqueue_attempt: Callable[..., Awaitable[UUID]],
) -> tuple[RetryDecision, str]:
    """After a failed attempt of a step or sub-step, queue the next one at the back-off time (the step
    shows ``retrying`` with the next attempt time) when the retry policy allows; the caller fails the
    step otherwise. Returns the decision and the error message.
    """
    decision = decide_retry(
        attempt=attempt,
        policy=RetryPolicy(max_retries=int(step["max_retries"])),
        error=error,
        now=now,
        rng=rng,
    )
    message = str(error) or type(error).__name__
    if decision.retry:
        await set_step(
            conn,
            step,
            StepStatus.RETRYING,
            actor=actor,
            reason=decision.reason,
            values={"error_message": message, "next_attempt_at": decision.run_at, "job_id": None},
        )
        await enqueue_attempt(conn, run, await get_step(conn, step["id"]), run_at=decision.run_at)
    return decision, message


async def schedule_ready(
    conn: AsyncConnection, run_id: UUID, *, config: Mapping[str, Any], actor: str
) -> RegistrationStatus | None:
    """Start every sub-step that can start, skip what must be skipped, and finish the run when done.

    Returns the run's final status if it finished now. The caller holds the run's lock.
    """
    return await driver_sql.carry_out(conn, schedule_ready_plan(run_id, config=config, actor=actor))


def schedule_ready_plan(
    run_id: UUID,
    *,
    config: Mapping[str, Any],
    actor: str,
    run: Mapping[str, Any] | None = None,
    rows: Sequence[Mapping[str, Any]] | None = None,
) -> driver_sql.Plan[RegistrationStatus | None]:
    """``schedule_ready`` in a plan (its writes held), given the run as the caller locked it and its
    step rows as read after that, if the caller has them."""
    if run is None:
        found = yield driver_sql.Rows(runs, {"id": run_id}, for_update=True)
        if not found:
            raise NotFound("registration job")
        run = found[0]
    if run["status"] not in ACTIVE_REGISTRATION:
        return None
    if rows is None:
        rows = yield driver_sql.Fetch("runs", "steps_of_run", {"run_id": run_id}, _STEP_COLUMNS)
    sub_steps = [dict(r) for r in rows if r["parent_step_id"] is not None]
    by_key = {s["step_key"]: s for s in sub_steps}
    plan = plan_turn(planning_statuses(sub_steps), config)
    now = utcnow()
    writes: list[driver_sql.Write | driver_sql.Change | driver_sql.Transition] = []
    for key, reason in plan.skip:
        values = {"skip_reason": reason, "completed_at": now}
        writes.append(
            step_transition(by_key[key], StepStatus.SKIPPED, actor=actor, reason=reason, values=values)
        )
        by_key[key]["status"] = StepStatus.SKIPPED.value
    for key in plan.start:
        row = job_row(sub_step_job_spec(run, by_key[key]), now)
        writes += [job_insert(row), step_values(by_key[key]["id"], {"job_id": row["id"]})]
    yield driver_sql.Hold(writes)
    if plan.start:
        yield driver_sql.Wake(PUMPD_QUEUE)
    execution = next(r for r in rows if r["step_key"] == EXECUTION_STEP)
    if plan.outcome is None:
        values = {
            "current_phase": current_phase({s["step_key"]: s["status"] for s in sub_steps}),
            "current_step": EXECUTION_STEP,
        }
        moves: list[driver_sql.Write | driver_sql.Change | driver_sql.Transition] = []
        if execution["status"] == StepStatus.PENDING.value:
            moves.append(
                step_transition(execution, StepStatus.IN_PROGRESS, actor=actor, values={"started_at": now})
            )
        if run["status"] == RegistrationStatus.PENDING.value:
            values["started_at"] = now
            moves.append(run_transition(run, RegistrationStatus.IN_PROGRESS, actor=actor, values=values))
        else:
            moves.append(run_values(run_id, values))
        yield driver_sql.Hold(moves)
        return None
    return (yield from finish_run_plan(run, execution, sub_steps, plan.outcome, actor=actor))


_STEP_COLUMNS = driver_sql.columns_of(steps)


async def finish_run(
    conn: AsyncConnection,
    run: Mapping[str, Any],
    execution: Mapping[str, Any],
    sub_steps: Sequence[Mapping[str, Any]],
    outcome: RegistrationStatus,
    *,
    actor: str,
) -> RegistrationStatus:
    """End a run (and its execution step) as ``outcome``, naming the first failure."""
    return await driver_sql.carry_out(conn, finish_run_plan(run, execution, sub_steps, outcome, actor=actor))


def finish_run_plan(
    run: Mapping[str, Any],
    execution: Mapping[str, Any],
    sub_steps: Sequence[Mapping[str, Any]],
    outcome: RegistrationStatus,
    *,
    actor: str,
) -> driver_sql.Plan[RegistrationStatus]:
    """``finish_run`` in a plan (its writes held)."""
    now = utcnow()
    failed = [s for s in sub_steps if s["status"] == StepStatus.FAILED.value]
    error = f"{failed[0]['step_key']}: {failed[0]['error_message']}" if failed else None
    step_target = {
        RegistrationStatus.COMPLETED: StepStatus.COMPLETED,
        RegistrationStatus.FAILED: StepStatus.FAILED,
        RegistrationStatus.CANCELLED: StepStatus.CANCELLED,
    }[outcome]
    moves: list[driver_sql.Write | driver_sql.Change | driver_sql.Transition] = []
    if execution["status"] == StepStatus.PENDING.value:
        moves.append(
            step_transition(execution, StepStatus.IN_PROGRESS, actor=actor, values={"started_at": now})
        )
        execution = {**execution, "status": StepStatus.IN_PROGRESS.value}
    if execution["status"] not in FINAL_STEP:
        started = execution.get("started_at") or now
        values = {
            "completed_at": now,
            "error_message": error,
            "duration_ms": int((now - started).total_seconds() * 1000),
        }
        moves.append(step_transition(execution, step_target, actor=actor, values=values))
    current = run
    if current["status"] == RegistrationStatus.PENDING.value:
        moves.append(
            run_transition(current, RegistrationStatus.IN_PROGRESS, actor=actor, values={"started_at": now})
        )
        current = {**current, "status": RegistrationStatus.IN_PROGRESS.value}
    # The run keeps what its sub-steps returned, written once here: while it runs, each sub-step
    # reads its predecessors' results from their rows.
    results = {
        str(s["step_key"]): s["result"]
        for s in sub_steps
        if s["status"] == StepStatus.COMPLETED.value and s.get("result") is not None
    }
    ended: dict[str, Any] = {
        "completed_at": now,
        "error_message": error,
        "current_phase": None,
        "execution_results": results,
    }
    moves.append(run_transition(current, outcome, actor=actor, reason=error, values=ended))
    yield driver_sql.Hold(moves)
    yield from on_run_finished_plan(current, actor=actor)
    return outcome
