"""The action queue: every step waiting for a person, answered one at a time or many at once; and the
operator's overrides of a failed step (skip it with a reason, or re-run it with edited input)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from onboardflow.domain.answers import ANSWER_STEP_KEYS, parse_answer
from onboardflow.domain.batches import BULK_MODE_STEP, BulkMode, bulk_answer
from onboardflow.domain.overrides import check_reason, parse_rerun_input
from onboardflow.domain.pipeline import next_step, step_by_key
from onboardflow.domain.records import Principal
from onboardflow.domain.redaction import redact
from onboardflow.domain.statuses import ACTIVE_REGISTRATION, RegistrationStatus, StepStatus
from onboardflow.domain.yolo_config import merge_config, validate_yolo_config
from onboardflow.errors import Conflict, InvalidInput, NotFound, OnboardflowError
from onboardflow.operations.services import Services
from onboardflow.store import actions as store
from onboardflow.store import pipeline as flow
from onboardflow.store import registrations as runs_store
from onboardflow.store.batches import reopen_batch
from onboardflow.store.types import utcnow

MAX_BULK_ITEMS = 5000
BULK_CHUNK = 100
BULK_PARALLEL_CHUNKS = 4
"""Chunks of a bulk answer recorded at once, each in its own transaction, as far as the database
lets writes go on at once (``Database.concurrent_writes``: on SQLite one after the other): an item
waits mostly on its round trips, so one chunk at a time left the workers idle while it went on.
Items of different chunks are different steps of different runs and lock nothing in common."""


def _action_out(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "step_id": row["id"],
        "step_key": row["step_key"],
        "label": row["label"],
        "registration_job_id": row["registration_job_id"],
        "batch_id": row["batch_job_id"],
        "restaurant_id": row["restaurant_id"],
        "restaurant_name": row["restaurant_name"],
        "input": redact({k: v for k, v in (row["input"] or {}).items() if k != "generation"}),
        "answer_schema": row["answer_schema"],
        "waiting_since": row["updated_at"],
    }


async def list_actions(
    services: Services,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    batch_id: UUID | None = None,
    step_key: str | None = None,
    restaurant_id: UUID | None = None,
) -> dict[str, Any]:
    """A page of the steps waiting for a person, with what each needs and its answer's schema."""
    if step_key is not None and step_key not in ANSWER_STEP_KEYS:
        raise InvalidInput("step_key", f"must be one of {', '.join(ANSWER_STEP_KEYS)}")
    async with services.db.read() as conn:
        page = await store.list_waiting_steps(
            conn,
            principal.organisation_id,
            limit=limit,
            offset=offset,
            batch_id=batch_id,
            step_key=step_key,
            restaurant_id=restaurant_id,
        )
    return {
        "items": [_action_out(row) for row in page.items],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
    }


