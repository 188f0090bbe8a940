"""Moving a batch registration job through the six steps of SPEC §3, inside the caller's transaction.

``open_step`` is the one place a step starts: an automatic step gets a queue job, a step that waits
for a person becomes ``action_required`` with what the person needs (``input``) and the schema of the
answer, and the registration job is ``action_required`` while it waits. Callers hold the run's lock
(``registrations.lock_run``) so that the step that ends and the step that starts are one change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.answers import answer_schema
from onboardflow.domain.batches import parse_batch_settings
from onboardflow.domain.enrichment import prefill_search_terms, prefill_yolo_config, preselected_candidate
from onboardflow.domain.jobs import JobSpec
from onboardflow.domain.records import Restaurant
from onboardflow.domain.statuses import (
    ACTIVE_REGISTRATION,
    FINAL_STEP,
    RegistrationStatus,
    StepStatus,
)
from onboardflow.errors import NotFound
from onboardflow.store import driver_sql
from onboardflow.store import registrations as runs_store
from onboardflow.store.actions import CANDIDATE_COLUMNS
from onboardflow.store.batches import get_batch, on_run_finished, reopen_batch
from onboardflow.store.queue import enqueue_many, job_insert, job_row
from onboardflow.store.secrets import SecretBox
from onboardflow.store.tables import organisations
from onboardflow.store.tables import registration_batch_jobs as batch_table
from onboardflow.store.tables import registration_job_steps as steps
from onboardflow.store.tables import registration_jobs as run_table
from onboardflow.store.tables import restaurants as restaurant_table
from onboardflow.store.types import utcnow

PIPELINE_QUEUE = "pipeline"
STEP_MAX_RETRIES = 3
STEP_JOB_TYPES: Mapping[str, str] = {
    "extraction": "pipeline.extraction",
    "company_search": "pipeline.company_search",
    "company_details": "pipeline.company_details",
    "yolo_execution": "pipeline.yolo_execution",
}
"""The steps that run as queue jobs (``company_search`` after its answer), and their job types."""
AUTO_CONFIRM_ACTOR = "system:auto-confirm"


def public_candidate(candidate: Mapping[str, Any]) -> dict[str, Any]:
    """A candidate as the action queue shows it."""
    return {
        "id": str(candidate["id"]),
        "company_number": candidate["company_number"],
        "nzbn": candidate["nzbn"],
        "name": candidate["name"],
        "status": candidate["status"],
        "registered_address": candidate["registered_address"],
        "score": candidate["score"],
        "match_reasons": list(candidate["match_reasons"] or []),
        "matched_by": candidate["matched_by"],
    }


async def step_of(conn: AsyncConnection, run_id: UUID, key: str) -> dict[str, Any]:
    """The pipeline step ``key`` of a run."""
    rows = await driver_sql.select_where(conn, steps, runs_store.step_key_of(run_id, key))
    if not rows:
        raise LookupError(f"run {run_id} has no step {key}")
    return rows[0]


def _generation(step: Mapping[str, Any]) -> int:
    return int((step.get("input") or {}).get("generation", 0))


def _step_job(run: Mapping[str, Any], step: Mapping[str, Any], run_at: datetime | None) -> JobSpec:
    return runs_store.step_job_spec(
        run,
        step,
        job_type=STEP_JOB_TYPES[step["step_key"]],
        queue=PIPELINE_QUEUE,
        max_retries=STEP_MAX_RETRIES,
        run_at=run_at,
    )


async def enqueue_step(
    conn: AsyncConnection, run: Mapping[str, Any], step: Mapping[str, Any], *, run_at: datetime | None = None
) -> UUID:
    """Queue one attempt of an automatic step and point the step at the queue job."""
    return await driver_sql.carry_out(conn, enqueue_step_plan(run, step, run_at=run_at))


def enqueue_step_plan(
    run: Mapping[str, Any], step: Mapping[str, Any], *, run_at: datetime | None = None
) -> driver_sql.Plan[UUID]:
    """``enqueue_step`` in a plan: the job's insert and the step's pointer are held. Its unique key
    names the step's attempt and the caller holds the run's lock, so a duplicate fails the
    transaction (``Conflict``) rather than being ignored."""
    row = job_row(_step_job(run, step, run_at), utcnow())
    yield driver_sql.Hold([job_insert(row), runs_store.step_values(step["id"], {"job_id": row["id"]})])
    yield driver_sql.Wake(row["queue"])
    return UUID(str(row["id"]))


async def enqueue_steps(
    conn: AsyncConnection, pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]
) -> None:
    """Queue many (run, step) pairs in one insert and point each step at its job."""
    if not pairs:
        return
    queued = await enqueue_many(conn, [_step_job(run, step, None) for run, step in pairs])
    await runs_store.point_steps_at_jobs(
        conn, [step["id"] for _run, step in pairs], [job.id for job in queued]
    )


async def first_steps(conn: AsyncConnection, run_ids: Sequence[UUID], key: str) -> dict[UUID, dict[str, Any]]:
    """The step ``key`` of each run."""
    rows = await conn.execute(
        sa.select(steps).where(
            steps.c.registration_job_id.in_(list(run_ids)),
            steps.c.step_key == key,
            steps.c.parent_step_id.is_(None),
        )
    )
    return {r["registration_job_id"]: dict(r) for r in rows.mappings()}


def _mark_running(run: dict[str, Any], *, actor: str) -> driver_sql.Plan[None]:
    """The run is in progress (held), if it waited or had not started."""
    if run["status"] in (RegistrationStatus.ACTION_REQUIRED.value, RegistrationStatus.PENDING.value):
        values: dict[str, Any] = {}
        if run.get("started_at") is None:
            values["started_at"] = utcnow()
        yield driver_sql.Hold(
            [runs_store.run_transition(run, RegistrationStatus.IN_PROGRESS, actor=actor, values=values)]
        )
        run.update(status=RegistrationStatus.IN_PROGRESS.value, **values)


async def queue_automatic(
    conn: AsyncConnection, run: Mapping[str, Any], step: Mapping[str, Any], *, actor: str
) -> None:
    """Queue an automatic step (it stays ``pending`` until its job starts); the run is in progress."""
    await driver_sql.carry_out(conn, queue_automatic_plan(dict(run), step, actor=actor))


def queue_automatic_plan(
    run: dict[str, Any], step: Mapping[str, Any], *, actor: str
) -> driver_sql.Plan[None]:
    """``queue_automatic`` in a plan (its writes held); ``run`` is kept up to date."""
    yield from enqueue_step_plan(run, step)
    yield from _mark_running(run, actor=actor)


async def wait_for_answer(
    conn: AsyncConnection,
    run: Mapping[str, Any],
    step: Mapping[str, Any],
    *,
    needs: Mapping[str, Any],
    actor: str,
) -> None:
    """Make the step wait for a person with ``needs`` (prefilled form, candidates) and its answer's
    schema; the run is ``action_required`` while it waits."""
    await driver_sql.carry_out(conn, wait_for_answer_plan(dict(run), step, needs=needs, actor=actor))


def wait_for_answer_plan(
    run: dict[str, Any], step: Mapping[str, Any], *, needs: Mapping[str, Any], actor: str
) -> driver_sql.Plan[None]:
    """``wait_for_answer`` in a plan (its writes held); ``run`` is kept up to date."""
    now = utcnow()
    moves = [
        runs_store.step_transition(
            step,
            StepStatus.ACTION_REQUIRED,
            actor=actor,
            values={
                "input": {**dict(needs), "generation": _generation(step)},
                "answer_schema": answer_schema(step["step_key"]),
                "answer": None,
                "answered_by": None,
                "answered_at": None,
                "job_id": None,
                "started_at": step.get("started_at") or now,
            },
        )
    ]
    if run["status"] != RegistrationStatus.ACTION_REQUIRED.value:
        moves.append(runs_store.run_transition(run, RegistrationStatus.ACTION_REQUIRED, actor=actor))
        run["status"] = RegistrationStatus.ACTION_REQUIRED.value
    yield driver_sql.Hold(moves)


async def batch_settings_of(conn: AsyncConnection, run: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of the run's batch (empty for a run without a batch)."""
    if run["batch_job_id"] is None:
        return {}
    batch = await get_batch(conn, None, run["batch_job_id"])
    return dict(batch["settings"] or {})


