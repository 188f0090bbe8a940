"""The job queue on the ``jobs`` table: enqueue, claim, finish, leases, rescue, cancel, retry, prune.

Enqueueing runs in the caller's transaction and asks for a wake-up after commit. Claims take a batch
in one statement that commits at once (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite inside
``BEGIN IMMEDIATE``). Outcomes are written in batches, each fenced on (id, in_progress, attempt) so a
stale worker can never overwrite a newer attempt. Every status change writes an event row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.jobs import (
    ClaimedJob,
    JobSpec,
    check_manual_retry,
    interrupted_outcome,
    queue_room,
)
from onboardflow.domain.statuses import ACTIVE_JOB, FINAL_JOB, JobStatus, check_transition
from onboardflow.errors import Conflict, NotFound
from onboardflow.store import driver_sql
from onboardflow.store.driver_sql import NOTIFY_KEY
from onboardflow.store.engine import Database
from onboardflow.store.events import event_row, record_events
from onboardflow.store.sql import query
from onboardflow.store.tables import ACTIVE_JOB_STATES, jobs, maintenance_leader, queues, workers
from onboardflow.store.types import UTCDateTime, utcnow

UNIQUE_WHERE = sa.text("unique_key IS NOT NULL AND status IN ('pending', 'queued', 'in_progress')")


def _typed(name: str, *times: str) -> sa.TextClause:
    return sa.text(query("queue", name)).bindparams(*(sa.bindparam(t, type_=UTCDateTime()) for t in times))


def request_wakeup(conn: AsyncConnection, queue: str) -> None:
    """Ask for workers of ``queue`` to be woken once this transaction commits."""
    conn.info.setdefault(NOTIFY_KEY, set()).add(queue)


# -- enqueue -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueued:
    """The job an enqueue produced, or the active job that already held its unique key."""

    id: UUID
    created: bool


def job_row(spec: JobSpec, now: datetime) -> dict[str, Any]:
    """The row of a new job for ``spec`` (queued when due now, pending until ``run_at`` otherwise)."""
    run_at = spec.run_at or now
    return {
        "id": uuid4(),
        "organisation_id": spec.organisation_id,
        "job_type": spec.job_type,
        "job_category": spec.job_category,
        "queue": spec.queue,
        "status": JobStatus.QUEUED.value if run_at <= now else JobStatus.PENDING.value,
        "priority": spec.priority,
        "input_payload": dict(spec.payload),
        "attempts": 0,
        "max_retries": spec.max_retries,
        "timeout_seconds": spec.timeout_seconds,
        "run_at": run_at,
        "cancel_requested": False,
        "unique_key": spec.unique_key,
        "restaurant_id": spec.restaurant_id,
        "created_by": spec.created_by,
        "parent_job_id": spec.parent_job_id,
        "metadata": dict(spec.metadata),
        "created_at": now,
        "updated_at": now,
    }


def job_insert(row: Mapping[str, Any]) -> driver_sql.Write:
    """The insert of one job row built by ``job_row``, as a statement of a ``driver_sql`` plan (a
    duplicate unique key fails the transaction: ``sub_steps.insert_job``)."""
    params = {
        **row,
        "input_payload": driver_sql.Json(row["input_payload"]),
        "metadata": driver_sql.Json(row["metadata"]),
    }
    return driver_sql.Write("sub_steps", "insert_job", params)


def _insert(conn: AsyncConnection) -> Any:
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(jobs)


async def enqueue(conn: AsyncConnection, spec: JobSpec, *, now: datetime | None = None) -> Enqueued:
    """Add one job in the caller's transaction; a unique key held by an active job returns that job."""
    return (await enqueue_many(conn, [spec], now=now))[0]


