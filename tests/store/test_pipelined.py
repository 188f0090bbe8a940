"""``driver_sql.pipelined``: statements and their commit go out together and are answered when the
block ends; a failure anywhere in the block commits nothing."""

from __future__ import annotations

import pytest

from onboardflow.domain.leads import RestaurantInput
from onboardflow.errors import Conflict, InvalidInput
from onboardflow.operations import restaurants
from onboardflow.operations.services import Services
from onboardflow.store import driver_sql
from onboardflow.store.tables import restaurants as restaurant_table
from onboardflow.store.types import utcnow
from tests.conftest import Tenant


async def _restaurant(services: Services, tenant: Tenant) -> dict[str, object]:
    created = await restaurants.create_restaurant(
        services, tenant.principal, RestaurantInput(name="Piped Diner")
    )
    return {"restaurant_id": created.id, "organisation_id": tenant.principal.organisation_id}


async def _pumpd_user_id(services: Services, restaurant_id: object) -> object:
    async with services.db.read() as conn:
        rows = await driver_sql.select_where(conn, restaurant_table, {"id": restaurant_id})
    return rows[0]["pumpd_user_id"]


async def test_the_statements_and_their_commit_are_answered_when_the_block_ends(
    services: Services, tenant: Tenant
) -> None:
    ids = await _restaurant(services, tenant)
    params = {**ids, "pumpd_user_id": "user-1", "pumpd_restaurant_id": None, "now": utcnow()}
    async with services.db.write() as conn:
        async with driver_sql.pipelined(conn):
            await driver_sql.send(conn, "sub_steps", "restaurant_pumpd_ids", params)
            read = await driver_sql.send_select(conn, restaurant_table, {"id": ids["restaurant_id"]})
            if conn.dialect.name == "postgresql":
                await driver_sql.commit(conn)
        rows = await driver_sql.selected(conn, read)
        assert rows[0]["pumpd_user_id"] == "user-1"  # read after the block, in that statement's order
        if conn.dialect.name == "postgresql":
            # Committed in the block's round trip: another transaction sees it before this one ends.
            assert await _pumpd_user_id(services, ids["restaurant_id"]) == "user-1"
    assert await _pumpd_user_id(services, ids["restaurant_id"]) == "user-1"


async def test_a_statement_that_fails_in_the_block_commits_nothing_sent_before_it(
    services: Services, tenant: Tenant
) -> None:
    if services.db.dialect != "postgresql":
        pytest.skip("only PostgreSQL refuses a NUL byte; the next test fails a statement on both")
    ids = await _restaurant(services, tenant)
    params = {**ids, "pumpd_user_id": "user-2", "pumpd_restaurant_id": None, "now": utcnow()}
    bad = {**params, "pumpd_user_id": "nul\x00byte"}  # a value PostgreSQL refuses

    async def both_then_commit() -> None:
        async with services.db.write() as conn, driver_sql.pipelined(conn):
            await driver_sql.send(conn, "sub_steps", "restaurant_pumpd_ids", params)
            await driver_sql.send(conn, "sub_steps", "restaurant_pumpd_ids", bad)
            await driver_sql.commit(conn)

    with pytest.raises(InvalidInput):
        await both_then_commit()
    assert await _pumpd_user_id(services, ids["restaurant_id"]) is None


async def test_statements_sent_in_the_block_run_when_it_ends_and_a_failure_keeps_none_of_them(
    services: Services, tenant: Tenant
) -> None:
    ids = await _restaurant(services, tenant)
    params = {**ids, "pumpd_user_id": "user-3", "pumpd_restaurant_id": None, "now": utcnow()}
    async with services.db.write() as conn:
        async with driver_sql.pipelined(conn):
            changed = await driver_sql.send(conn, "sub_steps", "restaurant_pumpd_ids", params)
            if conn.dialect.name == "sqlite":
                with pytest.raises(RuntimeError, match="has not run yet"):
                    _ = changed.rowcount
        assert changed.rowcount == 1

    async def change_then_fail() -> None:
        async with services.db.write() as conn, driver_sql.pipelined(conn):
            changed = {**params, "pumpd_user_id": "user-4"}
            await driver_sql.send(conn, "sub_steps", "restaurant_pumpd_ids", changed)
            await driver_sql.send(conn, "sub_steps", "insert_event", _event(ids, entity_type=None))

    with pytest.raises(Conflict):
        await change_then_fail()
    assert await _pumpd_user_id(services, ids["restaurant_id"]) == "user-3"


async def test_a_transaction_begun_by_a_block_spans_the_blocks_after_it_and_the_pool_gets_it_back_whole(
    services: Services, tenant: Tenant
) -> None:
    """The first block of a write sends the transaction's BEGIN itself (PostgreSQL): what it sent
    is still undone by a failure in a later block, and every connection leaves the block as it came."""
    ids = await _restaurant(services, tenant)
    params = {**ids, "pumpd_user_id": "user-5", "pumpd_restaurant_id": None, "now": utcnow()}

    async def change_then_fail_later() -> None:
        async with services.db.write() as conn:
            async with driver_sql.pipelined(conn):
                await driver_sql.send(conn, "sub_steps", "restaurant_pumpd_ids", params)
            async with driver_sql.pipelined(conn):
                await driver_sql.send(conn, "sub_steps", "insert_event", _event(ids, entity_type=None))

    with pytest.raises(Conflict):
        await change_then_fail_later()
    assert await _pumpd_user_id(services, ids["restaurant_id"]) is None

    if services.db.dialect == "postgresql":
        for _ in range(3):  # several checkouts: none of the pool's connections is left in autocommit
            async with services.db.write() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                assert driver.autocommit is False
                async with driver_sql.pipelined(conn):
                    await driver_sql.send(conn, "sub_steps", "restaurant_pumpd_ids", params)
                    await driver_sql.commit(conn)
            assert driver.autocommit is False
    async with services.db.write() as conn, driver_sql.pipelined(conn):
        await driver_sql.send(conn, "sub_steps", "restaurant_pumpd_ids", params)
    assert await _pumpd_user_id(services, ids["restaurant_id"]) == "user-5"


def _event(ids: dict[str, object], *, entity_type: str | None) -> dict[str, object]:
    """An event row; ``entity_type=None`` breaks its NOT NULL, so the insert fails."""
    return {
        "organisation_id": ids["organisation_id"],
        "entity_type": entity_type,
        "entity_id": ids["restaurant_id"],
        "batch_job_id": None,
        "registration_job_id": None,
        "from_status": None,
        "to_status": "x",
        "actor": "test",
        "reason": None,
        "data": None,
        "created_at": utcnow(),
    }