@dataclass(slots=True, kw_only=True)
class Known:
    """What the transaction that opens a step already read, so that ``open_step_plan`` does not
    read it again: the run's restaurant as it is now, its batch's settings, its current candidates,
    the organisation's settings (sealed) and the run's steps by key."""

    restaurant: Restaurant | None = None
    batch_settings: Mapping[str, Any] | None = None
    candidates: list[dict[str, Any]] | None = None
    organisation_settings: Mapping[str, Any] | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)


async def open_step(
    conn: AsyncConnection,
    run_id: UUID,
    key: str | None,
    *,
    actor: str,
    secrets: SecretBox,
    locked: Mapping[str, Any] | None = None,
    step_row: Mapping[str, Any] | None = None,
    restaurant: Restaurant | None = None,
) -> None:
    """Start step ``key`` of a run (``None``: nothing follows). See the module docstring.

    ``locked`` is the run as the caller locked it in this transaction, if it did; ``step_row`` the
    step and ``restaurant`` the run's restaurant as the caller read them after taking that lock
    (none of them is read again then).
    """
    if key is None:
        return
    run = dict(locked) if locked is not None else await runs_store.lock_run(conn, None, run_id)
    known = Known(restaurant=restaurant, steps={key: dict(step_row)} if step_row is not None else {})
    await driver_sql.carry_out(conn, open_step_plan(run, key, actor=actor, secrets=secrets, known=known))


