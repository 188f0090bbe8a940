"""Registration runs (the 12-sub-step Yolo Mode execution) and the existing frontend's contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from onboardflow.api.deps import PrincipalDep, ServicesDep
from onboardflow.operations import registrations as ops

router = APIRouter(tags=["registration"])


class StepOut(BaseModel):
    id: UUID
    key: str
    number: int
    phase: int | None
    label: str
    type: str
    status: str
    attempts: int
    max_retries: int
    next_attempt_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    error: str | None
    skip_reason: str | None
    warning: str | None
    result: dict[str, Any] | None


class RegistrationJobOut(BaseModel):
    id: UUID
    restaurant_id: UUID
    batch_job_id: UUID | None
    status: str
    current_step: str | None
    current_phase: str | None
    progress_percent: int
    error: str | None
    pumpd_user_id: str | None
    pumpd_restaurant_id: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    steps: list[StepOut]
    sub_steps: list[StepOut]
    phases: dict[str, Any]


class ProgressOut(BaseModel):
    id: UUID
    status: str
    current_phase: str | None
    progress_percent: int
    step_statuses: dict[str, str]
    error: str | None


class StartRun(BaseModel):
    """Start a restaurant's Yolo Mode run with this configuration."""

    model_config = ConfigDict(extra="forbid")

    restaurant_id: UUID
    execution_config: dict[str, Any]


class RetryRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_step: str | None = Field(default=None, description="Re-run this sub-step and everything after it.")


class ActiveOut(BaseModel):
    job: RegistrationJobOut | None


class ExecuteSingle(BaseModel):
    """The existing frontend's request: the restaurant and the Yolo Mode dialog's form data."""

    model_config = ConfigDict(extra="forbid")

    restaurantId: UUID
    formData: dict[str, Any]


class ExecuteSingleOut(BaseModel):
    success: bool
    jobId: UUID


class CallOut(BaseModel):
    id: int
    step_key: str | None
    service: str
    operation: str
    idempotency_key: str | None
    attempt: int | None
    request: dict[str, Any] | None
    response: dict[str, Any] | None
    status: str
    error_message: str | None
    duration_ms: int | None
    created_at: datetime


@router.post("/api/registration-jobs", response_model=RegistrationJobOut, status_code=201)
async def start_run(
    body: StartRun, services: ServicesDep, principal: PrincipalDep
) -> RegistrationJobOut | JSONResponse:
    """Start a run; an active run of the restaurant is answered (200) instead of a second one."""
    run_id, created = await ops.start_single_run(
        services, principal, body.restaurant_id, body.execution_config
    )
    detail = RegistrationJobOut.model_validate(await ops.get_run(services, principal, run_id))
    if created:
        return detail
    return JSONResponse(detail.model_dump(mode="json"), status_code=200)


@router.get("/api/registration-jobs/{registration_job_id}", response_model=RegistrationJobOut)
async def get_run(
    registration_job_id: UUID, services: ServicesDep, principal: PrincipalDep
) -> RegistrationJobOut:
    """A run: status, current phase, steps and sub-steps, progress percent."""
    return RegistrationJobOut.model_validate(await ops.get_run(services, principal, registration_job_id))


@router.get("/api/registration-jobs/{registration_job_id}/progress", response_model=ProgressOut)
async def get_progress(
    registration_job_id: UUID, services: ServicesDep, principal: PrincipalDep
) -> ProgressOut:
    """What a page polls: status, phase, percent and each sub-step's status."""
    return ProgressOut.model_validate(await ops.get_progress(services, principal, registration_job_id))


@router.get("/api/registration-jobs/{registration_job_id}/calls", response_model=list[CallOut])
async def list_calls(
    registration_job_id: UUID, services: ServicesDep, principal: PrincipalDep
) -> list[CallOut]:
    """Every external call of the run (secrets redacted)."""
    return [CallOut.model_validate(c) for c in await ops.list_calls(services, principal, registration_job_id)]


@router.post("/api/registration-jobs/{registration_job_id}/cancel", response_model=RegistrationJobOut)
async def cancel_run(
    registration_job_id: UUID, services: ServicesDep, principal: PrincipalDep
) -> RegistrationJobOut:
    """Cancel: nothing new starts; running sub-steps stop within seconds."""
    return RegistrationJobOut.model_validate(await ops.cancel_run(services, principal, registration_job_id))


@router.post("/api/registration-jobs/{registration_job_id}/retry", response_model=RegistrationJobOut)
async def retry_run(
    registration_job_id: UUID, services: ServicesDep, principal: PrincipalDep, body: RetryRun | None = None
) -> RegistrationJobOut:
    """Retry what did not complete, or (``from_step``) re-run a sub-step and what follows it."""
    from_step = body.from_step if body else None
    return RegistrationJobOut.model_validate(
        await ops.retry_run(services, principal, registration_job_id, from_step=from_step)
    )


@router.get("/api/restaurants/{restaurant_id}/registration-jobs/active", response_model=ActiveOut)
async def active_run(restaurant_id: UUID, services: ServicesDep, principal: PrincipalDep) -> ActiveOut:
    """The restaurant's active single-restaurant run, or ``{"job": null}``."""
    run = await ops.active_run_of(services, principal, restaurant_id)
    return ActiveOut(job=RegistrationJobOut.model_validate(run) if run else None)


@router.post("/api/registration/execute-single-restaurant", response_model=ExecuteSingleOut)
async def execute_single_restaurant(
    body: ExecuteSingle, services: ServicesDep, principal: PrincipalDep
) -> ExecuteSingleOut:
    """The existing frontend's start: ``{restaurantId, formData}`` answered with ``{success, jobId}``."""
    run_id, _created = await ops.start_single_run(services, principal, body.restaurantId, body.formData)
    return ExecuteSingleOut(success=True, jobId=run_id)


@router.get("/api/registration/single-restaurant-progress/{restaurant_id}")
async def single_restaurant_progress(
    restaurant_id: UUID, services: ServicesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """The frontend's progress shape for the restaurant's latest run.

    ``{jobId, status, currentPhase, phases, error, startedAt, completedAt}``, or ``{status: "not_started"}``.
    """
    return await ops.single_restaurant_progress(services, principal, restaurant_id)
