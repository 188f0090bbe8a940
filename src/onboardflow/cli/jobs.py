"""`onboardflow jobs`, `onboardflow queue` and `onboardflow prune`: the queue from the command line.

These act as an operator, across every organisation (``jobs ls --org NAME`` narrows to one).
Errors print a message and exit with status 1 (through ``cli.main.run_with_services``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from onboardflow.config import load_settings
from onboardflow.domain.statuses import JobStatus
from onboardflow.operations import jobs as ops
from onboardflow.operations.services import Services

jobs_app = typer.Typer(help="Queue jobs: list, show, retry, cancel.", no_args_is_help=True)
queue_app = typer.Typer(help="Queues: pause, resume, concurrency limits.", no_args_is_help=True)

console = Console()
T = TypeVar("T")

_AGE = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_PER_DAY = {"d": 1, "h": 24, "m": 24 * 60}
MAX_AGE_DAYS = 36_500


def _run(action: Callable[[Services], Awaitable[T]]) -> T:
    # Imported here: cli.main registers these commands, so it imports this module first.
    from onboardflow.cli.main import run_with_services

    return run_with_services(load_settings(), action)


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h`` or ``90m`` as a duration, at most 100 years (``typer.BadParameter`` otherwise)."""
    match = _AGE.fullmatch(text.strip())
    amount = int(match.group(1)) if match else 0
    if match is None or not 0 < amount <= MAX_AGE_DAYS * _PER_DAY[match.group(2)]:
        raise typer.BadParameter(
            "give a positive whole number and a unit: d, h or m (e.g. 30d, 12h, 90m), at most 100 years",
            param_hint="--older-than",
        )
    return timedelta(**{_UNITS[match.group(2)]: amount})


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


# -- jobs ---------------------------------------------------------------------------------------


@jobs_app.command("ls")
def jobs_ls(
    status: Annotated[JobStatus | None, typer.Option("--status", help="Only jobs in this status.")] = None,
    job_type: Annotated[str | None, typer.Option("--type", help="Only jobs of this type.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many, newest first.", min=1, max=500)
    ] = 50,
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation's jobs (by name).")] = None,
) -> None:
    """List jobs, newest first."""

    async def action(services: Services) -> Any:
        operator = await ops.operator_scope(services, org)
        statuses = [status.value] if status else []
        return await ops.list_jobs(
            services, operator, limit=limit, offset=0, statuses=statuses, job_type=job_type
        )

    page = _run(action)
    table = Table(title=f"{len(page.items)} of {page.total} jobs", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=36)
    table.add_column("type")
    table.add_column("queue")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("created")
    table.add_column("error")
    for job in page.items:
        table.add_row(
            str(job["id"]),
            job["job_type"],
            job["queue"],
            job["status"],
            f"{job['attempts']}/{job['max_retries'] + 1}",
            _when(job["created_at"]),
            (job["error_message"] or "")[:80],
        )
    console.print(table)


@jobs_app.command("show")
def jobs_show(job_id: Annotated[UUID, typer.Argument(help="Id of the job.")]) -> None:
    """Show one job: status, attempts, times, payload and result (secrets shown as ***)."""
    job = _run(lambda services: ops.get_job(services, ops.Operator(), job_id))
    table = Table(show_header=False, title=f"job {job['id']}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name in (
        "job_type",
        "queue",
        "status",
        "organisation_id",
        "restaurant_id",
        "parent_job_id",
        "priority",
        "attempts",
        "max_retries",
        "error_kind",
        "error_message",
        "lease_owner",
        "run_at",
        "created_at",
        "started_at",
        "completed_at",
        "cancelled_at",
        "execution_time_ms",
        "unique_key",
    ):
        value = job.get(name)
        table.add_row(
            name, _when(value) if isinstance(value, datetime) else str(value if value is not None else "-")
        )
    for name in ("input_payload", "result", "metadata"):
        table.add_row(name, json.dumps(job.get(name), default=str, indent=2, sort_keys=True))
    console.print(table)


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[UUID, typer.Argument(help="Id of a failed or cancelled job.")]) -> None:
    """Queue a failed or cancelled job again, with a fresh allowance of retries."""
    job = _run(lambda services: ops.retry_job(services, ops.Operator(), job_id))
    console.print(f"job {job['id']} is {job['status']} again")


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[UUID, typer.Argument(help="Id of the job.")]) -> None:
    """Cancel a job and its unfinished descendants (a running one stops within seconds)."""
    result = _run(lambda services: ops.cancel_job(services, ops.Operator(), job_id))
    if result.status == "cancelling":
        console.print(f"job {job_id} is cancelling: its worker stops it within seconds")
    else:
        console.print(f"job {job_id} is cancelled")
    others = len(result.affected) - (1 if job_id in result.affected else 0)
    if others:
        console.print(f"{others} descendant jobs cancelled or cancelling")


