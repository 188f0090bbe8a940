"""Queue jobs: what may be enqueued, what a worker holds, and what becomes of an attempt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from onboardflow.errors import InvalidInput, InvalidTransition

DEFAULT_QUEUE = "default"
MIN_PRIORITY, MAX_PRIORITY = -10, 10
MAX_RETRIES_LIMIT = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """A job to enqueue. Invalid values raise ``InvalidInput`` naming the field."""

    job_type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    run_at: datetime | None = None
    max_retries: int = 3
    timeout_seconds: float | None = None
    parent_job_id: UUID | None = None
    unique_key: str | None = None
    organisation_id: UUID | None = None
    restaurant_id: UUID | None = None
    created_by: UUID | None = None
    job_category: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.job_type or len(self.job_type) > 60:
            raise InvalidInput("job_type", "must be 1 to 60 characters")
        if not self.queue or len(self.queue) > 60:
            raise InvalidInput("queue", "must be 1 to 60 characters")
        if not MIN_PRIORITY <= self.priority <= MAX_PRIORITY:
            raise InvalidInput("priority", f"must be between {MIN_PRIORITY} and {MAX_PRIORITY}")
        if not 0 <= self.max_retries <= MAX_RETRIES_LIMIT:
            raise InvalidInput("max_retries", f"must be between 0 and {MAX_RETRIES_LIMIT}")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise InvalidInput("timeout_seconds", "must be positive")
        if self.run_at is not None and self.run_at.tzinfo is None:
            raise InvalidInput("run_at", "must include a timezone")
        if self.unique_key is not None and not 0 < len(self.unique_key) <= 300:
            raise InvalidInput("unique_key", "must be 1 to 300 characters")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedJob:
    """A job as a worker holds it during one attempt."""

    id: UUID
    job_type: str
    queue: str
    input_payload: dict[str, Any]
    attempts: int
    max_retries: int
    timeout_seconds: float | None
    organisation_id: UUID | None
    restaurant_id: UUID | None
    parent_job_id: UUID | None
    metadata: dict[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ClaimedJob:
        """Build from a claimed row."""
        return cls(
            id=row["id"],
            job_type=row["job_type"],
            queue=row["queue"],
            input_payload=row["input_payload"] or {},
            attempts=row["attempts"],
            max_retries=row["max_retries"],
            timeout_seconds=row["timeout_seconds"],
            organisation_id=row["organisation_id"],
            restaurant_id=row["restaurant_id"],
            parent_job_id=row["parent_job_id"],
            metadata=row["metadata"] or {},
        )


OPERATOR_RETRYABLE = frozenset({"failed", "cancelled"})


def check_manual_retry(status: str) -> None:
    """An operator may send a job back to the queue only once it failed or was cancelled."""
    if status not in OPERATOR_RETRYABLE:
        raise InvalidTransition("job", status, "queued")


def interrupted_outcome(*, attempts: int, max_retries: int) -> str:
    """What a job whose worker died becomes: ``queued`` again, or ``failed`` once out of retries.

    The interrupted attempt was counted when it was claimed.
    """
    return "failed" if attempts > max_retries else "queued"


def fair_share(*, limit: int, concurrency: int, cluster_concurrency: int) -> int:
    """The slots of a limited queue one worker may hold: the limit split across the live workers in
    proportion to their concurrency, rounded up (so the shares cover the limit), at least one.

    A worker takes no more of the queue than its share, so the work of a limited queue spreads over
    the cluster's processes instead of piling onto the one that claimed first.
    """
    total = max(cluster_concurrency, concurrency, 1)
    return max(1, -(-limit * concurrency // total))


def queue_room(*, limit: int, running: int, share: int, mine: int) -> int:
    """How many more jobs of a limited queue one worker may start: the queue's free capacity
    (``limit`` less the ``running`` jobs of the whole cluster), and at most what is left of the
    worker's ``share`` (``fair_share``) after the ``mine`` it runs. The claim and hand-over
    statements of PostgreSQL (``store/sql/queue.sql``) compute the same in SQL."""
    return max(0, min(limit - running, share - mine))