async def enqueue_many(
    conn: AsyncConnection, specs: Sequence[JobSpec], *, now: datetime | None = None
) -> list[Enqueued]:
    """Add many jobs in one statement, in order; jobs whose unique key is active are not added again."""
    if not specs:
        return []
    now = now or utcnow()
    rows = [job_row(spec, now) for spec in specs]
    # Executed with a list of rows, SQLAlchemy sends one multi-row INSERT per page of rows
    # ("insertmanyvalues"), and the statement stays in the compiled cache.
    statement = (
        _insert(conn)
        .on_conflict_do_nothing(index_elements=["unique_key"], index_where=UNIQUE_WHERE)
        .returning(jobs.c.id)
    )
    inserted = {row.id for row in await conn.execute(statement, rows)}
    existing: dict[str, UUID] = {}
    conflicting = [r["unique_key"] for r in rows if r["id"] not in inserted]
    if conflicting:
        found = await conn.execute(
            sa.select(jobs.c.unique_key, jobs.c.id).where(
                jobs.c.unique_key.in_(conflicting), jobs.c.status.in_(ACTIVE_JOB_STATES)
            )
        )
        existing = {r.unique_key: r.id for r in found}
    results = []
    for row in rows:
        if row["id"] in inserted:
            results.append(Enqueued(id=row["id"], created=True))
        elif row["unique_key"] in existing:
            results.append(Enqueued(id=existing[row["unique_key"]], created=False))
        else:
            raise Conflict("the job's unique key is held by a job that just finished; enqueue again")
    # Creation is on the row (created_at); the events table logs the transitions from the claim on.
    for row in rows:
        request_wakeup(conn, row["queue"])
    return results


# -- claim ---------------------------------------------------------------------------------------


async def limited_queues(conn: AsyncConnection) -> dict[str, int]:
    """Unpaused queues with a cluster-wide concurrency limit, and their limits."""
    rows = await conn.execute(
        sa.select(queues.c.name, queues.c.concurrency_limit).where(
            queues.c.concurrency_limit.is_not(None), queues.c.paused.is_(False)
        )
    )
    return {r.name: int(r.concurrency_limit) for r in rows}


async def cluster_concurrency(conn: AsyncConnection, *, alive_since: datetime) -> int:
    """The job slots of every worker alive since ``alive_since`` and not stopping."""
    rows = await conn.execute(
        sa.text(query("queue", "cluster_concurrency")).bindparams(
            sa.bindparam("alive_since", type_=UTCDateTime())
        ),
        {"alive_since": alive_since},
    )
    return int(rows.scalar_one())


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """The jobs a claim took, and the limited queues it left without room (taking one more job of
    those needs a job of theirs to end first)."""

    jobs: list[ClaimedJob]
    full: frozenset[str]


