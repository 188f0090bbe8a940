"""Queue jobs as people and operators see them: enqueue, list, inspect, cancel, retry, reports,
queue settings, Prometheus metrics and pruning.

API callers act within their organisation (a job of another one is ``NotFound``). The command line
acts as an ``Operator``: across every organisation, or within one when it names it. Queue settings
(pause, concurrency limit) are cluster-wide and need an admin. Secrets in payloads, results and
metadata are shown as ``***``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from onboardflow.domain.jobs import JobSpec
from onboardflow.domain.records import Principal
from onboardflow.domain.redaction import redact
from onboardflow.domain.statuses import JobStatus, check_transition
from onboardflow.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from onboardflow.operations.services import Services
from onboardflow.runtime import metrics
from onboardflow.store import accounts as accounts_store
from onboardflow.store import job_reports as reports
from onboardflow.store import queue as queue_store
from onboardflow.store import restaurants as restaurants_store
from onboardflow.store.paging import Page
from onboardflow.store.types import utcnow

log = logging.getLogger("onboardflow.jobs")

QUEUE_NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,60}")
MAX_CONCURRENCY_LIMIT = 10_000
MAX_PRUNE_BATCH = 10_000
METRICS_CONTENT_TYPE = metrics.CONTENT_TYPE
RETRYABLE = frozenset({JobStatus.FAILED.value, JobStatus.CANCELLED.value})
Keep = Literal["keep"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Operator:
    """Someone at the command line: acts across every organisation, or within one (``--org``)."""

    organisation_id: UUID | None = None
    actor: str = "cli"

    @property
    def is_admin(self) -> bool:
        return True


Caller = Principal | Operator


async def operator_scope(services: Services, organisation: str | None = None) -> Operator:
    """The operator, within the organisation called ``organisation`` if given (``NotFound`` if none)."""
    if organisation is None:
        return Operator()
    async with services.db.read() as conn:
        org = await accounts_store.get_organisation_by_name(conn, organisation)
    return Operator(organisation_id=org.id, actor=f"cli:{org.name}")


def _unique_key_namespace(organisation_id: UUID) -> str:
    # Unique keys are unique across the cluster; a caller's key is namespaced by its organisation so
    # that two organisations never collide (nor learn of each other's jobs through a key).
    return f"org:{organisation_id}:"


def shown(job: Mapping[str, Any]) -> dict[str, Any]:
    """A job row as it may be shown: secrets redacted, the unique key as its caller gave it."""
    view = dict(job)
    for name in ("input_payload", "result", "metadata"):
        view[name] = redact(view.get(name))
    key, org = view.get("unique_key"), view.get("organisation_id")
    if key and org is not None and key.startswith(_unique_key_namespace(org)):
        view["unique_key"] = key[len(_unique_key_namespace(org)) :]
    return view


def _shown_page(page: Page) -> Page:
    return Page(items=[shown(i) for i in page.items], total=page.total, limit=page.limit, offset=page.offset)


# -- enqueue -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRequest:
    """What a caller asks to enqueue; unset defaults come from the job type's handler."""

    job_type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int = 0
    run_at: datetime | None = None
    max_retries: int | None = None
    timeout_seconds: float | None = None
    restaurant_id: UUID | None = None
    parent_job_id: UUID | None = None
    unique_key: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class EnqueueResult:
    """The job an enqueue produced, or the caller's active job that already held the unique key."""

    job: dict[str, Any]
    created: bool


