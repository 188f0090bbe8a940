"""Queue benchmark: no-op throughput, enqueue-to-start latency and worker memory; prints tables.

    .venv/bin/python bench/queue.py                          # SQLite and PostgreSQL, 1/2/4 processes
    .venv/bin/python bench/queue.py --databases sqlite --jobs 10000
    .venv/bin/python bench/queue.py --memory 100000          # worker RSS over 100,000 jobs

Throughput: N no-op jobs are enqueued, P worker processes (``onboardflow worker``) start on a paused
queue, the queue is resumed, and jobs/s is N over the span from the first start to the last
completion as recorded in the database (every job ends ``completed``). The raw-SQL ceiling runs the
same claim and complete statements from P bare processes with no framework around them.
Latency: with idle workers, jobs are enqueued one by one and the time from ``created_at`` to
``started_at`` is measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would hide the standard
# library's `queue` module from everything imported below.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time

import psutil
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.benchkit import fresh_database, table

from onboardflow.domain.jobs import JobSpec
from onboardflow.store import queue
from onboardflow.store.engine import Database, libpq_url

BENCH_QUEUE = "default"


async def enqueue(url: str, n: int, *, paused: bool) -> None:
    db = Database(url)
    async with db.write() as conn:
        await queue.set_queue(conn, BENCH_QUEUE, paused=paused)
    for start in range(0, n, 5000):
        async with db.write() as conn:
            await queue.enqueue_many(conn, [JobSpec(job_type="noop") for _ in range(min(5000, n - start))])
    await db.dispose()


async def scalar(url: str, sql: str) -> object:
    db = Database(url)
    async with db.read() as conn:
        value = (await conn.execute(sa.text(sql))).scalar()
    await db.dispose()
    return value


def start_workers(url: str, processes: int, concurrency: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ONBOARDFLOW_DATABASE_URL": url,
        "ONBOARDFLOW_DATA_DIR": str(workdir),
        "ONBOARDFLOW_SECRET_KEY": "bench",
        "ONBOARDFLOW_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "onboardflow", "worker", "--processes", str(processes)]
    command += ["--concurrency", str(concurrency)]
    return subprocess.Popen(command, env=env, cwd=workdir)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def wait_until(url: str, sql: str, target: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while int(await scalar(url, sql) or 0) < target:  # type: ignore[call-overload]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sql} did not reach {target}")
        await asyncio.sleep(0.05)


async def measure_throughput(kind: str, processes: int, jobs: int, concurrency: int, workdir: Path) -> float:
    url = fresh_database(kind, workdir, "bench_queue")
    await enqueue(url, jobs, paused=True)
    proc = start_workers(url, processes, concurrency, workdir)
    try:
        await wait_until(url, "SELECT COUNT(*) FROM workers", processes, 60)
        db = Database(url)
        async with db.write() as conn:
            await queue.set_queue(conn, BENCH_QUEUE, paused=False)
        await db.dispose()
        await wait_until(url, "SELECT COUNT(*) FROM jobs WHERE status = 'completed'", jobs, 600)
    finally:
        stop(proc)
    return jobs / await span_seconds(url)


async def span_seconds(url: str) -> float:
    db = Database(url)
    async with db.read() as conn:
        first, last = (
            await conn.execute(
                sa.select(sa.func.min(queue.jobs.c.started_at), sa.func.max(queue.jobs.c.completed_at))
            )
        ).one()
    await db.dispose()
    return float((last - first).total_seconds())


async def measure_latency(kind: str, samples: int, workdir: Path) -> tuple[float, float]:
    url = fresh_database(kind, workdir, "bench_queue")
    proc = start_workers(url, 1, 10, workdir)
    db = Database(url)
    try:
        await wait_until(url, "SELECT COUNT(*) FROM workers", 1, 60)
        await asyncio.sleep(1.0)
        for _ in range(samples):
            async with db.write() as conn:
                await queue.enqueue(conn, JobSpec(job_type="noop"))
            await asyncio.sleep(0.02)
        await wait_until(url, "SELECT COUNT(*) FROM jobs WHERE status = 'completed'", samples, 60)
        async with db.read() as conn:
            rows = (await conn.execute(sa.select(queue.jobs.c.created_at, queue.jobs.c.started_at))).all()
    finally:
        await db.dispose()
        stop(proc)
    waits = sorted((started - created).total_seconds() * 1000 for created, started in rows)
    return statistics.median(waits), waits[int(len(waits) * 0.99) - 1]


# -- the raw-SQL ceiling ---------------------------------------------------------------------------

RAW_CLAIM_PG = """
WITH picked AS (
    SELECT id FROM jobs WHERE status IN ('pending', 'queued') AND run_at <= now()
    ORDER BY priority DESC, run_at, id LIMIT %s FOR UPDATE SKIP LOCKED)