async def claim(
    conn: AsyncConnection,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    limited: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> Claim:
    """Claim up to ``limit`` due jobs for ``worker_id``, best priority first and FIFO within one.

    Limited queues (name -> this worker's share of the queue, ``domain.jobs.fair_share``) are
    claimed after the others, each only up to its free capacity and the worker's share, with the
    queue's row locked so that concurrent claimers take turns.

    On PostgreSQL the claim commits the transaction itself: every statement and the commit go to
    the server in one round trip, so a limited queue's row is locked only while the server runs
    them, never while this process's event loop is busy with other work.
    """
    if limit <= 0:
        return Claim(jobs=[], full=frozenset())
    params = _claim_params(worker_id, limit, lease_seconds, now)
    if conn.dialect.name == "postgresql":
        return await _claim_postgresql(conn, params, dict(limited or {}))
    return await driver_sql.carry_out(conn, _claim_plan_sqlite(params, dict(limited or {})))


async def claim_in(
    db: Database,
    *,
    worker_id: str,
    limit: int,
    lease_seconds: float,
    limited: Mapping[str, int] | None = None,
    now: datetime | None = None,
) -> Claim:
    """``claim`` in a write transaction of its own; on SQLite a plan run in one go
    (``Database.write_plan``), so the database is locked only while the claim runs."""
    if db.is_sqlite and limit > 0:
        return await db.write_plan(
            _claim_plan_sqlite(_claim_params(worker_id, limit, lease_seconds, now), dict(limited or {}))
        )
    async with db.write() as conn:
        return await claim(
            conn, worker_id=worker_id, limit=limit, lease_seconds=lease_seconds, limited=limited, now=now
        )


def _claim_params(worker_id: str, limit: int, lease_seconds: float, now: datetime | None) -> dict[str, Any]:
    """The parameters every claim statement takes."""
    now = now or utcnow()
    return {
        "now": now,
        "lease_until": now + timedelta(seconds=lease_seconds),
        "worker": worker_id,
        "limit": limit,
    }


def _claim_plan_sqlite(params: Mapping[str, Any], limited: Mapping[str, int]) -> driver_sql.Plan[Claim]:
    """``claim`` on SQLite (the writer holds the database, so picks and claims cannot race)."""
    limit = int(params["limit"])
    claimed = yield from _claim_picked_plan_sqlite("pick_sqlite", {**params, "limit": limit})
    full = set()
    for queue_name, share in limited.items():
        room = limit - len(claimed)
        if room <= 0:
            break
        rows = yield driver_sql.Fetch(
            "queue", "queue_capacity_sqlite", {"queue": queue_name, "worker": params["worker"]}
        )
        capacity = 0
        if rows and not rows[0]["paused"] and rows[0]["concurrency_limit"] is not None:
            row = rows[0]
            capacity = queue_room(
                limit=int(row["concurrency_limit"]),
                running=int(row["running"]),
                share=share,
                mine=int(row["mine"]),
            )
        taken = yield from _claim_picked_plan_sqlite(
            "pick_in_queue_sqlite", {**params, "limit": min(room, capacity), "queue": queue_name}
        )
        if len(taken) >= capacity:
            full.add(queue_name)
        claimed += taken
    return Claim(jobs=claimed, full=frozenset(full))


def _claim_picked_plan_sqlite(pick: str, params: Mapping[str, Any]) -> driver_sql.Plan[list[ClaimedJob]]:
    """Claim the jobs statement ``pick`` picks, logging each claim, best priority first."""
    if params["limit"] <= 0:
        return []
    picked = yield driver_sql.Fetch("queue", pick, params)
    if not picked:
        return []
    claimed = {
        "ids": json.dumps([r["id"] for r in picked]),
        "picked": json.dumps([{"id": r["id"], "from": r["status"]} for r in picked]),
        "worker": params["worker"],
        "lease_until": params["lease_until"],
        "now": params["now"],
    }
    rows, _logged = yield [
        driver_sql.Fetch("queue", "claim_picked_sqlite", claimed, CLAIM_ROW_TYPES),
        driver_sql.Write("queue", "log_claims_sqlite", claimed),
    ]
    ordered = sorted(rows, key=lambda r: (-r["priority"], r["run_at"], str(r["id"])))
    return [ClaimedJob.from_row(r) for r in ordered]


CLAIM_ROW_TYPES = driver_sql.table_columns(jobs)
"""How claim and hand-over rows decode (``driver_sql.rows_of(columns=...)``)."""


async def _claim_postgresql(conn: AsyncConnection, params: dict[str, Any], limited: dict[str, int]) -> Claim:
    async with driver_sql.pipelined(conn):
        if limited:
            await driver_sql.send(conn, "queue", "lock_limited_queues_postgresql", {"names": list(limited)})
        unlimited = await driver_sql.send(conn, "queue", "claim_postgresql", params)
        cursors = [
            (
                name,
                await driver_sql.send(
                    conn, "queue", "claim_limited_postgresql", params | {"queue": name, "share": share}
                ),
            )
            for name, share in limited.items()
        ]
        await driver_sql.commit(conn)
    jobs = [
        ClaimedJob.from_row(r) for r in await driver_sql.rows_of(conn, unlimited, columns=CLAIM_ROW_TYPES)
    ]
    full = set()
    for name, cursor in cursors:
        rows = await driver_sql.rows_of(conn, cursor, columns=CLAIM_ROW_TYPES)
        taken = [ClaimedJob.from_row(r) for r in rows if r["id"] is not None]
        if not rows or len(taken) >= int(rows[0]["room"]):
            full.add(name)
        jobs += taken
    return Claim(jobs=jobs, full=frozenset(full))


# -- finish --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How one attempt ended: the job's next status and what to record.

    ``uncount`` gives the attempt back (a job released by a stopping worker is not charged for it).
    """

    job_id: UUID
    attempt: int
    status: JobStatus
    result: Any = None
    error: str | None = None
    error_kind: str | None = None
    run_at: datetime | None = None
    duration_ms: int | None = None
    uncount: bool = False

    def __post_init__(self) -> None:
        check_transition("job", JobStatus.IN_PROGRESS, self.status)


def _sqlite_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


async def finish(
    conn: AsyncConnection, outcomes: Sequence[Outcome], *, worker_id: str, now: datetime | None = None
) -> dict[UUID, str]:
    """Record attempt outcomes in one statement; returns the jobs actually changed and their new status.

    An outcome whose job is no longer in progress at that attempt (rescued, cancelled, re-claimed)
    changes nothing. A retry of a job whose cancel was requested becomes ``cancelled`` instead.
    """
    if not outcomes:
        return {}
    now = now or utcnow()
    if conn.dialect.name == "postgresql":
        changed_rows = await conn.execute(
            _typed("finish_postgresql", "now"),
            {
                "ids": [o.job_id for o in outcomes],
                "attempts": [o.attempt for o in outcomes],
                "statuses": [o.status.value for o in outcomes],
                "results": [
                    None if o.result is None else json.dumps(o.result, default=str) for o in outcomes
                ],
                "errors": [o.error for o in outcomes],
                "error_kinds": [o.error_kind for o in outcomes],
                "run_ats": [o.run_at for o in outcomes],
                "durations": [o.duration_ms for o in outcomes],
                "uncount": [o.uncount for o in outcomes],
                "now": now,
                "worker": worker_id,
            },
        )
        changed = {r.id: r.status for r in changed_rows}
        _wake_if_requeued(conn, changed, outcomes)
        return changed
    batch = json.dumps(
        [
            {
                "id": o.job_id.hex,
                "attempt": o.attempt,
                "status": o.status.value,
                "result": o.result,
                "error": o.error,
                "error_kind": o.error_kind,
                "run_at": _sqlite_time(o.run_at),
                "duration_ms": o.duration_ms,
                "uncount": o.uncount,
            }
            for o in outcomes
        ],
        default=str,
    )
    statement = _typed("finish_sqlite", "now").columns(
        jobs.c.id, jobs.c.organisation_id, jobs.c.status, jobs.c.error_message
    )
    rows = (await conn.execute(statement, {"batch": batch, "now": now})).all()
    if rows:
        await conn.execute(
            _typed("log_outcomes_sqlite", "now"),
            {"ids": json.dumps([r.id.hex for r in rows]), "worker": worker_id, "now": now},
        )
    changed = {r.id: r.status for r in rows}
    _wake_if_requeued(conn, changed, outcomes)
    return changed


async def complete_within(
    conn: AsyncConnection,
    *,
    job_id: UUID,
    attempt: int,
    result: Any,
    duration_ms: int,
    worker_id: str,
    now: datetime,
) -> None:
    """Complete one job in the caller's transaction (its handler's last write), fenced like ``finish``.

    Sent without waiting inside ``driver_sql.pipelined``, so it shares the caller's round trip.
    """
    for step in completion_writes(
        job_id=job_id,
        attempt=attempt,
        result=result,
        duration_ms=duration_ms,
        worker_id=worker_id,
        now=now,
        dialect=conn.dialect.name,
    ):
        await driver_sql.send(conn, step.module, step.name, step.params)


def completion_writes(
    *, job_id: UUID, attempt: int, result: Any, duration_ms: int, worker_id: str, now: datetime, dialect: str
) -> list[driver_sql.Write]:
    """The statements of ``complete_within``, for a ``driver_sql`` plan."""
    check_transition("job", JobStatus.IN_PROGRESS, JobStatus.COMPLETED)
    params = {
        "id": job_id,
        "attempt": attempt,
        "result": driver_sql.Json(result),
        "duration_ms": duration_ms,
        "worker": worker_id,
        "now": now,
    }
    if dialect == "postgresql":
        return [driver_sql.Write("queue", "complete_postgresql", params)]
    logged = {"id": job_id, "worker": worker_id, "now": now}
    return [
        driver_sql.Write("queue", "complete_sqlite", params),
        driver_sql.Write("queue", "log_completion_sqlite", logged),
    ]


class HandOver:
    """The jobs a completed job's slot went to (``hand_over``): the one claimed to run in it, if
    any, then the one claimed to wait for it (``ClaimedJob.takes_slot_of``), if any."""

    def __init__(self, conn: AsyncConnection, sent: Any = None, jobs: list[ClaimedJob] | None = None) -> None:
        self._conn, self._sent = conn, sent
        self._jobs: list[ClaimedJob] | None = (jobs or []) if sent is None else None

    async def jobs(self) -> list[ClaimedJob]:
        """The jobs, once the statements sent with them have run (on PostgreSQL, after the pipeline)."""
        if self._jobs is None:
            rows = await driver_sql.rows_of(self._conn, self._sent, columns=CLAIM_ROW_TYPES)
            self._jobs = claimed_in_hand_over(rows)
        return self._jobs


def _runs_first(job: ClaimedJob) -> bool:
    return job.takes_slot_of is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class HandOverTerms:
    """What a worker asks of a hand-over: the lease of the job it takes, and its share of the queue."""

    lease_seconds: float
    share: int


async def hand_over(
    conn: AsyncConnection,
    *,
    queue: str,
    ended_job_id: UUID,
    worker_id: str,
    terms: HandOverTerms,
    now: datetime,
    successor: UUID | None = None,
) -> HandOver:
    """Pass on the slot of a job of limited ``queue`` that completed in this transaction
    (``domain.jobs.slot_hand_over``): to ``successor``, the job of the same worker that waited for
    that slot, or else to the queue's next due job, claimed for the same worker (best priority, then
    FIFO) unless the queue is paused, at its limit, or the worker holds its share of it; and, when
    the queue is then full, the next due job is claimed as well to wait for the slot, so that the
    worker starts it the moment the slot's job is done with its external call.

    The limit holds without the queue's row lock that claims take: nothing is handed over unless
    ``ended_job_id`` was completed earlier in this transaction (at ``now``), and a job that waits
    for a slot counts only once the job before it has left ``in_progress``. On PostgreSQL the
    statement is sent without waiting inside ``driver_sql.pipelined``.
    """
    params = hand_over_params(
        queue=queue, ended_job_id=ended_job_id, worker_id=worker_id, terms=terms, now=now, successor=successor
    )
    if conn.dialect.name == "postgresql":
        return HandOver(conn, sent=await driver_sql.send(conn, "queue", "hand_over_postgresql", params))
    return HandOver(conn, jobs=await driver_sql.carry_out(conn, hand_over_plan_sqlite(params)))


def hand_over_plan_sqlite(params: Mapping[str, Any]) -> driver_sql.Plan[list[ClaimedJob]]:
    """``hand_over`` on SQLite as a ``driver_sql`` plan: the jobs it claimed, the one that runs in
    the slot first."""
    picked = yield driver_sql.Fetch("queue", "hand_over_pick_sqlite", params)
    if not picked:
        return []
    claims = {
        **params,
        "picks": json.dumps([{"id": r["id"], "takes_slot_of": r["takes_slot_of"]} for r in picked]),
        "picked": json.dumps([{"id": r["id"], "from": r["status"]} for r in picked]),
    }
    rows, _logged = yield [
        driver_sql.Fetch("queue", "claim_handed_sqlite", claims, CLAIM_ROW_TYPES),
        driver_sql.Write("queue", "log_claims_sqlite", claims),
    ]
    return claimed_in_hand_over(rows)


def claimed_in_hand_over(rows: Sequence[Mapping[str, Any]]) -> list[ClaimedJob]:
    """The jobs of a hand-over's rows: the one that runs in the slot first."""
    return sorted((ClaimedJob.from_row(r) for r in rows), key=_runs_first)


