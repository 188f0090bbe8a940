"""The statements marked ``-- plan: generic`` run with the plan PostgreSQL makes once for their shape;
with table statistics that plan must still reach the jobs it claims by key, not read the whole queue
table (a join of the claimed jobs whose size the planner guessed at 10 % of the due jobs did)."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from onboardflow.operations.services import Services
from onboardflow.store import driver_sql, sql
from onboardflow.store.engine import libpq_url
from onboardflow.store.sql import generic_plan, queries, query
from onboardflow.store.types import utcnow

_MARKED = [
    (path.stem, name)
    for path in sorted(Path(sql.__file__).parent.glob("*.sql"))
    for name in queries(path.stem)
    if generic_plan(path.stem, name)
]


def test_the_hot_claims_are_marked_generic() -> None:
    assert ("sub_steps", "hand_over_and_begin_postgresql") in _MARKED
    assert ("queue", "hand_over_postgresql") in _MARKED
    assert ("queue", "claim_postgresql") in _MARKED
    assert ("queue", "claim_limited_postgresql") in _MARKED
    assert not generic_plan("sub_steps", "record_attempt_postgresql")


def _numbered(sql: str) -> str:
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return re.sub(r"(?<![:\w]):(\w+)", number, sql)


@pytest.mark.parametrize(("module", "name"), _MARKED)
def test_a_generic_plan_reads_jobs_by_key(module: str, name: str, database_url: str, db_kind: str) -> None:
    if db_kind != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        # A queue table of some size, with statistics: 3,000 due jobs in three queues.
        conn.execute(
            "INSERT INTO jobs (id, job_type, queue, status, priority, input_payload, attempts, max_retries,"
            " run_at, cancel_requested, metadata, created_at, updated_at)"
            " SELECT gen_random_uuid(), 'registration.sub_step',"
            " (ARRAY['pumpd', 'default', 'pipeline'])[i % 3 + 1],"
            " 'pending', 0, '{}', 0, 3, now(), false, '{}', now(), now() FROM generate_series(1, 3000) AS i"
        )
        conn.execute("ANALYZE jobs")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE marked AS {_numbered(query(module, name))}")  # type: ignore[arg-type]
        types = conn.execute(
            "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = 'marked'"
        ).fetchone()
        assert types is not None
        nulls = ", ".join(f"NULL::{t}" for t in types[0])
        plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN EXECUTE marked({nulls})"))  # type: ignore[arg-type]
    assert "Seq Scan on jobs" not in plan, plan


async def test_the_setting_holds_for_the_marked_statement_alone(services: Services, db_kind: str) -> None:
    if db_kind != "postgresql":
        pytest.skip("plans are PostgreSQL's")
    now = utcnow()
    async with services.db.write() as conn:
        async with driver_sql.pipelined(conn):
            claimed = await driver_sql.send(
                conn, "queue", "claim_postgresql", {"now": now, "limit": 5, "worker": "w", "lease_until": now}
            )
        assert await driver_sql.rows_of(conn, claimed) == []
        mode = (await conn.execute(sa.text("SHOW plan_cache_mode"))).scalar_one()
    assert mode == "auto", "the rest of the transaction plans as usual"
