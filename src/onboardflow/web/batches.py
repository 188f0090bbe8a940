"""Batch pages: the batch list, a batch's restaurants x steps grid, and the action inbox.

Like the other pages, live parts are fragments re-fetched on events of the batch (or the
organisation) with the polling fallback of SPEC §8; actions go through the JSON API with the
session's CSRF token.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from onboardflow.domain.answers import ANSWER_STEP_KEYS
from onboardflow.domain.overrides import RERUNNABLE_STEPS, rerun_input_fields
from onboardflow.domain.pipeline import PIPELINE_STEPS
from onboardflow.domain.statuses import FINAL_REGISTRATION
from onboardflow.errors import InvalidInput, NotFound
from onboardflow.operations import actions as action_ops
from onboardflow.operations import batches as batch_ops
from onboardflow.operations import registrations as registration_ops
from onboardflow.web.pages import PHASE_TITLES, SUB_STEP_LABELS, not_found_page
from onboardflow.web.routes import PagePrincipal, ServicesDep, render

router = APIRouter(include_in_schema=False)

BATCHES_PER_PAGE = 20
ROWS_PER_PAGE = 50
ACTIONS_PER_PAGE = 100
STEP_LABELS = {step.key: step.label for step in PIPELINE_STEPS}
FINAL_BATCH = ("completed", "failed", "cancelled")
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
StepFilter = Annotated[str | None, Query(max_length=40)]
StatusFilter = Annotated[str | None, Query(max_length=40)]
FIELD_LABELS = {
    "source_url": "Menu page URL",
    "trading_name": "Trading name",
    "legal_name": "Legal name",
    "street_address": "Street address",
    "company_number": "Company number",
}
OVERRIDE_FIELDS = {
    key: tuple((field, FIELD_LABELS[field]) for field in rerun_input_fields(key))
    for key in RERUNNABLE_STEPS
    if rerun_input_fields(key)
}
"""The failed steps an admin skips or re-runs from the grid, with the labelled fields of a re-run's
edited input. A failed registration step (its input a partial configuration) is retried from its
sub-steps instead."""


def _attention(batch: dict[str, Any]) -> dict[str, int]:
    """How many restaurants wait for a person, and how many failed, in a batch."""
    waiting = sum(counts.get("action_required", 0) for counts in batch["counts_by_step"].values())
    return {"waiting": waiting, "failed": batch["counts_by_status"].get("failed", 0)}


async def _batches_context(services: Any, principal: Any, offset: int) -> dict[str, Any]:
    page = await batch_ops.list_batches(services, principal, limit=BATCHES_PER_PAGE, offset=offset)
    items = [{**b, "attention": _attention(b)} for b in page["items"]]
    active = any(b["status"] not in FINAL_BATCH for b in items)
    return {
        "batches": {**page, "items": items},
        "steps": PIPELINE_STEPS,
        "live_status": "in_progress" if active else "pending",
        "offset": offset,
    }


@router.get("/batches", response_class=HTMLResponse)
async def batches_page(
    request: Request, services: ServicesDep, principal: PagePrincipal, offset: Offset = 0
) -> HTMLResponse:
    return render(request, "batches.html", **await _batches_context(services, principal, offset))


@router.get("/batches/panel", response_class=HTMLResponse)
async def batches_panel(
    request: Request, services: ServicesDep, principal: PagePrincipal, offset: Offset = 0
) -> HTMLResponse:
    return render(
        request, "partials/batches_panel.html", **await _batches_context(services, principal, offset)
    )


async def _grid_context(
    services: Any, principal: Any, batch_id: UUID, offset: int, step: str | None, status: str | None
) -> dict[str, Any]:
    detail = await batch_ops.batch_detail(
        services,
        principal,
        batch_id,
        limit=ROWS_PER_PAGE,
        offset=offset,
        step_key=step or None,
        status=status or None,
    )
    query = "&".join(f"{k}={v}" for k, v in (("step", step), ("status", status)) if v)
    return {
        "batch": detail,
        "rows": detail["restaurants"],
        "attention": _attention(detail),
        "steps": PIPELINE_STEPS,
        "step_labels": STEP_LABELS,
        "filter_step": step or "",
        "filter_status": status or "",
        "filter_query": query,
        "offset": offset,
        "override_fields": OVERRIDE_FIELDS if principal.is_admin else {},
    }


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
async def batch_page(
    request: Request,
    batch_id: UUID,
    services: ServicesDep,
    principal: PagePrincipal,
    offset: Offset = 0,
    step: StepFilter = None,
    status: StatusFilter = None,
) -> HTMLResponse:
    try:
        context = await _grid_context(services, principal, batch_id, offset, step, status)
    except NotFound as error:
        return not_found_page(request, error)
    except InvalidInput as error:
        context = await _grid_context(services, principal, batch_id, offset, None, None)
        context["filter_error"] = error.message
    return render(request, "batch.html", **context)


@router.get("/batches/{batch_id}/grid", response_class=HTMLResponse)
async def batch_grid(
    request: Request,
    batch_id: UUID,
    services: ServicesDep,
    principal: PagePrincipal,
    offset: Offset = 0,
    step: StepFilter = None,
    status: StatusFilter = None,
) -> HTMLResponse:
    try:
        context = await _grid_context(services, principal, batch_id, offset, step, status)
    except NotFound as error:
        return not_found_page(request, error)
    return render(request, "partials/batch_grid.html", **context)


@router.get("/registration-jobs/{run_id}/sub-steps", response_class=HTMLResponse)
async def run_sub_steps(
    request: Request, run_id: UUID, services: ServicesDep, principal: PagePrincipal
) -> HTMLResponse:
    try:
        run = await registration_ops.get_run(services, principal, run_id)
    except NotFound as error:
        return not_found_page(request, error)
    return render(
        request,
        "partials/sub_steps.html",
        run=run,
        labels=SUB_STEP_LABELS,
        phase_titles=PHASE_TITLES,
        final=run["status"] in FINAL_REGISTRATION,
    )


async def _inbox_context(
    services: Any, principal: Any, batch_id: UUID | None, step: str | None, offset: int
) -> dict[str, Any]:
    page = await action_ops.list_actions(
        services,
        principal,
        limit=ACTIONS_PER_PAGE,
        offset=offset,
        batch_id=batch_id,
        step_key=step or None,
    )
    groups = {key: [a for a in page["items"] if a["step_key"] == key] for key in ANSWER_STEP_KEYS}
    stream = f"batch_id={batch_id}" if batch_id else ""
    query = "&".join(f"{k}={v}" for k, v in (("batch_id", batch_id), ("step", step)) if v)
    return {
        "page": page,
        "groups": {k: v for k, v in groups.items() if v},
        "step_labels": STEP_LABELS,
        "filter_batch": str(batch_id) if batch_id else "",
        "filter_step": step or "",
        "filter_query": query,
        "stream": stream,
        "suggested_password": secrets.token_urlsafe(12),
        "offset": offset,
    }


@router.get("/actions", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    services: ServicesDep,
    principal: PagePrincipal,
    batch_id: UUID | None = None,
    step: StepFilter = None,
    offset: Offset = 0,
) -> HTMLResponse:
    try:
        context = await _inbox_context(services, principal, batch_id, step, offset)
    except InvalidInput as error:
        context = await _inbox_context(services, principal, batch_id, None, offset)
        context["filter_error"] = error.message
    return render(request, "actions.html", **context)


@router.get("/actions/panel", response_class=HTMLResponse)
async def inbox_panel(
    request: Request,
    services: ServicesDep,
    principal: PagePrincipal,
    batch_id: UUID | None = None,
    step: StepFilter = None,
    offset: Offset = 0,
) -> HTMLResponse:
    context = await _inbox_context(services, principal, batch_id, step, offset)
    return render(request, "partials/actions_panel.html", **context)
