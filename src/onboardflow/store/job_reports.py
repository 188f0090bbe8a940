"""Read-only reports on the ``jobs`` table: lists, the three health reports, queues, cluster counts.

The health reports are the views of the initial migration (``jobs_queue_status``,
``jobs_failed_summary``, ``jobs_metrics``) written again as queries that can be scoped to one
organisation (the views stay, for readers with plain SQL). ``organisation_id=None`` means every
organisation and is for operators only (CLI, Prometheus), never for an API caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.domain.statuses import FINAL_JOB, JobStatus
from onboardflow.store.paging import Page, fetch_page
from onboardflow.store.tables import jobs, queues, workers
from onboardflow.store.types import UTCDateTime, utcnow

QUEUE_STATUS_WINDOW = timedelta(hours=24)
METRICS_WINDOW = timedelta(days=7)
FINISHED_GAUGE_WINDOW = timedelta(hours=24)
WAITING_STATES = (JobStatus.PENDING.value, JobStatus.QUEUED.value)
UNFINISHED_STATES = tuple(s.value for s in JobStatus if s not in FINAL_JOB)
FINISHED_STATES = tuple(sorted(s.value for s in FINAL_JOB))


def _scoped(organisation_id: UUID | None) -> list[sa.ColumnElement[bool]]:
    return [] if organisation_id is None else [jobs.c.organisation_id == organisation_id]


def _moment(name: str, value: datetime) -> sa.BindParameter[datetime]:
    return sa.bindparam(name, value, type_=UTCDateTime())


def _seconds_between(conn: AsyncConnection, later: Any, earlier: Any) -> sa.ColumnElement[float]:
    """``later - earlier`` in seconds, written the way each dialect's view writes it."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.extract("epoch", later - earlier), sa.Float)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def _float(value: Any, digits: int | None = None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if digits is None else round(number, digits)


# -- lists -----------------------------------------------------------------------------------------


async def list_jobs(
    conn: AsyncConnection,
    organisation_id: UUID | None,
    *,
    limit: int,
    offset: int,
    statuses: Sequence[str] = (),
    job_type: str | None = None,
    queue: str | None = None,
    restaurant_id: UUID | None = None,
    parent_job_id: UUID | None = None,
) -> Page:
    """A page of jobs, newest first, filtered by any of status, type, queue, restaurant and parent."""
    query = sa.select(jobs).where(*_scoped(organisation_id))
    if statuses:
        query = query.where(jobs.c.status.in_(list(statuses)))
    if job_type is not None:
        query = query.where(jobs.c.job_type == job_type)
    if queue is not None:
        query = query.where(jobs.c.queue == queue)
    if restaurant_id is not None:
        query = query.where(jobs.c.restaurant_id == restaurant_id)
    if parent_job_id is not None:
        query = query.where(jobs.c.parent_job_id == parent_job_id)
    return await fetch_page(
        conn, query, limit=limit, offset=offset, order_by=(jobs.c.created_at.desc(), jobs.c.id)
    )


async def count_finished_before(conn: AsyncConnection, older_than: datetime) -> int:
    """How many finished jobs (of every organisation) ended before ``older_than``: what a prune removes."""
    return int(
        (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(jobs)
                .where(jobs.c.status.in_(FINISHED_STATES), jobs.c.completed_at < older_than)
            )
        ).scalar_one()
    )


# -- the three health reports ------------------------------------------------------------------------


async def queue_status(
    conn: AsyncConnection, organisation_id: UUID | None, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Jobs created in the last 24 h by type and status: how many, the latest, their average duration.

    A job still running counts its duration up to now (as the ``jobs_queue_status`` view does).
    """
    now = now or utcnow()
    duration = _seconds_between(
        conn, sa.func.coalesce(jobs.c.completed_at, _moment("now", now)), jobs.c.started_at
    )
    rows = await conn.execute(
        sa.select(
            jobs.c.job_type,
            jobs.c.status,
            sa.func.count().label("n"),
            sa.func.max(jobs.c.created_at).label("latest_job"),
            sa.func.avg(duration).label("avg_duration_seconds"),
        )
        .where(jobs.c.created_at > _moment("since", now - QUEUE_STATUS_WINDOW), *_scoped(organisation_id))
        .group_by(jobs.c.job_type, jobs.c.status)
        .order_by(jobs.c.job_type, jobs.c.status)
    )
    return [
        {
            "job_type": r.job_type,
            "status": r.status,
            "count": int(r.n),
            "latest_job": r.latest_job,
            "avg_duration_seconds": _float(r.avg_duration_seconds, 3),
        }
        for r in rows
    ]


async def failed_summary(
    conn: AsyncConnection, organisation_id: UUID | None, *, limit: int, offset: int
) -> Page:
    """A page of failed jobs that have not used up their retries, most recently failed first."""
    query = sa.select(
        jobs.c.id,
        jobs.c.job_type,
        jobs.c.queue,
        jobs.c.organisation_id,
        jobs.c.restaurant_id,
        jobs.c.error_message,
        jobs.c.error_kind,
        jobs.c.attempts,
        jobs.c.max_retries,
        jobs.c.created_at,
        jobs.c.started_at,
        jobs.c.completed_at,
    ).where(
        jobs.c.status == JobStatus.FAILED.value,
        jobs.c.attempts <= jobs.c.max_retries,
        *_scoped(organisation_id),
    )
    return await fetch_page(
        conn, query, limit=limit, offset=offset, order_by=(jobs.c.completed_at.desc(), jobs.c.id)
    )


async def job_metrics(
    conn: AsyncConnection, organisation_id: UUID | None, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Jobs created in the last 7 days by type: totals per outcome, success rate and average duration."""
    now = now or utcnow()

    def count_of(*states: str) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((jobs.c.status.in_(states), 1), else_=0))

    rows = await conn.execute(
        sa.select(
            jobs.c.job_type,
            sa.func.count().label("total_jobs"),
            count_of(JobStatus.COMPLETED.value).label("completed_count"),
            count_of(JobStatus.FAILED.value).label("failed_count"),
            count_of(*UNFINISHED_STATES).label("in_progress_count"),
            sa.func.avg(_seconds_between(conn, jobs.c.completed_at, jobs.c.started_at)).label(
                "avg_duration_seconds"
            ),
        )
        .where(jobs.c.created_at > _moment("since", now - METRICS_WINDOW), *_scoped(organisation_id))
        .group_by(jobs.c.job_type)
        .order_by(jobs.c.job_type)
    )
    report = []
    for r in rows:
        total, completed = int(r.total_jobs), int(r.completed_count or 0)
        report.append(
            {
                "job_type": r.job_type,
                "total_jobs": total,
                "completed_count": completed,
                "failed_count": int(r.failed_count or 0),
                "in_progress_count": int(r.in_progress_count or 0),
                "success_rate_percent": round(100.0 * completed / total, 2) if total else 0.0,
                "avg_duration_seconds": _float(r.avg_duration_seconds, 3),
            }
        )
    return report


