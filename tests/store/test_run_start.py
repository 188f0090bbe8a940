"""A single-restaurant run is created with its first scheduling turn already taken: the rows and
events are those the general path (``insert_run`` then ``schedule_ready``) would write."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from onboardflow.domain.leads import RestaurantInput
from onboardflow.domain.pipeline import SINGLE_RUN_STEPS
from onboardflow.domain.yolo_config import validate_yolo_config
from onboardflow.errors import NotFound
from onboardflow.operations import restaurants
from onboardflow.operations.services import Services
from onboardflow.store import registrations
from onboardflow.store.tables import events, jobs, registration_job_steps, registration_jobs
from tests.conftest import Tenant, make_tenant
from tests.domain.conftest import sample_config

CONFIGS = {
    "everything on": {"item_tags": {"enabled": True}},
    "no onboarding user": {"onboarding": {"create_user": False, "sync": False}},
    "no menu": {"menu": {"import_menu": False}, "option_sets": {"enabled": False}},
}


def _config(changes: dict[str, Any]) -> dict[str, Any]:
    config = sample_config()
    for section, values in changes.items():
        config[section] = {**config[section], **values}
    return validate_yolo_config(config).model_dump(mode="json")


async def _restaurant(services: Services, tenant: Tenant, name: str) -> UUID:
    created = await restaurants.create_restaurant(services, tenant.principal, RestaurantInput(name=name))
    return created.id


async def _the_general_way(services: Services, tenant: Tenant, restaurant_id: UUID, config: Any) -> UUID:
    async with services.db.write() as conn:
        run = await registrations.insert_run(
            conn,
            organisation_id=tenant.principal.organisation_id,
            restaurant_id=restaurant_id,
            pipeline=SINGLE_RUN_STEPS,
            execution_config=config,
            created_by=tenant.principal.user_id,
            actor="test",
        )
        await registrations.schedule_ready(conn, run.id, config=config, actor="test")
    return run.id


async def _snapshot(services: Services, run_id: UUID) -> dict[str, Any]:
    """The run as the rules leave it, without ids and times."""
    async with services.db.read() as conn:
        run = (await conn.execute(sa.select(registration_jobs).where(registration_jobs.c.id == run_id))).one()
        of_run = registration_job_steps.c.registration_job_id == run_id
        steps = (await conn.execute(sa.select(registration_job_steps).where(of_run))).all()
        queued = (
            await conn.execute(sa.select(jobs).where(jobs.c.id.in_([s.job_id for s in steps if s.job_id])))
        ).all()
        logged = (
            await conn.execute(
                sa.select(events).where(events.c.registration_job_id == run_id).order_by(events.c.id)
            )
        ).all()
    key_of = {s.id: s.step_key for s in steps}
    return {
        "run": (run.status, run.current_step, run.current_phase, run.started_at is not None),
        "steps": {
            s.step_key: (
                s.status,
                s.step_number,
                s.phase,
                s.label,
                s.step_type,
                key_of.get(s.parent_step_id),
                s.skip_reason,
                s.job_id is not None,
                s.started_at is not None,
                s.completed_at is not None,
                s.input,
            )
            for s in steps
        },
        "jobs": sorted(
            (j.job_type, j.queue, j.status, j.input_payload["key"], j.max_retries, j.job_category)
            for j in queued
        ),
        "events": [
            (e.entity_type, key_of.get(e.entity_id, "run"), e.from_status, e.to_status, e.reason, e.data)
            for e in logged
        ],
    }


@pytest.mark.parametrize("changes", list(CONFIGS.values()), ids=list(CONFIGS))
async def test_a_started_run_is_what_the_general_path_makes_of_a_new_run(
    services: Services, tenant: Tenant, changes: dict[str, Any]
) -> None:
    config = _config(changes)
    general = await _the_general_way(services, tenant, await _restaurant(services, tenant, "General"), config)
    started, created = await registrations.start_single_run(
        services.db,
        organisation_id=tenant.principal.organisation_id,
        restaurant_id=await _restaurant(services, tenant, "Started"),
        execution_config=config,
        config=config,
        created_by=tenant.principal.user_id,
        actor="test",
    )
    assert created
    expected, actual = await _snapshot(services, general), await _snapshot(services, started)
    assert actual == expected
    assert any(status == "pending" for status, *_ in actual["steps"].values()), "sub-steps wait their turn"


async def test_a_start_finds_the_active_run_and_refuses_another_organisations_restaurant(
    services: Services, tenant: Tenant
) -> None:
    config = _config({})
    restaurant_id = await _restaurant(services, tenant, "Once")
    first = await _start(services, tenant.principal.organisation_id, restaurant_id, config)
    again = await _start(services, tenant.principal.organisation_id, restaurant_id, config)
    assert again == (first[0], False)
    other = await make_tenant(services, "Other Org")
    with pytest.raises(NotFound):
        await _start(services, other.principal.organisation_id, restaurant_id, config)


async def _start(
    services: Services, organisation_id: UUID, restaurant_id: UUID, config: dict[str, Any]
) -> tuple[UUID, bool]:
    return await registrations.start_single_run(
        services.db,
        organisation_id=organisation_id,
        restaurant_id=restaurant_id,
        execution_config=config,
        config=config,
        created_by=None,
        actor="test",
    )
