"""``driver_sql`` plans: statements yielded by a generator, answered on the event loop or on SQLite's
connection thread; writes held until the plan's next statements or its commit; strict transitions."""

from __future__ import annotations

from typing import Any

import pytest

from onboardflow.domain.leads import RestaurantInput
from onboardflow.errors import Conflict
from onboardflow.operations import restaurants
from onboardflow.operations.services import Services
from onboardflow.store import driver_sql
from onboardflow.store.tables import events
from onboardflow.store.tables import restaurants as restaurant_table
from onboardflow.store.types import utcnow
from tests.conftest import Tenant


async def _restaurant(services: Services, tenant: Tenant, name: str = "Planned Diner") -> Any:
    return (await restaurants.create_restaurant(services, tenant.principal, RestaurantInput(name=name))).id


async def _row(services: Services, restaurant_id: Any) -> dict[str, Any]:
    async with services.db.read() as conn:
        return (await driver_sql.select_where(conn, restaurant_table, {"id": restaurant_id}))[0]


def _renamed(restaurant_id: Any, name: str, *, was: str) -> driver_sql.Transition:
    """A 'transition' of the restaurant's name, logged as an event (a stand-in for a status)."""
    return driver_sql.Transition(
        restaurant_table,
        {"name": name, "updated_at": utcnow()},
        {"id": restaurant_id, "name": was},
        log=events,
        entry={
            "entity_type": "restaurant",
            "entity_id": restaurant_id,
            "from_status": was,
            "to_status": name,
            "actor": "test",
            "created_at": utcnow(),
        },
    )


async def test_held_writes_go_ahead_of_the_next_reads_and_the_rest_with_the_commit(
    services: Services, tenant: Tenant
) -> None:
    first, second = await _restaurant(services, tenant), await _restaurant(services, tenant, "Other Diner")

    def plan() -> driver_sql.Plan[list[str]]:
        yield driver_sql.Hold([driver_sql.Change(restaurant_table, {"cuisine": "Thai"}, {"id": first})])
        rows = yield driver_sql.Rows(restaurant_table, {"id": first})
        yield driver_sql.Hold([_renamed(second, "Renamed Diner", was="Other Diner")])
        return [rows[0]["cuisine"]]

    assert await services.db.write_plan(plan()) == ["Thai"], "the read saw the write held before it"
    assert (await _row(services, second))["name"] == "Renamed Diner", "held to the end, then committed"


async def test_a_transition_whose_row_moved_fails_the_plan_and_keeps_nothing(
    services: Services, tenant: Tenant
) -> None:
    restaurant_id = await _restaurant(services, tenant)

    def plan() -> driver_sql.Plan[None]:
        yield driver_sql.Hold(
            [driver_sql.Change(restaurant_table, {"cuisine": "Thai"}, {"id": restaurant_id})]
        )
        yield driver_sql.Hold([_renamed(restaurant_id, "Renamed Diner", was="Not Its Name")])

    with pytest.raises(Conflict):
        await services.db.write_plan(plan())
    row = await _row(services, restaurant_id)
    assert (row["name"], row["cuisine"]) == ("Planned Diner", None)


async def test_a_plan_runs_the_same_on_the_event_loop_as_on_the_writer_thread(
    services: Services, tenant: Tenant
) -> None:
    restaurant_id = await _restaurant(services, tenant)

    def plan() -> driver_sql.Plan[tuple[int, bool, str]]:
        changed = yield driver_sql.Change(restaurant_table, {"city": "Auckland"}, {"id": restaurant_id})
        moved, rows = yield [
            _renamed(restaurant_id, "Renamed Diner", was="Planned Diner"),
            driver_sql.Rows(restaurant_table, {"id": restaurant_id}),
        ]
        return changed, moved, rows[0]["name"]

    async with services.db.write() as conn:
        assert await driver_sql.carry_out(conn, plan()) == (1, True, "Renamed Diner")
    assert (await _row(services, restaurant_id))["city"] == "Auckland"