# -- queues -------------------------------------------------------------------------------------


def _print_queue(queue: dict[str, Any]) -> None:
    limit = queue["concurrency_limit"]
    state = "paused" if queue["paused"] else "running"
    console.print(
        f"queue {queue['name']}: {state}, concurrency limit {limit if limit is not None else 'none'}"
    )


@queue_app.command("ls")
def queue_ls() -> None:
    """List queues: settings, and the jobs waiting and running in each."""
    page = _run(lambda services: ops.list_queues(services, ops.Operator(), limit=1000, offset=0))
    table = Table(title=f"{page.total} queues", title_justify="left")
    for column in ("queue", "paused", "limit", "pending", "queued", "in_progress"):
        table.add_column(column, justify="left" if column in ("queue", "paused") else "right")
    for queue in page.items:
        limit = queue["concurrency_limit"]
        table.add_row(
            queue["name"],
            "yes" if queue["paused"] else "no",
            str(limit) if limit is not None else "-",
            *(str(queue["jobs"][s]) for s in ("pending", "queued", "in_progress")),
        )
    console.print(table)


@queue_app.command("pause")
def queue_pause(name: Annotated[str, typer.Argument(help="Name of the queue.")]) -> None:
    """Stop workers from starting jobs of a queue (running ones finish)."""
    _print_queue(_run(lambda services: ops.set_queue(services, ops.Operator(), name, paused=True)))


@queue_app.command("resume")
def queue_resume(name: Annotated[str, typer.Argument(help="Name of the queue.")]) -> None:
    """Let workers start jobs of a paused queue again."""
    _print_queue(_run(lambda services: ops.set_queue(services, ops.Operator(), name, paused=False)))


@queue_app.command("limit")
def queue_limit(
    name: Annotated[str, typer.Argument(help="Name of the queue.")],
    limit: Annotated[str, typer.Argument(help="Most jobs of the queue running at once, or `none`.")],
) -> None:
    """Set how many jobs of a queue may run at once across the whole cluster (`none` removes it)."""
    value: int | None
    if limit.strip().lower() == "none":
        value = None
    elif limit.strip().isdigit() and 1 <= int(limit) <= ops.MAX_CONCURRENCY_LIMIT:
        value = int(limit)
    else:
        raise typer.BadParameter(
            f"give a number from 1 to {ops.MAX_CONCURRENCY_LIMIT}, or none", param_hint="LIMIT"
        )
    _print_queue(
        _run(lambda services: ops.set_queue(services, ops.Operator(), name, concurrency_limit=value))
    )


# -- prune --------------------------------------------------------------------------------------


def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age of finished jobs to delete: e.g. 30d, 12h, 90m.")
    ],
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", help="Jobs deleted per transaction.", min=1, max=ops.MAX_PRUNE_BATCH),
    ] = 1000,
) -> None:
    """Delete finished jobs (completed, failed, cancelled) older than an age, in bounded batches."""
    age = parse_age(older_than)

    async def action(services: Services) -> int:
        total = await ops.count_prunable(services, older_than=age)
        with Progress(
            TextColumn("pruning finished jobs"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("prune", total=total)
            return await ops.prune_finished_jobs(
                services,
                older_than=age,
                batch_size=batch_size,
                on_batch=lambda deleted: progress.advance(task, deleted),
            )

    deleted = _run(action)
    console.print(f"pruned {deleted} finished jobs older than {older_than}")