def hand_over_params(
    *,
    queue: str,
    ended_job_id: UUID,
    worker_id: str,
    terms: HandOverTerms,
    now: datetime,
    successor: UUID | None = None,
) -> dict[str, Any]:
    """The parameters of the hand-over statements (``hand_over_plan`` and the statements that
    include it)."""
    return {
        "queue": queue,
        "worker": worker_id,
        "now": now,
        "lease_until": now + timedelta(seconds=terms.lease_seconds),
        "share": terms.share,
        "ended": ended_job_id,
        "successor": successor,
    }


def _wake_if_requeued(
    conn: AsyncConnection, changed: Mapping[UUID, str], outcomes: Iterable[Outcome]
) -> None:
    if any(status == JobStatus.QUEUED.value for status in changed.values()):
        conn.info.setdefault(NOTIFY_KEY, set()).add("*")


# -- workers, leases, leadership ------------------------------------------------------------------


async def register_worker(
    conn: AsyncConnection, *, worker_id: str, hostname: str, pid: int, concurrency: int, queues: list[str]
) -> None:
    """Record a worker process as alive."""
    now = utcnow()
    await conn.execute(
        sa.insert(workers).values(
            id=worker_id,
            hostname=hostname,
            pid=pid,
            queues=queues,
            concurrency=concurrency,
            started_at=now,
            heartbeat_at=now,
            stopping=False,
        )
    )


