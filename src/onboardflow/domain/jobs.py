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
    takes_slot_of: UUID | None = None
    """The job of the same worker whose slot in a limited queue this one waits for
    (``holds_a_slot``); ``None`` for a job that runs as soon as it is claimed."""

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
            takes_slot_of=row.get("takes_slot_of"),
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
    (``limit`` less the ``running`` jobs of the whole cluster that hold a slot, ``holds_a_slot``),
    and at most what is left of the worker's ``share`` (``fair_share``) after the ``mine`` it runs.
    The claim and hand-over statements (``store/sql/queue.sql``) compute the same in SQL."""
    return max(0, min(limit - running, share - mine))


def holds_a_slot(*, in_progress: bool, waits_for_a_running_job: bool) -> bool:
    """Whether a job counts against its limited queue's limit: a job in progress does, unless it
    waits for the slot of a job of its worker that is still in progress (``takes_slot_of``).

    Such a job was claimed while the queue was full, so that it starts the moment that job is done
    with its external call, not a database round trip later (``slot_hand_over``). It counts from
    the moment that job leaves ``in_progress``, whichever way it leaves (completed, failed, taken
    back), so nothing has to correct the count afterwards. The SQL fragment ``queue.holds_a_slot``
    is the same rule."""
    return in_progress and not waits_for_a_running_job


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotHandOver:
    """What a hand-over claims for the slot of a job that completed: ``run`` jobs to run in it now
    and ``wait`` jobs to wait for it (``holds_a_slot``); each 0 or 1."""

    run: int
    wait: int


def slot_hand_over(*, limit: int, holding: int, mine: int, share: int, successor: bool) -> SlotHandOver:
    """What becomes of the slot of a job of a limited queue that has just completed, ``holding`` and
    ``mine`` being the jobs that hold a slot once it has (in the cluster, and of its worker):

    - the job that waited for the slot (``successor``) runs in it; if none did, the queue's next due
      job is claimed to run in it, as far as ``queue_room`` allows;
    - when a job runs in the slot and the queue is then full, the next due job after that one is
      claimed to wait for the slot. No slot ever has more than one job waiting for it.

    A worker so starts the next job of a full queue as soon as its external call is over, while the
    call's outcome is recorded. The hand-over statements (``store/sql/queue.sql``,
    ``hand_over_plan``) compute the same in SQL."""
    run = 0 if successor else min(1, queue_room(limit=limit, running=holding, share=share, mine=mine))
    waits = (successor or run == 1) and holding + run >= limit
    return SlotHandOver(run=run, wait=1 if waits else 0)
