"""Batches: convert leads (or take restaurants) into a batch of registration jobs, list and show
batches with their live counts, and cancel, pause, resume or retry them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from onboardflow.domain.batches import MAX_BATCH_RESTAURANTS, parse_batch_settings
from onboardflow.domain.pipeline import PIPELINE_STEP_KEYS, PIPELINE_STEPS, step_by_key
from onboardflow.domain.progress import batch_progress_percent
from onboardflow.domain.records import Principal
from onboardflow.domain.statuses import (
    ACTIVE_REGISTRATION,
    FINAL_STEP,
    BatchStatus,
    RegistrationStatus,
    StepStatus,
)
from onboardflow.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from onboardflow.operations.services import Services
from onboardflow.store import batches as store
from onboardflow.store import conversion, queue
from onboardflow.store import pipeline as flow
from onboardflow.store import registrations as runs_store
from onboardflow.store import restaurants as restaurant_store
from onboardflow.store.types import utcnow

LEAD_TO_RESTAURANT = ("name", "address", "city", "phone", "website", "cuisine", "marketplace_url")


def _check_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned or len(cleaned) > 300:
        raise InvalidInput("name", "must be 1 to 300 characters")
    return cleaned


def _check_count(ids: Sequence[Any], field: str) -> None:
    if not ids:
        raise InvalidInput(field, "give at least one")
    if len(ids) > MAX_BATCH_RESTAURANTS:
        raise InvalidInput(field, f"at most {MAX_BATCH_RESTAURANTS} per batch")
    if len(set(ids)) != len(ids):
        raise InvalidInput(field, "contains the same id twice")


async def _create_runs(
    conn: Any,
    principal: Principal,
    *,
    name: str,
    settings: Mapping[str, Any],
    restaurant_ids: Sequence[UUID],
) -> UUID:
    """The batch, one registration job per restaurant with its step rows, and step 1 queued for each."""
    batch_id = await store.insert_batch(
        conn,
        organisation_id=principal.organisation_id,
        name=name,
        settings=settings,
        total=len(restaurant_ids),
        created_by=principal.user_id,
        actor=principal.actor,
    )
    run_ids = []
    for restaurant_id in restaurant_ids:
        created = await runs_store.insert_run(
            conn,
            organisation_id=principal.organisation_id,
            restaurant_id=restaurant_id,
            pipeline=PIPELINE_STEPS,
            execution_config={},
            batch_job_id=batch_id,
            created_by=principal.user_id,
            actor=principal.actor,
        )
        run_ids.append(created.id)
    first = PIPELINE_STEPS[0].key
    first_steps = await flow.first_steps(conn, run_ids, first)
    pairs = [
        (
            {"id": run_id, "organisation_id": principal.organisation_id, "restaurant_id": rid},
            first_steps[run_id],
        )
        for run_id, rid in zip(run_ids, restaurant_ids, strict=True)
    ]
    await flow.enqueue_steps(conn, pairs)
    return batch_id


async def convert_leads(
    services: Services,
    principal: Principal,
    *,
    name: str,
    lead_ids: Sequence[UUID] | None = None,
    lead_filter: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Convert leads into restaurants of a new batch, in one transaction: the restaurants, the batch,
    one registration job per restaurant with its six steps, and step 1 queued for each.

    Leads of another organisation are not found (404); leads already converted are refused (409)
    with their ids in ``details.lead_ids``.
    """
    name = _check_name(name)
    checked = parse_batch_settings(settings).model_dump()
    if (lead_ids is None) == (lead_filter is None):
        raise InvalidInput("lead_ids", "give either lead_ids or filter")
    async with services.db.write() as conn:
        if lead_ids is None:
            assert lead_filter is not None
            limit = int(lead_filter.get("limit") or MAX_BATCH_RESTAURANTS)
            lead_ids = await conversion.find_unconverted_leads(
                conn,
                principal.organisation_id,
                city=lead_filter.get("city"),
                cuisine=lead_filter.get("cuisine"),
                name_contains=lead_filter.get("name_contains"),
                limit=min(limit, MAX_BATCH_RESTAURANTS),
            )
            if not lead_ids:
                raise InvalidInput("filter", "no unconverted lead matches the filter")
        _check_count(lead_ids, "lead_ids")
        found = await conversion.lock_leads(conn, principal.organisation_id, lead_ids)
        if len(found) != len(lead_ids):
            missing = len(set(lead_ids) - {lead["id"] for lead in found})
            raise NotFound("lead", f"{missing} of the leads not found")
        converted = [lead for lead in found if lead["restaurant_id"] is not None or lead["converted_at"]]
        if converted:
            ids = [str(lead["id"]) for lead in converted]
            raise Conflict(
                f"{len(ids)} lead(s) already converted: {', '.join(ids[:20])}",
                details={"lead_ids": ids},
            )
        created = await restaurant_store.insert_restaurants(
            conn,
            principal.organisation_id,
            [
                {
                    **{field: lead[field] for field in LEAD_TO_RESTAURANT},
                    "metadata": {"lead_id": str(lead["id"]), **(lead["metadata"] or {})},
                }
                for lead in found
            ],
        )
        await conversion.mark_converted(
            conn, [(lead["id"], r.id) for lead, r in zip(found, created, strict=True)]
        )
        batch_id = await _create_runs(
            conn, principal, name=name, settings=checked, restaurant_ids=[r.id for r in created]
        )
    return await get_batch(services, principal, batch_id)