async def heartbeat(
    conn: AsyncConnection,
    *,
    worker_id: str,
    lease_seconds: float,
    running: Sequence[UUID],
    stopping: bool = False,
) -> list[UUID]:
    """Renew the worker's heartbeat and the leases of the jobs it is running; returns its jobs
    whose cancel was requested.

    Only the jobs in ``running`` are renewed: a job claimed for this worker that it never started
    (a hand-over whose commit the handler did not see) keeps its lease running out, and the
    maintenance loop takes it back.
    """
    now = utcnow()
    await conn.execute(
        sa.update(workers).where(workers.c.id == worker_id).values(heartbeat_at=now, stopping=stopping)
    )
    if running:
        # A job row another transaction holds (its outcome being recorded) is skipped, not waited
        # for: waiting would hold every row renewed so far, and the jobs ending meanwhile would
        # queue behind this statement. The lease is many heartbeats long.
        mine = (
            sa.select(jobs.c.id)
            .where(
                jobs.c.lease_owner == worker_id,
                jobs.c.status == JobStatus.IN_PROGRESS.value,
                jobs.c.id.in_(list(running)),
            )
            .with_for_update(skip_locked=True)
        )
        await conn.execute(
            sa.update(jobs)
            .where(jobs.c.id.in_(mine.scalar_subquery()))
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
        )
    return await cancel_requested_of(conn, worker_id)


