"""The worker: claims jobs in batches sized to its free slots, runs their handlers, and records
outcomes in batches. It heartbeats and renews its leases, stops cancelled jobs, and, when it holds
the maintenance lease, takes back the jobs of dead workers.

Nothing sleeps to retry: a failed attempt's next run time is written to the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from onboardflow.domain.jobs import ClaimedJob, fair_share
from onboardflow.domain.retry import RetryPolicy, decide_retry
from onboardflow.domain.statuses import JobStatus
from onboardflow.errors import AlreadyDoneError, PermanentError, StoreUnavailable
from onboardflow.runtime import metrics
from onboardflow.runtime.context import JobContext, RuntimeDeps
from onboardflow.runtime.registry import Registry
from onboardflow.store import batches as batch_store
from onboardflow.store import queue as store
from onboardflow.store.notify import CANCEL_CHANNEL, JOBS_CHANNEL, listen
from onboardflow.store.registrations import PUMPD_QUEUE
from onboardflow.store.types import utcnow

log = logging.getLogger("onboardflow.worker")

FLUSH_BATCH = 500
MAINTENANCE_SECONDS = 2.0
LEADER_TTL_SECONDS = 10.0
PRUNE_EVERY_SECONDS = 3600.0
CANCEL_POLL_SECONDS = 0.5
LIMITS_REFRESH_SECONDS = 1.0
ROOM_PREFIX = "room:"
"""A wake-up for ``room:<queue>``: a job of limited ``queue`` ended and freed its slot."""


@dataclass(slots=True)
class _Running:
    job: ClaimedJob
    task: asyncio.Task[None]
    started: float


class Worker:
    """One worker in one process: ``concurrency`` jobs at a time from every queue."""

    def __init__(
        self,
        deps: RuntimeDeps,
        registry: Registry,
        *,
        concurrency: int | None = None,
        worker_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.deps = deps
        self.registry = registry
        self.settings = deps.settings
        self.db = deps.db
        self.concurrency = concurrency or deps.settings.worker_concurrency
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._rng = rng or random.Random()
        self._running: dict[UUID, _Running] = {}
        self._cancelling: set[UUID] = set()
        self._releasing = False
        self._outcomes: list[store.Outcome] = []
        self._outcome_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._stop = asyncio.Event()
        self._limited: dict[str, int] = {}
        self._shares: dict[str, int] = {}
        self._freed_queues: set[str] = set()
        self._full: set[str] = set()
        """Limited queues the last claims left without room (a job of theirs must end first)."""
        self._full_since = time.monotonic()
        self._room_during_claim: set[str] = set()
        self._handed: dict[UUID, tuple[ClaimedJob, object | None]] = {}
        """By a running job's id: the job its slot was handed to, and what the transaction that
        handed it over already did for it (``JobContext.prepared``)."""
        self._waiting: dict[UUID, tuple[ClaimedJob, object | None]] = {}
        """By the id of a job that holds (or is about to hold) a slot of a limited queue: the job
        claimed to wait for that slot (``ClaimedJob.takes_slot_of``), started when the slot is freed
        (``JobContext.free_slot``, or the job's end), and what its claim already did for it."""
        self._settling: dict[UUID, asyncio.Future[None]] = {}
        """By the id of a running job of a limited queue: done when its handler has ended, so that
        what its last transaction claimed to wait for the next slot holder is known."""
        self._took_slot_of: dict[UUID, UUID] = {}
        """By the id of a job started in a freed slot: the job that freed it, while that one ends."""
        self._freed: dict[UUID, UUID | None] = {}
        """By the id of a running job that freed its slot: the job started in it, if any."""
        self._limited_at = 0.0
        self._last_prune = 0.0
        self._unsubscribe: Callable[[], None] | None = None
        self.claimed_total = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the worker to stop claiming and shut down gracefully."""
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        """Run until ``stop()``; then let running jobs finish within the grace period and release the rest."""
        async with self.db.write() as conn:
            await store.register_worker(
                conn,
                worker_id=self.id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                concurrency=self.concurrency,
                queues=["*"],
            )
            await store.seed_queue_limit(conn, PUMPD_QUEUE, self.settings.pumpd_concurrency)
        self._unsubscribe = self.db.wakeups.subscribe(self._on_wakeup)
        helpers = [
            asyncio.create_task(self._flush_loop(), name="flush"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._cancel_poll_loop(), name="cancel-poll"),
            asyncio.create_task(self._maintenance_loop(), name="maintenance"),
        ]
        if self.db.dialect == "postgresql" and self.settings.listen_notify:
            helpers.append(asyncio.create_task(self._listen_loop(), name="listen"))
        log.info("worker %s started (concurrency %d, %s)", self.id, self.concurrency, self.db.dialect)
        try:
            await self._claim_loop()
        finally:
            await self._shutdown(helpers)

    async def _shutdown(self, helpers: list[asyncio.Task[None]]) -> None:
        running = [r.task for r in self._running.values()]
        if running:
            log.info(
                "worker %s stopping: waiting up to %ss for %d jobs",
                self.id,
                self.settings.shutdown_grace_seconds,
                len(running),
            )
            await asyncio.wait(running, timeout=self.settings.shutdown_grace_seconds)
        leftover = [r.task for r in self._running.values()]
        if leftover:
            self._releasing = True
            for task in leftover:
                task.cancel()
            await asyncio.gather(*leftover, return_exceptions=True)
        for job in self._waiting_jobs():  # claimed for slots this worker no longer runs
            self._give_back(job)
        self._handed.clear()
        self._waiting.clear()
        flush = helpers[0]
        self._outcome_ready.set()
        for task in helpers[1:]:
            task.cancel()
        await asyncio.gather(*helpers[1:], return_exceptions=True)
        await self._drain_outcomes()
        flush.cancel()
        await asyncio.gather(flush, return_exceptions=True)
        if self._unsubscribe:
            self._unsubscribe()
        with contextlib.suppress(StoreUnavailable):
            async with self.db.write() as conn:
                await store.deregister_worker(conn, self.id)
        log.info("worker %s stopped", self.id)

    # -- claiming ----------------------------------------------------------------------------

    def _on_wakeup(self, channel: str, payload: str) -> None:
        if channel == JOBS_CHANNEL:
            room = payload.removeprefix(ROOM_PREFIX)
            if room != payload:
                # A job of that limited queue ended: there is room again (also for a claim in flight,
                # which found the queue full before this).
                self._full.discard(room)
                self._room_during_claim.add(room)
                self._wake.set()
            elif payload not in self._full:
                # New jobs of a limited queue that is full cannot run before one of its jobs ends.
                self._wake.set()
        elif channel == CANCEL_CHANNEL:
            with contextlib.suppress(ValueError):
                self._cancel_local(UUID(payload))

    async def _claim_loop(self) -> None:
        poll = self.settings.poll_seconds
        while not self._stop.is_set():
            free = self.concurrency - len(self._running)
            got = 0
            if free > 0:
                self._wake.clear()
                try:
                    jobs = await self._claim(free)
                except StoreUnavailable as exc:
                    log.warning("claim failed: %s", exc)
                    jobs = []
                    await asyncio.sleep(poll)
                for job in jobs:
                    self._start(job)
                got = len(jobs)
                if got and got == free:
                    continue
            self._slot_freed.clear()
            waiters = [asyncio.ensure_future(self._slot_freed.wait())]
            if free - got > 0:
                waiters.append(asyncio.ensure_future(self._wake.wait()))
            waiters.append(asyncio.ensure_future(self._stop.wait()))
            done, pending = await asyncio.wait(waiters, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            if not done or time.monotonic() - self._full_since > poll:
                # Every poll period, every queue is looked at again: room can come without a
                # wake-up (a job taken back, a queue resumed or its limit raised, no LISTEN).
                self._full.clear()
                self._full_since = time.monotonic()

    async def _claim(self, limit: int) -> list[ClaimedJob]:
        if time.monotonic() - self._limited_at > LIMITS_REFRESH_SECONDS:
            async with self.db.read() as conn:
                await self._refresh_limits(conn)
        limited = {name: n for name, n in self._shares.items() if name not in self._full}
        self._room_during_claim = set()
        claim = await store.claim_in(
            self.db,
            worker_id=self.id,
            limit=limit,
            lease_seconds=self.settings.lease_seconds,
            limited=limited,
        )
        self._full = (self._full - limited.keys()) | (claim.full - self._room_during_claim)
        self.claimed_total += len(claim.jobs)
        return claim.jobs

    async def _refresh_limits(self, conn: Any) -> None:
        """Read the limited queues and this worker's share of each (``domain.jobs.fair_share``)."""
        self._limited = await store.limited_queues(conn)
        alive_since = utcnow() - timedelta(seconds=self.settings.lease_seconds)
        slots = await store.cluster_concurrency(conn, alive_since=alive_since) if self._limited else 0
        self._shares = {
            name: fair_share(limit=limit, concurrency=self.concurrency, cluster_concurrency=slots)
            for name, limit in self._limited.items()
        }
        self._limited_at = time.monotonic()

    def _start(self, job: ClaimedJob, prepared: object | None = None, *, after: UUID | None = None) -> None:
        task = asyncio.create_task(self._execute(job, prepared), name=f"job-{job.id}")
        self._running[job.id] = _Running(job=job, task=task, started=time.monotonic())
        if job.queue in self._limited:
            self._settling[job.id] = asyncio.get_running_loop().create_future()
        if after is not None:
            self._took_slot_of[job.id] = after
        task.add_done_callback(functools.partial(self._finished, job.id))

    def _finished(self, job_id: UUID, _task: asyncio.Task[None]) -> None:
        running = self._running.pop(job_id, None)
        self._cancelling.discard(job_id)
        self._took_slot_of.pop(job_id, None)
        freed = job_id in self._freed
        self._freed.pop(job_id, None)
        settling = self._settling.pop(job_id, None)
        if settling is not None and not settling.done():
            settling.set_result(None)
        handed = self._handed.pop(job_id, None)
        if handed is None and not freed:
            # The job never freed its slot: the job waiting for the slot takes it now.
            handed = self._waiting.pop(job_id, None)
        if handed is not None and not self._stop.is_set():
            self._start(*handed, after=job_id)  # in the slot the finished job leaves
            return
        if handed is not None:  # a stopping worker gives the job back, its attempt not counted
            self._give_back(handed[0])
        if running is not None:
            self._full.discard(running.job.queue)
        self._slot_freed.set()

    async def _free_slot(self, job_id: UUID) -> UUID | None:
        """``JobContext.free_slot`` of the running job ``job_id``: once the job whose slot it took
        has ended (its last transaction says what waits for the slot now), the job waiting for the
        slot starts in it; returns that job's id."""
        if job_id in self._freed:
            return self._freed[job_id]
        before = self._took_slot_of.pop(job_id, None)
        settling = self._settling.get(before) if before is not None else None
        if settling is not None:
            await asyncio.shield(settling)
        waiting = self._waiting.pop(job_id, None)
        started = None
        if waiting is not None and self._stop.is_set():
            self._give_back(waiting[0])
        elif waiting is not None:
            self._start(*waiting, after=job_id)
            started = waiting[0].id
        self._freed[job_id] = started
        return started

    def _wait_for_slot(self, job: ClaimedJob, prepared: object | None) -> None:
        """Keep ``job``, claimed to wait for the slot of ``job.takes_slot_of``, until that slot is
        freed; start it at once if the job holding the slot is already gone."""
        holder = job.takes_slot_of
        assert holder is not None
        pending = (*self._handed.values(), *self._waiting.values())
        holds = (holder in self._running and holder not in self._freed) or any(
            claimed.id == holder for claimed, _ in pending
        )
        if holds:
            self._waiting[holder] = (job, prepared)
        elif self._stop.is_set():
            self._give_back(job)
        else:
            self._start(job, prepared, after=holder)

    def _give_back(self, job: ClaimedJob) -> None:
        """A stopping worker gives a claimed job it never started back, its attempt not counted."""
        self._record(job, self._released(job, time.monotonic()))

    def _waiting_jobs(self) -> list[ClaimedJob]:
        """The jobs claimed for this worker that it has not started yet."""
        return [job for job, _prepared in (*self._handed.values(), *self._waiting.values())]

    # -- running -----------------------------------------------------------------------------

    async def _execute(self, job: ClaimedJob, prepared: object | None = None) -> None:
        started = time.monotonic()
        spec = self.registry.get(job.job_type)
        share = self._shares.get(job.queue)
        context = JobContext(
            job=job,
            deps=self.deps,
            worker_id=self.id,
            hand_over=None
            if share is None or self._stop.is_set()
            else store.HandOverTerms(lease_seconds=self.settings.lease_seconds, share=share),
            prepared=prepared,
            slot_freer=None if share is None else functools.partial(self._free_slot, job.id),
        )
        try:
            if spec is None:
                raise PermanentError(f"no handler is registered for job type {job.job_type!r}")
            timeout = job.timeout_seconds or spec.timeout_seconds
            try:
                async with asyncio.timeout(timeout):
                    result = await spec.handler(context)
            except TimeoutError as exc:
                if timeout is None:
                    raise
                raise TimeoutError(f"timed out after {timeout:g}s") from exc
            if context.completed_in_transaction:
                self._recorded_by_handler(job, started, context)
                return
            outcome = self._outcome(job, started, JobStatus.COMPLETED, result=result)
        except asyncio.CancelledError:
            if job.id in self._cancelling:
                outcome = self._outcome(
                    job, started, JobStatus.CANCELLED, error="cancelled", error_kind="cancelled"
                )
            elif self._releasing:
                outcome = self._released(job, started)
            else:
                raise
        except AlreadyDoneError as exc:
            outcome = self._outcome(
                job, started, JobStatus.COMPLETED, result={"warning": exc.message, "existing": exc.existing}
            )
        except Exception as exc:
            outcome = self._failure(job, started, exc)
        self._record(job, outcome)

    def _failure(self, job: ClaimedJob, started: float, exc: Exception) -> store.Outcome:
        decision = decide_retry(
            attempt=job.attempts,
            policy=RetryPolicy(max_retries=job.max_retries),
            error=exc,
            now=utcnow(),
            rng=self._rng,
        )
        kind = "timeout" if isinstance(exc, TimeoutError) else decision.kind
        message = (
            f"{type(exc).__name__}: {exc}" if not isinstance(exc, PermanentError | TimeoutError) else str(exc)
        )
        if decision.retry:
            log.info(
                "job %s (%s) attempt %d failed, retrying: %s",
                job.id,
                job.job_type,
                job.attempts,
                decision.reason,
            )
            return self._outcome(
                job, started, JobStatus.PENDING, error=message, error_kind=kind, run_at=decision.run_at
            )
        log.warning("job %s (%s) failed: %s", job.id, job.job_type, decision.reason)
        return self._outcome(job, started, JobStatus.FAILED, error=message, error_kind=kind)

    def _released(self, job: ClaimedJob, started: float) -> store.Outcome:
        """Back to the queue, due now, the attempt not counted: a stopping worker let it go."""
        return self._outcome(
            job,
            started,
            JobStatus.QUEUED,
            error="released by a stopping worker",
            error_kind="interrupted",
            uncount=True,
            run_at=utcnow(),
        )

    @staticmethod
    def _outcome(job: ClaimedJob, started: float, status: JobStatus, **values: Any) -> store.Outcome:
        return store.Outcome(
            job_id=job.id,
            attempt=job.attempts,
            status=status,
            duration_ms=int((time.monotonic() - started) * 1000),
            **values,
        )

    def _recorded_by_handler(self, job: ClaimedJob, started: float, context: JobContext) -> None:
        duration_ms = int((time.monotonic() - started) * 1000)
        metrics.record_outcome(job.job_type, JobStatus.COMPLETED.value, duration_ms)
        passed_on = self._freed.get(job.id) is not None
        if context.next_job is not None:
            # The job's slot went to next_job, claimed for this worker: it starts as this one ends.
            self.claimed_total += 1
            self._handed[job.id] = (context.next_job, context.next_prepared)
        elif job.queue in self._limited and not passed_on:
            self._room_freed({job.queue})
        if context.waiting_job is not None:
            self.claimed_total += 1
            self._wait_for_slot(context.waiting_job, context.waiting_prepared)

    def _record(self, job: ClaimedJob, outcome: store.Outcome) -> None:
        metrics.record_outcome(job.job_type, outcome.status.value, outcome.duration_ms)
        if job.queue in self._limited:
            self._freed_queues.add(job.queue)
        self._outcomes.append(outcome)
        self._outcome_ready.set()

    def _room_freed(self, queues: set[str]) -> None:
        """Jobs of limited ``queues`` ended without handing their slot over, and their room is
        recorded: every worker may claim it (within its share), this one included."""
        self._full -= queues
        self.db.wakeups.publish({ROOM_PREFIX + name for name in queues})

    async def _flush_loop(self) -> None:
        while True:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            await self._drain_outcomes()

    async def _drain_outcomes(self) -> None:
        while self._outcomes:
            batch = self._outcomes[:FLUSH_BATCH]
            try:
                async with self.db.write() as conn:
                    await store.finish(conn, batch, worker_id=self.id)
            except StoreUnavailable as exc:
                log.warning("could not record %d outcomes (%s); retrying", len(batch), exc)
                await asyncio.sleep(0.5)
                continue
            del self._outcomes[: len(batch)]
            if self._freed_queues:
                freed, self._freed_queues = self._freed_queues, set()
                self._room_freed(freed)

    # -- cancellation, heartbeats, maintenance -----------------------------------------------

    def _cancel_local(self, job_id: UUID) -> None:
        running = self._running.get(job_id)
        if running is not None and job_id not in self._cancelling:
            log.info("cancelling running job %s", job_id)
            self._cancelling.add(job_id)
            running.task.cancel()
            return
        holder = next((h for h, (job, _) in self._waiting.items() if job.id == job_id), None)
        if holder is not None:  # it never started: it ends cancelled, and the slot waits for no one
            job, _prepared = self._waiting.pop(holder)
            log.info("cancelling job %s before it started", job_id)
            self._record(
                job,
                self._outcome(
                    job, time.monotonic(), JobStatus.CANCELLED, error="cancelled", error_kind="cancelled"
                ),
            )

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                async with self.db.write() as conn:
                    cancelled = await store.heartbeat(
                        conn,
                        worker_id=self.id,
                        lease_seconds=self.settings.lease_seconds,
                        running=[*self._running, *(job.id for job in self._waiting_jobs())],
                        stopping=self._stop.is_set(),
                    )
                    # Shares change as workers come and go; a worker whose slots hand-overs keep
                    # full would otherwise never claim, and never look again.
                    await self._refresh_limits(conn)
            except StoreUnavailable as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            for job_id in cancelled:
                self._cancel_local(job_id)

    async def _cancel_poll_loop(self) -> None:
        while True:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            if not self._running:
                continue
            try:
                async with self.db.read() as conn:
                    cancelled = await store.cancel_requested_of(conn, self.id)
            except StoreUnavailable:
                continue
            for job_id in cancelled:
                self._cancel_local(job_id)

    async def _listen_loop(self) -> None:
        async for channel, payload in listen(self.db.url, [JOBS_CHANNEL, CANCEL_CHANNEL]):
            if channel:
                self._on_wakeup(channel, payload)
            else:
                self._wake.set()

    async def _maintenance_loop(self) -> None:
        while True:
            try:
                await self.maintain()
            except StoreUnavailable as exc:
                log.warning("maintenance failed: %s", exc)
            await asyncio.sleep(MAINTENANCE_SECONDS)

    async def maintain(self) -> bool:
        """One round of maintenance if this worker holds the lease; returns whether it did."""
        async with self.db.write() as conn:
            if not await store.take_leadership(conn, worker_id=self.id, ttl_seconds=LEADER_TTL_SECONDS):
                return False
            report = await store.rescue_expired(conn, stale_after=self.settings.lease_seconds)
            await store.promote_due(conn)
        async with self.db.write() as conn:  # apart: it may wait for a batch's row
            await batch_store.close_finished(conn, actor=f"worker:{self.id}")
        if report.requeued or report.failed or report.cancelled:
            log.warning(
                "took back jobs of stopped workers: %d requeued, %d failed, %d cancelled",
                report.requeued,
                report.failed,
                report.cancelled,
            )
        if time.monotonic() - self._last_prune > PRUNE_EVERY_SECONDS:
            self._last_prune = time.monotonic()
            cutoff = utcnow() - timedelta(days=self.settings.job_retention_days)
            while True:
                async with self.db.write() as conn:
                    if await store.prune_finished(conn, older_than=cutoff) == 0:
                        break
        return True
