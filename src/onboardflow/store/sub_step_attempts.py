"""One attempt of a Yolo Mode sub-step, in two short transactions on the hot path of every run.

``start_attempt`` marks the sub-step in progress and reads what its Pumpd call needs;
``end_attempt`` records the call and how the attempt ended under the run's row lock: the sub-step's
new state and result, the jobs of the sub-steps that became ready and the completion of
the queue job that ran it. What changes is decided in Python by the domain's rules. On PostgreSQL
``start_attempt`` is one statement sent with its commit in a single round trip; ``end_attempt`` takes
two: one locks the run's row and reads its sub-steps, the other sends what Python decided with the
commit (so the lock is held for one decision of this process, never across the Pumpd call). When
that commit hands the Pumpd slot to the queue's next sub-step, that sub-step's attempt begins in the
same statement (``Ended.next_attempt``), so a handed-over sub-step starts with no transaction of its
own; so does the one claimed to wait for the slot (``Ended.waiting_job``). On SQLite both are
``driver_sql`` plans run in one go (``Database.write_plan``: ``start_attempt_in``,
``end_attempt``), and a handed-over sub-step begins in the ending transaction too. The rare turns
of a run (a skip, its end, a retry of a failed run) go through ``registrations.schedule_ready`` and
friends, which hold every rule of those turns.

Statements run on the driver connection (``driver_sql``): a registration run makes dozens of them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.jobs import ClaimedJob
from onboardflow.domain.retry import RetryPolicy, decide_retry
from onboardflow.domain.statuses import (
    ACTIVE_REGISTRATION,
    ATTEMPTABLE_STEP,
    RegistrationStatus,
    StepStatus,
    check_transition,
)
from onboardflow.domain.substeps import attempt_start, current_phase, plan_next
from onboardflow.errors import Conflict, NotFound
from onboardflow.store import driver_sql as sql
from onboardflow.store.driver_sql import Json
from onboardflow.store.engine import Database
from onboardflow.store.queue import (
    CLAIM_ROW_TYPES,
    HandOverTerms,
    completion_writes,
    hand_over_params,
    hand_over_plan_sqlite,
    job_insert,
    job_row,
    request_wakeup,
)
from onboardflow.store.registrations import (
    SUB_STEP_JOB,
    planning_statuses,
    schedule_ready,
    schedule_ready_plan,
    step_ids_of,
    sub_step_job_spec,
)
from onboardflow.store.tables import registration_job_steps, registration_jobs, restaurants

PUMPD_ID_NAMES = ("pumpd_user_id", "pumpd_restaurant_id")

_STEP_COLUMNS = sql.table_columns(registration_job_steps)
_ATTEMPT_COLUMNS = sql.table_columns(
    registration_job_steps,
    run_status=registration_jobs.c.status.type,
    execution_config=registration_jobs.c.execution_config.type,
    restaurant_id=registration_jobs.c.restaurant_id.type,
    batch_job_id=registration_jobs.c.batch_job_id.type,
)
_RUN_COLUMNS = sql.table_columns(registration_jobs, run_status=registration_jobs.c.status.type)
_RESTAURANT_COLUMNS = sql.table_columns(restaurants)
_BEGIN_PARAMS = {
    "runnable": sorted(s.value for s in ATTEMPTABLE_STEP),
    "active": sorted(s.value for s in ACTIVE_REGISTRATION),
}


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
    """The results of the run's completed sub-steps by key, read from their rows."""
    restaurant: Mapping[str, Any]
    """What the payloads read of the restaurant: name, contact name, marketplace URL, website, menu
    and branding."""

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of one generation of the sub-step."""
        return f"reg-{self.run_id}-{self.key}-{self.generation}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NotStarted:
    """Why an attempt does not run (``domain.substeps.attempt_start``): ``superseded``,
    ``nothing to do`` or ``reopen`` (the caller reopens the failed run)."""

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


# -- the start of an attempt ---------------------------------------------------------------------


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
    attempt stays there with the new attempt number), unless the run or the sub-step moved on.

    On PostgreSQL the usual case commits at once, in the round trip of its one statement.
    """
    if conn.dialect.name == "postgresql":
        begun = await _begin_at_once(conn, job=job, run_id=run_id, step_id=step_id, actor=actor, now=now)
        if begun is not None:
            return begun
    return await _begin_after_looking(conn, job=job, run_id=run_id, step_id=step_id, actor=actor, now=now)


