"""Database engines: SQLite with one writer per process, PostgreSQL with a pool.

``Database.write()`` opens a write transaction and ``Database.read()`` a read-only one. On SQLite the
writer is a single pooled connection that starts ``BEGIN IMMEDIATE`` (so a process never fights itself
for the lock), after the lock file that queues the writers of all processes (``writer_lock``);
readers use WAL snapshots. On PostgreSQL
both use one pool. Driver errors are turned into onboardflow errors here and never leave the store.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from onboardflow.errors import Conflict, InvalidInput, StoreUnavailable
from onboardflow.store.driver_sql import (
    NOTIFY_KEY,
    DatabaseBusy,
    Plan,
    carry_out,
    carry_out_sqlite,
    end_own_transaction,
    in_transaction_here,
    in_transaction_on_thread,
)
from onboardflow.store.writer_lock import WriterLock

Dialect = Literal["sqlite", "postgresql"]
T = TypeVar("T")


SQLITE_BUSY_TIMEOUT_MS = 30_000


def dialect_of(url: str) -> Dialect:
    """``sqlite`` or ``postgresql``, from a database URL."""
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _strip_driver(url: str) -> str:
    scheme, _, rest = url.partition("://")
    base = scheme.split("+", 1)[0]
    if base == "postgres":
        base = "postgresql"
    return f"{base}://{rest}"


def sync_url(url: str) -> str:
    """The URL with the synchronous driver (used by migrations)."""
    plain = _strip_driver(url)
    return plain if plain.startswith("sqlite") else plain.replace("postgresql://", "postgresql+psycopg://", 1)


def async_url(url: str) -> str:
    """The URL with the asynchronous driver (used by the service)."""
    plain = _strip_driver(url)
    if plain.startswith("sqlite"):
        return plain.replace("sqlite://", "sqlite+aiosqlite://", 1)
    return plain.replace("postgresql://", "postgresql+psycopg://", 1)


def libpq_url(url: str) -> str:
    """The URL as libpq understands it (for psycopg's own connections, e.g. LISTEN)."""
    return _strip_driver(url)


def _configure_sqlite(engine: AsyncEngine, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself, so writers can ask for IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)


class Database:
    """The connection pools of one process, for either SQLite or PostgreSQL."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self._writer_lock: WriterLock | None = None
        self._pool_size = pool_size
        self.dialect: Dialect = dialect_of(url)
        if self.dialect == "sqlite":
            common: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
            self._writer = create_async_engine(
                async_url(url), pool_size=1, max_overflow=0, pool_timeout=120, **common
            )
            self._reader = create_async_engine(async_url(url), pool_size=pool_size, max_overflow=5, **common)
            _configure_sqlite(self._writer, "BEGIN IMMEDIATE")
            _configure_sqlite(self._reader, "BEGIN")
            database = make_url(url).database
            if database and database != ":memory:" and not database.startswith("file:"):
                self._writer_lock = WriterLock(Path(database))
        else:
            # No pre-ping: it costs a round trip per transaction. A connection lost meanwhile fails
            # its first statement (StoreUnavailable, which callers retry), and SQLAlchemy then
            # discards every connection of the pool that is as old.
            engine = create_async_engine(async_url(url), pool_size=pool_size, max_overflow=10)
            self._writer = self._reader = engine
        from onboardflow.store.notify import WakeupHub

        self.wakeups = WakeupHub(url if self.dialect == "postgresql" else None)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def concurrent_writes(self) -> int:
        """How many write transactions of this process can go on at once: one on SQLite (its one
        writer connection), as many as the pool has connections on PostgreSQL."""
        return 1 if self.dialect == "sqlite" else self._pool_size

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed when the block ends without error."""
        pending: set[str] | None = None
        with translate_errors():
            async with self._writer_connection() as (conn, _locked):
                try:
                    async with conn.begin():
                        try:
                            yield conn
                        finally:
                            pending = conn.info.pop(NOTIFY_KEY, None)
                finally:
                    await end_own_transaction(conn)
        self._publish(pending)

    @asynccontextmanager
    async def _writer_connection(self) -> AsyncIterator[tuple[AsyncConnection, bool]]:
        """The writer's connection, with SQLite's cross-process writer lock held while it is out,
        and whether it is held (``WriterLock.acquire`` may give up on it)."""
        async with self._writer.connect() as conn:
            lock = self._writer_lock
            held = lock is not None and await lock.acquire(SQLITE_BUSY_TIMEOUT_MS / 1000)
            try:
                yield conn, held
            finally:
                if held and lock is not None:
                    lock.release()

    async def write_at_once(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """SQLite: run ``work``, a function of the driver connection, as one write transaction from
        ``BEGIN IMMEDIATE`` to ``COMMIT`` (``driver_sql`` plans run in it with ``carry_out_sqlite``).

        Once this process holds the writer lock file, ``work`` runs right here on the event loop's
        thread: the database is then locked only while ``work`` runs. Handed to the connection's
        thread, it stayed locked while that thread waited for the GIL and for the event loop,
        both busy with other jobs (a 1,000-restaurant batch took 8 to 18 % longer that way on 2
        cores: docs/benchmarks.md, 2026-12-07).
        The event loop is blocked only that long: when a writer outside onboardflow holds the
        database, or the lock file was not to be had, ``work`` waits for the database on the
        connection's thread instead, up to the busy timeout."""
        if self.dialect != "sqlite":
            raise RuntimeError("write_at_once is for SQLite only")
        with translate_errors():
            async with self._writer_connection() as (conn, locked):
                if locked:
                    try:
                        return await in_transaction_here(conn, work, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
                    except DatabaseBusy:
                        pass
                return await in_transaction_on_thread(conn, work)

    async def write_plan(self, plan: Plan[T]) -> T:
        """Run a ``driver_sql`` plan in a write transaction of its own: on SQLite in one go
        (``write_at_once``), on PostgreSQL a round trip per step it takes, the writes it holds to the
        end going with the commit."""
        if self.is_sqlite:
            wakes: set[str] = set()
            done = await self.write_at_once(lambda connection: carry_out_sqlite(connection, plan, wakes))
            self._publish(wakes)
            return done
        async with self.write() as conn:
            return await carry_out(conn, plan, then_commit=True)

    def _publish(self, names: set[str] | None) -> None:
        """Wake the workers of these queues (a committed transaction's ``request_wakeup``s)."""
        if names:
            self.wakeups.publish(names)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a read transaction (a consistent snapshot on SQLite)."""
        with translate_errors():
            async with self._reader.connect() as conn:
                try:
                    async with conn.begin():
                        yield conn
                finally:
                    await end_own_transaction(conn)

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers a trivial query."""
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection (and the notification connection)."""
        await self.wakeups.close()
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()
        if self._writer_lock is not None:
            self._writer_lock.close()
            self._writer_lock = None


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w.]+)")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn driver errors into ``Conflict`` and ``StoreUnavailable``, raised from the original."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        raise Conflict("the change conflicts with existing data", constraint=_constraint_name(exc)) from exc
    except sa.exc.DataError as exc:
        raise InvalidInput(
            "body", "contains a value the database cannot store (for example a NUL character)"
        ) from exc
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise StoreUnavailable(f"database unavailable: {type(exc.orig or exc).__name__}") from exc
    except OSError as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc


def _constraint_name(exc: sa.exc.IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return str(diag.constraint_name)
    match = _SQLITE_UNIQUE.search(str(exc.orig))
    return match.group(1) if match else None
