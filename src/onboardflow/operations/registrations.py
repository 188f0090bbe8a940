"""Registration runs: start (idempotently), inspect, cancel and retry the 12-sub-step execution."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from onboardflow.domain.progress import SubStepView, phases_view, progress_percent
from onboardflow.domain.records import Principal
from onboardflow.domain.redaction import redact
from onboardflow.domain.statuses import (
    ACTIVE_REGISTRATION,
    FINAL_STEP,
    RegistrationStatus,
    StepStatus,
    check_run_retry,
)
from onboardflow.domain.substeps import SUB_STEP_KEYS, current_phase
from onboardflow.domain.yolo_config import validate_yolo_config
from onboardflow.errors import Conflict, InvalidInput, InvalidTransition
from onboardflow.operations.services import Services
from onboardflow.store import batches as batch_store
from onboardflow.store import queue
from onboardflow.store import registrations as store
from onboardflow.store import restaurants as restaurant_store
from onboardflow.store.types import utcnow


async def start_single_run(
    services: Services, principal: Principal, restaurant_id: UUID, config: Mapping[str, Any]
) -> tuple[UUID, bool]:
    """Start the Yolo Mode run of one restaurant; returns (run id, whether it was created).

    Any number of concurrent starts for one restaurant give one active run: the database's unique
    index decides, and every caller gets that run's id. The configuration is validated first
    (422 naming the field) and stored with its secrets encrypted.
    """
    validated = validate_yolo_config(config).model_dump(mode="json")
    sealed = services.secrets.seal(validated)
    try:
        return await store.start_single_run(
            services.db,
            organisation_id=principal.organisation_id,
            restaurant_id=restaurant_id,
            execution_config=sealed,
            config=validated,
            created_by=principal.user_id,
            actor=principal.actor,
        )
    except Conflict:  # another start created it first
        async with services.db.read() as conn:
            existing = await store.find_active_single_run(conn, principal.organisation_id, restaurant_id)
        if existing is None:
            raise
        return existing["id"], False


def _sub_step_view(step: Mapping[str, Any]) -> SubStepView:
    return SubStepView(
        key=step["step_key"],
        status=step["status"],
        error=step["error_message"] or step["skip_reason"],
        started_at=step["started_at"],
        completed_at=step["completed_at"],
        attempts=step["attempts"],
        duration_ms=step["duration_ms"],
    )


def _step_out(step: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": step["id"],
        "key": step["step_key"],
        "number": step["step_number"],
        "phase": step["phase"],
        "label": step["label"],
        "type": step["step_type"],
        "status": step["status"],
        "attempts": step["attempts"],
        "max_retries": step["max_retries"],
        "next_attempt_at": step["next_attempt_at"],
        "started_at": step["started_at"],
        "completed_at": step["completed_at"],
        "duration_ms": step["duration_ms"],
        "error": step["error_message"],
        "skip_reason": step["skip_reason"],
        "warning": step["warning"],
        "result": redact(step["result"]) if step["result"] else None,
    }


def describe_run(run: Mapping[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A run with its steps and sub-steps, phases and progress, as the API shows it."""
    sub_steps = [r for r in rows if r["parent_step_id"] is not None]
    statuses = {s["step_key"]: s["status"] for s in sub_steps}
    return {
        "id": run["id"],
        "restaurant_id": run["restaurant_id"],
        "batch_job_id": run["batch_job_id"],
        "status": run["status"],
        "current_step": run["current_step"],
        "current_phase": run["current_phase"] or current_phase(statuses),
        "progress_percent": progress_percent(statuses),
        "error": run["error_message"],
        "pumpd_user_id": run["pumpd_user_id"],
        "pumpd_restaurant_id": run["pumpd_restaurant_id"],
        "created_at": run["created_at"],
        "started_at": run["started_at"],
        "completed_at": run["completed_at"],
        "cancelled_at": run["cancelled_at"],
        "steps": [_step_out(r) for r in rows if r["parent_step_id"] is None],
        "sub_steps": [_step_out(s) for s in sub_steps],
        "phases": phases_view([_sub_step_view(s) for s in sub_steps], detailed=True),
    }


async def get_run(services: Services, principal: Principal, run_id: UUID) -> dict[str, Any]:
    """One run with every step and sub-step."""
    async with services.db.read() as conn:
        run = await store.get_run(conn, principal.organisation_id, run_id)
        rows = await store.list_steps(conn, run_id)
    return describe_run(run, rows)


async def get_progress(services: Services, principal: Principal, run_id: UUID) -> dict[str, Any]:
    """The short form a page polls: status, phase, percent and each sub-step's status."""
    detail = await get_run(services, principal, run_id)
    return {
        "id": detail["id"],
        "status": detail["status"],
        "current_phase": detail["current_phase"],
        "progress_percent": detail["progress_percent"],
        "step_statuses": {s["key"]: s["status"] for s in detail["sub_steps"]},
        "error": detail["error"],
    }


