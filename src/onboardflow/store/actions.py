"""The action queue's reads and the company candidates a search persisted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.enrichment import candidate_order
from onboardflow.domain.statuses import StepStatus
from onboardflow.store import driver_sql
from onboardflow.store.engine import translate_errors
from onboardflow.store.paging import Page, fetch_page
from onboardflow.store.tables import company_candidates as candidates
from onboardflow.store.tables import registration_job_steps as steps
from onboardflow.store.tables import registration_jobs as runs
from onboardflow.store.tables import restaurants
from onboardflow.store.types import utcnow


@asynccontextmanager
async def savepoint(conn: AsyncConnection) -> AsyncIterator[None]:
    """A nested transaction: what happens inside is undone alone when the block raises."""
    with translate_errors():
        async with conn.begin_nested():
            yield


async def replace_candidates(
    conn: AsyncConnection, run: Mapping[str, Any], found: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Persist a search's candidates for a run: new companies are added, known ones updated (and
    restored if they had been removed), companies no longer found are marked removed. Returns the
    current (not removed) candidates, best first."""

    def plan() -> driver_sql.Plan[list[dict[str, Any]]]:
        known = yield driver_sql.Fetch(
            "pipeline", "candidates_of_run", {"run_id": run["id"], "include_removed": True}, CANDIDATE_COLUMNS
        )
        writes, current = candidate_writes(run, found, known)
        yield driver_sql.Hold(writes)
        return current

    return await driver_sql.carry_out(conn, plan())


def candidate_writes(
    run: Mapping[str, Any], found: Sequence[Mapping[str, Any]], known: Sequence[Mapping[str, Any]]
) -> tuple[list[driver_sql.Write | driver_sql.Change], list[dict[str, Any]]]:
    """What ``replace_candidates`` writes, given the run's ``known`` candidates (removed ones too),
    and the run's current candidates once written, best first (``domain.enrichment.candidate_order``,
    as ``candidates_of_run`` reads them)."""
    now = utcnow()
    fields = ("nzbn", "name", "status", "registered_address", "score", "match_reasons", "matched_by", "raw")
    existing = {str(row["company_number"]): row for row in known}
    writes: list[driver_sql.Write | driver_sql.Change] = []
    current = []
    for item in found:
        values = {name: item.get(name) for name in fields}
        number = str(item["company_number"])
        row = existing.get(number)
        if row is not None:
            writes.append(driver_sql.Change(candidates, {**values, "removed_at": None}, {"id": row["id"]}))
            current.append({**row, **values, "removed_at": None})
            continue
        row = {
            **values,
            "id": uuid4(),
            "organisation_id": run["organisation_id"],
            "registration_job_id": run["id"],
            "restaurant_id": run["restaurant_id"],
            "company_number": number,
            "removed_at": None,
            "created_at": now,
        }
        params = {**row, **{n: driver_sql.Json(row[n]) for n in ("match_reasons", "raw")}}
        writes.append(driver_sql.Write("pipeline", "insert_candidate", params))
        current.append(row)
    numbers = {str(item["company_number"]) for item in found}
    for number, row in existing.items():
        if number not in numbers and row["removed_at"] is None:
            writes.append(driver_sql.Change(candidates, {"removed_at": now}, {"id": row["id"]}))
    return writes, sorted(current, key=candidate_order)


CANDIDATE_COLUMNS = driver_sql.columns_of(candidates)


async def list_candidates(
    conn: AsyncConnection, run_id: UUID, *, include_removed: bool = False
) -> list[dict[str, Any]]:
    """A run's candidates, best first."""
    params = {"run_id": run_id, "include_removed": include_removed}
    return await driver_sql.fetch(conn, "pipeline", "candidates_of_run", params, columns=CANDIDATE_COLUMNS)


async def remove_candidate(conn: AsyncConnection, candidate_id: UUID) -> None:
    """Mark one candidate removed (it can no longer be chosen)."""
    await conn.execute(
        sa.update(candidates).where(candidates.c.id == candidate_id).values(removed_at=utcnow())
    )


async def list_waiting_steps(
    conn: AsyncConnection,
    organisation_id: UUID,
    *,
    limit: int,
    offset: int,
    batch_id: UUID | None = None,
    step_key: str | None = None,
    restaurant_id: UUID | None = None,
) -> Page:
    """A page of the organisation's steps waiting for a person, oldest wait first, with their
    registration job, batch and restaurant."""
    query = (
        sa.select(
            steps.c.id,
            steps.c.step_key,
            steps.c.label,
            steps.c.input,
            steps.c.answer_schema,
            steps.c.updated_at,
            steps.c.created_at,
            steps.c.registration_job_id,
            runs.c.batch_job_id,
            runs.c.restaurant_id,
            restaurants.c.name.label("restaurant_name"),
        )
        .select_from(
            steps.join(runs, runs.c.id == steps.c.registration_job_id).join(
                restaurants, restaurants.c.id == runs.c.restaurant_id
            )
        )
        .where(
            steps.c.organisation_id == organisation_id,
            steps.c.status == StepStatus.ACTION_REQUIRED.value,
        )
    )
    if batch_id is not None:
        query = query.where(_of_batch(conn, batch_id))
    if step_key is not None:
        query = query.where(steps.c.step_key == step_key)
    if restaurant_id is not None:
        query = query.where(runs.c.restaurant_id == restaurant_id)
    return await fetch_page(
        conn, query, limit=limit, offset=offset, order_by=(steps.c.updated_at, steps.c.id)
    )


async def waiting_step_ids(
    conn: AsyncConnection, organisation_id: UUID, *, batch_id: UUID | None, step_key: str | None
) -> list[UUID]:
    """Every waiting step of the organisation (of one batch, at one step), oldest wait first."""
    query = (
        sa.select(steps.c.id)
        .select_from(steps.join(runs, runs.c.id == steps.c.registration_job_id))
        .where(
            steps.c.organisation_id == organisation_id,
            steps.c.status == StepStatus.ACTION_REQUIRED.value,
        )
    )
    if batch_id is not None:
        query = query.where(_of_batch(conn, batch_id))
    if step_key is not None:
        query = query.where(steps.c.step_key == step_key)
    return [r.id for r in await conn.execute(query.order_by(steps.c.updated_at, steps.c.id))]


def _of_batch(conn: AsyncConnection, batch_id: UUID) -> sa.ColumnElement[bool]:
    """Steps of the runs of one batch. On PostgreSQL the runs' ids are read once, ahead of the steps
    (an ``ARRAY`` subquery): joining the batch's runs instead, the planner of tables not analysed
    yet expected one run and one waiting step, and scanned the whole batch again for every waiting
    step (a thousand waiting steps took 150 ms instead of 10)."""
    of_batch = sa.select(runs.c.id).where(runs.c.batch_job_id == batch_id)
    if conn.dialect.name == "postgresql":
        return steps.c.registration_job_id == sa.any_(sa.func.array(of_batch.scalar_subquery()))
    return steps.c.registration_job_id.in_(of_batch)


async def get_org_step(conn: AsyncConnection, organisation_id: UUID, step_id: UUID) -> dict[str, Any] | None:
    """One step of the organisation, or None."""
    return await driver_sql.select_owned(conn, steps, step_id, organisation_id)