async def enqueue_job(services: Services, principal: Principal, request: JobRequest) -> EnqueueResult:
    """Enqueue a job of a registered type for the caller's organisation.

    Its restaurant and parent job must be the organisation's own. Only an admin may put a job on
    another queue than its type's (queues carry the cluster-wide concurrency limits).
    """
    handler = services.registry.get(request.job_type)
    if handler is None:
        known = ", ".join(spec.job_type for spec in services.registry.job_types())
        raise InvalidInput("job_type", f"unknown job type {request.job_type!r} (known: {known})")
    queue = request.queue or handler.queue
    if queue != handler.queue and not principal.is_admin:
        raise Forbidden(
            f"only an admin may put a {request.job_type!r} job on another queue than {handler.queue!r}"
        )
    org = principal.organisation_id
    timeout = handler.timeout_seconds if request.timeout_seconds is None else request.timeout_seconds
    spec = JobSpec(
        job_type=request.job_type,
        payload=dict(request.payload),
        queue=queue,
        priority=request.priority,
        run_at=request.run_at,
        max_retries=handler.max_retries if request.max_retries is None else request.max_retries,
        timeout_seconds=timeout,
        parent_job_id=request.parent_job_id,
        unique_key=None if request.unique_key is None else _unique_key_namespace(org) + request.unique_key,
        organisation_id=org,
        restaurant_id=request.restaurant_id,
        created_by=principal.user_id,
        metadata=dict(request.metadata),
    )
    async with services.db.write() as conn:
        if request.restaurant_id is not None:
            try:
                await restaurants_store.get_restaurant(conn, org, request.restaurant_id)
            except NotFound as exc:
                raise InvalidInput(
                    "restaurant_id", "no restaurant with this id in your organisation"
                ) from exc
        if request.parent_job_id is not None:
            try:
                await queue_store.get_job(conn, org, request.parent_job_id)
            except NotFound as exc:
                raise InvalidInput("parent_job_id", "no job with this id in your organisation") from exc
        enqueued = await queue_store.enqueue(conn, spec)
        job = await queue_store.get_job(conn, org, enqueued.id)
    return EnqueueResult(job=shown(job), created=enqueued.created)


# -- read ----------------------------------------------------------------------------------------


async def list_jobs(
    services: Services,
    caller: Caller,
    *,
    limit: int,
    offset: int,
    statuses: Sequence[str] = (),
    job_type: str | None = None,
    queue: str | None = None,
    restaurant_id: UUID | None = None,
    parent_job_id: UUID | None = None,
) -> Page:
    """A page of the caller's jobs, newest first, filtered by any of the given fields."""
    async with services.db.read() as conn:
        page = await reports.list_jobs(
            conn,
            caller.organisation_id,
            limit=limit,
            offset=offset,
            statuses=statuses,
            job_type=job_type,
            queue=queue,
            restaurant_id=restaurant_id,
            parent_job_id=parent_job_id,
        )
    return _shown_page(page)


async def get_job(services: Services, caller: Caller, job_id: UUID) -> dict[str, Any]:
    """One of the caller's jobs."""
    async with services.db.read() as conn:
        return shown(await queue_store.get_job(conn, caller.organisation_id, job_id))


# -- cancel and retry ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelResult:
    """What a cancel did: ``cancelled`` at once, or ``cancelling`` (its worker stops it within seconds).

    ``affected`` holds the job and its unfinished descendants, each ``cancelled`` or ``cancelling``.
    """

    job_id: UUID
    status: Literal["cancelled", "cancelling"]
    affected: dict[UUID, Literal["cancelled", "cancelling"]]


def _cancel_state(status: str) -> Literal["cancelled", "cancelling"]:
    return "cancelling" if status == JobStatus.IN_PROGRESS.value else "cancelled"


async def cancel_job(services: Services, caller: Caller, job_id: UUID) -> CancelResult:
    """Cancel one of the caller's jobs and its descendants; a finished job other than cancelled is 409."""
    async with services.db.write() as conn:
        job = await queue_store.get_job(conn, caller.organisation_id, job_id)
        if job["status"] == JobStatus.CANCELLED.value:
            return CancelResult(job_id=job_id, status="cancelled", affected={})
        check_transition("job", job["status"], JobStatus.CANCELLED)
        affected = await queue_store.request_cancel(conn, caller.organisation_id, job_id, actor=caller.actor)
        if job_id not in affected:  # it finished between the read and the cancel
            latest = await queue_store.get_job(conn, caller.organisation_id, job_id)
            if latest["status"] == JobStatus.CANCELLED.value:
                return CancelResult(job_id=job_id, status="cancelled", affected={})
            raise InvalidTransition("job", latest["status"], JobStatus.CANCELLED.value)
    states = {jid: _cancel_state(status) for jid, status in affected.items()}
    return CancelResult(job_id=job_id, status=states[job_id], affected=states)


async def retry_job(services: Services, caller: Caller, job_id: UUID) -> dict[str, Any]:
    """Queue one of the caller's failed or cancelled jobs again, with a fresh allowance of retries."""
    async with services.db.write() as conn:
        job = await queue_store.get_job(conn, caller.organisation_id, job_id)
        if job["status"] not in RETRYABLE:
            raise Conflict(
                f"only a failed or cancelled job can be retried; this one is {job['status']}",
                details={"status": job["status"]},
            )
        await queue_store.retry_job(conn, caller.organisation_id, job_id, actor=caller.actor)
        return shown(await queue_store.get_job(conn, caller.organisation_id, job_id))


