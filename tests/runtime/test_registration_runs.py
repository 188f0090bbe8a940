"""Registration runs end to end on the simulated services: the 12 sub-steps, conditional skips,
retries, permanent failures and retry, already-exists, cancel, and idempotent concurrent starts."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from onboardflow.api.app import create_app
from onboardflow.config import Settings
from onboardflow.domain.jobs import JobSpec
from onboardflow.domain.leads import RestaurantInput
from onboardflow.operations import registrations, restaurants
from onboardflow.operations.services import Services, build_services, close_services
from onboardflow.runtime.worker import Worker
from onboardflow.store import queue
from onboardflow.store import registrations as run_store
from onboardflow.store.engine import libpq_url
from onboardflow.store.tables import jobs
from onboardflow.store.tables import registration_job_steps as steps
from tests.conftest import Tenant, make_tenant
from tests.domain.conftest import sample_config
from tests.runtime.waiting import wait_for

ALL_ON = {
    "onboarding": {"create_user": True, "sync": True, "user_email": "joe@joespizza.co.nz", "user_name": "Joe"}
}


class Harness:
    """Services with given simulated faults, a tenant, a worker, and a restaurant with a menu."""

    def __init__(self, services: Services, tenant: Tenant) -> None:
        self.services = services
        self.tenant = tenant

    async def restaurant(self, name: str = "Joe's Pizza") -> UUID:
        created = await restaurants.create_restaurant(
            self.services,
            self.tenant.principal,
            RestaurantInput(
                name=name, cuisine="pizza", marketplace_url="https://www.ubereats.com/nz/store/joes-pizza"
            ),
        )
        async with self.services.db.write() as conn:
            job = await queue.enqueue(
                conn,
                JobSpec(
                    job_type="extract-menu",
                    organisation_id=self.tenant.principal.organisation_id,
                    restaurant_id=created.id,
                ),
            )
        await self.until(lambda: self.job_status(job.id), {"completed"})
        return created.id

    async def job_status(self, job_id: UUID) -> str:
        async with self.services.db.read() as conn:
            return str((await queue.get_job(conn, None, job_id))["status"])

    async def run(self, run_id: UUID) -> dict[str, Any]:
        return await registrations.get_run(self.services, self.tenant.principal, run_id)

    async def run_status(self, run_id: UUID) -> str:
        return str((await self.run(run_id))["status"])

    async def until(self, probe: Any, wanted: set[str], timeout: float = 30) -> None:
        async def check() -> bool:
            return await probe() in wanted

        await wait_for(check, timeout=timeout, what=f"status in {wanted}")

    async def start(self, restaurant_id: UUID, **config_changes: Any) -> UUID:
        config = sample_config()
        for section, values in config_changes.items():
            config[section] = {**config[section], **values}
        run_id, created = await registrations.start_single_run(
            self.services, self.tenant.principal, restaurant_id, config
        )
        assert created
        return run_id

    async def calls(self, run_id: UUID) -> list[dict[str, Any]]:
        return await registrations.list_calls(self.services, self.tenant.principal, run_id)


@pytest.fixture
def faults() -> dict[str, Any]:
    return {}


@pytest.fixture
async def harness(settings: Settings, faults: dict[str, Any]) -> AsyncIterator[Harness]:
    services = build_services(
        settings.model_copy(update={"simulation_faults": faults, "pumpd_concurrency": 5})
    )
    tenant = await make_tenant(services, "Runs Org")
    worker = Worker(services.runtime_deps(), services.registry, concurrency=12)
    task = asyncio.create_task(worker.run())
    yield Harness(services, tenant)
    worker.stop()
    await task
    await close_services(services)


def _sub(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["key"]: s for s in detail["sub_steps"]}


async def test_a_run_completes_all_twelve_sub_steps_and_stores_the_pumpd_ids(harness: Harness) -> None:
    restaurant_id = await harness.restaurant()
    run_id = await harness.start(restaurant_id, item_tags={"enabled": True}, **ALL_ON)
    await harness.until(lambda: harness.run_status(run_id), {"completed", "failed"})
    detail = await harness.run(run_id)
    assert detail["status"] == "completed", detail["error"]
    assert {k: s["status"] for k, s in _sub(detail).items()} == dict.fromkeys(_sub(detail), "completed")
    assert len(detail["sub_steps"]) == 12
    assert detail["progress_percent"] == 100
    assert detail["pumpd_user_id"]
    assert detail["pumpd_restaurant_id"]
    restaurant = await restaurants.get_restaurant(harness.services, harness.tenant.principal, restaurant_id)
    assert restaurant.pumpd_restaurant_id == detail["pumpd_restaurant_id"]
    calls = await harness.calls(run_id)
    assert Counter(c["operation"] for c in calls) == Counter(_sub(detail).keys())
    assert all("s3cret-pass" not in str(c["request"]) for c in calls)
    assert any(c["request"] and "***" in str(c["request"]) for c in calls)
    async with harness.services.db.read() as conn:
        row = await run_store.get_run(conn, harness.tenant.principal.organisation_id, run_id)
    # Each sub-step read its predecessors' results from their rows; the run keeps them all at its end.
    assert set(row["execution_results"]) == set(_sub(detail))
    assert row["execution_results"]["account"]["ids"]["pumpd_user_id"] == detail["pumpd_user_id"]


async def test_with_onboarding_off_both_conditional_sub_steps_are_skipped_with_the_reason(
    harness: Harness,
) -> None:
    restaurant_id = await harness.restaurant()
    run_id = await harness.start(restaurant_id, onboarding={"create_user": False, "sync": False})
    await harness.until(lambda: harness.run_status(run_id), {"completed", "failed"})
    subs = _sub(await harness.run(run_id))
    for key in ("onboarding_user", "onboarding_sync"):
        assert subs[key]["status"] == "skipped"
        assert "condition not met" in subs[key]["skip_reason"]
    assert subs["menu_import"]["status"] == "completed"


@pytest.mark.parametrize(
    "faults",
    [{"rules": [{"service": "pumpd", "operation": "menu_import", "kind": "server_error", "times": 2}]}],
)
async def test_a_retryable_failure_twice_then_success_completes_with_the_attempts_recorded(
    harness: Harness,
) -> None:
    restaurant_id = await harness.restaurant()
    run_id = await harness.start(restaurant_id, **ALL_ON)
    await harness.until(lambda: harness.run_status(run_id), {"completed", "failed"}, timeout=60)
    detail = await harness.run(run_id)
    assert detail["status"] == "completed", detail["error"]
    assert _sub(detail)["menu_import"]["attempts"] == 3
    statuses = [c["status"] for c in await harness.calls(run_id) if c["operation"] == "menu_import"]
    assert len(statuses) == 3
    assert statuses[-1] == "ok"


@pytest.mark.parametrize(
    "faults",
    [
        {
            "rules": [
                {
                    "service": "pumpd",
                    "operation": "restaurant_registration",
                    "kind": "validation_error",
                    "times": 1,
                }
            ]
        }
    ],
)
async def test_a_permanent_failure_blocks_downstream_and_retry_reruns_only_what_did_not_complete(
    harness: Harness,
) -> None:
    restaurant_id = await harness.restaurant()
    run_id = await harness.start(restaurant_id, **ALL_ON)
    await harness.until(lambda: harness.run_status(run_id), {"completed", "failed"})
    detail = await harness.run(run_id)
    subs = _sub(detail)
    assert detail["status"] == "failed"
    assert "restaurant_registration" in detail["error"]
    for key in ("account", "code_generation", "image_upload", "onboarding_user"):
        assert subs[key]["status"] == "completed", key
    assert subs["restaurant_registration"]["status"] == "failed"
    assert subs["restaurant_registration"]["attempts"] == 1
    for key in (
        "website_config",
        "services_config",
        "payment_config",
        "menu_import",
        "onboarding_sync",
        "option_sets",
    ):
        assert subs[key]["status"] == "skipped", key
        assert subs[key]["skip_reason"] == "blocked by restaurant_registration", key

    before = Counter(c["operation"] for c in await harness.calls(run_id))
    await registrations.retry_run(harness.services, harness.tenant.principal, run_id)
    await harness.until(lambda: harness.run_status(run_id), {"completed", "failed"})
    assert await harness.run_status(run_id) == "completed"
    after = Counter(c["operation"] for c in await harness.calls(run_id))
    assert {k: after[k] - before[k] for k in after} == {
        "restaurant_registration": 1,
        "website_config": 1,
        "services_config": 1,
        "payment_config": 1,
        "menu_import": 1,
        "onboarding_sync": 1,
        "option_sets": 1,
        "account": 0,
        "code_generation": 0,
        "image_upload": 0,
        "onboarding_user": 0,
    }


@pytest.mark.parametrize(
    "faults",
    [{"rules": [{"service": "pumpd", "operation": "account", "kind": "already_exists", "times": 1}]}],
)
async def test_already_exists_from_account_completes_with_a_warning_and_the_existing_ids(
    harness: Harness,
) -> None:
    restaurant_id = await harness.restaurant()
    run_id = await harness.start(restaurant_id, **ALL_ON)
    await harness.until(lambda: harness.run_status(run_id), {"completed", "failed"})
    detail = await harness.run(run_id)
    account = _sub(detail)["account"]
    assert detail["status"] == "completed", detail["error"]
    assert account["status"] == "completed"
    assert account["warning"]
    assert detail["pumpd_user_id"]


@pytest.mark.parametrize("faults", [{"latency_ms": 400}])
async def test_cancel_during_phase_two_stops_everything_and_ends_cancelled(harness: Harness) -> None:
    restaurant_id = await harness.restaurant()
    run_id = await harness.start(restaurant_id, **ALL_ON)

    async def phase_two_running() -> str:
        subs = _sub(await harness.run(run_id))
        return "yes" if subs["restaurant_registration"]["status"] == "completed" else "no"

    await harness.until(phase_two_running, {"yes"})
    await registrations.cancel_run(harness.services, harness.tenant.principal, run_id)

    async def no_job_running() -> str:
        async with harness.services.db.read() as conn:
            page = await conn.execute(queue.sa.text("SELECT COUNT(*) FROM jobs WHERE status = 'in_progress'"))
            return "idle" if page.scalar_one() == 0 else "busy"

    await harness.until(no_job_running, {"idle"}, timeout=2.5)
    calls_at_cancel = len(await harness.calls(run_id))
    await asyncio.sleep(1.0)
    detail = await harness.run(run_id)
    assert detail["status"] == "cancelled"
    assert all(s["status"] in ("completed", "cancelled", "skipped") for s in detail["sub_steps"])
    assert any(s["status"] == "cancelled" for s in detail["sub_steps"])
    assert len(await harness.calls(run_id)) == calls_at_cancel, "nothing ran after the cancel"


async def test_a_sub_step_handed_a_slot_begins_in_the_transaction_that_hands_it_over(
    harness: Harness,
) -> None:
    restaurant_ids = [await harness.restaurant(f"Slot Diner {i}") for i in range(3)]
    run_ids = [await harness.start(restaurant_id, **ALL_ON) for restaurant_id in restaurant_ids]
    for run_id in run_ids:
        await harness.until(lambda run_id=run_id: harness.run_status(run_id), {"completed", "failed"})
        detail = await harness.run(run_id)
        assert detail["status"] == "completed", detail["error"]
        ran = [k for k, s in _sub(detail).items() if s["status"] == "completed"]
        calls = Counter(c["operation"] for c in await harness.calls(run_id))
        assert calls == Counter(ran), "each sub-step that ran called Pumpd once"
    async with harness.services.db.read() as conn:
        started = (
            await conn.execute(
                sa.select(steps.c.started_at).where(
                    steps.c.registration_job_id.in_(run_ids), steps.c.parent_step_id.is_not(None)
                )
            )
        ).scalars()
        ended = (
            await conn.execute(sa.select(jobs.c.completed_at).where(jobs.c.queue == run_store.PUMPD_QUEUE))
        ).scalars()
        begun_in_hand_over = set(started) & set(ended)
    # 36 sub-steps on 5 Pumpd slots: most start in a slot another one hands over as it ends.
    assert len(begun_in_hand_over) >= 3


@asynccontextmanager
async def _recording_blocked(database_url: str, run_ids: list[UUID]) -> AsyncIterator[None]:
    """Hold what recording an attempt of these runs needs: their rows (PostgreSQL), the database's
    write lock (SQLite)."""
    if database_url.startswith("postgresql"):
        conn = await psycopg.AsyncConnection.connect(libpq_url(database_url))
        try:
            await conn.execute("SELECT id FROM registration_jobs WHERE id = ANY(%s) FOR UPDATE", [run_ids])
            yield
        finally:
            await conn.rollback()
            await conn.close()
        return
    raw = sqlite3.connect(
        sa.make_url(database_url).database or "", isolation_level=None, timeout=30, check_same_thread=False
    )
    try:
        await asyncio.to_thread(raw.execute, "BEGIN IMMEDIATE")
        yield
    finally:
        raw.execute("ROLLBACK")
        raw.close()


async def test_a_sub_step_waiting_for_a_full_pumpd_queue_calls_as_soon_as_the_call_before_it_is_over(
    settings: Settings, database_url: str
) -> None:
    """One Pumpd slot, two runs: the queue is full, so each hand-over also claims the sub-step after
    the next one to wait for the slot. That one calls Pumpd the moment the call before it is over,
    even while that attempt waits to be recorded; and two calls never overlap."""
    services = build_services(
        settings.model_copy(update={"simulation_faults": {"latency_ms": 400}, "pumpd_concurrency": 1})
    )
    tenant = await make_tenant(services, "Slot Org")
    harness = Harness(services, tenant)
    worker = Worker(services.runtime_deps(), services.registry, concurrency=6)
    task = asyncio.create_task(worker.run())
    try:
        run_ids = [await harness.start(await harness.restaurant(f"One Slot {i}")) for i in range(2)]

        async def one_waits() -> str:
            async with services.db.read() as conn:
                query = "SELECT count(*) FROM jobs WHERE status = 'in_progress' AND takes_slot_of IS NOT NULL"
                return "yes" if (await conn.execute(sa.text(query))).scalar_one() else "no"

        await harness.until(one_waits, {"yes"}, timeout=30)
        simulation = services.adapters.simulation
        assert simulation is not None
        async with _recording_blocked(database_url, run_ids):
            blocked_at = datetime.now(UTC)
            await asyncio.sleep(1.2)
            released_at = datetime.now(UTC)
        during = [
            c
            for c in simulation.calls_to("pumpd")
            if blocked_at < c.at and c.at + timedelta(milliseconds=c.duration_ms) < released_at
        ]
        assert during, "a sub-step called Pumpd while the attempt before it could not be recorded"
        ran = 0
        for run_id in run_ids:
            await harness.until(lambda run_id=run_id: harness.run_status(run_id), {"completed"})
            ran += sum(s["status"] == "completed" for s in (await harness.run(run_id))["sub_steps"])
    finally:
        worker.stop()
        await task
        await close_services(services)
    spans = sorted((c.at, c.at + timedelta(milliseconds=c.duration_ms)) for c in simulation.calls_to("pumpd"))
    assert len(spans) == ran, "each sub-step that ran called Pumpd once"
    assert all(end <= after for (_, end), (after, _) in itertools.pairwise(spans)), "one call at a time"


async def test_twenty_concurrent_starts_give_one_job_id_and_a_finished_run_can_start_again(
    settings: Settings, services: Services, tenant: Tenant
) -> None:
    restaurant = await restaurants.create_restaurant(
        services, tenant.principal, RestaurantInput(name="Tabs Cafe")
    )
    app = create_app(settings.model_copy(update={"embedded_worker": False}), services=services)
    body = {"restaurantId": str(restaurant.id), "formData": sample_config()}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answers = await asyncio.gather(
            *(
                client.post("/api/registration/execute-single-restaurant", json=body, headers=tenant.headers)
                for _ in range(20)
            )
        )
        assert {a.status_code for a in answers} == {200}
        ids = {a.json()["jobId"] for a in answers}
        assert len(ids) == 1
        progress = await client.get(
            f"/api/registration/single-restaurant-progress/{restaurant.id}", headers=tenant.headers
        )
        assert progress.json()["jobId"] == ids.pop()
        assert set(progress.json()) == {
            "jobId",
            "status",
            "currentPhase",
            "phases",
            "error",
            "startedAt",
            "completedAt",
        }
        assert set(progress.json()["phases"]) == {"phase1", "phase2", "phase3", "phase4"}
        job_id = progress.json()["jobId"]
        cancelled = await client.post(f"/api/registration-jobs/{job_id}/cancel", headers=tenant.headers)
        assert cancelled.json()["status"] == "cancelled"
        again = await client.post(
            "/api/registration/execute-single-restaurant", json=body, headers=tenant.headers
        )
        assert again.json()["jobId"] != job_id
        old = await client.get(f"/api/registration-jobs/{job_id}", headers=tenant.headers)
        assert old.json()["status"] == "cancelled"


async def test_an_invalid_configuration_is_a_422_naming_the_field_and_creates_nothing(
    client: httpx.AsyncClient, services: Services, tenant: Tenant
) -> None:
    restaurant = await restaurants.create_restaurant(
        services, tenant.principal, RestaurantInput(name="Bad Config")
    )
    config = sample_config()
    config["account"]["email"] = "not-an-email"
    r = await client.post(
        "/api/registration/execute-single-restaurant",
        json={"restaurantId": str(restaurant.id), "formData": config},
        headers=tenant.headers,
    )
    assert r.status_code == 422
    assert r.json()["field"] == "account.email"
    progress = await client.get(
        f"/api/registration/single-restaurant-progress/{restaurant.id}", headers=tenant.headers
    )
    assert progress.json() == {"status": "not_started"}