UPDATE jobs SET status = 'in_progress', attempts = jobs.attempts + 1, started_at = now(), lease_owner = %s
FROM picked WHERE jobs.id = picked.id RETURNING jobs.id"""
RAW_DONE_PG = "UPDATE jobs SET status = 'completed', completed_at = now() WHERE id = ANY(%s)"
RAW_CLAIM_SQLITE = """
UPDATE jobs SET status = 'in_progress', attempts = attempts + 1, started_at = ?, lease_owner = ?
WHERE id IN (SELECT id FROM jobs WHERE status IN ('pending', 'queued') AND run_at <= ?
             ORDER BY priority DESC, run_at, id LIMIT ?) RETURNING id"""


def raw_worker(url: str, batch: int) -> None:
    """Claim and complete jobs with bare SQL until none are left (the ceiling)."""
    me = f"raw-{os.getpid()}"
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        while True:
            now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
            conn.execute("BEGIN IMMEDIATE")
            ids = [
                r[0] for r in conn.execute(RAW_CLAIM_SQLITE, (now, me, "9999-12-31 23:59:59.999999", batch))
            ]
            conn.execute("COMMIT")
            if not ids:
                return
            done = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "UPDATE jobs SET status = 'completed', completed_at = ? WHERE id = ?",
                [(done, i) for i in ids],
            )
            conn.execute("COMMIT")
    with psycopg.connect(libpq_url(url)) as conn:
        while True:
            ids = [r[0] for r in conn.execute(RAW_CLAIM_PG, (batch, me)).fetchall()]
            conn.commit()
            if not ids:
                return
            conn.execute(RAW_DONE_PG, (ids,))
            conn.commit()


async def measure_raw(kind: str, processes: int, jobs: int, batch: int, workdir: Path) -> float:
    url = fresh_database(kind, workdir, "bench_queue")
    await enqueue(url, jobs, paused=False)
    started = time.monotonic()
    procs = [
        subprocess.Popen([sys.executable, __file__, "--raw-worker", url, "--batch", str(batch)])
        for _ in range(processes)
    ]
    for proc in procs:
        proc.wait()
    elapsed = time.monotonic() - started
    done = int(await scalar(url, "SELECT COUNT(*) FROM jobs WHERE status = 'completed'") or 0)  # type: ignore[call-overload]
    assert done == jobs, f"raw run completed {done} of {jobs}"
    return jobs / elapsed


async def measure_memory(jobs: int, workdir: Path) -> list[tuple[int, float]]:
    url = fresh_database("sqlite", workdir, "bench_queue_memory")
    await enqueue(url, jobs, paused=True)
    proc = start_workers(url, 1, 100, workdir)
    samples: list[tuple[int, float]] = []
    try:
        await wait_until(url, "SELECT COUNT(*) FROM workers", 1, 60)
        db = Database(url)
        async with db.write() as conn:
            await queue.set_queue(conn, BENCH_QUEUE, paused=False)
        await db.dispose()
        worker = psutil.Process(proc.pid)
        while True:
            done = int(await scalar(url, "SELECT COUNT(*) FROM jobs WHERE status = 'completed'") or 0)  # type: ignore[call-overload]
            samples.append((done, worker.memory_info().rss / 2**20))
            if done >= jobs:
                break
            await asyncio.sleep(2)
    finally:
        stop(proc)
    return samples


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="onboardflow-bench-"))
    if args.memory:
        samples = await measure_memory(args.memory, workdir)
        rows = [
            [f"{done:,}", f"{rss:.1f}"] for done, rss in samples[:: max(1, len(samples) // 12)] + samples[-1:]
        ]
        table(
            f"worker RSS over {args.memory:,} no-op jobs (SQLite, 1 process, concurrency 100)",
            ["jobs done", "RSS MiB"],
            rows,
        )
        return
    rows = []
    for kind in args.databases.split(","):
        for processes in [int(p) for p in args.processes.split(",")]:
            ours = await measure_throughput(kind, processes, args.jobs, args.concurrency, workdir)
            raw = await measure_raw(kind, processes, args.jobs, args.concurrency, workdir)
            rows.append([kind, str(processes), f"{ours:,.0f}", f"{raw:,.0f}", f"{ours / raw:.2f}"])
            print(f"  {kind} x{processes}: {ours:,.0f} jobs/s (raw {raw:,.0f})", flush=True)
    table(
        f"no-op throughput, {args.jobs:,} jobs, concurrency {args.concurrency} per process",
        ["database", "processes", "onboardflow jobs/s", "raw SQL jobs/s", "ratio"],
        rows,
    )
    latency_rows = []
    for kind in args.databases.split(","):
        p50, p99 = await measure_latency(kind, args.latency_samples, workdir)
        latency_rows.append([kind, f"{p50:.1f}", f"{p99:.1f}"])
    table(
        f"enqueue-to-start latency with an idle worker ({args.latency_samples} jobs, one at a time)",
        ["database", "p50 ms", "p99 ms"],
        latency_rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument(
        "--memory", type=int, default=0, help="measure worker RSS over this many jobs instead"
    )
    parser.add_argument("--raw-worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=100, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.raw_worker:
        raw_worker(parsed.raw_worker, parsed.batch)
    else:
        asyncio.run(main(parsed))