def open_step_plan(
    run: dict[str, Any], key: str | None, *, actor: str, secrets: SecretBox, known: Known | None = None
) -> driver_sql.Plan[None]:
    """``open_step`` in a plan: it reads what ``known`` does not hold, and holds its writes; ``run``
    (locked by the caller) is kept up to date."""
    if key is None or run["status"] not in ACTIVE_REGISTRATION:
        return
    known = known or Known()
    run_id = run["id"]
    step = known.steps.get(key)
    if step is None:
        step = (yield driver_sql.Rows(steps, runs_store.step_key_of(run_id, key)))[0]
    if run.get("current_step") != key:
        yield driver_sql.Hold([runs_store.run_values(run_id, {"current_step": key})])
        run["current_step"] = key
    now = utcnow()
    if key == "company_search":
        restaurant = yield from _restaurant_of(run, known)
        terms = prefill_search_terms(restaurant.to_dict())
        yield from wait_for_answer_plan(run, step, needs={"search_terms": terms}, actor=actor)
    elif key == "company_selection":
        if known.candidates is None:
            params = {"run_id": run_id, "include_removed": False}
            known.candidates = yield driver_sql.Fetch(
                "pipeline", "candidates_of_run", params, CANDIDATE_COLUMNS
            )
        candidates = known.candidates
        chosen = preselected_candidate(candidates)
        needs = {
            "candidates": [public_candidate(c) for c in candidates],
            "preselected_candidate_id": str(chosen) if chosen else None,
        }
        if known.batch_settings is None:
            known.batch_settings = yield from _batch_settings(run)
        settings = parse_batch_settings(known.batch_settings)
        if chosen is not None and settings.auto_confirm_company:
            answer = {"candidate_id": str(chosen), "none_of_these": False}
            confirmed = runs_store.step_transition(
                step,
                StepStatus.COMPLETED,
                actor=AUTO_CONFIRM_ACTOR,
                reason="a clear match, confirmed automatically by the batch's settings",
                values={
                    "input": {**needs, "generation": _generation(step)},
                    "answer": answer,
                    "answered_at": now,
                    "started_at": now,
                    "completed_at": now,
                },
            )
            yield driver_sql.Hold([confirmed])
            known.steps[key] = {**step, "status": StepStatus.COMPLETED.value, "answer": answer}
            yield from open_step_plan(run, "company_details", actor=actor, secrets=secrets, known=known)
        else:
            yield from wait_for_answer_plan(run, step, needs=needs, actor=actor)
    elif key == "company_details":
        selection = known.steps.get("company_selection")
        if selection is None:
            selection = (yield driver_sql.Rows(steps, runs_store.step_key_of(run_id, "company_selection")))[0]
        if (selection["answer"] or {}).get("candidate_id") is None:
            reason = "no company was chosen"
            skipped = runs_store.step_transition(
                step,
                StepStatus.SKIPPED,
                actor=actor,
                reason=reason,
                values={"skip_reason": reason, "completed_at": now},
            )
            yield driver_sql.Hold([skipped])
            yield from open_step_plan(run, "yolo_config", actor=actor, secrets=secrets, known=known)
        else:
            yield from queue_automatic_plan(run, step, actor=actor)
    elif key == "yolo_config":
        restaurant = yield from _restaurant_of(run, known)
        if known.organisation_settings is None:
            rows = yield driver_sql.Rows(organisations, {"id": run["organisation_id"]})
            known.organisation_settings = settings_of(rows)
        defaults = secrets.open(known.organisation_settings).get("yolo_defaults") or {}
        prefilled = prefill_yolo_config(restaurant.to_dict(), defaults if isinstance(defaults, dict) else {})
        yield from wait_for_answer_plan(run, step, needs={"prefilled": secrets.seal(prefilled)}, actor=actor)
    else:
        yield from queue_automatic_plan(run, step, actor=actor)