async def _begin_at_once(
    conn: AsyncConnection, *, job: ClaimedJob, run_id: UUID, step_id: UUID, actor: str, now: datetime
) -> Attempt | None:
    params = {
        **_BEGIN_PARAMS,
        "run_id": run_id,
        "step_id": step_id,
        "organisation_id": job.organisation_id,
        "job_id": job.id,
        "actor": actor,
        "now": now,
    }
    async with sql.pipelined(conn):
        begun = await sql.send(conn, "sub_steps", "begin_attempt_postgresql", params)
        await sql.commit(conn)
    rows = await sql.rows_of(conn, begun)
    if not rows:
        return None  # not the usual case: ``_begin_after_looking`` says why, in a new transaction
    return _begun(rows[0], run_id=run_id, step_id=step_id)


def _begun(row: Mapping[str, Any], *, run_id: UUID, step_id: UUID) -> Attempt:
    """The attempt a ``begun`` row of ``begin_attempt_from_postgresql`` describes."""
    return Attempt(
        run_id=run_id,
        step_id=step_id,
        organisation_id=row["run_organisation_id"],
        restaurant_id=row["run_restaurant_id"],
        key=str(row["step_key"]),
        number=int(row["step_attempts"]),
        generation=int((row["step_input"] or {}).get("generation", 0)),
        sealed_config=row["execution_config"],
        results=dict(row["execution_results"] or {}),
        restaurant=row["restaurant"],
    )


async def _begin_after_looking(
    conn: AsyncConnection, *, job: ClaimedJob, run_id: UUID, step_id: UUID, actor: str, now: datetime
) -> Attempt | NotStarted:
    plan = _begin_plan(job=job, run_id=run_id, step_id=step_id, actor=actor, now=now)
    return await sql.carry_out(conn, plan)


def _begin_plan(
    *, job: ClaimedJob, run_id: UUID, step_id: UUID, actor: str, now: datetime
) -> sql.Plan[Attempt | NotStarted]:
    """Begin the attempt ``job`` runs after looking at its sub-step and run (the general path):
    ``NotStarted`` says why not, when ``domain.substeps.attempt_start`` says so."""
    params = {"step_id": step_id, "run_id": run_id, "organisation_id": job.organisation_id}
    rows = yield sql.Fetch("sub_steps", "attempt_of_sub_step", params, _ATTEMPT_COLUMNS)
    if not rows:
        raise NotFound("registration job")
    row = rows[0]
    status, run_status = str(row["status"]), str(row["run_status"])
    verdict = attempt_start(step_status=status, run_status=run_status, holds_the_step=row["job_id"] == job.id)
    if verdict != "begin":
        return NotStarted(reason=verdict, sub_step=status, run=run_status)
    attempt = int(row["attempts"]) + 1
    steps: list[sql.Fetch | sql.Write] = [
        sql.Write(
            "sub_steps",
            "start_sub_step",
            {"attempts": attempt, "now": now, "job_id": job.id, "step_id": step_id, "current": status},
        )
    ]
    if status != StepStatus.IN_PROGRESS.value:
        event = _event(
            step_id=step_id,
            key=str(row["step_key"]),
            organisation_id=row["organisation_id"],
            run_id=run_id,
            batch_job_id=row["batch_job_id"],
            current=status,
            target=StepStatus.IN_PROGRESS.value,
            actor=actor,
            reason=None,
            now=now,
        )
        steps.append(sql.Write("sub_steps", "insert_event", event))
    owner = {"restaurant_id": row["restaurant_id"], "organisation_id": row["organisation_id"]}
    steps += [
        sql.Fetch("sub_steps", "results_of_run", {"run_id": run_id}, _STEP_COLUMNS),
        sql.Fetch("sub_steps", "restaurant_of_run", owner, _RESTAURANT_COLUMNS),
    ]
    answers = yield steps
    started, results_rows, restaurant = answers[0], answers[-2], answers[-1]
    if started != 1:
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
        results={str(r["step_key"]): r["result"] for r in results_rows},
        restaurant=restaurant[0],
    )