# -- reports -------------------------------------------------------------------------------------


async def queue_status(services: Services, caller: Caller) -> list[dict[str, Any]]:
    """The caller's jobs of the last 24 h by type and status (count, latest, average duration)."""
    async with services.db.read() as conn:
        return await reports.queue_status(conn, caller.organisation_id)


async def failed_summary(services: Services, caller: Caller, *, limit: int, offset: int) -> Page:
    """A page of the caller's failed jobs that have retries left, most recent first."""
    async with services.db.read() as conn:
        return await reports.failed_summary(conn, caller.organisation_id, limit=limit, offset=offset)


async def job_metrics(services: Services, caller: Caller) -> list[dict[str, Any]]:
    """The caller's jobs of the last 7 days by type: totals, success rate, average duration."""
    async with services.db.read() as conn:
        return await reports.job_metrics(conn, caller.organisation_id)


# -- queues --------------------------------------------------------------------------------------


def _check_queue_name(name: str) -> None:
    if not QUEUE_NAME.fullmatch(name):
        raise InvalidInput("name", "a queue name is 1 to 60 letters, digits or . _ : -")


async def list_queues(services: Services, caller: Caller, *, limit: int, offset: int) -> Page:
    """A page of queues, by name, with their cluster-wide settings and the caller's unfinished jobs."""
    async with services.db.read() as conn:
        queues = await reports.queue_overview(conn, caller.organisation_id)
    return Page(items=queues[offset : offset + limit], total=len(queues), limit=limit, offset=offset)


async def set_queue(
    services: Services,
    caller: Caller,
    name: str,
    *,
    paused: bool | None = None,
    concurrency_limit: int | Keep | None = "keep",
) -> dict[str, Any]:
    """Pause or resume a queue and/or set its cluster-wide concurrency limit (None removes it).

    Queue settings hold for every organisation, so only an admin may change them. Changing nothing
    just answers the queue as it is.
    """
    if not caller.is_admin:
        raise Forbidden("changing a queue needs an admin")
    _check_queue_name(name)
    if isinstance(concurrency_limit, int) and not 1 <= concurrency_limit <= MAX_CONCURRENCY_LIMIT:
        raise InvalidInput(
            "concurrency_limit", f"must be from 1 to {MAX_CONCURRENCY_LIMIT}, or null for none"
        )
    changing = paused is not None or concurrency_limit != "keep"
    async with services.db.write() as conn:
        if changing:
            setting = await queue_store.set_queue(
                conn, name, paused=paused, concurrency_limit=concurrency_limit
            )
            log.info(
                "queue %s changed by %s: paused=%s concurrency_limit=%s",
                name,
                caller.actor,
                setting["paused"],
                setting["concurrency_limit"],
            )
        overview = await reports.queue_overview(conn, caller.organisation_id)
    return next((q for q in overview if q["name"] == name), reports.blank_queue(name))


# -- operations of the whole cluster -------------------------------------------------------------------


async def metrics_exposition(services: Services, caller: Caller) -> bytes:
    """Prometheus text: this process's worker metrics and the queue's cluster-wide counts (admins)."""
    if not caller.is_admin:
        raise Forbidden("the metrics of the whole cluster need an admin token")
    async with services.db.read() as conn:
        counts = await reports.cluster_counts(conn, stale_after=services.settings.lease_seconds)
    return metrics.render(counts)


async def count_prunable(services: Services, *, older_than: timedelta) -> int:
    """How many finished jobs of every organisation ended more than ``older_than`` ago."""
    async with services.db.read() as conn:
        return await reports.count_finished_before(conn, utcnow() - older_than)


async def prune_finished_jobs(
    services: Services,
    *,
    older_than: timedelta,
    batch_size: int = 1000,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete finished jobs that ended more than ``older_than`` ago, ``batch_size`` per transaction.

    Calls ``on_batch(deleted)`` after each batch; returns how many were deleted in all.
    """
    if older_than <= timedelta(0):
        raise InvalidInput("older_than", "must be positive")
    if not 1 <= batch_size <= MAX_PRUNE_BATCH:
        raise InvalidInput("batch_size", f"must be from 1 to {MAX_PRUNE_BATCH}")
    cutoff = utcnow() - older_than
    total = 0
    while True:
        async with services.db.write() as conn:
            deleted = await queue_store.prune_finished(conn, older_than=cutoff, batch_size=batch_size)
        if deleted == 0:
            return total
        total += deleted
        if on_batch is not None:
            on_batch(deleted)
