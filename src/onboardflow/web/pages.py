"""Operator pages: leads, restaurants with the Complete Setup card, and the queue dashboard.

Pages call operations only. Live parts of a page are fragments (``*-card``, ``*-panel``) that the
page's script fetches again when the event stream reports a change, or on the polling schedule of
SPEC §8 when the stream is unavailable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import NoMatchFound

from onboardflow.domain.statuses import FINAL_REGISTRATION
from onboardflow.domain.substeps import SUB_STEPS
from onboardflow.errors import InvalidInput, NotFound, OnboardflowError
from onboardflow.operations import jobs as job_ops
from onboardflow.operations import leads as lead_ops
from onboardflow.operations import organisation as organisation_ops
from onboardflow.operations import registrations as registration_ops
from onboardflow.operations import restaurants as restaurant_ops
from onboardflow.web.routes import PagePrincipal, ServicesDep, check_csrf, flash, render
from onboardflow.web.yolo_form import SECTIONS, prefilled_config, value_at

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_CSV_BYTES = 5 * 1024 * 1024
SUB_STEP_LABELS = {spec.key: spec.label for spec in SUB_STEPS}
PHASE_TITLES = {
    "phase1": "Phase 1 · account and assets",
    "phase2": "Phase 2 · restaurant on Pumpd",
    "phase3": "Phase 3 · option sets",
    "phase4": "Phase 4 · item tags",
}
ACTIVE_JOB_STATUSES = ("pending", "queued", "in_progress", "paused")


def not_found_page(request: Request, error: NotFound) -> HTMLResponse:
    return render(request, "not_found.html", status_code=404, message=error.message)


def has_api_route(request: Request, name: str) -> bool:
    """Whether the app serves the route called ``name`` (a control shows only once its API exists)."""
    try:
        request.app.url_path_for(name)
    except NoMatchFound:
        return False
    return True


# -- leads -----------------------------------------------------------------------------------------


@router.get("/leads", response_class=HTMLResponse)
async def leads_page(
    request: Request,
    services: ServicesDep,
    principal: PagePrincipal,
    show: Annotated[str, Query(pattern="^(all|unconverted|converted)$")] = "unconverted",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    converted = {"all": None, "unconverted": False, "converted": True}[show]
    page = await lead_ops.list_leads(services, principal, limit=PAGE_SIZE, offset=offset, converted=converted)
    return render(
        request,
        "leads.html",
        page=page,
        show=show,
        can_convert=has_api_route(request, "convert_leads"),
        errors=[],
        now=datetime.now(UTC),
    )


@router.post("/leads/import", response_class=HTMLResponse, response_model=None)
async def import_leads(
    request: Request,
    services: ServicesDep,
    principal: PagePrincipal,
    csrf: Annotated[str, Form(max_length=200)],
    file: Annotated[UploadFile, File(description="CSV with a header row")],
) -> Response:
    check_csrf(request, csrf)
    raw = await file.read(MAX_CSV_BYTES + 1)
    try:
        if len(raw) > MAX_CSV_BYTES:
            raise InvalidInput("file", f"the CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("file", "the CSV must be UTF-8 text") from exc
        leads = await lead_ops.import_leads(services, principal, lead_ops.parse_leads_csv(text))
    except InvalidInput as error:
        page = await lead_ops.list_leads(services, principal, limit=PAGE_SIZE, offset=0, converted=False)
        return render(
            request,
            "leads.html",
            status_code=422,
            page=page,
            show="unconverted",
            can_convert=has_api_route(request, "convert_leads"),
            errors=error.errors,
            now=datetime.now(UTC),
        )
    flash(
        request,
        "success",
        f"Imported {len(leads)} lead{'s' if len(leads) != 1 else ''} from {file.filename}.",
    )
    return RedirectResponse("/leads", status_code=303)


# -- restaurants -------------------------------------------------------------------------------------


@router.get("/restaurants", response_class=HTMLResponse)
async def restaurants_page(
    request: Request,
    services: ServicesDep,
    principal: PagePrincipal,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    page = await restaurant_ops.list_restaurants(
        services, principal, limit=PAGE_SIZE, offset=offset, search=q or None
    )
    return render(request, "restaurants.html", page=page, q=q or "")


async def setup_card_context(services: Any, principal: Any, restaurant_id: UUID) -> dict[str, Any]:
    """What the Complete Setup card shows: the restaurant's latest single run, in detail."""
    progress = await registration_ops.single_restaurant_progress(services, principal, restaurant_id)
    run = None
    if progress.get("jobId"):
        run = await registration_ops.get_run(services, principal, UUID(progress["jobId"]))
    return {
        "restaurant_id": restaurant_id,
        "run": run,
        "status": run["status"] if run else "not_started",
        "final": bool(run and run["status"] in FINAL_REGISTRATION),
        "labels": SUB_STEP_LABELS,
        "phase_titles": PHASE_TITLES,
    }


