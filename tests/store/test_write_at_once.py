"""SQLite's writes in one go (``Database.write_at_once``): on the event loop's thread while the process
holds the writer lock file, and off it, without blocking the loop, while a writer outside onboardflow
holds the database."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from onboardflow.store.engine import Database


async def _values(db: Database) -> list[int]:
    async with db.read() as conn:
        return sorted(row[0] for row in await conn.execute(sa.text("SELECT x FROM t")))


async def test_a_write_at_once_runs_on_the_event_loops_thread_while_it_holds_the_lock(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    threads: list[int] = []

    def work(connection: sqlite3.Connection) -> str:
        threads.append(threading.get_ident())
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.execute("INSERT INTO t VALUES (1)")
        return "done"

    try:
        assert await db.write_at_once(work) == "done"
        assert threads == [threading.get_ident()], "no hand-over to the connection's thread"
        assert await _values(db) == [1]
    finally:
        await db.dispose()


async def test_a_write_at_once_waits_off_the_event_loop_while_another_writer_holds_the_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    db = Database(f"sqlite:///{path}")
    outsider = sqlite3.connect(path, isolation_level=None)
    threads: list[int] = []

    def work(connection: sqlite3.Connection) -> None:
        threads.append(threading.get_ident())
        connection.execute("INSERT INTO t VALUES (1)")

    try:
        await db.write_at_once(lambda connection: connection.execute("CREATE TABLE t (x INTEGER)"))
        outsider.execute("BEGIN IMMEDIATE")  # a writer that takes no lock file (the sqlite3 shell, say)
        outsider.execute("INSERT INTO t VALUES (0)")
        writing = asyncio.create_task(db.write_at_once(work))
        slept = time.monotonic()
        await asyncio.sleep(0.2)
        assert time.monotonic() - slept < 1, "the event loop went on while the write waited"
        assert not writing.done()
        outsider.execute("COMMIT")
        await asyncio.wait_for(writing, 10)
        assert len(threads) == 1
        assert threads[0] != threading.get_ident(), "it waited on the connection's thread"
        assert await _values(db) == [0, 1]
        await db.write_at_once(work)
        assert threads[-1] == threading.get_ident(), "on the event loop's thread once the database is free"
        assert await _values(db) == [0, 1, 1]
    finally:
        outsider.close()
        await db.dispose()
