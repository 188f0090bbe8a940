"""Batches: convert leads into a batch, create one from restaurants, list, show, cancel, pause,
resume and retry the failed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from onboardflow.api.deps import Limit, Offset, PrincipalDep, ServicesDep
from onboardflow.domain.batches import MAX_BATCH_RESTAURANTS
from onboardflow.operations import batches as ops

router = APIRouter(tags=["batches"])


class BatchSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_confirm_company: bool = Field(
        default=False, description="Confirm a clearly matching company without asking."
    )


class LeadFilter(BaseModel):
    """Which unconverted leads to convert."""

    model_config = ConfigDict(extra="forbid")

    city: str | None = Field(default=None, max_length=200)
    cuisine: str | None = Field(default=None, max_length=200)
    name_contains: str | None = Field(default=None, max_length=300)
    limit: int | None = Field(default=None, ge=1, le=MAX_BATCH_RESTAURANTS)


class ConvertLeads(BaseModel):
    """Convert leads (by id, or every unconverted one matching a filter) into a new batch."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300, description="The batch's name.")
    lead_ids: list[UUID] | None = Field(default=None, max_length=MAX_BATCH_RESTAURANTS)
    filter: LeadFilter | None = None
    settings: BatchSettingsIn = Field(default_factory=BatchSettingsIn)


class CreateBatch(BaseModel):
    """A batch of existing restaurants."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    restaurant_ids: list[UUID] = Field(min_length=1, max_length=MAX_BATCH_RESTAURANTS)
    settings: BatchSettingsIn = Field(default_factory=BatchSettingsIn)


class BatchOut(BaseModel):
    id: UUID
    name: str
    status: str
    settings: dict[str, Any]
    total_restaurants: int
    progress_percent: int
    counts_by_status: dict[str, int]
    counts_by_step: dict[str, dict[str, int]]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None


class BatchPageOut(BaseModel):
    items: list[BatchOut]
    total: int
    limit: int
    offset: int


class StepCell(BaseModel):
    id: UUID
    status: str
    attempts: int
    error: str | None
    skip_reason: str | None
    next_attempt_at: datetime | None


class BatchRestaurantOut(BaseModel):
    registration_job_id: UUID
    restaurant_id: UUID
    restaurant_name: str
    status: str
    current_step: str | None
    current_phase: str | None
    error: str | None
    pumpd_restaurant_id: str | None
    steps: dict[str, StepCell]


class BatchRestaurantPage(BaseModel):
    items: list[BatchRestaurantOut]
    total: int
    limit: int
    offset: int


class BatchDetailOut(BatchOut):
    restaurants: BatchRestaurantPage


class RetryFailedOut(BatchOut):
    retried: int


@router.post("/api/leads/convert", response_model=BatchOut, status_code=201)
async def convert_leads(body: ConvertLeads, services: ServicesDep, principal: PrincipalDep) -> BatchOut:
    """Convert leads into restaurants of a new batch and start step 1 for each (one transaction).

    Leads already converted are refused with 409 and their ids in ``details.lead_ids``.
    """
    batch = await ops.convert_leads(
        services,
        principal,
        name=body.name,
        lead_ids=body.lead_ids,
        lead_filter=body.filter.model_dump() if body.filter else None,
        settings=body.settings.model_dump(),
    )
    return BatchOut.model_validate(batch)


@router.post("/api/registration-batches", response_model=BatchOut, status_code=201)
async def create_batch(body: CreateBatch, services: ServicesDep, principal: PrincipalDep) -> BatchOut:
    """A batch of existing restaurants (none may have an active registration job)."""
    batch = await ops.create_batch(
        services,
        principal,
        name=body.name,
        restaurant_ids=body.restaurant_ids,
        settings=body.settings.model_dump(),
    )
    return BatchOut.model_validate(batch)


@router.get("/api/registration-batches", response_model=BatchPageOut)
async def list_batches(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Limit = 20,
    offset: Offset = 0,
    status: Annotated[str | None, Query(max_length=20, description="Only batches in this status.")] = None,
) -> BatchPageOut:
    """A page of batches, newest first, with counts per status and per step and a progress percent."""
    return BatchPageOut.model_validate(
        await ops.list_batches(services, principal, limit=limit, offset=offset, status=status)
    )


@router.get("/api/registration-batches/{batch_id}", response_model=BatchDetailOut)
async def get_batch(
    batch_id: UUID,
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
    step_key: Annotated[str | None, Query(max_length=40, description="Filter on this step's status.")] = None,
    status: Annotated[
        str | None, Query(max_length=20, description="A step status (with step_key) or a job status.")
    ] = None,
) -> BatchDetailOut:
    """A batch with a page of its restaurants and each one's step statuses."""
    return BatchDetailOut.model_validate(
        await ops.batch_detail(
            services, principal, batch_id, limit=limit, offset=offset, step_key=step_key, status=status
        )
    )


@router.post("/api/registration-batches/{batch_id}/cancel", response_model=BatchOut)
async def cancel_batch(batch_id: UUID, services: ServicesDep, principal: PrincipalDep) -> BatchOut:
    """Cancel every active registration job of the batch, then the batch."""
    return BatchOut.model_validate(await ops.cancel_batch(services, principal, batch_id))


@router.post("/api/registration-batches/{batch_id}/pause", response_model=BatchOut)
async def pause_batch(batch_id: UUID, services: ServicesDep, principal: PrincipalDep) -> BatchOut:
    """No new automatic step starts until resumed; waiting steps can still be answered."""
    return BatchOut.model_validate(await ops.pause_batch(services, principal, batch_id))


@router.post("/api/registration-batches/{batch_id}/resume", response_model=BatchOut)
async def resume_batch(batch_id: UUID, services: ServicesDep, principal: PrincipalDep) -> BatchOut:
    """Carry on: steps parked while paused are queued again."""
    return BatchOut.model_validate(await ops.resume_batch(services, principal, batch_id))


@router.post("/api/registration-batches/{batch_id}/retry-failed", response_model=RetryFailedOut)
async def retry_failed(batch_id: UUID, services: ServicesDep, principal: PrincipalDep) -> RetryFailedOut:
    """Every failed registration job of the batch retries from its failed step."""
    return RetryFailedOut.model_validate(await ops.retry_failed(services, principal, batch_id))