async def create_batch(
    services: Services,
    principal: Principal,
    *,
    name: str,
    restaurant_ids: Sequence[UUID],
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A batch of existing restaurants; one with an active registration job is refused (409)."""
    name = _check_name(name)
    checked = parse_batch_settings(settings).model_dump()
    _check_count(restaurant_ids, "restaurant_ids")
    async with services.db.write() as conn:
        known = await conversion.existing_restaurant_ids(conn, principal.organisation_id, restaurant_ids)
        if len(known) != len(restaurant_ids):
            raise NotFound("restaurant")
        busy = await conversion.restaurants_with_active_runs(conn, principal.organisation_id, restaurant_ids)
        if busy:
            ids = sorted(str(i) for i in busy)
            raise Conflict(
                f"{len(ids)} restaurant(s) already have an active registration job: {', '.join(ids[:20])}",
                details={"restaurant_ids": ids},
            )
        batch_id = await _create_runs(
            conn, principal, name=name, settings=checked, restaurant_ids=list(restaurant_ids)
        )
    return await get_batch(services, principal, batch_id)


def _summary(
    batch: Mapping[str, Any], runs: Mapping[str, int], steps: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    return {
        "id": batch["id"],
        "name": batch["name"],
        "status": batch["status"],
        "settings": batch["settings"],
        "total_restaurants": batch["total_restaurants"],
        "progress_percent": batch_progress_percent(runs),
        "counts_by_status": dict(runs),
        "counts_by_step": {key: dict(steps.get(key, {})) for key in PIPELINE_STEP_KEYS},
        "error": batch["error_message"],
        "created_at": batch["created_at"],
        "started_at": batch["started_at"],
        "completed_at": batch["completed_at"],
        "cancelled_at": batch["cancelled_at"],
    }


async def list_batches(
    services: Services, principal: Principal, *, limit: int, offset: int, status: str | None = None
) -> dict[str, Any]:
    """A page of batches, newest first, each with its counts per status and per step, and progress."""
    if status is not None and status not in {s.value for s in BatchStatus}:
        raise InvalidInput("status", f"must be one of {', '.join(s.value for s in BatchStatus)}")
    async with services.db.read() as conn:
        page = await store.list_batches(
            conn, principal.organisation_id, limit=limit, offset=offset, status=status
        )
        ids = [b["id"] for b in page.items]
        runs = await store.run_counts(conn, ids)
        steps = await store.step_counts(conn, ids)
    return {
        "items": [_summary(b, runs[b["id"]], steps[b["id"]]) for b in page.items],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
    }


async def get_batch(services: Services, principal: Principal, batch_id: UUID) -> dict[str, Any]:
    """One batch's summary with its counts."""
    async with services.db.read() as conn:
        batch = await store.get_batch(conn, principal.organisation_id, batch_id)
        runs = await store.run_counts(conn, [batch_id])
        steps = await store.step_counts(conn, [batch_id])
    return _summary(batch, runs[batch_id], steps[batch_id])


async def batch_detail(
    services: Services,
    principal: Principal,
    batch_id: UUID,
    *,
    limit: int,
    offset: int,
    step_key: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """A batch with a page of its restaurants and each one's step statuses (restaurants x steps),
    filterable by a step's status (``step_key`` and ``status``) or the job's (``status`` alone)."""
    if step_key is not None:
        step_by_key(step_key)
        if status is not None and status not in {s.value for s in StepStatus}:
            raise InvalidInput("status", f"must be a step status: {', '.join(s.value for s in StepStatus)}")
    elif status is not None and status not in {s.value for s in RegistrationStatus}:
        raise InvalidInput("status", f"must be one of {', '.join(s.value for s in RegistrationStatus)}")
    async with services.db.read() as conn:
        batch = await store.get_batch(conn, principal.organisation_id, batch_id)
        runs = await store.run_counts(conn, [batch_id])
        steps = await store.step_counts(conn, [batch_id])
        page = await store.page_batch_runs(
            conn, batch_id, limit=limit, offset=offset, step_key=step_key, status=status
        )
        by_run = await store.top_steps_of(conn, [r["id"] for r in page.items])
    items = [
        {
            "registration_job_id": run["id"],
            "restaurant_id": run["restaurant_id"],
            "restaurant_name": run["restaurant_name"],
            "status": run["status"],
            "current_step": run["current_step"],
            "current_phase": run["current_phase"],
            "error": run["error_message"],
            "pumpd_restaurant_id": run["pumpd_restaurant_id"],
            "steps": {
                s["step_key"]: {
                    "id": s["id"],
                    "status": s["status"],
                    "attempts": s["attempts"],
                    "error": s["error_message"],
                    "skip_reason": s["skip_reason"],
                    "next_attempt_at": s["next_attempt_at"],
                }
                for s in by_run[run["id"]]
            },
        }
        for run in page.items
    ]
    return {
        **_summary(batch, runs[batch_id], steps[batch_id]),
        "restaurants": {"items": items, "total": page.total, "limit": page.limit, "offset": page.offset},
    }


async def cancel_batch(services: Services, principal: Principal, batch_id: UUID) -> dict[str, Any]:
    """Cancel a batch: every active registration job is cancelled (queued work dropped, running work
    stopped), then the batch. Jobs are locked before the batch, in the order step jobs lock them."""
    async with services.db.write() as conn:
        batch = await store.get_batch(conn, principal.organisation_id, batch_id)
        if batch["status"] == BatchStatus.CANCELLED.value or batch["status"] not in {
            BatchStatus.IN_PROGRESS.value,
            BatchStatus.PAUSED.value,
            BatchStatus.PENDING.value,
        }:
            raise InvalidTransition("batch", batch["status"], BatchStatus.CANCELLED.value)
        now = utcnow()
        for run in await store.runs_of_batch(conn, batch_id, statuses=[s.value for s in ACTIVE_REGISTRATION]):
            run = await runs_store.lock_run(conn, None, run["id"])
            if run["status"] not in ACTIVE_REGISTRATION:
                continue
            for step in await runs_store.list_steps(conn, run["id"]):
                if step["status"] not in FINAL_STEP:
                    await runs_store.set_step(
                        conn, step, StepStatus.CANCELLED, actor=principal.actor, reason="batch cancelled"
                    )
                if step["job_id"] is not None:
                    await queue.request_cancel(
                        conn, principal.organisation_id, step["job_id"], actor=principal.actor
                    )
            await runs_store.set_run(
                conn,
                run,
                RegistrationStatus.CANCELLED,
                actor=principal.actor,
                reason="batch cancelled",
                values={"cancelled_at": now, "completed_at": now, "current_phase": None},
            )
        batch = await store.lock_batch(conn, principal.organisation_id, batch_id)
        await store.set_batch(
            conn,
            batch,
            BatchStatus.CANCELLED,
            actor=principal.actor,
            reason="cancelled by operator",
            values={"cancelled_at": now, "completed_at": now},
        )
    return await get_batch(services, principal, batch_id)


async def pause_batch(services: Services, principal: Principal, batch_id: UUID) -> dict[str, Any]:
    """Pause: no automatic step starts until ``resume``; waiting steps can still be answered."""
    async with services.db.write() as conn:
        batch = await store.lock_batch(conn, principal.organisation_id, batch_id)
        await store.set_batch(
            conn, batch, BatchStatus.PAUSED, actor=principal.actor, reason="paused by operator"
        )
    return await get_batch(services, principal, batch_id)


async def resume_batch(services: Services, principal: Principal, batch_id: UUID) -> dict[str, Any]:
    """Resume a paused batch: the steps parked meanwhile are queued again, and a batch whose jobs all
    ended while it was paused is closed."""
    async with services.db.write() as conn:
        batch = await store.lock_batch(conn, principal.organisation_id, batch_id)
        await store.set_batch(
            conn, batch, BatchStatus.IN_PROGRESS, actor=principal.actor, reason="resumed by operator"
        )
        active = await store.runs_of_batch(conn, batch_id, statuses=[s.value for s in ACTIVE_REGISTRATION])
        by_id = {run["id"]: run for run in active}
        parked = await flow.parked_steps(conn, list(by_id))
        await flow.enqueue_steps(conn, [(by_id[s["registration_job_id"]], s) for s in parked])
        await store.close_if_done(conn, batch_id, actor=principal.actor)
    return await get_batch(services, principal, batch_id)


async def retry_failed(services: Services, principal: Principal, batch_id: UUID) -> dict[str, Any]:
    """Every failed registration job of the batch retries from its failed step; answers ``retried``
    (how many) with the batch."""
    retried = 0
    async with services.db.write() as conn:
        batch = await store.get_batch(conn, principal.organisation_id, batch_id)
        if batch["status"] == BatchStatus.CANCELLED.value:
            raise InvalidTransition("batch", batch["status"], BatchStatus.IN_PROGRESS.value)
        for run in await store.runs_of_batch(conn, batch_id, statuses=[RegistrationStatus.FAILED.value]):
            run = await runs_store.lock_run(conn, None, run["id"])
            step = await flow.failed_step_of(conn, run["id"])
            if run["status"] != RegistrationStatus.FAILED.value or step is None:
                continue
            await flow.restart_step(
                conn,
                run,
                step,
                actor=principal.actor,
                reason="retry failed of the batch",
                secrets=services.secrets,
            )
            retried += 1
    return {**(await get_batch(services, principal, batch_id)), "retried": retried}
