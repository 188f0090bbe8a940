"""Queue jobs: enqueue, list, detail, cancel, retry, the three health reports; queues; Prometheus.

Fixed paths under ``/api/jobs`` are declared before ``/api/jobs/{job_id}`` so that they are never
read as a job id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from onboardflow.api.deps import AdminDep, Limit, Offset, PrincipalDep, ServicesDep
from onboardflow.api.schemas import PageOut
from onboardflow.domain.statuses import JobStatus
from onboardflow.operations import jobs as ops

router = APIRouter()

NAME_PATTERN = r"^[A-Za-z0-9_.:\-]+$"
QueueName = Annotated[
    str, Path(min_length=1, max_length=60, pattern=NAME_PATTERN, description="Name of the queue.")
]
MAX_JSON_DEPTH = 64


def _storable(value: Any, depth: int = 0) -> Any:
    """Reject NUL characters (PostgreSQL cannot store them) and nesting deeper than ``MAX_JSON_DEPTH``."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"must not be nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _storable(key, depth + 1)
            _storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable(item, depth + 1)
    return value


# -- request and response shapes ---------------------------------------------------------------------


class JobIn(BaseModel):
    """A job to enqueue. Unset queue, timeout and retries take the job type's defaults."""

    model_config = ConfigDict(extra="forbid")

    job_type: str = Field(
        min_length=1, max_length=60, pattern=NAME_PATTERN, description="A registered job type."
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="Input of the handler.")
    queue: str | None = Field(
        default=None,
        min_length=1,
        max_length=60,
        pattern=NAME_PATTERN,
        description="Queue other than the job type's own (admins only).",
    )
    priority: int = Field(default=0, ge=-10, le=10, description="Higher runs first; FIFO within one.")
    run_at: AwareDatetime | None = Field(default=None, description="Not before this time (default: now).")
    max_retries: int | None = Field(default=None, ge=0, le=100)
    timeout_seconds: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    restaurant_id: UUID | None = Field(default=None, description="A restaurant of your organisation.")
    parent_job_id: UUID | None = Field(default=None, description="A job of your organisation.")
    unique_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="While a job with this key waits or runs, enqueueing again returns that job.",
    )
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("payload", "metadata", "unique_key")
    @classmethod
    def _check_storable(cls, value: Any) -> Any:
        return _storable(value)

    @field_validator("run_at")
    @classmethod
    def _representable(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("is out of range") from exc


class QueueUpdate(BaseModel):
    """Queue settings to change; omitted ones stay. `concurrency_limit: null` removes the limit."""

    model_config = ConfigDict(extra="forbid")

    paused: bool | None = Field(default=None, description="Stop (true) or resume (false) claiming.")
    concurrency_limit: int | None = Field(
        default=None,
        ge=1,
        le=ops.MAX_CONCURRENCY_LIMIT,
        description="Most jobs running at once, cluster-wide.",
    )


class JobOut(BaseModel):
    """A queue job. Secret fields of its payload, result and metadata are shown as `***`."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    job_type: str
    job_category: str | None
    queue: str
    status: JobStatus
    priority: int
    payload: dict[str, Any] = Field(validation_alias="input_payload")
    result: Any
    error_message: str | None
    error_kind: str | None
    attempts: int
    max_retries: int
    timeout_seconds: float | None
    execution_time_ms: int | None
    run_at: datetime
    cancel_requested: bool
    unique_key: str | None
    restaurant_id: UUID | None
    created_by: UUID | None
    parent_job_id: UUID | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None


class JobEnqueuedOut(JobOut):
    """The enqueued job; `created` is false when an active job already held the unique key."""

    created: bool


class CancelledJobOut(BaseModel):
    """A job a cancel reached: `cancelled` at once, or `cancelling` while its worker stops it."""

    id: UUID
    status: Literal["cancelled", "cancelling"]


class JobCancelOut(BaseModel):
    """What a cancel did to the job and (in `affected`) to it and its unfinished descendants."""

    id: UUID
    status: Literal["cancelled", "cancelling"]
    affected: list[CancelledJobOut]


class QueueStatusOut(BaseModel):
    """Jobs created in the last 24 hours of one type in one status."""

    job_type: str
    status: JobStatus
    count: int
    latest_job: datetime | None
    avg_duration_seconds: float | None


class QueueStatusReportOut(BaseModel):
    items: list[QueueStatusOut]


class FailedJobOut(BaseModel):
    """A failed job that has not used up its retries."""

    id: UUID
    job_type: str
    queue: str
    restaurant_id: UUID | None
    error_message: str | None
    error_kind: str | None
    attempts: int
    max_retries: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class JobMetricsOut(BaseModel):
    """Jobs of one type created in the last 7 days."""

    job_type: str
    total_jobs: int
    completed_count: int
    failed_count: int
    in_progress_count: int
    success_rate_percent: float
    avg_duration_seconds: float | None


class JobMetricsReportOut(BaseModel):
    items: list[JobMetricsOut]


class QueueJobsOut(BaseModel):
    """Your unfinished jobs in a queue, by status."""

    pending: int = 0
    queued: int = 0
    in_progress: int = 0
    paused: int = 0


class QueueOut(BaseModel):
    """A queue: its cluster-wide settings and your unfinished jobs in it."""

    name: str
    paused: bool
    concurrency_limit: int | None
    jobs: QueueJobsOut


# -- jobs --------------------------------------------------------------------------------------------


@router.post("/api/jobs", response_model=JobEnqueuedOut, status_code=201, tags=["jobs"])
async def enqueue_job(
    body: JobIn, response: Response, services: ServicesDep, principal: PrincipalDep
) -> JobEnqueuedOut:
    """Enqueue a job for your organisation (200 with `created: false` if its unique key is taken)."""
    request = ops.JobRequest(**body.model_dump())
    result = await ops.enqueue_job(services, principal, request)
    if not result.created:
        response.status_code = 200
    return JobEnqueuedOut.model_validate({**result.job, "created": result.created})


@router.get("/api/jobs", response_model=PageOut[JobOut], tags=["jobs"])
async def list_jobs(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[list[JobStatus] | None, Query(description="Any of these statuses.")] = None,
    job_type: Annotated[str | None, Query(max_length=60, pattern=NAME_PATTERN)] = None,
    queue: Annotated[str | None, Query(max_length=60, pattern=NAME_PATTERN)] = None,
    restaurant_id: UUID | None = None,
    parent_job_id: UUID | None = None,
) -> PageOut[JobOut]:
    """A page of your jobs, newest first."""
    page = await ops.list_jobs(
        services,
        principal,
        limit=limit,
        offset=offset,
        statuses=[s.value for s in status or ()],
        job_type=job_type,
        queue=queue,
        restaurant_id=restaurant_id,
        parent_job_id=parent_job_id,
    )
    return PageOut[JobOut](
        items=[JobOut.model_validate(i) for i in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/api/jobs/queue-status", response_model=QueueStatusReportOut, tags=["jobs"])
async def queue_status(services: ServicesDep, principal: PrincipalDep) -> QueueStatusReportOut:
    """Your jobs created in the last 24 hours by type and status."""
    items = await ops.queue_status(services, principal)
    return QueueStatusReportOut(items=[QueueStatusOut.model_validate(i) for i in items])


@router.get("/api/jobs/failed-summary", response_model=PageOut[FailedJobOut], tags=["jobs"])
async def failed_summary(
    services: ServicesDep, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> PageOut[FailedJobOut]:
    """A page of your failed jobs that have retries left, most recently failed first."""
    page = await ops.failed_summary(services, principal, limit=limit, offset=offset)
    return PageOut[FailedJobOut](
        items=[FailedJobOut.model_validate(i) for i in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/api/jobs/metrics", response_model=JobMetricsReportOut, tags=["jobs"])
async def job_metrics(services: ServicesDep, principal: PrincipalDep) -> JobMetricsReportOut:
    """Your jobs created in the last 7 days by type: totals, success rate, average duration."""
    items = await ops.job_metrics(services, principal)
    return JobMetricsReportOut(items=[JobMetricsOut.model_validate(i) for i in items])


@router.get("/api/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
async def get_job(job_id: UUID, services: ServicesDep, principal: PrincipalDep) -> JobOut:
    """One of your jobs."""
    return JobOut.model_validate(await ops.get_job(services, principal, job_id))


@router.post("/api/jobs/{job_id}/cancel", response_model=JobCancelOut, tags=["jobs"])
async def cancel_job(job_id: UUID, services: ServicesDep, principal: PrincipalDep) -> JobCancelOut:
    """Cancel a job and its unfinished descendants: waiting ones at once, running ones within seconds.

    A job that already completed or failed cannot be cancelled (409).
    """
    result = await ops.cancel_job(services, principal, job_id)
    return JobCancelOut(
        id=result.job_id,
        status=result.status,
        affected=[CancelledJobOut(id=i, status=s) for i, s in result.affected.items()],
    )


@router.post("/api/jobs/{job_id}/retry", response_model=JobOut, tags=["jobs"])
async def retry_job(job_id: UUID, services: ServicesDep, principal: PrincipalDep) -> JobOut:
    """Queue a failed or cancelled job again with a fresh allowance of retries (409 otherwise)."""
    return JobOut.model_validate(await ops.retry_job(services, principal, job_id))


# -- queues ------------------------------------------------------------------------------------------


@router.get("/api/queues", response_model=PageOut[QueueOut], tags=["queues"])
async def list_queues(
    services: ServicesDep, principal: PrincipalDep, limit: Limit = 50, offset: Offset = 0
) -> PageOut[QueueOut]:
    """Queues by name: cluster-wide settings, and your unfinished jobs in each."""
    page = await ops.list_queues(services, principal, limit=limit, offset=offset)
    return PageOut[QueueOut](
        items=[QueueOut.model_validate(i) for i in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.patch("/api/queues/{name}", response_model=QueueOut, tags=["queues"])
async def update_queue(
    name: QueueName, body: QueueUpdate, services: ServicesDep, principal: AdminDep
) -> QueueOut:
    """Pause or resume a queue, or set its concurrency limit (admins only).

    Queue settings hold for the whole cluster, every organisation included.
    """
    limit: int | ops.Keep | None = (
        body.concurrency_limit if "concurrency_limit" in body.model_fields_set else "keep"
    )
    queue = await ops.set_queue(services, principal, name, paused=body.paused, concurrency_limit=limit)
    return QueueOut.model_validate(queue)


# -- Prometheus --------------------------------------------------------------------------------------


@router.get(
    "/metrics",
    tags=["metrics"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition."}},
)
async def prometheus_metrics(services: ServicesDep, principal: AdminDep) -> Response:
    """Prometheus metrics: the queue across the whole cluster and this process's workers.

    Needs an admin API token (`Authorization: Bearer <token>`, e.g. from
    `onboardflow token create --org NAME --name prometheus`), since the counts span every
    organisation.
    """
    body = await ops.metrics_exposition(services, principal)
    return Response(content=body, media_type=ops.METRICS_CONTENT_TYPE)