async def cancel_requested_of(conn: AsyncConnection, worker_id: str) -> list[UUID]:
    """The worker's running jobs whose cancel was requested."""
    rows = await conn.execute(
        sa.select(jobs.c.id).where(
            jobs.c.lease_owner == worker_id,
            jobs.c.status == JobStatus.IN_PROGRESS.value,
            jobs.c.cancel_requested.is_(True),
        )
    )
    return [r.id for r in rows]


async def deregister_worker(conn: AsyncConnection, worker_id: str) -> None:
    """Forget a worker that stopped cleanly."""
    await conn.execute(sa.delete(workers).where(workers.c.id == worker_id))


async def take_leadership(
    conn: AsyncConnection, *, worker_id: str, ttl_seconds: float, name: str = "maintenance"
) -> bool:
    """Become (or stay) the one worker running maintenance, for ``ttl_seconds``."""
    now = utcnow()
    until = now + timedelta(seconds=ttl_seconds)
    updated = await conn.execute(
        sa.update(maintenance_leader)
        .where(
            maintenance_leader.c.name == name,
            sa.or_(maintenance_leader.c.worker_id == worker_id, maintenance_leader.c.expires_at < now),
        )
        .values(worker_id=worker_id, expires_at=until)
    )
    if updated.rowcount == 1:
        return True
    inserted = await conn.execute(
        _leader_insert(conn)
        .values(name=name, worker_id=worker_id, expires_at=until)
        .on_conflict_do_nothing()
        .returning(maintenance_leader.c.name)
    )
    return inserted.first() is not None


def _leader_insert(conn: AsyncConnection) -> Any:
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(maintenance_leader)


# -- maintenance -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RescueReport:
    requeued: int
    failed: int
    cancelled: int


