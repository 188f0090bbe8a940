"""A registration run survives a SIGKILLed worker: real worker processes, the http adapters against
the sandbox on a real port, PostgreSQL."""

from __future__ import annotations

import os

import pytest

from onboardflow.domain.leads import RestaurantInput
from onboardflow.domain.menus import normalise_menu
from onboardflow.operations import registrations, restaurants
from onboardflow.operations.services import Services
from onboardflow.store import restaurants as restaurant_store
from tests.conftest import Tenant
from tests.domain.conftest import sample_config
from tests.runtime.conftest import WorkerProcesses, pumpd_calls_by
from tests.runtime.waiting import wait_for

pytestmark = pytest.mark.slow

MENU = {
    "currency": "NZD",
    "categories": [
        {
            "name": "Pizzas",
            "items": [
                {"name": "Margherita", "price": "18.00", "tags": ["vegetarian"]},
                {
                    "name": "Pepperoni",
                    "price": "21.00",
                    "option_groups": [
                        {
                            "name": "Size",
                            "min": 1,
                            "max": 1,
                            "options": [{"name": "Large", "price_delta": "4.00"}],
                        }
                    ],
                },
            ],
        }
    ],
}


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
async def test_a_run_completes_after_its_worker_is_killed_without_repeating_any_effect(
    services: Services, tenant: Tenant, workers: WorkerProcesses, sandbox: str, db_kind: str
) -> None:
    if not os.environ.get("ONBOARDFLOW_TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL")
    restaurant = await restaurants.create_restaurant(
        services,
        tenant.principal,
        RestaurantInput(
            name="Kill Test Pizza", marketplace_url="https://www.ubereats.com/nz/store/kill-test"
        ),
    )
    async with services.db.write() as conn:
        await restaurant_store.update_restaurant(
            conn, tenant.principal.organisation_id, restaurant.id, {"menu": normalise_menu(MENU)}
        )
    http = {"adapters": "http", "service_base_url": sandbox, "pumpd_concurrency": 12}
    first = workers.start(concurrency=12, lease_seconds=3, heartbeat_seconds=0.5, **http)
    run_id, _ = await registrations.start_single_run(
        services, tenant.principal, restaurant.id, sample_config()
    )

    await workers.kill_when_busy(
        services, first, what="sub-steps", concurrency=12, lease_seconds=3, heartbeat_seconds=0.5, **http
    )

    async def finished() -> bool:
        detail = await registrations.get_run(services, tenant.principal, run_id)
        return detail["status"] in ("completed", "failed")

    await wait_for(finished, timeout=90, interval=0.25, what=f"the run to finish:\n{workers.logs()}")
    detail = await registrations.get_run(services, tenant.principal, run_id)
    assert detail["status"] == "completed", detail["error"]

    by_operation = await pumpd_calls_by(sandbox, "operation")
    executed = {s["key"] for s in detail["sub_steps"] if s["status"] == "completed"}
    assert set(by_operation) == executed
    repeated = {op: c for op, c in by_operation.items() if len(c) > 1}
    assert repeated, "the kill interrupted at least one call, which ran again"
    for operation, made in by_operation.items():
        effects = [c for c in made if c["outcome"] == "ok"]
        assert len(effects) == 1, (operation, made)
        assert len({c["idempotency_key"] for c in made}) == 1, (operation, made)
    interrupted = [s for s in detail["sub_steps"] if s["attempts"] > 1]
    assert interrupted, "the interrupted sub-steps count the extra attempt"