async def start_attempt_in(
    db: Database, *, job: ClaimedJob, run_id: UUID, step_id: UUID, actor: str, now: datetime
) -> Attempt | NotStarted:
    """``start_attempt`` in a write transaction of its own; on SQLite a plan run in one go
    (``Database.write_plan``)."""
    if db.is_sqlite:
        return await db.write_plan(_begin_plan(job=job, run_id=run_id, step_id=step_id, actor=actor, now=now))
    async with db.write() as conn:
        return await start_attempt(conn, job=job, run_id=run_id, step_id=step_id, actor=actor, now=now)


# -- the end of an attempt -----------------------------------------------------------------------


async def _end_attempt_postgresql(
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
    hand_over_terms: HandOverTerms | None = None,
    successor: UUID | None = None,
) -> Ended:
    """``end_attempt`` on PostgreSQL, in the caller's write transaction."""
    run, sub_steps = await _lock_run(conn, attempt.run_id)
    decided = _decide_end(
        attempt, run, sub_steps, job=job, result=result, error=error, config=config, now=now, rng=rng
    )
    if decided is None:
        await sql.execute(conn, "sub_steps", "insert_call", _call_row(attempt, call, now))
        return Ended(outcome={"outcome": "discarded", "sub_step": _status_of(sub_steps, attempt.key)})
    change, ready = decided
    record = _record(attempt, run, sub_steps, change, ready, call=call, job=job, worker_id=worker_id, now=now)
    terms = hand_over_terms if record.complete else None
    handed: list[tuple[ClaimedJob, Attempt | None]] = []
    # Committed in the same round trip unless the general scheduler has more to do below.
    sent: Any = None
    async with sql.pipelined(conn):
        recorded = await _send_record_postgresql(conn, record)
        if terms is not None:
            sent = await _send_hand_over_and_begin(conn, record, terms, successor)
        if ready is not None:
            await sql.commit(conn)
    await _check_recorded(conn, recorded)
    if sent is not None:
        handed = await _handed_over(conn, sent)
    for queued in record.jobs:
        request_wakeup(conn, str(queued["queue"]))
    if ready is None:
        # A skip, the run's end or its first turn: the general scheduler holds those rules.
        await schedule_ready(conn, attempt.run_id, config=config, actor=record.actor)
    return Ended.of(change.outcome, handed)


def _status_of(sub_steps: Sequence[Mapping[str, Any]], key: str) -> str:
    return str(next(s for s in sub_steps if str(s["step_key"]) == key)["status"])


def _decide_end(
    attempt: Attempt,
    run: Mapping[str, Any],
    sub_steps: Sequence[dict[str, Any]],
    *,
    job: ClaimedJob,
    result: Mapping[str, Any] | None,
    error: BaseException | None,
    config: Mapping[str, Any],
    now: datetime,
    rng: random.Random,
) -> tuple[_Change, list[tuple[dict[str, Any], UUID]] | None] | None:
    """How the attempt ends, with the run's sub-steps as read under its lock: the sub-step's change
    (``sub_steps`` updated to it) and the jobs of the sub-steps that became ready (``None``: the run
    takes a rarer turn, ``schedule_ready``'s); ``None`` when the sub-step is no longer in progress
    under ``job`` (cancelled or re-queued meanwhile: only the call is logged)."""
    step = next(s for s in sub_steps if str(s["step_key"]) == attempt.key)
    if step["status"] != StepStatus.IN_PROGRESS.value or step["job_id"] != job.id:
        return None
    change = _change(attempt, run, step, result=result, error=error, now=now, rng=rng)
    step.update(status=change.target.value, job_id=change.values["next_job_id"])
    return change, _ready_jobs(run, sub_steps, config=config, now=now)