async def rescue_expired(
    conn: AsyncConnection, *, now: datetime | None = None, stale_after: float
) -> RescueReport:
    """Take back the jobs of workers that stopped heartbeating (or whose lease ran out).

    The interrupted attempt counts: the job goes back to the queue, fails once out of retries, or
    is cancelled if a cancel was requested. Dead workers' rows are removed.
    """
    now = now or utcnow()
    dead = [
        r.id
        for r in await conn.execute(
            sa.select(workers.c.id).where(workers.c.heartbeat_at < now - timedelta(seconds=stale_after))
        )
    ]
    condition = jobs.c.lease_expires_at < now
    if dead:
        condition = sa.or_(condition, jobs.c.lease_owner.in_(dead))
    stuck = (
        await conn.execute(
            sa.select(
                jobs.c.id,
                jobs.c.organisation_id,
                jobs.c.attempts,
                jobs.c.max_retries,
                jobs.c.cancel_requested,
                jobs.c.lease_owner,
            ).where(jobs.c.status == JobStatus.IN_PROGRESS.value, condition)
        )
    ).all()
    counts = {"queued": 0, "failed": 0, "cancelled": 0}
    events = []
    for job in stuck:
        target = (
            "cancelled"
            if job.cancel_requested
            else interrupted_outcome(attempts=job.attempts, max_retries=job.max_retries)
        )
        message = f"interrupted: worker {job.lease_owner} stopped heartbeating"
        values: dict[str, Any] = {
            "status": target,
            "lease_owner": None,
            "lease_expires_at": None,
            "error_kind": "cancelled" if target == "cancelled" else "interrupted",
            "error_message": message if target != "cancelled" else "cancelled",
            "updated_at": now,
        }
        if target == "queued":
            values["run_at"] = now
        else:
            values["completed_at"] = now
            if target == "cancelled":
                values["cancelled_at"] = now
        result = await conn.execute(
            sa.update(jobs)
            .where(
                jobs.c.id == job.id,
                jobs.c.status == JobStatus.IN_PROGRESS.value,
                jobs.c.attempts == job.attempts,
            )
            .values(**values)
        )
        if result.rowcount == 1:
            counts[target] += 1
            events.append(
                event_row(
                    organisation_id=job.organisation_id,
                    entity_type="job",
                    entity_id=job.id,
                    from_status=JobStatus.IN_PROGRESS.value,
                    to_status=target,
                    actor="maintenance",
                    reason=message,
                )
            )
    await record_events(conn, events)
    if dead:
        await conn.execute(sa.delete(workers).where(workers.c.id.in_(dead)))
    if counts["queued"]:
        request_wakeup(conn, "*")
    return RescueReport(requeued=counts["queued"], failed=counts["failed"], cancelled=counts["cancelled"])


