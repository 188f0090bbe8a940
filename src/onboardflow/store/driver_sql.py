"""Named statements run on the driver connection under SQLAlchemy's transaction, for the hot paths.

SQLAlchemy's async layer costs about 0.3-0.5 ms of CPU per statement; psycopg or sqlite3 alone cost a
third of that. The per-sub-step path of a registration run executes here: the same named SQL files
(``store/sql``), the same transaction and connection as the surrounding ``Database.write()`` block,
with values converted the way the table types store them (UUIDs as 32 hex characters, timestamps as
naive UTC text and JSON as text on SQLite) and driver errors raised as SQLAlchemy's, so that
``translate_errors`` sees what it always sees.

Inside ``pipelined`` the statements sent go out together: to PostgreSQL in one round trip, to SQLite
in one call on aiosqlite's connection thread (each statement alone is a hand-over to that thread and
back, with the database locked meanwhile).

The single-row statements every path makes (a status transition with its event, an update of some
columns, a read by key) are generated here from the table's columns, once per table and set of
columns, and run the same way.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from onboardflow.errors import Conflict
from onboardflow.store.sql import generic_plan, query
from onboardflow.store.types import UTCDateTime

_PARAM = re.compile(r"(?<![:\w]):(\w+)")
_DRIVER_KEY = "onboardflow.driver_connection"
_OWN_BEGIN_KEY = "onboardflow.own_begin"
_IDLE = psycopg.pq.TransactionStatus.IDLE


class Json:
    """A parameter to be stored as JSON (``jsonb`` on PostgreSQL, text on SQLite)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


@cache
def _statement(module: str, name: str, dialect: str) -> str:
    # A name may end in "_{dialect}": the statement written for each database.
    sql = query(module, name.replace("{dialect}", dialect))
    # psycopg takes %(name)s placeholders; sqlite3 takes :name as written.
    return _PARAM.sub(r"%(\1)s", sql) if dialect == "postgresql" else sql


def _encode_sqlite(value: Any) -> Any:
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, Json):
        return None if value.value is None else json.dumps(value.value, default=str)
    if isinstance(value, bool):
        return int(value)
    return value


def _encode_postgresql(value: Any) -> Any:
    if isinstance(value, Json):
        return None if value.value is None else Jsonb(value.value, dumps=_dumps)
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def _encoder(dialect: str) -> Any:
    return _encode_postgresql if dialect == "postgresql" else _encode_sqlite


async def _driver(conn: AsyncConnection) -> Any:
    # Kept on the connection's record: asking SQLAlchemy for it each time costs a greenlet switch.
    driver = conn.info.get(_DRIVER_KEY)
    if driver is None:
        driver = conn.info[_DRIVER_KEY] = (await conn.get_raw_connection()).driver_connection
    return driver


def _raise_as_sqlalchemy(exc: Exception, sql: str, params: Any) -> None:
    if isinstance(exc, psycopg.Error | sqlite3.Error):
        raise sa.exc.DBAPIError.instance(sql, params, exc, type(exc)) from exc
    raise exc


