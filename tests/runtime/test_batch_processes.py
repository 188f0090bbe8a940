"""A batch survives a worker process killed with SIGKILL while its restaurants register: real worker
processes, the http adapters against the sandbox on a real port (700 ms a call), PostgreSQL."""

from __future__ import annotations

import os

import httpx
import pytest

from onboardflow.operations.services import Services
from tests.conftest import Tenant
from tests.runtime.batch_driver import EMAIL_CONFIG, Batch
from tests.runtime.conftest import WorkerProcesses, pumpd_calls_by

pytestmark = pytest.mark.slow

RESTAURANTS = 4


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
async def test_a_batch_completes_after_its_worker_is_killed_mid_registration_without_repeating_any_effect(
    services: Services,
    client: httpx.AsyncClient,
    tenant: Tenant,
    workers: WorkerProcesses,
    sandbox: str,
    db_kind: str,
) -> None:
    if not os.environ.get("ONBOARDFLOW_TEST_DATABASE_URL"):
        pytest.skip("needs PostgreSQL")
    http = {"adapters": "http", "service_base_url": sandbox, "pumpd_concurrency": 12}
    first = workers.start(concurrency=12, lease_seconds=3, heartbeat_seconds=0.5, **http)
    batch = Batch(services, client, tenant)
    batch_id, _names = await batch.convert(RESTAURANTS)
    await batch.until_waiting(batch_id, "company_search", RESTAURANTS)
    await batch.post("/api/actions/bulk", {"mode": "confirm_search_terms", "batch_id": batch_id})
    await batch.until_waiting(batch_id, "company_selection", RESTAURANTS)
    await batch.post("/api/actions/bulk", {"mode": "accept_preselected", "batch_id": batch_id})
    for action in (await batch.get("/api/actions", batch_id=batch_id, step_key="company_selection"))["items"]:
        await batch.post(f"/api/actions/{action['step_id']}", {"answer": {"none_of_these": True}})
    await batch.until_waiting(batch_id, "yolo_config", RESTAURANTS)
    body = {"mode": "apply_config", "batch_id": batch_id, "config": EMAIL_CONFIG}
    assert (await batch.post("/api/actions/bulk", body))["succeeded"] == RESTAURANTS

    await workers.kill_when_busy(
        services, first, what="registrations", concurrency=12, lease_seconds=3, heartbeat_seconds=0.5, **http
    )

    detail = await batch.until_final(batch_id, timeout=120)
    assert detail["status"] == "completed", (detail["counts_by_status"], workers.logs())
    assert detail["counts_by_step"]["yolo_execution"] == {"completed": RESTAURANTS}

    by_key = await pumpd_calls_by(sandbox, "idempotency_key")
    assert any(len(made) > 1 for made in by_key.values()), "the kill interrupted a call, which ran again"
    for key, made in by_key.items():
        outcomes = [c["outcome"] for c in made]
        # One effect per key at most. A call again after the kill is "replayed" (the effect was made,
        # its answer lost) or "already_done" (an effect made under another key: the restaurants
        # share the owner's account, created by the first to get there).
        assert outcomes.count("ok") <= 1, (key, made)
        assert outcomes[-1] in ("ok", "replayed", "already_done"), (key, made)
    restaurants_registered = {
        row["pumpd_restaurant_id"] for row in detail["restaurants"]["items"] if row["pumpd_restaurant_id"]
    }
    assert len(restaurants_registered) == RESTAURANTS