async def _answer_in(
    conn: Any,
    services: Services,
    principal: Principal,
    step_id: UUID,
    *,
    data: Mapping[str, Any] | None = None,
    mode: BulkMode | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate and record one answer and open the next step, in the caller's transaction."""
    found = await store.get_org_step(conn, principal.organisation_id, step_id)
    if found is None:
        raise NotFound("step")
    key = found["step_key"]
    following = next_step(key)
    locked = await runs_store.lock_run_and_step(
        conn,
        principal.organisation_id,
        found["registration_job_id"],
        step_id,
        following=following.key if following and key != "company_search" else None,
    )
    run, step = locked.run, locked.step
    if step["status"] != StepStatus.ACTION_REQUIRED.value or run["status"] not in ACTIVE_REGISTRATION:
        raise Conflict(f"step {key} is {step['status']}, not waiting for an answer")
    needs = dict(step["input"] or {})
    if mode is not None:
        data = bulk_answer(mode, step_key=key, step_input=needs, config=config, answer=data)
    if data is None:
        raise InvalidInput("answer", "an answer is required")
    if key == "company_selection":
        candidates = await store.list_candidates(conn, run["id"])
        parsed = parse_answer(key, data, candidate_ids={c["id"] for c in candidates})
    elif key == "yolo_config":
        parsed = parse_answer(key, data, prefilled=services.secrets.open(needs.get("prefilled") or {}))
    else:
        parsed = parse_answer(key, data)
    answer = parsed.model_dump(mode="json")
    if key == "yolo_config":
        answer = services.secrets.seal(answer)
    now = utcnow()
    recorded = {"answer": answer, "answered_by": principal.user_id, "answered_at": now}
    if key == "company_search":
        await runs_store.set_step(
            conn, step, StepStatus.PENDING, actor=principal.actor, reason="answered", values=recorded
        )
        answered = {**step, **recorded, "status": StepStatus.PENDING.value}
        await flow.queue_automatic(conn, run, answered, actor=principal.actor)
    else:
        await flow.complete_step(conn, step, actor=principal.actor, reason="answered", values=recorded)
        await flow.open_step(
            conn,
            run["id"],
            following.key if following else None,
            actor=principal.actor,
            secrets=services.secrets,
            locked=run,
            step_row=locked.following,
        )
    return {"step_id": step_id, "step_key": key, "registration_job_id": run["id"], "answer": redact(answer)}


async def answer_action(
    services: Services, principal: Principal, step_id: UUID, answer: Mapping[str, Any]
) -> dict[str, Any]:
    """Answer one waiting step; the next step is made runnable in the same transaction."""
    async with services.db.write() as conn:
        return await _answer_in(conn, services, principal, step_id, data=answer)


async def _answer_chunk(
    services: Services,
    principal: Principal,
    chunk: Sequence[tuple[int, UUID]],
    *,
    answers: Mapping[UUID, Mapping[str, Any] | None],
    mode: BulkMode,
    config: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """Answer the ``(index, step_id)`` items of one chunk of a bulk answer in one transaction, each
    item in its own savepoint, and report each."""
    report: list[dict[str, Any]] = []
    async with services.db.write() as conn:
        for index, step_id in chunk:
            try:
                async with store.savepoint(conn):
                    done = await _answer_in(
                        conn,
                        services,
                        principal,
                        step_id,
                        data=answers.get(step_id),
                        mode=mode,
                        config=config,
                    )
                report.append(
                    {
                        "index": index,
                        "step_id": step_id,
                        "ok": True,
                        "registration_job_id": done["registration_job_id"],
                    }
                )
            except NotFound as error:  # not echoed: the id may be another organisation's
                report.append({"index": index, "step_id": None, "ok": False, **_error_out(error)})
            except (InvalidInput, Conflict) as error:
                report.append({"index": index, "step_id": step_id, "ok": False, **_error_out(error)})
    return report


def _error_out(error: OnboardflowError) -> dict[str, Any]:
    out: dict[str, Any] = {"error": type(error).__name__, "message": error.message}
    if isinstance(error, InvalidInput):
        out["field"] = error.field
    return out


async def bulk_answer_actions(
    services: Services,
    principal: Principal,
    *,
    mode: BulkMode,
    step_ids: Sequence[UUID] | None = None,
    batch_id: UUID | None = None,
    items: Sequence[Mapping[str, Any]] | None = None,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Answer many waiting steps: each item is validated and recorded on its own (one bad item never
    stops the others) and reported with its outcome, by its position in the targets (``index``) and,
    unless it was not found, its step id.

    Targets: ``items`` (mode ``answers``: ``{step_id, answer}`` each), ``step_ids``, or every step of
    ``batch_id`` waiting at the mode's step.
    """
    if mode is BulkMode.APPLY_CONFIG and not isinstance(config, Mapping):
        raise InvalidInput("config", "required for mode apply_config")
    answers: dict[UUID, Mapping[str, Any] | None] = {}
    if mode is BulkMode.ANSWERS:
        if not items:
            raise InvalidInput("items", "required for mode answers")
        for index, item in enumerate(items):
            try:
                answers[UUID(str(item["step_id"]))] = item.get("answer")
            except (KeyError, ValueError, TypeError):
                raise InvalidInput(f"items.{index}.step_id", "must be a step id") from None
        targets = list(answers)
    elif step_ids:
        targets = list(dict.fromkeys(step_ids))
    elif batch_id is not None:
        async with services.db.read() as conn:
            targets = await store.waiting_step_ids(
                conn, principal.organisation_id, batch_id=batch_id, step_key=BULK_MODE_STEP[mode]
            )
    else:
        raise InvalidInput("step_ids", "give step_ids or batch_id")
    if len(targets) > MAX_BULK_ITEMS:
        raise InvalidInput("step_ids", f"at most {MAX_BULK_ITEMS} items per request")
    numbered = list(enumerate(targets))
    chunks = [numbered[start : start + BULK_CHUNK] for start in range(0, len(numbered), BULK_CHUNK)]
    room = asyncio.Semaphore(min(BULK_PARALLEL_CHUNKS, services.db.concurrent_writes))

    async def answer_chunk(chunk: list[tuple[int, UUID]]) -> list[dict[str, Any]]:
        async with room:
            return await _answer_chunk(services, principal, chunk, answers=answers, mode=mode, config=config)

    tasks = [asyncio.create_task(answer_chunk(chunk)) for chunk in chunks]
    try:
        parts = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    report = [item for part in parts for item in part]
    succeeded = sum(1 for item in report if item["ok"])
    return {
        "mode": mode.value,
        "total": len(report),
        "succeeded": succeeded,
        "failed": len(report) - succeeded,
        "items": report,
    }


# -- operator overrides --------------------------------------------------------------------------


async def _failed_step(
    conn: Any, principal: Principal, step_id: UUID
) -> tuple[dict[str, Any], dict[str, Any]]:
    found = await store.get_org_step(conn, principal.organisation_id, step_id)
    if found is None or found["parent_step_id"] is not None:
        raise NotFound("step")
    run = await runs_store.lock_run(conn, principal.organisation_id, found["registration_job_id"])
    step = await runs_store.get_step(conn, step_id)
    if step["status"] != StepStatus.FAILED.value:
        raise Conflict(f"step {step['step_key']} is {step['status']}; only a failed step can be overridden")
    return run, step


async def skip_failed_step(
    services: Services, principal: Principal, step_id: UUID, reason: str
) -> dict[str, Any]:
    """Mark a failed step ``skipped`` with the operator's reason (an event records who and why) and
    carry the registration job on from the next step."""
    why = check_reason(reason)
    async with services.db.write() as conn:
        run, step = await _failed_step(conn, principal, step_id)
        key = step["step_key"]
        if key == runs_store.EXECUTION_STEP:
            raise Conflict(
                "the registration step cannot be skipped; retry it or re-run it with another configuration"
            )
        await runs_store.set_step(
            conn,
            step,
            StepStatus.SKIPPED,
            actor=principal.actor,
            reason=f"skipped by operator: {why}",
            values={"skip_reason": why, "completed_at": utcnow()},
        )
        if run["status"] not in ACTIVE_REGISTRATION:
            await runs_store.set_run(
                conn,
                run,
                RegistrationStatus.IN_PROGRESS,
                actor=principal.actor,
                reason=f"step {key} skipped: {why}",
                values={"completed_at": None, "error_message": None},
            )
        if run["batch_job_id"] is not None:
            await reopen_batch(conn, run["batch_job_id"], actor=principal.actor, reason=f"step {key} skipped")
        following = next_step(key)
        await flow.open_step(
            conn,
            run["id"],
            following.key if following else None,
            actor=principal.actor,
            secrets=services.secrets,
        )
    return {
        "step_id": step_id,
        "step_key": key,
        "status": StepStatus.SKIPPED.value,
        "registration_job_id": run["id"],
    }


async def rerun_failed_step(
    services: Services, principal: Principal, step_id: UUID, *, changes: Mapping[str, Any], reason: str
) -> dict[str, Any]:
    """Run a failed step again with edited input (an event records who, why and what changed)."""
    why = check_reason(reason)
    async with services.db.write() as conn:
        run, step = await _failed_step(conn, principal, step_id)
        key = step["step_key"]
        step_by_key(key)
        edited = parse_rerun_input(key, changes)
        if key == "company_search":  # the new search terms are the operator's answer now
            await runs_store.update_step_values(
                conn, step_id, {"answer": edited, "answered_by": principal.user_id, "answered_at": utcnow()}
            )
        elif key == runs_store.EXECUTION_STEP:
            config = merge_config(services.secrets.open(run["execution_config"]), edited)
            validated = validate_yolo_config(config).model_dump(mode="json")
            await runs_store.update_run_values(
                conn, run["id"], {"execution_config": services.secrets.seal(validated)}
            )
            run = await runs_store.lock_run(conn, None, run["id"])
        input_changes = edited if key in ("extraction", "company_details") else {}
        await flow.restart_step(
            conn,
            run,
            await runs_store.get_step(conn, step_id),
            actor=principal.actor,
            reason=f"re-run by operator: {why}; changed {', '.join(sorted(edited)) or 'nothing'}",
            secrets=services.secrets,
            input_changes=input_changes,
        )
    return {"step_id": step_id, "step_key": key, "status": "restarted", "registration_job_id": run["id"]}