async def promote_due(conn: AsyncConnection, *, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Mark scheduled jobs whose time has come as ``queued`` (they are claimable either way)."""
    now = now or utcnow()
    due = (
        sa.select(jobs.c.id)
        .where(jobs.c.status == JobStatus.PENDING.value, jobs.c.run_at <= now)
        .limit(batch_size)
    )
    result = await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id.in_(due.scalar_subquery()), jobs.c.status == JobStatus.PENDING.value)
        .values(status=JobStatus.QUEUED.value, updated_at=now)
    )
    return int(result.rowcount or 0)


async def prune_finished(conn: AsyncConnection, *, older_than: datetime, batch_size: int = 1000) -> int:
    """Delete up to ``batch_size`` finished jobs that ended before ``older_than``; returns how many."""
    oldest = (
        sa.select(jobs.c.id)
        .where(jobs.c.status.in_([s.value for s in FINAL_JOB]), jobs.c.completed_at < older_than)
        .limit(batch_size)
    )
    ids = [r.id for r in await conn.execute(oldest)]
    if not ids:
        return 0
    await conn.execute(sa.update(jobs).where(jobs.c.parent_job_id.in_(ids)).values(parent_job_id=None))
    result = await conn.execute(sa.delete(jobs).where(jobs.c.id.in_(ids)))
    return int(result.rowcount or 0)


# -- operator actions --------------------------------------------------------------------------


def _scoped(organisation_id: UUID | None) -> list[sa.ColumnElement[bool]]:
    return [] if organisation_id is None else [jobs.c.organisation_id == organisation_id]


async def get_job(conn: AsyncConnection, organisation_id: UUID | None, job_id: UUID) -> dict[str, Any]:
    """One job (of the organisation, unless ``organisation_id`` is None for system use)."""
    row = (
        (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id, *_scoped(organisation_id))))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("job")
    return dict(row)


async def request_cancel(
    conn: AsyncConnection, organisation_id: UUID | None, job_id: UUID, *, actor: str
) -> dict[UUID, str]:
    """Cancel a job and all its descendants: waiting ones at once, running ones by their worker.

    Returns each affected job and its status after the request (``in_progress`` for a running job
    whose worker has been told). Finished jobs are left as they are.
    """
    root = await get_job(conn, organisation_id, job_id)
    now = utcnow()
    family = [root]
    frontier = [root["id"]]
    while frontier:
        children = (
            (await conn.execute(sa.select(jobs).where(jobs.c.parent_job_id.in_(frontier)))).mappings().all()
        )
        family.extend(dict(c) for c in children)
        frontier = [c["id"] for c in children]
    affected: dict[UUID, str] = {}
    events = []
    for job in family:
        status = job["status"]
        if status in FINAL_JOB:
            continue
        if status == JobStatus.IN_PROGRESS.value:
            await conn.execute(
                sa.update(jobs).where(jobs.c.id == job["id"]).values(cancel_requested=True, updated_at=now)
            )
            conn.info.setdefault(NOTIFY_KEY, set()).add(f"cancel:{job['id']}")
            affected[job["id"]] = status
            continue
        result = await conn.execute(
            sa.update(jobs)
            .where(jobs.c.id == job["id"], jobs.c.status == status)
            .values(
                status=JobStatus.CANCELLED.value,
                cancel_requested=True,
                cancelled_at=now,
                completed_at=now,
                error_kind="cancelled",
                updated_at=now,
            )
        )
        if result.rowcount == 1:
            affected[job["id"]] = JobStatus.CANCELLED.value
            events.append(
                event_row(
                    organisation_id=job["organisation_id"],
                    entity_type="job",
                    entity_id=job["id"],
                    from_status=status,
                    to_status=JobStatus.CANCELLED.value,
                    actor=actor,
                )
            )
    await record_events(conn, events)
    return affected


async def retry_job(
    conn: AsyncConnection,
    organisation_id: UUID | None,
    job_id: UUID,
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    """Put a failed or cancelled job back in the queue, due now, with a fresh allowance of retries."""
    job = await get_job(conn, organisation_id, job_id)
    check_manual_retry(job["status"])
    now = now or utcnow()
    result = await conn.execute(
        sa.update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == job["status"])
        .values(
            status=JobStatus.QUEUED.value,
            attempts=0,
            run_at=now,
            cancel_requested=False,
            completed_at=None,
            cancelled_at=None,
            error_kind=None,
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        raise Conflict("the job changed meanwhile; try again")
    await record_events(
        conn,
        [
            event_row(
                organisation_id=job["organisation_id"],
                entity_type="job",
                entity_id=job_id,
                from_status=job["status"],
                to_status=JobStatus.QUEUED.value,
                actor=actor,
                reason="manual retry",
            )
        ],
    )
    request_wakeup(conn, job["queue"])


async def set_queue(
    conn: AsyncConnection,
    name: str,
    *,
    paused: bool | None = None,
    concurrency_limit: int | str | None = "keep",
) -> dict[str, Any]:
    """Pause or resume a queue and/or set its cluster-wide concurrency limit (None removes it)."""
    now = utcnow()
    current = (await conn.execute(sa.select(queues).where(queues.c.name == name))).mappings().first()
    values: dict[str, Any] = {
        "paused": bool(current["paused"]) if current else False,
        "concurrency_limit": current["concurrency_limit"] if current else None,
    }
    if paused is not None:
        values["paused"] = paused
    if concurrency_limit != "keep":
        values["concurrency_limit"] = concurrency_limit
    if current is None:
        await conn.execute(sa.insert(queues).values(name=name, updated_at=now, **values))
    else:
        await conn.execute(sa.update(queues).where(queues.c.name == name).values(updated_at=now, **values))
    if not values["paused"]:
        request_wakeup(conn, name)
    return {"name": name, **values}


async def seed_queue_limit(conn: AsyncConnection, name: str, concurrency_limit: int) -> None:
    """Give queue ``name`` this limit unless it already has settings (an operator's choice stays)."""
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        dialect_insert(queues)
        .values(name=name, paused=False, concurrency_limit=concurrency_limit, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )


async def list_queues(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every queue with settings, and how many of its jobs wait and run."""
    counts = await conn.execute(
        sa.select(jobs.c.queue, jobs.c.status, sa.func.count().label("n"))
        .where(jobs.c.status.in_([s.value for s in ACTIVE_JOB]))
        .group_by(jobs.c.queue, jobs.c.status)
    )
    summary: dict[str, dict[str, Any]] = {}
    for row in counts:
        entry = summary.setdefault(row.queue, {"name": row.queue, "paused": False, "concurrency_limit": None})
        entry[row.status] = int(row.n)
    for setting in (await conn.execute(sa.select(queues))).mappings():
        entry = summary.setdefault(setting["name"], {"name": setting["name"]})
        entry.update(paused=bool(setting["paused"]), concurrency_limit=setting["concurrency_limit"])
    return sorted(summary.values(), key=lambda e: str(e["name"]))
