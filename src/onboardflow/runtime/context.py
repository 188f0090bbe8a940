"""What a handler receives for one attempt of one job."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from onboardflow.adapters.registry import Adapters
from onboardflow.config import Settings
from onboardflow.domain.jobs import ClaimedJob
from onboardflow.store.engine import Database
from onboardflow.store.queue import HandOverTerms
from onboardflow.store.secrets import SecretBox


@dataclass(slots=True, kw_only=True)
class RuntimeDeps:
    """The process-wide things handlers use: settings, database, secret box, external services."""

    settings: Settings
    db: Database
    secrets: SecretBox
    adapters: Adapters


@dataclass(slots=True, kw_only=True)
class JobContext:
    """One attempt of one job, as its handler sees it."""

    job: ClaimedJob
    deps: RuntimeDeps
    worker_id: str
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("onboardflow.jobs"))
    completed_in_transaction: bool = False
    hand_over: HandOverTerms | None = None
    """When set, the handler may hand its slot in a limited queue to the queue's next job on these
    terms (``store.queue.hand_over``); ``None`` when the worker is stopping or the queue is not
    limited."""
    next_job: ClaimedJob | None = None
    next_prepared: object | None = None
    waiting_job: ClaimedJob | None = None
    waiting_prepared: object | None = None
    prepared: object | None = None
    """What the transaction that handed this job its slot already did for it, in the terms of the
    handler that gave it (``completed_by_handler(prepared=...)``); ``None`` when nothing was done."""
    slot_freer: Callable[[], Awaitable[UUID | None]] | None = None
    """The worker's side of ``free_slot``; ``None`` when the job holds no slot of a limited queue."""

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.input_payload

    @property
    def attempt(self) -> int:
        return self.job.attempts

    @property
    def idempotency_key(self) -> str:
        """A key that is the same for every attempt of this job (external calls carry it)."""
        return f"job-{self.job.id}"

    async def free_slot(self) -> UUID | None:
        """Say that the job is done with its external work, before its last transaction: the job
        claimed to wait for this job's slot in a limited queue (``store.queue.hand_over``) starts
        now, and its id is returned for that transaction's hand-over (``successor``), which then
        leaves the slot to it. ``None`` when no job waits for the slot (or the job holds none)."""
        if self.slot_freer is None:
            return None
        return await self.slot_freer()

    def completed_by_handler(
        self,
        *,
        next_job: ClaimedJob | None = None,
        prepared: object | None = None,
        waiting_job: ClaimedJob | None = None,
        waiting_prepared: object | None = None,
    ) -> None:
        """Say that the handler completed this job in its own last transaction
        (``store.queue.complete_within``); the worker then records no outcome for it, and runs
        ``next_job``, the job that transaction handed this job's slot to, next, with ``prepared`` as
        its context's ``prepared`` (what that transaction already did for it). ``waiting_job`` is
        the job that transaction claimed to wait for the slot (``ClaimedJob.takes_slot_of``): the
        worker starts it when the job in the slot frees it.

        Call it after that transaction committed: if it rolled back, the handler raised instead, and
        the worker records the failure. A job of a limited queue so frees its slot at that commit.
        """
        self.completed_in_transaction = True
        self.next_job = next_job
        self.next_prepared = prepared
        self.waiting_job = waiting_job
        self.waiting_prepared = waiting_prepared