# -- queues --------------------------------------------------------------------------------------


def blank_queue(name: str) -> dict[str, Any]:
    """A queue as ``queue_overview`` shows it when it has no settings and no unfinished jobs."""
    return {
        "name": name,
        "paused": False,
        "concurrency_limit": None,
        "jobs": dict.fromkeys(UNFINISHED_STATES, 0),
    }


async def queue_overview(conn: AsyncConnection, organisation_id: UUID | None) -> list[dict[str, Any]]:
    """Every configured queue and every queue with unfinished jobs of the organisation (or of all).

    Settings (paused, concurrency limit) are cluster-wide; ``jobs`` counts the organisation's
    unfinished jobs by status.
    """
    counts = await conn.execute(
        sa.select(jobs.c.queue, jobs.c.status, sa.func.count().label("n"))
        .where(jobs.c.status.in_(UNFINISHED_STATES), *_scoped(organisation_id))
        .group_by(jobs.c.queue, jobs.c.status)
    )
    overview: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return overview.setdefault(name, blank_queue(name))

    for row in counts:
        entry(row.queue)["jobs"][row.status] = int(row.n)
    for setting in await conn.execute(sa.select(queues.c.name, queues.c.paused, queues.c.concurrency_limit)):
        entry(setting.name).update(paused=bool(setting.paused), concurrency_limit=setting.concurrency_limit)
    return [overview[name] for name in sorted(overview)]


# -- cluster-wide counts for Prometheus ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterCounts:
    """What a Prometheus scrape reports from the database, across every organisation.

    ``unfinished`` and ``finished_recently`` map (queue, status) to a count; the latter covers jobs
    that ended in the last 24 h (counting every finished row on each scrape would not scale).
    """

    unfinished: dict[tuple[str, str], int]
    finished_recently: dict[tuple[str, str], int]
    oldest_due_seconds: dict[str, float]
    paused: dict[str, bool]
    concurrency_limits: dict[str, int]
    workers_alive: int
    worker_slots: int


async def cluster_counts(
    conn: AsyncConnection, *, stale_after: float, now: datetime | None = None
) -> ClusterCounts:
    """Counts of jobs per queue and status, queue settings and live workers, for every organisation.

    A worker is alive if it heartbeated within ``stale_after`` seconds.
    """
    now = now or utcnow()
    unfinished = await conn.execute(
        sa.select(jobs.c.queue, jobs.c.status, sa.func.count().label("n"))
        .where(jobs.c.status.in_(UNFINISHED_STATES))
        .group_by(jobs.c.queue, jobs.c.status)
    )
    finished = await conn.execute(
        sa.select(jobs.c.queue, jobs.c.status, sa.func.count().label("n"))
        .where(
            jobs.c.status.in_(FINISHED_STATES),
            jobs.c.completed_at >= _moment("since", now - FINISHED_GAUGE_WINDOW),
        )
        .group_by(jobs.c.queue, jobs.c.status)
    )
    oldest = await conn.execute(
        sa.select(jobs.c.queue, sa.func.min(jobs.c.run_at).label("oldest"))
        .where(jobs.c.status.in_(WAITING_STATES), jobs.c.run_at <= _moment("now", now))
        .group_by(jobs.c.queue)
    )
    settings = (
        await conn.execute(sa.select(queues.c.name, queues.c.paused, queues.c.concurrency_limit))
    ).all()
    alive = (
        await conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(workers.c.concurrency), 0)).where(
                workers.c.heartbeat_at >= _moment("alive_since", now - timedelta(seconds=stale_after))
            )
        )
    ).one()
    return ClusterCounts(
        unfinished={(r.queue, r.status): int(r.n) for r in unfinished},
        finished_recently={(r.queue, r.status): int(r.n) for r in finished},
        oldest_due_seconds={r.queue: max(0.0, (now - r.oldest).total_seconds()) for r in oldest},
        paused={r.name: bool(r.paused) for r in settings},
        concurrency_limits={r.name: int(r.concurrency_limit) for r in settings if r.concurrency_limit},
        workers_alive=int(alive[0]),
        worker_slots=int(alive[1]),
    )
