"""The queue under real worker processes: SIGKILL, cancellation, cluster-wide limits, shutdown,
and (PostgreSQL) four processes sharing 5,000 jobs."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from onboardflow.domain.jobs import JobSpec
from onboardflow.store import queue
from onboardflow.store.engine import Database
from tests.runtime.conftest import WorkerProcesses, job_statuses
from tests.runtime.handlers import read_log
from tests.runtime.waiting import wait_for

pytestmark = pytest.mark.slow


async def _enqueue(db: Database, specs: list[JobSpec]) -> list[str]:
    async with db.write() as conn:
        return [str(e.id) for e in await queue.enqueue_many(conn, specs)]


async def _running_on(db: Database, pid: int) -> int:
    async with db.read() as conn:
        return int(
            (
                await conn.execute(
                    sa.text("SELECT COUNT(*) FROM jobs WHERE status = 'in_progress' AND lease_owner LIKE :p"),
                    {"p": f"%-{pid}-%"},
                )
            ).scalar_one()
        )


async def test_jobs_of_a_sigkilled_worker_complete_on_another_with_the_attempt_counted(
    db: Database, workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "record.log"
    ids = await _enqueue(
        db, [JobSpec(job_type="record", payload={"log": str(log), "sleep_ms": 1500}) for _ in range(6)]
    )
    first = workers.start(concurrency=10, lease_seconds=3, heartbeat_seconds=0.5)
    await wait_for(lambda: _has(db, first.pid, 6), timeout=30, what="the first worker to run all six jobs")
    first.send_signal(signal.SIGKILL)
    first.wait(5)
    workers.start(concurrency=10, lease_seconds=3, heartbeat_seconds=0.5)
    await wait_for(
        lambda: _all_completed(db, 6), timeout=60, what=f"the jobs to complete elsewhere:\n{workers.logs()}"
    )
    async with db.read() as conn:
        rows = (await conn.execute(sa.text("SELECT id, attempts FROM jobs"))).all()
        interrupted = (
            await conn.execute(
                sa.text(
                    "SELECT COUNT(*) FROM events WHERE to_status = 'queued' AND reason LIKE 'interrupted%'"
                )
            )
        ).scalar_one()
    assert len(rows) == len(ids) == 6
    assert all(attempts == 2 for _, attempts in rows), rows
    assert interrupted == 6
    ends = [r for r in read_log(log) if r[0] == "end"]
    assert len(ends) == 6
    assert {r[3] for r in ends} != {first.pid}


async def _has(db: Database, pid: int, n: int) -> bool:
    return await _running_on(db, pid) >= n


async def _all_completed(db: Database, n: int) -> bool:
    return (await job_statuses(db)).get("completed", 0) == n


async def test_cancelling_a_running_job_stops_its_handler_within_two_seconds(
    db: Database, workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "record.log"
    (job_id,) = await _enqueue(
        db,
        [
            JobSpec(
                job_type="record", payload={"log": str(log), "sleep_ms": 60_000, "tick_ms": 20}, max_retries=3
            )
        ],
    )
    workers.start(concurrency=2)
    await wait_for(lambda: _started(log), timeout=30, what="the job to start")
    async with db.write() as conn:
        affected = await queue.request_cancel(conn, None, uuid.UUID(job_id), actor="test")
    acknowledged = time.time()
    assert list(affected.values()) == ["in_progress"]
    await wait_for(lambda: _status_is(db, job_id, "cancelled"), timeout=5, what="the job to end cancelled")
    cancelled_at = next(r[4] for r in read_log(log) if r[0] == "cancelled")
    assert cancelled_at - acknowledged < 2.0
    await asyncio.sleep(0.5)
    assert not [r for r in read_log(log) if r[0] in ("tick", "start", "end") and r[4] > cancelled_at]
    async with db.read() as conn:
        attempts = (await conn.execute(sa.text("SELECT attempts FROM jobs"))).scalar_one()
    assert attempts == 1, "a cancelled job is never retried"


async def _started(log: Path) -> bool:
    return any(r[0] == "start" for r in read_log(log))


async def _status_is(db: Database, job_id: str, status: str) -> bool:
    async with db.read() as conn:
        rows = (await conn.execute(sa.text("SELECT id, status FROM jobs"))).all()
    return any(str(r[0]).replace("-", "") == job_id.replace("-", "") and r[1] == status for r in rows)


async def test_a_queue_limit_holds_across_three_worker_processes(
    db: Database, workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "record.log"
    async with db.write() as conn:
        await queue.set_queue(conn, "partner", concurrency_limit=2)
    await _enqueue(
        db,
        [
            JobSpec(
                job_type="record", queue="partner", payload={"log": str(log), "sleep_ms": 300, "tick_ms": 300}
            )
            for _ in range(12)
        ],
    )
    # One slot per process: reaching two at once needs two processes, and three must never reach three.
    for _ in range(3):
        workers.start(concurrency=1, poll_seconds=0.1)
    await wait_for(
        lambda: _all_completed(db, 12), timeout=60, what=f"all jobs to complete:\n{workers.logs()}"
    )
    events = sorted((r[4], 1 if r[0] == "start" else -1) for r in read_log(log) if r[0] in ("start", "end"))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2, f"at most 2 at once, and the limit was used: peak {peak}"
    assert len({r[3] for r in read_log(log)}) >= 2, "more than one process took part"


async def test_sigterm_lets_jobs_finish_within_grace_then_releases_the_rest_uncounted(
    db: Database, workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "record.log"
    await _enqueue(db, [JobSpec(job_type="record", payload={"log": str(log), "sleep_ms": 300})])
    await _enqueue(db, [JobSpec(job_type="record", payload={"log": str(log), "sleep_ms": 60_000})])
    proc = workers.start(concurrency=4, shutdown_grace_seconds=1.5)
    await wait_for(lambda: _count_started(log, 2), timeout=30, what="both jobs to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    statuses = await job_statuses(db)
    assert statuses == {"completed": 1, "queued": 1}, statuses
    async with db.read() as conn:
        attempts = (
            await conn.execute(sa.text("SELECT attempts FROM jobs WHERE status = 'queued'"))
        ).scalar_one()
        alive = (await conn.execute(sa.text("SELECT COUNT(*) FROM workers"))).scalar_one()
    assert attempts == 0
    assert alive == 0


async def _count_started(log: Path, n: int) -> bool:
    return sum(1 for r in read_log(log) if r[0] == "start") >= n


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
async def test_four_processes_run_5000_jobs_exactly_once_in_priority_order(
    db: Database, workers: WorkerProcesses, db_kind: str
) -> None:
    if not os.environ.get("ONBOARDFLOW_TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL")
    priorities = [10, 0, -10]
    specs = [JobSpec(job_type="noop", priority=priorities[i % 3]) for i in range(5000)]
    await _enqueue(db, specs)
    workers.start(concurrency=25, processes=4)
    await wait_for(
        lambda: _all_completed(db, 5000), timeout=120, interval=0.2, what=f"5,000 jobs:\n{workers.logs()}"
    )
    async with db.read() as conn:
        claims = (
            await conn.execute(
                sa.text(
                    "SELECT entity_id, actor FROM events"
                    " WHERE entity_type = 'job' AND to_status = 'in_progress'"
                )
            )
        ).all()
        starts = (
            await conn.execute(
                sa.text("SELECT priority, MIN(started_at), MAX(started_at) FROM jobs GROUP BY priority")
            )
        ).all()
        attempts = (await conn.execute(sa.text("SELECT MAX(attempts), MIN(attempts) FROM jobs"))).one()
    per_job = Counter(r[0] for r in claims)
    assert len(per_job) == 5000
    assert set(per_job.values()) == {1}, "no job was claimed twice"
    assert tuple(attempts) == (1, 1)
    assert len({r[1] for r in claims}) == 4, "all four processes took jobs"
    window = {p: (lo, hi) for p, lo, hi in starts}
    slack = 0.5
    assert window[10][1].timestamp() <= window[0][0].timestamp() + slack
    assert window[0][1].timestamp() <= window[-10][0].timestamp() + slack


async def test_with_listen_notify_off_a_worker_still_starts_jobs_by_polling(
    db: Database, workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "record.log"
    workers.start(concurrency=2, listen_notify="false", poll_seconds=0.5)
    await wait_for(lambda: _workers_alive(db, 1), timeout=30, what="the worker to register")
    await _enqueue(db, [JobSpec(job_type="record", payload={"log": str(log)})])
    await wait_for(
        lambda: _all_completed(db, 1), timeout=10, what=f"the job to be polled up:\n{workers.logs()}"
    )


async def _workers_alive(db: Database, n: int) -> bool:
    async with db.read() as conn:
        return int((await conn.execute(sa.text("SELECT COUNT(*) FROM workers"))).scalar_one()) >= n