async def active_run_of(
    services: Services, principal: Principal, restaurant_id: UUID
) -> dict[str, Any] | None:
    """The restaurant's active single-restaurant run with its steps, or None."""
    async with services.db.read() as conn:
        await restaurant_store.get_restaurant(conn, principal.organisation_id, restaurant_id)
        run = await store.find_active_single_run(conn, principal.organisation_id, restaurant_id)
        if run is None:
            return None
        rows = await store.list_steps(conn, run["id"])
    return describe_run(run, rows)


async def single_restaurant_progress(
    services: Services, principal: Principal, restaurant_id: UUID
) -> dict[str, Any]:
    """The existing frontend's progress shape for the restaurant's latest run, or ``not_started``."""
    async with services.db.read() as conn:
        await restaurant_store.get_restaurant(conn, principal.organisation_id, restaurant_id)
        run = await store.latest_single_run(conn, principal.organisation_id, restaurant_id)
        if run is None:
            return {"status": "not_started"}
        rows = await store.list_steps(conn, run["id"])
    sub_steps = [r for r in rows if r["parent_step_id"] is not None]
    execution = next(r for r in rows if r["step_key"] == store.EXECUTION_STEP)
    statuses = {s["step_key"]: s["status"] for s in sub_steps}
    return {
        "jobId": str(run["id"]),
        "status": run["status"],
        "currentPhase": run["current_phase"] or current_phase(statuses),
        "phases": phases_view([_sub_step_view(s) for s in sub_steps]),
        "error": run["error_message"],
        "startedAt": (execution["started_at"] or run["started_at"]),
        "completedAt": (execution["completed_at"] or run["completed_at"]),
    }


async def cancel_run(services: Services, principal: Principal, run_id: UUID) -> dict[str, Any]:
    """Cancel a run: nothing new starts, queued sub-steps are dropped and running ones stopped."""
    async with services.db.write() as conn:
        run = await store.lock_run(conn, principal.organisation_id, run_id)
        if run["status"] not in ACTIVE_REGISTRATION:
            raise InvalidTransition("registration_job", run["status"], RegistrationStatus.CANCELLED.value)
        rows = await store.list_steps(conn, run_id)
        for step in rows:
            if step["status"] not in FINAL_STEP:
                await store.set_step(
                    conn, step, StepStatus.CANCELLED, actor=principal.actor, reason="cancelled"
                )
            if step["job_id"] is not None:
                await queue.request_cancel(
                    conn, principal.organisation_id, step["job_id"], actor=principal.actor
                )
        await store.set_run(
            conn,
            run,
            RegistrationStatus.CANCELLED,
            actor=principal.actor,
            reason="cancelled by operator",
            values={"cancelled_at": utcnow(), "completed_at": utcnow(), "current_phase": None},
        )
        await batch_store.on_run_finished(conn, run, actor=principal.actor)
    return await get_run(services, principal, run_id)


async def retry_run(
    services: Services, principal: Principal, run_id: UUID, *, from_step: str | None = None
) -> dict[str, Any]:
    """Retry a failed or cancelled run (re-running what did not complete), or re-run from a sub-step."""
    if from_step is not None and from_step not in SUB_STEP_KEYS:
        raise InvalidInput("from_step", f"must be one of: {', '.join(SUB_STEP_KEYS)}")
    async with services.db.write() as conn:
        run = await store.lock_run(conn, principal.organisation_id, run_id)
        check_run_retry(run["status"], from_step=from_step)
        if run["batch_job_id"] is not None:
            raise Conflict(
                "this registration job belongs to a batch: retry it with "
                f"POST /api/registration-batches/{run['batch_job_id']}/retry-failed",
                details={"batch_id": str(run["batch_job_id"])},
            )
        if run["batch_job_id"] is None:
            other = await store.find_active_single_run(conn, principal.organisation_id, run["restaurant_id"])
            if other is not None:
                raise Conflict(
                    "the restaurant has another active registration job", details={"job_id": str(other["id"])}
                )
        await store.reopen_run(conn, run, actor=principal.actor, from_step=from_step)
        config = services.secrets.open(run["execution_config"])
        await store.schedule_ready(conn, run_id, config=config, actor=principal.actor)
    return await get_run(services, principal, run_id)


async def list_calls(services: Services, principal: Principal, run_id: UUID) -> list[dict[str, Any]]:
    """The external calls of a run (requests and responses redacted)."""
    async with services.db.read() as conn:
        await store.get_run(conn, principal.organisation_id, run_id)
        return await store.list_calls(conn, principal.organisation_id, run_id)