def _restaurant_of(run: Mapping[str, Any], known: Known) -> driver_sql.Plan[Restaurant]:
    if known.restaurant is None:
        rows = yield driver_sql.Rows(restaurant_table, {"id": run["restaurant_id"]})
        row = driver_sql.owned(rows, run["organisation_id"])
        if row is None:
            raise NotFound("restaurant")
        known.restaurant = Restaurant.from_row(row)
    return known.restaurant


def _batch_settings(run: Mapping[str, Any]) -> driver_sql.Plan[dict[str, Any]]:
    if run["batch_job_id"] is None:
        return {}
    rows = yield driver_sql.Rows(batch_table, {"id": run["batch_job_id"]})
    return settings_of(rows)


def settings_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The settings of the batch or organisation row read (none when there is no row)."""
    return dict(rows[0]["settings"] or {}) if rows else {}


async def complete_step(
    conn: AsyncConnection,
    step: Mapping[str, Any],
    *,
    actor: str,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Mark a step completed now."""
    await driver_sql.carry_out(
        conn, _hold(complete_step_transition(step, actor=actor, values=values, reason=reason))
    )


def complete_step_transition(
    step: Mapping[str, Any],
    *,
    actor: str,
    values: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> driver_sql.Transition:
    """``complete_step`` as a strict statement of a plan."""
    now = utcnow()
    started = step.get("started_at") or now
    return runs_store.step_transition(
        step,
        StepStatus.COMPLETED,
        actor=actor,
        reason=reason,
        values={
            "completed_at": now,
            "error_message": None,
            "next_attempt_at": None,
            "duration_ms": int((now - started).total_seconds() * 1000),
            **dict(values or {}),
        },
    )


def _hold(*writes: driver_sql.Write | driver_sql.Change | driver_sql.Transition) -> driver_sql.Plan[None]:
    yield driver_sql.Hold(writes)


async def fail_run(
    conn: AsyncConnection,
    run: Mapping[str, Any],
    step: Mapping[str, Any],
    message: str,
    *,
    actor: str,
    reason: str | None = None,
) -> None:
    """A step failed for good: the step and its registration job are ``failed`` (naming the step),
    and the batch closes if this was its last active job."""
    now = utcnow()
    if step["status"] not in FINAL_STEP:
        await runs_store.set_step(
            conn,
            step,
            StepStatus.FAILED,
            actor=actor,
            reason=reason or message,
            values={"error_message": message, "completed_at": now, "job_id": None},
        )
    error = f"{step['step_key']}: {message}"
    await runs_store.set_run(
        conn,
        run,
        RegistrationStatus.FAILED,
        actor=actor,
        reason=error,
        values={"error_message": error, "completed_at": now, "current_phase": None},
    )
    await on_run_finished(conn, run, actor=actor)


async def failed_step_of(conn: AsyncConnection, run_id: UUID) -> dict[str, Any] | None:
    """The first failed pipeline step of a run, if any."""
    for row in await runs_store.list_steps(conn, run_id):
        if row["parent_step_id"] is None and row["status"] == StepStatus.FAILED.value:
            return row
    return None


async def restart_step(
    conn: AsyncConnection,
    run: Mapping[str, Any],
    step: Mapping[str, Any],
    *,
    actor: str,
    reason: str,
    secrets: SecretBox,
    input_changes: Mapping[str, Any] | None = None,
) -> None:
    """Run a failed (or cancelled) step again: reset it (new generation, attempts from zero), put
    the run and its batch back in progress and queue it. The execution step re-runs what failed of
    its sub-steps (``registrations.reopen_run``)."""
    if step["step_key"] == runs_store.EXECUTION_STEP:
        await runs_store.reopen_run(conn, run, actor=actor)
        if run["batch_job_id"] is not None:
            await reopen_batch(conn, run["batch_job_id"], actor=actor, reason=reason)
        config = secrets.open(run["execution_config"])
        await runs_store.schedule_ready(conn, run["id"], config=config, actor=actor)
        return
    generation = _generation(step) + 1
    await runs_store.set_step(
        conn,
        step,
        StepStatus.PENDING,
        actor=actor,
        reason=reason,
        values={
            "attempts": 0,
            "job_id": None,
            "next_attempt_at": None,
            "error_message": None,
            "skip_reason": None,
            "completed_at": None,
            "duration_ms": None,
            "input": {**dict(step["input"] or {}), **dict(input_changes or {}), "generation": generation},
        },
    )
    if run["status"] not in ACTIVE_REGISTRATION:
        await runs_store.set_run(
            conn,
            run,
            RegistrationStatus.IN_PROGRESS,
            actor=actor,
            reason=reason,
            values={"completed_at": None, "cancelled_at": None, "error_message": None},
        )
    if run["batch_job_id"] is not None:
        await reopen_batch(conn, run["batch_job_id"], actor=actor, reason=reason)
    await runs_store.update_run_values(conn, run["id"], {"current_step": step["step_key"]})
    fresh_run = await runs_store.lock_run(conn, None, run["id"])
    fresh_step = await runs_store.get_step(conn, step["id"])
    await enqueue_step(conn, fresh_run, fresh_step)


async def parked_steps(conn: AsyncConnection, run_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    """Automatic steps of the given runs that should run but have no queue job (parked while their
    batch was paused)."""
    if not run_ids:
        return []
    rows = await conn.execute(
        sa.select(steps)
        .select_from(steps.join(run_table, run_table.c.id == steps.c.registration_job_id))
        .where(
            steps.c.registration_job_id.in_(list(run_ids)),
            steps.c.parent_step_id.is_(None),
            steps.c.step_key == run_table.c.current_step,
            steps.c.step_key.in_(list(STEP_JOB_TYPES)),
            steps.c.status.in_([StepStatus.PENDING.value, StepStatus.RETRYING.value]),
            steps.c.job_id.is_(None),
        )
    )
    return [dict(r) for r in rows.mappings()]