def _record(
    attempt: Attempt,
    run: Mapping[str, Any],
    sub_steps: Sequence[Mapping[str, Any]],
    change: _Change,
    ready: list[tuple[dict[str, Any], UUID]] | None,
    *,
    call: Call,
    job: ClaimedJob,
    worker_id: str,
    now: datetime,
) -> _Record:
    return _Record(
        attempt=attempt,
        run=run,
        change=change,
        call=call,
        phase=_phase_after(run, sub_steps),
        jobs=[*([change.retry_job] if change.retry_job else []), *(job for job, _step in ready or [])],
        pointers=[(step_id, job["id"]) for job, step_id in ready or []],
        complete=change.outcome["outcome"] != "failed",
        job=job,
        actor=f"worker:{worker_id}",
        worker_id=worker_id,
        now=now,
    )


async def end_attempt(
    db: Database,
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
    hand_over_terms: HandOverTerms | None = None,
    successor: UUID | None = None,
) -> Ended:
    """Record the call and how the attempt ended, start what became ready, and complete ``job``.

    The outcome is ``completed`` (result kept on the sub-step, Pumpd ids on the run and the restaurant),
    ``retrying`` (the next attempt queued at the back-off time), ``failed`` (no retries left or a
    permanent error; the caller fails the job) or ``discarded`` when the sub-step was cancelled or
    re-queued meanwhile. The queue job is completed here, in the same transaction, for the first two;
    with ``hand_over_terms`` its Pumpd slot then passes on (``queue.hand_over``): to ``successor``,
    the job that waited for it and that the worker started when this attempt's call was over, or to
    the queue's next due job, claimed for the same worker; and when the queue is full, the job after
    that is claimed to wait for the slot. The attempts of the jobs claimed begin in the same
    transaction (on PostgreSQL when nothing else holds their run or sub-step).

    One write transaction of its own: on SQLite a plan run in one go (``Database.write_plan``), so
    the database is locked only while it runs.
    """
    if db.is_sqlite:
        plan = _end_plan_sqlite(
            attempt,
            job=job,
            call=call,
            result=result,
            error=error,
            config=config,
            worker_id=worker_id,
            now=now,
            rng=rng,
            hand_over_terms=hand_over_terms,
            successor=successor,
        )
        return await db.write_plan(plan)
    async with db.write() as conn:
        return await _end_attempt_postgresql(
            conn,
            attempt,
            job=job,
            call=call,
            result=result,
            error=error,
            config=config,
            worker_id=worker_id,
            now=now,
            rng=rng,
            hand_over_terms=hand_over_terms,
            successor=successor,
        )


