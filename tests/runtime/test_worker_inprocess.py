"""Worker behaviour that needs no second process: time-outs, scheduled retries, unique keys,
enqueueing inside the caller's transaction, pausing queues, and the generic menu job types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from onboardflow.domain.jobs import JobSpec
from onboardflow.domain.leads import RestaurantInput
from onboardflow.operations import restaurants
from onboardflow.operations.services import Services
from onboardflow.runtime.registry import Registry
from onboardflow.runtime.worker import Worker
from onboardflow.store import queue
from onboardflow.store.types import utcnow
from tests.conftest import Tenant
from tests.runtime.waiting import wait_for

local = Registry()


@local.register("slow")
async def slow(_ctx: Any) -> None:
    """Sleeps far longer than its time-out."""
    await asyncio.sleep(30)


@local.register("fails")
async def fails(_ctx: Any) -> None:
    """Always fails with an unknown (so retryable) error."""
    raise RuntimeError("boom")


@pytest.fixture
async def worker(services: Services) -> AsyncIterator[Worker]:
    running = Worker(services.runtime_deps(), services.registry.merged(local), concurrency=8)
    task = asyncio.create_task(running.run())
    yield running
    running.stop()
    await task


async def _job(services: Services, job_id: UUID) -> dict[str, Any]:
    async with services.db.read() as conn:
        return await queue.get_job(conn, None, job_id)


async def _enqueue(services: Services, spec: JobSpec) -> UUID:
    async with services.db.write() as conn:
        return (await queue.enqueue(conn, spec)).id


async def _reaches(services: Services, job_id: UUID, *statuses: str, timeout: float = 10) -> dict[str, Any]:
    async def check() -> bool:
        return (await _job(services, job_id))["status"] in statuses

    await wait_for(check, timeout=timeout, what=f"job to reach {statuses}")
    return await _job(services, job_id)


@pytest.mark.usefixtures("worker")
async def test_an_attempt_past_its_timeout_is_cancelled_and_scheduled_again(services: Services) -> None:
    job_id = await _enqueue(services, JobSpec(job_type="slow", timeout_seconds=0.2, max_retries=2))
    job = await _reaches(services, job_id, "pending")
    assert job["error_kind"] == "timeout"
    assert "timed out after 0.2s" in job["error_message"]
    assert job["run_at"] > utcnow()
    assert job["attempts"] == 1


@pytest.mark.usefixtures("worker")
async def test_a_failed_attempt_is_rescheduled_by_run_at_not_by_sleeping(services: Services) -> None:
    before = utcnow()
    job_id = await _enqueue(services, JobSpec(job_type="fails", max_retries=3))
    job = await _reaches(services, job_id, "pending")
    assert job["error_message"] == "RuntimeError: boom"
    assert before + timedelta(seconds=0.7) < job["run_at"] < before + timedelta(seconds=5)


@pytest.mark.usefixtures("worker")
async def test_a_job_out_of_retries_fails_with_its_last_error(services: Services) -> None:
    job_id = await _enqueue(services, JobSpec(job_type="fails", max_retries=0))
    job = await _reaches(services, job_id, "failed")
    assert (job["attempts"], job["error_kind"]) == (1, "retryable")


async def test_a_unique_key_returns_the_active_job_and_frees_once_it_finished(services: Services) -> None:
    first = await _enqueue(services, JobSpec(job_type="noop", unique_key="sync:1"))
    again = await _enqueue(services, JobSpec(job_type="noop", unique_key="sync:1"))
    assert again == first
    async with services.db.write() as conn:
        await queue.request_cancel(conn, None, first, actor="test")
    third = await _enqueue(services, JobSpec(job_type="noop", unique_key="sync:1"))
    assert third != first


async def test_enqueue_joins_the_callers_transaction(services: Services) -> None:
    class Rollback(Exception):
        pass

    async def enqueue_then_fail() -> None:
        async with services.db.write() as conn:
            await queue.enqueue(conn, JobSpec(job_type="noop"))
            raise Rollback

    with pytest.raises(Rollback):
        await enqueue_then_fail()
    async with services.db.read() as conn:
        assert (await conn.execute(sa.text("SELECT COUNT(*) FROM jobs"))).scalar_one() == 0


async def test_a_paused_queue_starts_nothing_until_resumed(services: Services, worker: Worker) -> None:
    async with services.db.write() as conn:
        await queue.set_queue(conn, "imports", paused=True)
    job_id = await _enqueue(services, JobSpec(job_type="noop", queue="imports"))
    await asyncio.sleep(1.5)
    assert (await _job(services, job_id))["status"] == "queued"
    async with services.db.write() as conn:
        await queue.set_queue(conn, "imports", paused=False)
    await _reaches(services, job_id, "completed")


async def test_an_idle_worker_starts_a_new_job_without_waiting_for_the_poll(
    services: Services, worker: Worker
) -> None:
    await asyncio.sleep(0.3)
    started = utcnow()
    job_id = await _enqueue(services, JobSpec(job_type="noop"))
    job = await _reaches(services, job_id, "completed", timeout=5)
    assert (job["started_at"] - started).total_seconds() < 0.5


@pytest.mark.usefixtures("worker")
async def test_menu_jobs_tag_price_and_describe_a_stored_menu_once_each(
    services: Services, tenant: Tenant
) -> None:
    restaurant = await restaurants.create_restaurant(
        services,
        tenant.principal,
        RestaurantInput(name="Green Leaf", marketplace_url="https://www.ubereats.com/nz/store/green-leaf"),
    )
    common = {"organisation_id": tenant.principal.organisation_id, "restaurant_id": restaurant.id}
    csv_text = "category,name,description,price\nMains,Veggie Burger,,15.00\nMains,Beef Burger,Juicy,17.50\n"
    steps = [
        JobSpec(job_type="import-csv", payload={"csv": csv_text}, **common),
        JobSpec(job_type="add-item-tags", payload={"rules": [{"auto": True}]}, **common),
        JobSpec(job_type="bulk-update", payload={"changes": {"price_percent": 10}}, **common),
        JobSpec(job_type="generate-content", **common),
    ]
    for spec in steps:
        job = await _reaches(services, await _enqueue(services, spec), "completed", "failed")
        assert job["status"] == "completed", job["error_message"]
    menu = (await restaurants.get_restaurant(services, tenant.principal, restaurant.id)).menu
    assert menu is not None
    items = {i["name"]: i for i in menu["categories"][0]["items"]}
    assert items["Veggie Burger"]["price"] == "16.50"
    assert "vegetarian" in items["Veggie Burger"]["tags"]
    assert items["Veggie Burger"]["description"].startswith("Veggie Burger, from our mains menu")
    assert items["Beef Burger"]["description"] == "Juicy"


@pytest.mark.usefixtures("worker")
async def test_extract_menu_and_image_upload_use_the_simulated_services(
    services: Services, tenant: Tenant
) -> None:
    restaurant = await restaurants.create_restaurant(
        services,
        tenant.principal,
        RestaurantInput(
            name="Sushi Go", cuisine="japanese", marketplace_url="https://www.ubereats.com/nz/store/sushi-go"
        ),
    )
    common = {"organisation_id": tenant.principal.organisation_id, "restaurant_id": restaurant.id}
    for job_type in ("extract-menu", "image-upload"):
        job = await _reaches(
            services, await _enqueue(services, JobSpec(job_type=job_type, **common)), "completed", "failed"
        )
        assert job["status"] == "completed", job["error_message"]
    menu = (await restaurants.get_restaurant(services, tenant.principal, restaurant.id)).menu
    assert menu is not None
    items = [i for c in menu["categories"] for i in c["items"]]
    assert len(items) >= 5
    with_images = [i["image_url"] for i in items if i["image_url"]]
    assert with_images
    assert all("cdn" in url for url in with_images), with_images[:3]


async def test_a_menu_job_delivered_twice_changes_the_menu_once(services: Services, tenant: Tenant) -> None:
    restaurant = await restaurants.create_restaurant(
        services, tenant.principal, RestaurantInput(name="Twice")
    )
    common = {"organisation_id": tenant.principal.organisation_id, "restaurant_id": restaurant.id}
    async with services.db.write() as conn:
        await queue.enqueue(
            conn,
            JobSpec(job_type="import-csv", payload={"csv": "category,name,price\nA,B,10.00\n"}, **common),
        )
    job_id = await _enqueue(
        services, JobSpec(job_type="bulk-update", payload={"changes": {"price_percent": 50}}, **common)
    )
    worker = Worker(services.runtime_deps(), services.registry, concurrency=1)
    task = asyncio.create_task(worker.run())
    await _reaches(services, job_id, "completed")
    async with services.db.write() as conn:  # deliver it again, as a rescue after a lost completion would
        await conn.execute(sa.update(queue.jobs).where(queue.jobs.c.id == job_id).values(status="queued"))
    await asyncio.sleep(0.2)
    await _reaches(services, job_id, "completed")
    worker.stop()
    await task
    menu = (await restaurants.get_restaurant(services, tenant.principal, restaurant.id)).menu
    assert menu is not None
    assert menu["categories"][0]["items"][0]["price"] == "15.00"
    assert (await _job(services, job_id))["result"] == {"already_applied": True}


async def test_only_one_worker_at_a_time_holds_the_maintenance_lease(services: Services) -> None:
    first = Worker(services.runtime_deps(), services.registry, worker_id="first")
    second = Worker(services.runtime_deps(), services.registry, worker_id="second")
    assert await first.maintain() is True
    assert await second.maintain() is False
    assert await first.maintain() is True
    async with services.db.write() as conn:
        await conn.execute(sa.text("UPDATE maintenance_leader SET expires_at = '2000-01-01 00:00:00+00'"))
    assert await second.maintain() is True
    assert await first.maintain() is False