@router.get("/restaurants/{restaurant_id}", response_class=HTMLResponse)
async def restaurant_page(
    request: Request, restaurant_id: UUID, services: ServicesDep, principal: PagePrincipal
) -> HTMLResponse:
    try:
        restaurant = await restaurant_ops.get_restaurant(services, principal, restaurant_id)
    except NotFound as error:
        return not_found_page(request, error)
    organisation = await organisation_ops.get_organisation(services, principal)
    config = prefilled_config(restaurant, organisation.settings)
    return render(
        request,
        "restaurant.html",
        restaurant=restaurant,
        sections=SECTIONS,
        config=config,
        value_at=value_at,
        **await setup_card_context(services, principal, restaurant_id),
    )


@router.get("/restaurants/{restaurant_id}/setup-card", response_class=HTMLResponse)
async def setup_card(
    request: Request, restaurant_id: UUID, services: ServicesDep, principal: PagePrincipal
) -> HTMLResponse:
    try:
        context = await setup_card_context(services, principal, restaurant_id)
    except NotFound as error:
        return not_found_page(request, error)
    return render(request, "partials/setup_card.html", **context)


# -- queue dashboard ---------------------------------------------------------------------------------


async def queue_context(services: Any, principal: Any, failed_offset: int = 0) -> dict[str, Any]:
    status_rows = await job_ops.queue_status(services, principal)
    failed = await job_ops.list_jobs(
        services, principal, limit=PAGE_SIZE, offset=failed_offset, statuses=("failed",)
    )
    active = await job_ops.list_jobs(
        services, principal, limit=PAGE_SIZE, offset=0, statuses=ACTIVE_JOB_STATUSES
    )
    retryable = await job_ops.failed_summary(services, principal, limit=500, offset=0)
    return {
        "status_rows": status_rows,
        "metrics": await job_ops.job_metrics(services, principal),
        "failed": failed,
        "active": active,
        "retryable_count": retryable.total,
    }


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    services: ServicesDep,
    principal: PagePrincipal,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    return render(request, "queue.html", **await queue_context(services, principal, offset))


@router.get("/queue/panel", response_class=HTMLResponse)
async def queue_panel(
    request: Request,
    services: ServicesDep,
    principal: PagePrincipal,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> HTMLResponse:
    return render(request, "partials/queue_panel.html", **await queue_context(services, principal, offset))


@router.post("/queue/jobs/{job_id}/{action}", response_model=None)
async def queue_job_action(
    request: Request,
    job_id: UUID,
    action: str,
    services: ServicesDep,
    principal: PagePrincipal,
    csrf: Annotated[str, Form(max_length=200)],
) -> Response:
    check_csrf(request, csrf)
    try:
        if action == "retry":
            job = await job_ops.retry_job(services, principal, job_id)
            flash(request, "success", f"Job {job['job_type']} {str(job_id)[:8]} was queued again.")
        elif action == "cancel":
            result = await job_ops.cancel_job(services, principal, job_id)
            verb = "is being cancelled" if result.status == "cancelling" else "was cancelled"
            flash(request, "success", f"Job {str(job_id)[:8]} {verb}.")
        else:
            return not_found_page(request, NotFound("action"))
    except NotFound as error:
        return not_found_page(request, error)
    except OnboardflowError as error:
        flash(request, "error", f"Job {str(job_id)[:8]}: {error.message}")
    return RedirectResponse("/queue", status_code=303)