def _end_plan_sqlite(
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
    hand_over_terms: HandOverTerms | None,
    successor: UUID | None,
) -> sql.Plan[Ended]:
    """``end_attempt`` on SQLite as a plan."""
    params = {"run_id": attempt.run_id}
    found = yield [
        sql.Fetch("sub_steps", "lock_run_sqlite", params, _RUN_COLUMNS),
        sql.Fetch("sub_steps", "sub_steps_of_run", params, _STEP_COLUMNS),
    ]
    runs, sub_steps = found
    if not runs:
        raise NotFound("registration job")
    run = {"id": attempt.run_id, **runs[0], "status": runs[0]["run_status"]}
    decided = _decide_end(
        attempt, run, sub_steps, job=job, result=result, error=error, config=config, now=now, rng=rng
    )
    if decided is None:
        yield sql.Write("sub_steps", "insert_call", _call_row(attempt, call, now))
        return Ended(outcome={"outcome": "discarded", "sub_step": _status_of(sub_steps, attempt.key)})
    change, ready = decided
    record = _record(attempt, run, sub_steps, change, ready, call=call, job=job, worker_id=worker_id, now=now)
    steps, ended_at = _record_steps_sqlite(record)
    answers = yield steps
    if answers[ended_at] != 1:
        raise Conflict("the sub-step changed while its attempt was recorded")
    handed: list[tuple[ClaimedJob, Attempt | None]] = []
    if record.complete and hand_over_terms is not None:
        terms = hand_over_params(
            queue=job.queue,
            ended_job_id=job.id,
            worker_id=worker_id,
            terms=hand_over_terms,
            now=now,
            successor=successor,
        )
        for claimed in (yield from hand_over_plan_sqlite(terms)):
            begun = None
            if claimed.job_type == SUB_STEP_JOB:
                begun = yield from _begin_handed_plan(claimed, actor=record.actor, now=now)
            handed.append((claimed, begun))
    for queue in {str(queued["queue"]) for queued in record.jobs}:
        yield sql.Wake(queue)
    if ready is None:
        # A skip, the run's end or its first turn: the general scheduler holds those rules.
        yield from schedule_ready_plan(attempt.run_id, config=config, actor=record.actor)
    return Ended.of(change.outcome, handed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended:
    """How an attempt ended (the queue job's result); the job its slot was handed to, to run in it,
    if any, and the job claimed to wait for the slot, if any (``ClaimedJob.takes_slot_of`` names the
    job it waits for); each with its attempt when it began in the same transaction."""

    outcome: dict[str, Any]
    next_job: ClaimedJob | None = None
    next_attempt: Attempt | None = None
    waiting_job: ClaimedJob | None = None
    waiting_attempt: Attempt | None = None

    @classmethod
    def of(cls, outcome: dict[str, Any], handed: Sequence[tuple[ClaimedJob, Attempt | None]]) -> Ended:
        """The end with the jobs a hand-over claimed, sorted out by role."""
        running = [(job, begun) for job, begun in handed if job.takes_slot_of is None]
        waiting = [(job, begun) for job, begun in handed if job.takes_slot_of is not None]
        next_job, next_attempt = running[0] if running else (None, None)
        waiting_job, waiting_attempt = waiting[0] if waiting else (None, None)
        return cls(
            outcome=outcome,
            next_job=next_job,
            next_attempt=next_attempt,
            waiting_job=waiting_job,
            waiting_attempt=waiting_attempt,
        )


async def _send_hand_over_and_begin(
    conn: AsyncConnection, record: _Record, terms: HandOverTerms, successor: UUID | None
) -> Any:
    """Send ``hand_over_and_begin_postgresql``: the slot of the job that just completed passes on
    (``queue.hand_over``), and the attempts of the jobs claimed begin at once when they are
    sub-steps' and nothing holds them."""
    job = record.job
    params = {
        **hand_over_params(
            queue=job.queue,
            ended_job_id=job.id,
            worker_id=record.worker_id,
            terms=terms,
            now=record.now,
            successor=successor,
        ),
        **_BEGIN_PARAMS,
        "sub_step_job": SUB_STEP_JOB,
        "actor": record.actor,
    }
    return await sql.send(conn, "sub_steps", "hand_over_and_begin_postgresql", params)


def _begin_handed_plan(job: ClaimedJob, *, actor: str, now: datetime) -> sql.Plan[Attempt | None]:
    run_id, step_id = step_ids_of(job.input_payload)
    try:
        begun = yield from _begin_plan(job=job, run_id=run_id, step_id=step_id, actor=actor, now=now)
    except NotFound:  # raised before anything is written
        return None
    return begun if isinstance(begun, Attempt) else None


async def _handed_over(conn: AsyncConnection, handed: Any) -> list[tuple[ClaimedJob, Attempt | None]]:
    """The jobs ``hand_over_and_begin_postgresql`` claimed, each with its attempt if it began."""
    found: list[tuple[ClaimedJob, Attempt | None]] = []
    for row in await sql.rows_of(conn, handed, columns=CLAIM_ROW_TYPES):
        job = ClaimedJob.from_row(row)
        if row["step_key"] is None:
            found.append((job, None))
            continue
        run_id, step_id = step_ids_of(job.input_payload)
        found.append((job, _begun(row, run_id=run_id, step_id=step_id)))
    return found


async def _lock_run(conn: AsyncConnection, run_id: UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's row, locked until the transaction ends, and its sub-steps read after the lock was
    taken (a later statement, so under READ COMMITTED it sees what the previous holder wrote)."""
    params = {"run_id": run_id}
    async with sql.pipelined(conn):
        locked = await sql.send(conn, "sub_steps", f"lock_run_{conn.dialect.name}", params)
        read = await sql.send(conn, "sub_steps", "sub_steps_of_run", params)
    runs = await sql.rows_of(conn, locked, columns=_RUN_COLUMNS)
    rows = await sql.rows_of(conn, read, columns=_STEP_COLUMNS)
    if not runs:
        raise NotFound("registration job")
    return {"id": run_id, **runs[0], "status": runs[0]["run_status"]}, rows


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
        sub_step_job_spec(run, {**step, "attempts": attempt.number}, run_at=decision.run_at), now
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


def _ready_jobs(
    run: Mapping[str, Any],
    sub_steps: Sequence[Mapping[str, Any]],
    *,
    config: Mapping[str, Any],
    now: datetime,
) -> list[tuple[dict[str, Any], UUID]] | None:
    """The queue jobs of the sub-steps that became ready, each with its sub-step's id; ``None`` when
    the run takes a rarer turn (a skip, its end, or it is not running yet), which
    ``schedule_ready`` handles."""
    if run["status"] != RegistrationStatus.IN_PROGRESS.value:
        return [] if run["status"] not in ACTIVE_REGISTRATION else None
    plan = plan_next(planning_statuses(sub_steps), config)
    if plan.skip or plan.outcome is not None:
        return None
    by_key = {str(s["step_key"]): s for s in sub_steps}
    return [(job_row(sub_step_job_spec(run, by_key[key]), now), by_key[key]["id"]) for key in plan.start]


def _phase_after(run: Mapping[str, Any], sub_steps: Sequence[Mapping[str, Any]]) -> str | None:
    """The phase to show: where the sub-steps now are, while the run is active."""
    if run["status"] not in ACTIVE_REGISTRATION:
        return run["current_phase"]  # type: ignore[no-any-return]
    return current_phase({str(s["step_key"]): str(s["status"]) for s in sub_steps})


@dataclass(frozen=True, slots=True, kw_only=True)
class _Record:
    """Everything ``end_attempt`` writes, decided before anything is written."""

    attempt: Attempt
    run: Mapping[str, Any]
    change: _Change
    call: Call
    phase: str | None
    jobs: list[dict[str, Any]]
    pointers: list[tuple[UUID, UUID]]
    complete: bool
    job: ClaimedJob
    actor: str
    worker_id: str
    now: datetime

    @property
    def pumpd_ids(self) -> dict[str, str | None]:
        """The Pumpd ids a completed attempt returned (``None`` for those it did not)."""
        ids = (
            (self.change.result or {}).get("ids") or {} if self.change.target is StepStatus.COMPLETED else {}
        )
        return {name: str(ids[name]) if ids.get(name) else None for name in PUMPD_ID_NAMES}

    def event(self) -> dict[str, Any]:
        return _event(
            step_id=self.attempt.step_id,
            key=self.attempt.key,
            organisation_id=self.attempt.organisation_id,
            run_id=self.attempt.run_id,
            batch_job_id=self.run["batch_job_id"],
            current=StepStatus.IN_PROGRESS.value,
            target=self.change.target.value,
            actor=self.actor,
            reason=self.change.reason,
            now=self.now,
        )


async def _send_record_postgresql(conn: AsyncConnection, record: _Record) -> Any:
    record.event()  # checks the transition; the statement writes the same row
    change, attempt, call = record.change, record.attempt, record.call
    params = {
        **{k: v for k, v in change.values.items() if k != "next_job_id"},
        "next_job_id": change.values["next_job_id"],
        **record.pumpd_ids,
        "organisation_id": attempt.organisation_id,
        "run_id": attempt.run_id,
        "batch_job_id": record.run["batch_job_id"],
        "restaurant_id": attempt.restaurant_id,
        "step_id": attempt.step_id,
        "key": attempt.key,
        "idempotency_key": attempt.idempotency_key,
        "attempt_number": attempt.number,
        "request": Json(dict(call.request)),
        "response": Json(None if call.response is None else dict(call.response)),
        "call_status": call.status,
        "call_error": call.error_message,
        "call_duration_ms": call.duration_ms,
        "status": change.target.value,
        "reason": change.reason,
        "actor": record.actor,
        "current_phase": record.phase,
        "jobs": Json(record.jobs),
        "pointers": Json([{"step_id": s, "job_id": j} for s, j in record.pointers]),
        "complete": record.complete,
        "outcome": Json(change.outcome),
        "job_id": record.job.id,
        "job_attempt": record.job.attempts,
        "worker": record.worker_id,
        "now": record.now,
    }
    return await sql.send(conn, "sub_steps", "record_attempt_postgresql", params)


async def _check_recorded(conn: AsyncConnection, recorded: Any) -> None:
    rows = await sql.rows_of(conn, recorded)
    if not rows or rows[0]["ended"] != 1:
        raise Conflict("the sub-step changed while its attempt was recorded")


def _record_steps_sqlite(record: _Record) -> tuple[list[sql.Fetch | sql.Write], int]:
    """The statements that record an attempt on SQLite, and the position of the sub-step's update
    (its row count must be 1: the sub-step was still in progress under this job)."""
    change, attempt, now = record.change, record.attempt, record.now
    steps: list[sql.Fetch | sql.Write] = [
        sql.Write("sub_steps", "insert_call", _call_row(attempt, record.call, now))
    ]
    if change.retry_job is not None:
        steps.append(job_insert(change.retry_job))
    ended_at = len(steps)
    values = {**change.values, "status": change.target.value, "step_id": attempt.step_id}
    steps += [
        sql.Write("sub_steps", "end_sub_step", {**values, "job_id": record.job.id, "now": now}),
        sql.Write("sub_steps", "insert_event", record.event()),
    ]
    ids = record.pumpd_ids
    if change.target is StepStatus.COMPLETED:
        params = {**ids, "current_phase": record.phase, "now": now, "run_id": attempt.run_id}
        steps.append(sql.Write("sub_steps", "keep_ids_sqlite", params))
    elif record.phase != record.run["current_phase"]:
        params = {"current_phase": record.phase, "now": now, "run_id": attempt.run_id}
        steps.append(sql.Write("sub_steps", "set_current_phase", params))
    if any(ids.values()):
        owner = {"restaurant_id": attempt.restaurant_id, "organisation_id": attempt.organisation_id}
        steps.append(sql.Write("sub_steps", "restaurant_pumpd_ids", {**ids, "now": now, **owner}))
    for step_id, job_id in record.pointers:
        steps.append(job_insert(next(j for j in record.jobs if j["id"] == job_id)))
        params = {"job_id": job_id, "now": now, "step_id": step_id}
        steps.append(sql.Write("sub_steps", "point_sub_step_at_job", params))
    if record.complete:
        steps += completion_writes(
            job_id=record.job.id,
            attempt=record.job.attempts,
            result=change.outcome,
            duration_ms=record.call.duration_ms,
            worker_id=record.worker_id,
            now=now,
            dialect="sqlite",
        )
    return steps, ended_at


def _event(
    *,
    step_id: UUID,
    key: str,
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
        "entity_id": step_id,
        "batch_job_id": batch_job_id,
        "registration_job_id": run_id,
        "from_status": current,
        "to_status": target,
        "actor": actor,
        "reason": reason,
        "data": Json({"step_key": key}),
        "created_at": now,
    }


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
