"""Limited queues in the store: claims stay within the limit and the worker's share, a finished job
hands its slot to the next one without exceeding either (and, the queue full, claims one more to
wait for the slot), and a full queue is reported as full."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
import sqlalchemy as sa

from onboardflow.domain.jobs import JobSpec
from onboardflow.domain.statuses import JobStatus
from onboardflow.store import queue
from onboardflow.store.engine import Database
from onboardflow.store.sql import query

NOW = datetime(2031, 1, 1, tzinfo=UTC)
TERMS = queue.HandOverTerms(lease_seconds=30, share=10)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.write() as conn:
        await queue.set_queue(conn, "partner", concurrency_limit=2)
    try:
        yield database
    finally:
        await database.dispose()


async def _enqueue(db: Database, count: int, *, queue_name: str = "partner") -> list[str]:
    async with db.write() as conn:
        done = await queue.enqueue_many(
            conn,
            [
                JobSpec(job_type="noop", queue=queue_name, run_at=NOW - timedelta(seconds=count - i))
                for i in range(count)
            ],
            now=NOW,
        )
    return [str(e.id) for e in done]


async def _claim(db: Database, worker: str, limit: int, share: int = 10) -> queue.Claim:
    async with db.write() as conn:
        return await queue.claim(
            conn, worker_id=worker, limit=limit, lease_seconds=30, limited={"partner": share}, now=NOW
        )


async def _running(db: Database) -> int:
    async with db.read() as conn:
        rows = await conn.execute(sa.text("SELECT count(*) FROM jobs WHERE status = 'in_progress'"))
        return int(rows.scalar_one())


async def _holding(db: Database) -> set[str]:
    """The jobs that count against the limit (``domain.jobs.holds_a_slot``)."""
    async with db.read() as conn:
        holds = query("queue", "holds_a_slot")
        rows = await conn.execute(
            sa.text(f"SELECT j.id FROM jobs j WHERE j.status = 'in_progress' AND {holds}")
        )
        return {str(UUID(str(r[0]))) for r in rows}


async def _complete_and_hand_over(
    db: Database,
    job: queue.ClaimedJob,
    worker: str,
    terms: queue.HandOverTerms = TERMS,
    successor: queue.ClaimedJob | None = None,
) -> list[queue.ClaimedJob]:
    async with db.write() as conn:
        await queue.complete_within(
            conn, job_id=job.id, attempt=job.attempts, result={}, duration_ms=1, worker_id=worker, now=NOW
        )
        taken = await queue.hand_over(
            conn,
            queue="partner",
            ended_job_id=job.id,
            worker_id=worker,
            terms=terms,
            now=NOW,
            successor=successor.id if successor else None,
        )
    return await taken.jobs()


async def test_a_claim_takes_no_more_than_the_limit_and_reports_the_queue_full(db: Database) -> None:
    ids = await _enqueue(db, 5)
    claim = await _claim(db, "w1", limit=10)
    assert [str(j.id) for j in claim.jobs] == ids[:2]
    assert claim.full == {"partner"}
    again = await _claim(db, "w2", limit=10)
    assert again.jobs == []
    assert again.full == {"partner"}


async def test_a_claim_takes_no_more_than_the_workers_share(db: Database) -> None:
    async with db.write() as conn:
        await queue.set_queue(conn, "partner", concurrency_limit=4)
    await _enqueue(db, 6)
    first = await _claim(db, "w1", limit=10, share=2)
    assert len(first.jobs) == 2
    second = await _claim(db, "w2", limit=10, share=2)
    assert len(second.jobs) == 2
    assert await _running(db) == 4


async def test_a_finished_job_hands_its_slot_to_the_oldest_waiting_job_for_the_same_worker(
    db: Database,
) -> None:
    ids = await _enqueue(db, 4)
    claim = await _claim(db, "w1", limit=10)
    taken = await _complete_and_hand_over(db, claim.jobs[0], "w1")
    assert [str(j.id) for j in taken] == ids[2:4]
    runs, waits = taken
    assert runs.takes_slot_of is None
    assert waits.takes_slot_of == runs.id, "the queue is full again: the next job waits for the slot"
    assert await _holding(db) == {ids[1], ids[2]}, "one ended, one started: the limit holds"
    async with db.read() as conn:
        owner = (
            await conn.execute(sa.text("SELECT lease_owner FROM jobs WHERE status = 'in_progress'"))
        ).all()
    assert {r[0] for r in owner} == {"w1"}


async def test_the_job_waiting_for_a_slot_takes_it_when_the_job_in_it_ends_and_the_next_one_waits(
    db: Database,
) -> None:
    ids = await _enqueue(db, 6)
    claim = await _claim(db, "w1", limit=10)
    runs, waits = await _complete_and_hand_over(db, claim.jobs[0], "w1")
    # The worker started the waiting job when the running one was done with its call.
    taken = await _complete_and_hand_over(db, runs, "w1", successor=waits)
    assert [(str(j.id), j.takes_slot_of) for j in taken] == [(ids[4], waits.id)]
    assert await _holding(db) == {ids[1], ids[3]}
    # Without being told, the hand-over still finds the job that waits for the slot.
    taken = await _complete_and_hand_over(db, waits, "w1")
    assert [(str(j.id), str(j.takes_slot_of)) for j in taken] == [(ids[5], ids[4])]
    assert await _holding(db) == {ids[1], ids[4]}


async def test_a_job_waiting_for_a_slot_holds_it_however_the_job_before_it_leaves(db: Database) -> None:
    ids = await _enqueue(db, 5)
    claim = await _claim(db, "w1", limit=10)
    runs, _waits = await _complete_and_hand_over(db, claim.jobs[0], "w1")
    assert await _claim(db, "w2", limit=10) == queue.Claim(jobs=[], full=frozenset({"partner"}))
    async with db.write() as conn:
        await queue.finish(
            conn,
            [queue.Outcome(job_id=runs.id, attempt=runs.attempts, status=JobStatus.FAILED, error="boom")],
            worker_id="w1",
            now=NOW,
        )
    assert await _holding(db) == {ids[1], ids[3]}, "the failed job's slot is the waiting job's"
    assert (await _claim(db, "w2", limit=10)).jobs == [], "no room for anyone else"


async def test_no_hand_over_when_the_queue_is_paused_or_empty_or_the_worker_holds_its_share(
    db: Database,
) -> None:
    await _enqueue(db, 6)
    claim = await _claim(db, "w1", limit=10)
    # Over its share (1 of a limit of 2): the slot is left for another worker.
    assert (
        await _complete_and_hand_over(db, claim.jobs[0], "w1", queue.HandOverTerms(lease_seconds=30, share=1))
        == []
    )
    assert await _running(db) == 1
    async with db.write() as conn:
        await queue.set_queue(conn, "partner", paused=True)
    assert await _complete_and_hand_over(db, claim.jobs[1], "w1") == []
    assert await _running(db) == 0


async def test_no_hand_over_beyond_a_lowered_limit(db: Database) -> None:
    await _enqueue(db, 4)
    claim = await _claim(db, "w1", limit=10)
    async with db.write() as conn:
        await queue.set_queue(conn, "partner", concurrency_limit=1)
    # Two running, the limit is now one: the first to end gives its slot up.
    assert await _complete_and_hand_over(db, claim.jobs[0], "w1") == []
    taken = await _complete_and_hand_over(db, claim.jobs[1], "w1")
    assert [j.takes_slot_of for j in taken] == [None, taken[0].id]
    assert len(await _holding(db)) == 1


async def test_no_hand_over_when_the_ended_job_did_not_complete(db: Database) -> None:
    """A job taken back meanwhile (its completion matched nothing) frees no slot to hand over."""
    await _enqueue(db, 4)
    claim = await _claim(db, "w1", limit=10)
    async with db.write() as conn:
        taken = await queue.hand_over(
            conn, queue="partner", ended_job_id=claim.jobs[0].id, worker_id="w1", terms=TERMS, now=NOW
        )
    assert await taken.jobs() == []
    assert await _running(db) == 2


async def test_a_claim_limited_by_the_workers_free_slots_does_not_call_the_queue_full(db: Database) -> None:
    async with db.write() as conn:
        await queue.set_queue(conn, "partner", concurrency_limit=5)
    await _enqueue(db, 5)
    claim = await _claim(db, "w1", limit=2)
    assert len(claim.jobs) == 2
    assert claim.full == frozenset(), "the worker ran out of slots, the queue did not"
