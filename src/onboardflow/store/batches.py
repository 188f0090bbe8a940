"""Batches (``registration_batch_jobs``): create, read with live counts, page their restaurants, move
their status, and close them when their last registration job ends (``on_run_finished``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.batches import batch_outcome
from onboardflow.domain.pipeline import PIPELINE_STEP_KEYS
from onboardflow.domain.statuses import ACTIVE_REGISTRATION, BatchStatus
from onboardflow.errors import NotFound
from onboardflow.store import driver_sql
from onboardflow.store.events import event_row, record_events
from onboardflow.store.paging import Page, fetch_page
from onboardflow.store.tables import registration_batch_jobs as batches
from onboardflow.store.tables import registration_job_steps as steps
from onboardflow.store.tables import registration_jobs as runs
from onboardflow.store.tables import restaurants
from onboardflow.store.transitions import apply, transition
from onboardflow.store.types import utcnow


async def insert_batch(
    conn: AsyncConnection,
    *,
    organisation_id: UUID,
    name: str,
    settings: Mapping[str, Any],
    total: int,
    created_by: UUID | None,
    actor: str,
) -> UUID:
    """Create a batch, in progress from the start (its first steps are queued with it)."""
    now = utcnow()
    batch_id = uuid4()
    await conn.execute(
        sa.insert(batches).values(
            id=batch_id,
            organisation_id=organisation_id,
            name=name,
            status=BatchStatus.IN_PROGRESS.value,
            settings=dict(settings),
            total_restaurants=total,
            created_by=created_by,
            metadata={},
            created_at=now,
            updated_at=now,
            started_at=now,
        )
    )
    await record_events(
        conn,
        [
            event_row(
                organisation_id=organisation_id,
                entity_type="batch",
                entity_id=batch_id,
                from_status=None,
                to_status=BatchStatus.IN_PROGRESS.value,
                actor=actor,
                batch_job_id=batch_id,
            )
        ],
    )
    return batch_id


async def get_batch(conn: AsyncConnection, organisation_id: UUID | None, batch_id: UUID) -> dict[str, Any]:
    """One batch of the organisation (any organisation's when ``organisation_id`` is None)."""
    batch = await driver_sql.select_owned(conn, batches, batch_id, organisation_id)
    if batch is None:
        raise NotFound("batch")
    return batch


async def lock_batch(conn: AsyncConnection, organisation_id: UUID | None, batch_id: UUID) -> dict[str, Any]:
    """The batch, locked for the rest of the transaction (PostgreSQL; SQLite has one writer).

    ``FOR NO KEY UPDATE``: a transaction that updates a registration job twice takes a key-share
    lock on its batch (the foreign key check), which a plain ``FOR UPDATE`` would wait for, so two
    jobs ending at once would deadlock.
    """
    query = sa.select(batches).where(batches.c.id == batch_id)
    if organisation_id is not None:
        query = query.where(batches.c.organisation_id == organisation_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(key_share=True)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise NotFound("batch")
    return dict(row)


async def batch_status_of(conn: AsyncConnection, batch_id: UUID | None) -> str | None:
    """The status of a batch (``None`` for no batch)."""
    if batch_id is None:
        return None
    rows = await driver_sql.select_where(conn, batches, {"id": batch_id})
    return str(rows[0]["status"]) if rows else None


def batch_transition(
    batch: Mapping[str, Any],
    target: BatchStatus,
    *,
    actor: str,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> driver_sql.Transition:
    """A batch's move to ``target``: strict in a plan, a compare-and-set through ``set_batch``."""
    return transition(
        batches,
        "batch",
        row_id=batch["id"],
        organisation_id=batch["organisation_id"],
        current=batch["status"],
        target=target.value,
        actor=actor,
        values=values,
        reason=reason,
        batch_job_id=batch["id"],
    )


async def set_batch(
    conn: AsyncConnection,
    batch: Mapping[str, Any],
    target: BatchStatus,
    *,
    actor: str,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> bool:
    """Move a batch to ``target`` (checked, compare-and-set, with an event)."""
    return await apply(conn, batch_transition(batch, target, actor=actor, values=values, reason=reason))


async def run_counts(conn: AsyncConnection, batch_ids: Sequence[UUID]) -> dict[UUID, dict[str, int]]:
    """Registration jobs per status of each batch."""
    counts: dict[UUID, dict[str, int]] = {batch_id: {} for batch_id in batch_ids}
    if not batch_ids:
        return counts
    rows = await conn.execute(
        sa.select(runs.c.batch_job_id, runs.c.status, sa.func.count())
        .where(runs.c.batch_job_id.in_(list(batch_ids)))
        .group_by(runs.c.batch_job_id, runs.c.status)
    )
    for batch_id, status, count in rows:
        counts[batch_id][status] = int(count)
    return counts


async def step_counts(
    conn: AsyncConnection, batch_ids: Sequence[UUID]
) -> dict[UUID, dict[str, dict[str, int]]]:
    """Pipeline steps (not sub-steps) per step key and status of each batch.

    Pipeline steps are told from sub-steps by their keys (the two sets are disjoint), not by
    ``parent_step_id IS NULL``: the keys are in the ``(registration_job_id, step_key)`` index, whereas on
    PostgreSQL with statistics not yet analysed after a large conversion, the planner ANDed the
    parent-step index (a third of the table) into every job's lookup, taking 300-450 ms for 1,000 jobs.
    """
    counts: dict[UUID, dict[str, dict[str, int]]] = {batch_id: {} for batch_id in batch_ids}
    if not batch_ids:
        return counts
    rows = await conn.execute(
        sa.select(runs.c.batch_job_id, steps.c.step_key, steps.c.status, sa.func.count())
        .select_from(runs.join(steps, steps.c.registration_job_id == runs.c.id))
        .where(runs.c.batch_job_id.in_(list(batch_ids)), steps.c.step_key.in_(PIPELINE_STEP_KEYS))
        .group_by(runs.c.batch_job_id, steps.c.step_key, steps.c.status)
    )
    for batch_id, key, status, count in rows:
        counts[batch_id].setdefault(key, {})[status] = int(count)
    return counts


async def list_batches(
    conn: AsyncConnection, organisation_id: UUID, *, limit: int, offset: int, status: str | None = None
) -> Page:
    """A page of the organisation's batches, newest first."""
    query = sa.select(batches).where(batches.c.organisation_id == organisation_id)
    if status is not None:
        query = query.where(batches.c.status == status)
    return await fetch_page(
        conn, query, limit=limit, offset=offset, order_by=(batches.c.created_at.desc(), batches.c.id)
    )


async def page_batch_runs(
    conn: AsyncConnection,
    batch_id: UUID,
    *,
    limit: int,
    offset: int,
    step_key: str | None = None,
    status: str | None = None,
) -> Page:
    """A page of a batch's registration jobs with their restaurant's name, in the order they were
    created. With ``step_key``, ``status`` filters on that step's status; without, on the job's."""
    query = (
        sa.select(
            runs.c.id,
            runs.c.restaurant_id,
            runs.c.status,
            runs.c.current_step,
            runs.c.current_phase,
            runs.c.error_message,
            runs.c.pumpd_restaurant_id,
            runs.c.created_at,
            runs.c.completed_at,
            restaurants.c.name.label("restaurant_name"),
        )
        .select_from(runs.join(restaurants, restaurants.c.id == runs.c.restaurant_id))
        .where(runs.c.batch_job_id == batch_id)
    )
    if step_key is not None:
        step_filter = [steps.c.registration_job_id == runs.c.id, steps.c.step_key == step_key]
        if status is not None:
            step_filter.append(steps.c.status == status)
        query = query.where(sa.exists().where(*step_filter))
    elif status is not None:
        query = query.where(runs.c.status == status)
    return await fetch_page(conn, query, limit=limit, offset=offset, order_by=(runs.c.created_at, runs.c.id))


async def top_steps_of(conn: AsyncConnection, run_ids: Sequence[UUID]) -> dict[UUID, list[dict[str, Any]]]:
    """The pipeline steps (not sub-steps) of each run, in order (told apart by key, see ``step_counts``)."""
    found: dict[UUID, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return found
    rows = await conn.execute(
        sa.select(
            steps.c.id,
            steps.c.registration_job_id,
            steps.c.step_key,
            steps.c.step_number,
            steps.c.status,
            steps.c.attempts,
            steps.c.error_message,
            steps.c.skip_reason,
            steps.c.next_attempt_at,
            steps.c.started_at,
            steps.c.completed_at,
        )
        .where(steps.c.registration_job_id.in_(list(run_ids)), steps.c.step_key.in_(PIPELINE_STEP_KEYS))
        .order_by(steps.c.registration_job_id, steps.c.step_number)
    )
    for row in rows.mappings():
        found[row["registration_job_id"]].append(dict(row))
    return found


async def runs_of_batch(
    conn: AsyncConnection, batch_id: UUID, *, statuses: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The batch's registration jobs (optionally only those in ``statuses``), oldest first."""
    query = sa.select(runs).where(runs.c.batch_job_id == batch_id)
    if statuses is not None:
        query = query.where(runs.c.status.in_(list(statuses)))
    rows = await conn.execute(query.order_by(runs.c.created_at, runs.c.id))
    return [dict(r) for r in rows.mappings()]


async def close_if_done(conn: AsyncConnection, batch_id: UUID, *, actor: str) -> BatchStatus | None:
    """Move the batch to completed or failed if every one of its jobs is final (see
    ``domain.batches.batch_outcome``); returns the new status, if it moved.

    The batch row is locked first, so that of two jobs ending at once the later one sees the other.
    """
    return await driver_sql.carry_out(conn, close_if_done_plan(batch_id, actor=actor))


def close_if_done_plan(batch_id: UUID, *, actor: str) -> driver_sql.Plan[BatchStatus | None]:
    """``close_if_done`` in a plan (its write held)."""
    rows = yield driver_sql.Fetch("runs", "lock_batch_{dialect}", {"batch_id": batch_id}, _BATCH_COLUMNS)
    if not rows:
        raise NotFound("batch")
    batch = rows[0]
    if batch["status"] not in (BatchStatus.IN_PROGRESS.value, BatchStatus.PENDING.value):
        return None
    counts = yield driver_sql.Fetch("runs", "run_counts_of_batch", {"batch_id": batch_id})
    outcome = batch_outcome({str(r["status"]): int(r["n"]) for r in counts})
    if outcome is None:
        return None
    yield driver_sql.Hold([batch_transition(batch, outcome, actor=actor, values={"completed_at": utcnow()})])
    return outcome


async def on_run_finished(conn: AsyncConnection, run: Mapping[str, Any], *, actor: str) -> None:
    """Called in the transaction that ends a registration job: closes its batch when it was the last.

    Only a job that sees no other job of its batch still active locks the batch to close it; every
    job ending took that lock before, and a batch of a thousand queued on it (almost a second each).
    Two last jobs ending at the same moment each see the other still active: ``close_finished``,
    which the maintenance loop runs every few seconds, closes such a batch.
    """
    await driver_sql.carry_out(conn, on_run_finished_plan(run, actor=actor))


_ACTIVE_STATUSES = driver_sql.Json(sorted(s.value for s in ACTIVE_REGISTRATION))


def on_run_finished_plan(run: Mapping[str, Any], *, actor: str) -> driver_sql.Plan[None]:
    """``on_run_finished`` in a plan."""
    batch_id = run.get("batch_job_id")
    if batch_id is None:
        return
    params = {"batch_id": batch_id, "run_id": run["id"], "active": _ACTIVE_STATUSES}
    others = yield driver_sql.Fetch("runs", "other_active_run_of_batch_{dialect}", params)
    if not others[0]["found"]:
        yield from close_if_done_plan(batch_id, actor=actor)


_BATCH_COLUMNS = driver_sql.columns_of(batches)


async def close_finished(conn: AsyncConnection, *, actor: str) -> int:
    """Close every running batch whose jobs are all final (see ``on_run_finished``); returns how many."""
    active = sa.select(runs.c.id).where(
        runs.c.batch_job_id == batches.c.id, runs.c.status.in_([s.value for s in ACTIVE_REGISTRATION])
    )
    rows = await conn.execute(
        sa.select(batches.c.id).where(
            batches.c.status.in_([BatchStatus.IN_PROGRESS.value, BatchStatus.PENDING.value]),
            ~sa.exists(active),
        )
    )
    closed = 0
    for (batch_id,) in rows.all():
        closed += await close_if_done(conn, batch_id, actor=actor) is not None
    return closed


async def reopen_batch(conn: AsyncConnection, batch_id: UUID, *, actor: str, reason: str) -> None:
    """Put a finished (completed or failed) batch back in progress, e.g. when a job of it is retried."""
    batch = await lock_batch(conn, None, batch_id)
    if batch["status"] in (BatchStatus.COMPLETED.value, BatchStatus.FAILED.value):
        await set_batch(
            conn, batch, BatchStatus.IN_PROGRESS, actor=actor, reason=reason, values={"completed_at": None}
        )
