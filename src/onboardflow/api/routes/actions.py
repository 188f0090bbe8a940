"""The action queue (steps waiting for a person, answered one at a time or in bulk) and the admin's
overrides of a failed step."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from onboardflow.api.deps import AdminDep, Limit, Offset, PrincipalDep, ServicesDep
from onboardflow.domain.batches import BulkMode
from onboardflow.operations import actions as ops

router = APIRouter(tags=["actions"])


class ActionOut(BaseModel):
    step_id: UUID
    step_key: str
    label: str
    registration_job_id: UUID
    batch_id: UUID | None
    restaurant_id: UUID
    restaurant_name: str
    input: dict[str, Any]
    answer_schema: dict[str, Any] | None
    waiting_since: datetime


class ActionPageOut(BaseModel):
    items: list[ActionOut]
    total: int
    limit: int
    offset: int


class AnswerIn(BaseModel):
    """The answer to a waiting step, as its ``answer_schema`` describes."""

    model_config = ConfigDict(extra="forbid")

    answer: dict[str, Any]


class AnsweredOut(BaseModel):
    step_id: UUID
    step_key: str
    registration_job_id: UUID
    answer: dict[str, Any]


class BulkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step_id: UUID
    answer: dict[str, Any]


class BulkIn(BaseModel):
    """Answer many waiting steps at once.

    ``mode``: ``confirm_search_terms`` (each step's prefilled terms), ``accept_preselected`` (each
    step's pre-selected candidate), ``apply_config`` (``config`` merged over each prefilled one), or
    ``answers`` (``items``, one answer each). Targets: ``step_ids``, or every step of ``batch_id``
    waiting at the mode's step (``items`` for ``answers``).
    """

    model_config = ConfigDict(extra="forbid")

    mode: BulkMode
    step_ids: list[UUID] | None = Field(default=None, max_length=ops.MAX_BULK_ITEMS)
    batch_id: UUID | None = None
    config: dict[str, Any] | None = None
    items: list[BulkItem] | None = Field(default=None, max_length=ops.MAX_BULK_ITEMS)


class BulkItemOut(BaseModel):
    index: int
    step_id: UUID | None
    ok: bool
    registration_job_id: UUID | None = None
    error: str | None = None
    message: str | None = None
    field: str | None = None


class BulkOut(BaseModel):
    mode: str
    total: int
    succeeded: int
    failed: int
    items: list[BulkItemOut]


class SkipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="Why the step is skipped (audited).")


class RerunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="Why the step is re-run (audited).")
    input: dict[str, Any] = Field(default_factory=dict, description="The edited input of the step.")


class OverrideOut(BaseModel):
    step_id: UUID
    step_key: str
    status: str
    registration_job_id: UUID


@router.get("/api/actions", response_model=ActionPageOut)
async def list_actions(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
    batch_id: UUID | None = None,
    step_key: Annotated[str | None, Query(max_length=40)] = None,
    restaurant_id: UUID | None = None,
) -> ActionPageOut:
    """Steps waiting for a person, oldest first, with what each needs and the schema of its answer."""
    return ActionPageOut.model_validate(
        await ops.list_actions(
            services,
            principal,
            limit=limit,
            offset=offset,
            batch_id=batch_id,
            step_key=step_key,
            restaurant_id=restaurant_id,
        )
    )


@router.post("/api/actions/bulk", response_model=BulkOut)
async def bulk_answer(body: BulkIn, services: ServicesDep, principal: PrincipalDep) -> BulkOut:
    """Answer many steps; each item is validated and reported on its own, valid ones go through."""
    return BulkOut.model_validate(
        await ops.bulk_answer_actions(
            services,
            principal,
            mode=body.mode,
            step_ids=body.step_ids,
            batch_id=body.batch_id,
            items=[item.model_dump() for item in body.items] if body.items else None,
            config=body.config,
        )
    )


@router.post("/api/actions/{step_id}", response_model=AnsweredOut)
async def answer_action(
    step_id: UUID, body: AnswerIn, services: ServicesDep, principal: PrincipalDep
) -> AnsweredOut:
    """Answer one waiting step; the next step becomes runnable in the same transaction."""
    return AnsweredOut.model_validate(await ops.answer_action(services, principal, step_id, body.answer))


@router.post("/api/registration-steps/{step_id}/skip", response_model=OverrideOut)
async def skip_step(step_id: UUID, body: SkipIn, services: ServicesDep, principal: AdminDep) -> OverrideOut:
    """(Admin) Mark a failed step skipped with a reason; the job carries on from the next step."""
    return OverrideOut.model_validate(await ops.skip_failed_step(services, principal, step_id, body.reason))


@router.post("/api/registration-steps/{step_id}/rerun", response_model=OverrideOut)
async def rerun_step(step_id: UUID, body: RerunIn, services: ServicesDep, principal: AdminDep) -> OverrideOut:
    """(Admin) Run a failed step again with edited input."""
    return OverrideOut.model_validate(
        await ops.rerun_failed_step(services, principal, step_id, changes=body.input, reason=body.reason)
    )