async def fetch(
    conn: AsyncConnection,
    module: str,
    name: str,
    params: Mapping[str, Any],
    *,
    columns: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run a named statement and return its rows as dicts.

    ``columns`` gives the SQLAlchemy type of each returned column (``table_columns`` builds it), so
    SQLite's text comes back as UUIDs, aware datetimes and parsed JSON, as PostgreSQL's does.
    """
    return await rows_of(conn, await send(conn, module, name, params), columns=columns)


async def rows_of(
    conn: AsyncConnection, cursor: Any, *, columns: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The rows of a statement ``send`` ran, as dicts decoded like ``fetch``'s.

    Inside ``pipelined``, the first call waits for every statement sent so far (one round trip for
    all of them); the next ones find their rows already there.
    """
    if isinstance(cursor, _Sent):
        if not cursor.done:
            await _flush(conn)
        rows: Sequence[Any] = cursor.rows
    else:
        try:
            rows = await cursor.fetchall()
        except Exception as exc:
            _raise_as_sqlalchemy(exc, "(fetch)", None)
            raise
    return _decoded(_column_names(cursor), rows, columns, conn.dialect.name)


def _column_names(cursor: Any) -> list[str]:
    # psycopg builds a Column object per column at each ``description``; the result's names are
    # what is needed, without them.
    result = getattr(cursor, "pgresult", None)
    if result is None:
        return [d[0] for d in cursor.description or ()]
    return [result.fname(i).decode() for i in range(result.nfields)]


def _decoded(
    names: Sequence[str], rows: Sequence[Any], columns: Mapping[str, Any] | None, dialect: str
) -> list[dict[str, Any]]:
    decoders = [_decoder(columns.get(n) if columns else None, dialect) for n in names]
    return [{n: d(v) for n, d, v in zip(names, decoders, row, strict=True)} for row in rows]


async def execute(conn: AsyncConnection, module: str, name: str, params: Mapping[str, Any]) -> int:
    """Run a named statement; returns the number of rows it changed."""
    return int((await _run_named(conn, module, name, params)).rowcount)


async def send(conn: AsyncConnection, module: str, name: str, params: Mapping[str, Any]) -> Any:
    """Run a named statement without waiting for it inside ``pipelined``; returns the driver cursor
    (on SQLite a ``_Sent``), whose ``rowcount`` is known once the block has ended."""
    return await _run_named(conn, module, name, params, defer=True)


@cache
def _forced_generic(module: str, name: str, dialect: str) -> bool:
    # A name may end in "_{dialect}", as for ``_statement``; only PostgreSQL caches plans.
    return dialect == "postgresql" and generic_plan(module, name.replace("{dialect}", dialect))


_GENERIC_PLAN_ON = "SET LOCAL plan_cache_mode = force_generic_plan"
_GENERIC_PLAN_OFF = "SET LOCAL plan_cache_mode = DEFAULT"


async def _run_named(
    conn: AsyncConnection, module: str, name: str, params: Mapping[str, Any], *, defer: bool = False
) -> Any:
    dialect = conn.dialect.name
    encode = _encoder(dialect)
    values = {key: encode(value) for key, value in params.items()}
    sql = _statement(module, name, dialect)
    if not _forced_generic(module, name, dialect):
        return await _run(conn, sql, values, defer=defer)
    # For this statement alone; inside ``pipelined`` the two settings go with it, no round trip of
    # their own.
    driver = await _driver(conn)
    await driver.execute(_GENERIC_PLAN_ON, prepare=False)
    cursor = await _run(conn, sql, values, defer=defer)
    await driver.execute(_GENERIC_PLAN_OFF, prepare=False)
    return cursor


@asynccontextmanager
async def pipelined(conn: AsyncConnection) -> AsyncIterator[None]:
    """Statements sent inside (``send``, ``send_select``) go to PostgreSQL together and are answered
    together when the block ends (one round trip instead of one each); errors surface then too. Read
    their rows after the block: a read inside waits for the answers so far, a round trip of its own.
    On SQLite they run together in one call on the connection's thread (``_flush``), when the block
    ends or something needs their answers. Only this module's statements belong inside: one run
    through SQLAlchemy would not see what waits to be sent."""
    if conn.dialect.name != "postgresql":
        if _BATCH_KEY in conn.info:  # an outer block sends these
            yield
            return
        conn.info[_BATCH_KEY] = []
        try:
            yield
            await _flush(conn)
        finally:
            del conn.info[_BATCH_KEY]
        return
    driver = await _driver(conn)
    begin = not driver.autocommit and driver.pgconn.transaction_status == _IDLE
    if begin:
        # psycopg would send its own BEGIN and wait for the answer before the first statement (a
        # round trip of its own); sent by hand, it goes with the statements. Until the transaction
        # ends, the driver must not begin one itself: ``end_own_transaction`` puts that back.
        await driver.set_autocommit(True)
        conn.info[_OWN_BEGIN_KEY] = True
    try:
        async with driver.pipeline():
            if begin:
                await driver.execute("BEGIN", prepare=False)
            yield
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance("(pipeline)", None, exc, type(exc)) from exc
    finally:
        await end_own_transaction(conn, driver)


async def end_own_transaction(conn: AsyncConnection, driver: Any = None) -> None:
    """Give the driver back its own transactions once one that ``pipelined`` began by hand is over
    (committed inside a block, or by the caller's ``Database`` block). ``Database.write`` and
    ``read`` call it when their block ends, so no connection goes back to the pool without."""
    if _OWN_BEGIN_KEY not in conn.info:
        return
    driver = driver or conn.info.get(_DRIVER_KEY)
    if driver is None or driver.closed:
        conn.info.pop(_OWN_BEGIN_KEY, None)
        return
    if driver.pgconn.transaction_status == _IDLE:
        await driver.set_autocommit(False)
        del conn.info[_OWN_BEGIN_KEY]


async def commit(conn: AsyncConnection) -> None:
    """Commit the transaction of ``conn``: inside ``pipelined``, sent with the statements before it
    and answered with them when the block ends (the driver's own commit would wait for its answer, a
    round trip of its own). The surrounding ``Database.write()`` then finds nothing to commit."""
    driver = await _driver(conn)
    try:
        if conn.dialect.name == "postgresql" and driver.pgconn.pipeline_status:
            await driver.execute("COMMIT", prepare=False)
        else:
            await _flush(conn)
            await driver.commit()
    except Exception as exc:
        _raise_as_sqlalchemy(exc, "COMMIT", None)
        raise


def table_columns(*tables: sa.Table, **aliases: Any) -> dict[str, Any]:
    """Column name -> SQLAlchemy type of ``tables`` (the first table wins) plus aliased columns."""
    found: dict[str, Any] = {}
    for table in reversed(tables):
        found.update({c.name: c.type for c in table.c})
    found.update(aliases)
    return found


def _identity(value: Any) -> Any:
    return value


def _decoder(column_type: Any, dialect: str) -> Any:
    if column_type is None:
        return _identity
    if isinstance(column_type, UTCDateTime):
        return _decode_time
    if dialect == "postgresql":
        return _identity
    if isinstance(column_type, sa.Uuid):
        return _decode_uuid
    if isinstance(column_type, sa.JSON):
        return _decode_json
    if isinstance(column_type, sa.Boolean):
        return _decode_bool
    return _identity


def _decode_time(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _decode_uuid(value: Any) -> UUID | None:
    return None if value is None else UUID(value) if isinstance(value, str) else value


def _decode_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _decode_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


# -- statements generated from a table's columns -------------------------------------------------


def _cast_type(column: sa.Column[Any], dialect: sa.Dialect) -> str:
    # Unbounded text for every string column: a cast to VARCHAR(n) would cut a longer value short
    # where the assignment to the column rejects it.
    if isinstance(column.type, sa.String):
        return "TEXT"
    return str(column.type.compile(dialect=dialect))


def _placeholder(table: sa.Table, name: str, param: str, dialect: sa.Dialect) -> str:
    if dialect.name == "postgresql":
        return f"CAST(%({param})s AS {_cast_type(table.c[name], dialect)})"
    return f":{param}"


_generated: dict[tuple[Any, ...], str] = {}


def _shape(where: Mapping[str, Any]) -> tuple[tuple[str, bool], ...]:
    """The columns of a condition, each with whether it asks for NULL (which no ``=`` matches)."""
    return tuple((name, value is None) for name, value in where.items())


def _condition(table: sa.Table, shape: tuple[tuple[str, bool], ...], dialect: sa.Dialect) -> str:
    return " AND ".join(
        f"{n} IS NULL" if null else f"{n} = {_placeholder(table, n, 'w_' + n, dialect)}" for n, null in shape
    )


def _update_sql(
    table: sa.Table, set_names: tuple[str, ...], shape: tuple[tuple[str, bool], ...], dialect: sa.Dialect
) -> str:
    key = ("update", table.name, set_names, shape, dialect.name)
    found = _generated.get(key)
    if found is None:
        sets = ", ".join(f"{n} = {_placeholder(table, n, 'v_' + n, dialect)}" for n in set_names)
        found = _generated[key] = f"UPDATE {table.name} SET {sets} WHERE {_condition(table, shape, dialect)}"
    return found


def _insert_sql(table: sa.Table, names: tuple[str, ...], source: str | None, dialect: sa.Dialect) -> str:
    """``INSERT`` of the ``e_`` parameters: one row of values, or one per row of ``source``."""
    key = ("insert", table.name, names, source, dialect.name)
    found = _generated.get(key)
    if found is None:
        values = ", ".join(_placeholder(table, n, "e_" + n, dialect) for n in names)
        columns = ", ".join(names)
        tail = f"VALUES ({values})" if source is None else f"SELECT {values} FROM {source}"
        found = _generated[key] = f"INSERT INTO {table.name} ({columns}) {tail}"
    return found


def _bind(table: sa.Table, prefix: str, values: Mapping[str, Any], dialect: str) -> dict[str, Any]:
    encode = _encoder(dialect)
    bound = {}
    for name, value in values.items():
        column_type = table.c[name].type
        wrapped = Json(value) if isinstance(column_type, sa.JSON) and not isinstance(value, Json) else value
        bound[prefix + name] = encode(wrapped)
    return bound


def _update(
    table: sa.Table, values: Mapping[str, Any], where: Mapping[str, Any], dialect: sa.Dialect
) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of ``update_where``."""
    sql = _update_sql(table, tuple(values), _shape(where), dialect)
    bound = {name: value for name, value in where.items() if value is not None}
    return sql, {**_bind(table, "v_", values, dialect.name), **_bind(table, "w_", bound, dialect.name)}


async def _run(conn: AsyncConnection, sql: str, params: Mapping[str, Any], *, defer: bool = False) -> Any:
    """Run one statement; with ``defer`` inside ``pipelined``, send it without waiting."""
    if conn.dialect.name != "postgresql":
        sent = _Sent(sql, params)
        batch = conn.info.get(_BATCH_KEY)
        if defer and batch is not None:
            batch.append(sent)
        else:
            await _flush(conn, then=sent)
        return sent
    try:
        return await (await _driver(conn)).execute(sql, params)
    except Exception as exc:
        _raise_as_sqlalchemy(exc, sql, params)
        raise


_BATCH_KEY = "onboardflow.sqlite_batch"


class _Sent:
    """A statement for SQLite, with its answer (rows, their description, the rows changed) once it ran."""

    __slots__ = ("_rowcount", "description", "done", "params", "rows", "sql")

    def __init__(self, sql: str, params: Mapping[str, Any]) -> None:
        self.sql, self.params = sql, params
        self.rows: list[Any] = []
        self.description: Any = None
        self._rowcount = -1
        self.done = False

    @property
    def rowcount(self) -> int:
        if not self.done:
            raise RuntimeError("the statement has not run yet: read it after its pipelined block")
        return self._rowcount

    def run(self, connection: sqlite3.Connection) -> None:
        """Run on the connection's thread, keeping the whole answer."""
        cursor = connection.execute(self.sql, self.params)
        try:
            self.description = cursor.description
            self.rows = cursor.fetchall() if cursor.description else []
            self._rowcount = cursor.rowcount
        finally:
            cursor.close()
        self.done = True


class _LoggedUpdate(_Sent):
    """An update and, if it changed exactly one row, the insert of its log entry (``update_logged``
    on SQLite), in one call on the connection's thread; ``strict``: ``Conflict`` when it changed
    none (a ``Transition``)."""

    __slots__ = ("log_sql", "strict")

    def __init__(self, sql: str, log_sql: str, params: Mapping[str, Any], *, strict: bool = False) -> None:
        super().__init__(sql, params)
        self.log_sql = log_sql
        self.strict = strict

    def run(self, connection: sqlite3.Connection) -> None:
        super().run(connection)
        if self._rowcount == 1:
            connection.execute(self.log_sql, self.params).close()
        elif self.strict:
            raise Conflict("the row changed meanwhile")


def _run_all(connection: sqlite3.Connection, sent: Sequence[_Sent]) -> None:
    for item in sent:
        item.run(connection)


async def _flush(conn: AsyncConnection, *, then: _Sent | None = None) -> None:
    """Run the statements waiting in this connection's SQLite batch (and ``then``), in order, in one
    call on the connection's thread: each statement through aiosqlite is a hand-over to that thread
    and back, and the database stays locked for all of them."""
    batch = conn.info.get(_BATCH_KEY)
    pending = [*(batch or ()), *([then] if then is not None else [])]
    if batch:
        batch.clear()
    if not pending:
        return
    driver = await _driver(conn)
    try:
        await driver._execute(_run_all, driver._conn, pending)
    except Exception as exc:
        failed = next((item for item in pending if not item.done), pending[-1])
        _raise_as_sqlalchemy(exc, failed.sql, failed.params)
        raise


async def update_where(
    conn: AsyncConnection, table: sa.Table, values: Mapping[str, Any], where: Mapping[str, Any]
) -> int:
    """``UPDATE table SET values WHERE`` each ``where`` column equals its value (is NULL for
    ``None``); the rows changed.

    The statement is generated once per table and set of columns, values are encoded by the column
    types (as SQLAlchemy would store them), and it runs on the driver connection."""
    sql, params = _update(table, values, where, conn.dialect)
    return int((await _run(conn, sql, params)).rowcount)


async def update_returning(
    conn: AsyncConnection, table: sa.Table, values: Mapping[str, Any], where: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """``update_where`` that returns the rows as they are after it (decoded like ``fetch``'s)."""
    sql, params = _update(table, values, where, conn.dialect)
    return await rows_of(conn, await _run(conn, sql + " RETURNING *", params), columns=columns_of(table))


async def update_logged(
    conn: AsyncConnection,
    table: sa.Table,
    values: Mapping[str, Any],
    where: Mapping[str, Any],
    *,
    log: sa.Table,
    entry: Mapping[str, Any],
) -> bool:
    """``update_where`` for exactly one row, and the row ``entry`` inserted into ``log`` if (and only
    if) it changed; on PostgreSQL one statement."""
    dialect = conn.dialect
    names = tuple(entry)
    update, params = _update(table, values, where, dialect)
    params.update(_bind(log, "e_", entry, dialect.name))
    if dialect.name == "postgresql":
        key = ("logged", update, log.name, names)
        sql = _generated.get(key)
        if sql is None:
            sql = _generated[key] = (
                f"WITH moved AS ({update} RETURNING 1) {_insert_sql(log, names, 'moved', dialect)}"
            )
        return int((await _run(conn, sql, params)).rowcount) == 1
    logged = _LoggedUpdate(update, _insert_sql(log, names, None, dialect), params)
    await _flush(conn, then=logged)
    return logged.rowcount == 1


async def select_where(
    conn: AsyncConnection, table: sa.Table, where: Mapping[str, Any], *, for_update: bool = False
) -> list[dict[str, Any]]:
    """The rows of ``table`` whose ``where`` columns equal their values (are NULL for ``None``),
    decoded like ``fetch``'s; ``for_update`` locks them for the rest of the transaction (PostgreSQL;
    SQLite's writer already holds the database)."""
    return await selected(conn, await send_select(conn, table, where, for_update=for_update))


@dataclass(frozen=True, slots=True)
class Selection:
    """A ``send_select`` on its way: the table it reads and the driver cursor."""

    table: sa.Table
    cursor: Any


async def send_select(
    conn: AsyncConnection, table: sa.Table, where: Mapping[str, Any], *, for_update: bool = False
) -> Selection:
    """``select_where`` sent without waiting inside ``pipelined``; ``selected`` gives its rows."""
    sql, params = _select(table, where, for_update, conn.dialect)
    return Selection(table, await _run(conn, sql, params, defer=True))


def _select(
    table: sa.Table, where: Mapping[str, Any], for_update: bool, dialect: sa.Dialect
) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of ``select_where``."""
    shape = _shape(where)
    key = ("select", table.name, shape, for_update, dialect.name)
    sql = _generated.get(key)
    if sql is None:
        lock = " FOR UPDATE" if for_update and dialect.name == "postgresql" else ""
        sql = _generated[key] = f"SELECT * FROM {table.name} WHERE {_condition(table, shape, dialect)}{lock}"
    bound = {name: value for name, value in where.items() if value is not None}
    return sql, _bind(table, "w_", bound, dialect.name)


async def selected(conn: AsyncConnection, selection: Selection) -> list[dict[str, Any]]:
    """The rows of a ``send_select``."""
    return await rows_of(conn, selection.cursor, columns=columns_of(selection.table))


async def select_owned(
    conn: AsyncConnection,
    table: sa.Table,
    row_id: UUID,
    organisation_id: UUID | None,
    *,
    for_update: bool = False,
) -> dict[str, Any] | None:
    """The row ``row_id`` of ``table`` if it belongs to the organisation (see ``owned``)."""
    return owned(await select_where(conn, table, {"id": row_id}, for_update=for_update), organisation_id)


def owned(rows: Sequence[dict[str, Any]], organisation_id: UUID | None) -> dict[str, Any] | None:
    """The first of ``rows`` if it belongs to the organisation (any, for ``None``).

    Rows are read by primary key alone and their organisation checked here: with both in the
    condition, PostgreSQL's planner may scan the organisation's index before a table is analysed."""
    if not rows or organisation_id not in (None, rows[0]["organisation_id"]):
        return None
    return rows[0]


@cache
def columns_of(table: sa.Table) -> dict[str, Any]:
    """``table_columns`` of one table, built once."""
    return table_columns(table)


# -- statement plans: logic written once, run on the event loop or on SQLite's connection thread --

T = TypeVar("T")
_DIALECTS: dict[str, sa.Dialect] = {
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
    "sqlite": sqlite_dialect.dialect(),
}


@dataclass(frozen=True, slots=True)
class Fetch:
    """A named statement whose rows a plan reads (decoded like ``fetch``'s, by ``columns``)."""

    module: str
    name: str
    params: Mapping[str, Any]
    columns: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """A named statement whose count of changed rows a plan reads."""

    module: str
    name: str
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Rows:
    """``select_where`` in a plan: its answer is the rows."""

    table: sa.Table
    where: Mapping[str, Any]
    for_update: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    """``update_where`` in a plan: its answer is the count of rows changed."""

    table: sa.Table
    values: Mapping[str, Any]
    where: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Transition:
    """``update_logged`` of exactly one row in a plan, strict: when the row is no longer as ``where``
    says (someone else moved it), the transaction fails with ``Conflict`` and keeps nothing, so a
    plan may send it without waiting for its answer (``Hold``)."""

    table: sa.Table
    values: Mapping[str, Any]
    where: Mapping[str, Any]
    log: sa.Table
    entry: Mapping[str, Any]


Statement = Fetch | Write | Rows | Change | Transition

NOTIFY_KEY = "onboardflow.notify_queues"
"""Set of wake-ups (queue names, ``cancel:<id>``) a write transaction asks for once it commits."""


@dataclass(frozen=True, slots=True)
class Wake:
    """Wake the workers of ``queue`` once the plan's transaction commits (``queue.request_wakeup``)."""

    queue: str


@dataclass(frozen=True, slots=True)
class Hold:
    """Writes a plan needs no answer for: they go out with its next statements (ahead of them, so
    those see them) or, at its end, with the commit; one round trip for all of them."""

    writes: Sequence[Write | Change | Transition]


Step = Statement | Hold | Wake | Sequence[Statement]
Plan = Generator[Step, Any, T]
"""A generator that yields the statements it needs and gets back their answers (rows for ``Fetch``
and ``Rows``, a row count for ``Write`` and ``Change``, ``True`` for ``Transition``; a list of
those for a list, run together), then returns its result. ``carry_out`` runs it on a connection of
the event loop, a round trip per step; ``carry_out_sqlite`` on SQLite's connection in one go, all its
steps at once (``Database.write_at_once``)."""


async def carry_out(conn: AsyncConnection, plan: Plan[T], *, then_commit: bool = False) -> T:
    """Run ``plan`` on ``conn``, each step (a list as one ``pipelined`` block, with the writes held
    so far ahead of it) a round trip; with ``then_commit``, the writes still held at its end go with
    the commit."""
    held: list[Statement] = []
    answer: Any = None
    while True:
        try:
            step = plan.send(answer)
        except StopIteration as done:
            if held or then_commit:
                async with pipelined(conn):
                    for statement in held:
                        await _send_statement(conn, statement)
                    if then_commit:
                        await commit(conn)
            return done.value  # type: ignore[no-any-return]
        if isinstance(step, Hold):
            held.extend(step.writes)
            answer = None
            continue
        if isinstance(step, Wake):
            conn.info.setdefault(NOTIFY_KEY, set()).add(step.queue)
            answer = None
            continue
        batch = _statements_of(step)
        async with pipelined(conn):
            for statement in held:
                await _send_statement(conn, statement)
            sent = [await _send_statement(conn, statement) for statement in batch]
        held = []
        answers = [
            await _answer(conn, statement, cursor) for statement, cursor in zip(batch, sent, strict=True)
        ]
        answer = answers if isinstance(step, Sequence) else answers[0]


def carry_out_sqlite(connection: sqlite3.Connection, plan: Plan[T], wakes: set[str] | None = None) -> T:
    """Run ``plan`` on SQLite's driver ``connection``, on the calling thread (``Database.write_at_once``
    says which); the queues it asks to wake are added to ``wakes`` (to be woken once the transaction
    commits)."""
    answer: Any = None
    while True:
        try:
            step = plan.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(step, Wake):
            if wakes is not None:
                wakes.add(step.queue)
            answer = None
            continue
        if isinstance(step, Hold):
            for statement in step.writes:
                _run_on_thread(connection, statement)
            answer = None
            continue
        answers = [_run_on_thread(connection, statement) for statement in _statements_of(step)]
        answer = answers if isinstance(step, Sequence) else answers[0]


def _statements_of(step: Statement | Sequence[Statement]) -> list[Statement]:
    return list(step) if isinstance(step, Sequence) else [step]


async def _send_statement(conn: AsyncConnection, statement: Statement) -> Any:
    """Send one statement of a plan inside ``pipelined``; its cursor (on SQLite a ``_Sent``)."""
    dialect = conn.dialect
    if isinstance(statement, Fetch | Write):
        return await send(conn, statement.module, statement.name, statement.params)
    if isinstance(statement, Rows):
        return (
            await send_select(conn, statement.table, statement.where, for_update=statement.for_update)
        ).cursor
    if isinstance(statement, Change):
        sql, params = _update(statement.table, statement.values, statement.where, dialect)
        return await _run(conn, sql, params, defer=True)
    sql, params, log_sql = _transition(statement, dialect)
    if dialect.name == "postgresql":
        return await _run(conn, sql, params, defer=True)
    logged = _LoggedUpdate(sql, log_sql, params, strict=True)
    batch = conn.info.get(_BATCH_KEY)
    if batch is not None:
        batch.append(logged)
    else:
        await _flush(conn, then=logged)
    return logged


async def _answer(conn: AsyncConnection, statement: Statement, cursor: Any) -> Any:
    if isinstance(statement, Fetch):
        return await rows_of(conn, cursor, columns=statement.columns)
    if isinstance(statement, Rows):
        return await rows_of(conn, cursor, columns=columns_of(statement.table))
    if isinstance(statement, Transition):
        return True
    return int(cursor.rowcount)


def _run_on_thread(connection: sqlite3.Connection, statement: Statement) -> Any:
    dialect = _DIALECTS["sqlite"]
    columns: Mapping[str, Any] | None = None
    if isinstance(statement, Fetch | Write):
        sql = _statement(statement.module, statement.name, "sqlite")
        values = {key: _encode_sqlite(value) for key, value in statement.params.items()}
        columns = statement.columns if isinstance(statement, Fetch) else None
    elif isinstance(statement, Rows):
        sql, values = _select(statement.table, statement.where, statement.for_update, dialect)
        columns = columns_of(statement.table)
    elif isinstance(statement, Change):
        sql, values = _update(statement.table, statement.values, statement.where, dialect)
    else:
        sql, values, log_sql = _transition(statement, dialect)
        logged = _LoggedUpdate(sql, log_sql, values, strict=True)
        try:
            logged.run(connection)
        except sqlite3.Error as exc:
            _raise_as_sqlalchemy(exc, sql, values)
            raise
        return True
    try:
        cursor = connection.execute(sql, values)
    except sqlite3.Error as exc:
        _raise_as_sqlalchemy(exc, sql, values)
        raise
    try:
        if isinstance(statement, Write | Change):
            return cursor.rowcount
        return _decoded(_column_names(cursor), cursor.fetchall(), columns, "sqlite")
    finally:
        cursor.close()


def _transition(statement: Transition, dialect: sa.Dialect) -> tuple[str, dict[str, Any], str]:
    """The SQL of a strict ``Transition``: on PostgreSQL one statement, whose log entry names no
    entity (a NOT NULL violation, so ``Conflict``) when the update moved nothing; on SQLite the
    update and the insert of its entry, ``_LoggedUpdate(strict=True)`` checking between them."""
    update, params = _update(statement.table, statement.values, statement.where, dialect)
    params.update(_bind(statement.log, "e_", statement.entry, dialect.name))
    names = tuple(statement.entry)
    if dialect.name != "postgresql":
        return update, params, _insert_sql(statement.log, names, None, dialect)
    key = ("strict", update, statement.log.name, names)
    sql = _generated.get(key)
    if sql is None:
        values = ", ".join(
            f"CASE WHEN moved.n = 1 THEN {_placeholder(statement.log, n, 'e_' + n, dialect)} END"
            if n == "entity_id"
            else _placeholder(statement.log, n, "e_" + n, dialect)
            for n in names
        )
        sql = _generated[key] = (
            f"WITH changed AS ({update} RETURNING 1), moved AS (SELECT count(*) AS n FROM changed) "
            f"INSERT INTO {statement.log.name} ({', '.join(names)}) SELECT {values} FROM moved"
        )
    return sql, params, ""


class DatabaseBusy(Exception):
    """``in_transaction_here`` found SQLite's database locked by another writer and ran nothing."""


async def in_transaction_on_thread(conn: AsyncConnection, work: Callable[[sqlite3.Connection], T]) -> T:
    """SQLite: run ``work`` in its own write transaction (``BEGIN IMMEDIATE`` to ``COMMIT``, rolled
    back if it raises) on the thread of ``conn``'s driver connection, in one hand-over to that
    thread, waiting there for the database as its busy timeout says. ``conn`` must not be in a
    transaction of SQLAlchemy's."""
    driver = await _driver(conn)
    try:
        return await driver._execute(_in_transaction, driver._conn, work)  # type: ignore[no-any-return]
    except sqlite3.Error as exc:
        _raise_as_sqlalchemy(exc, "(transaction)", None)
        raise


async def in_transaction_here(
    conn: AsyncConnection, work: Callable[[sqlite3.Connection], T], *, busy_timeout_ms: int
) -> T:
    """SQLite: run ``work`` as ``in_transaction_on_thread`` does, but on the calling thread, and
    without waiting for the database: ``DatabaseBusy`` if another writer holds it (nothing ran).
    ``busy_timeout_ms`` is the connection's own busy timeout, put back once the transaction began."""
    connection = (await _driver(conn))._conn
    try:
        connection.execute("PRAGMA busy_timeout = 0")
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY and not connection.in_transaction:
                raise DatabaseBusy from exc
            raise
        finally:
            connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        return _ended(connection, work)
    except sqlite3.Error as exc:
        _raise_as_sqlalchemy(exc, "(transaction)", None)
        raise


def _in_transaction(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    connection.execute("BEGIN IMMEDIATE")
    return _ended(connection, work)


def _ended(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` in the transaction just begun on ``connection``; commit, or roll back if it raises."""
    try:
        result = work(connection)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return result
