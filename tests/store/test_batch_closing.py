"""A batch closes when its last registration job ends: at once when that job's transaction sees no
other job still active, and by the maintenance sweep when the last two ended at the same moment."""

from __future__ import annotations

from uuid import UUID

import httpx
import sqlalchemy as sa

from onboardflow.operations.services import Services
from onboardflow.store import batches
from onboardflow.store.tables import registration_batch_jobs, registration_jobs
from tests.conftest import Tenant


async def _batch_of(client: httpx.AsyncClient, tenant: Tenant, count: int) -> str:
    leads = await client.post(
        "/api/leads",
        json=[{"name": f"Closing Diner {i}", "city": "Auckland"} for i in range(count)],
        headers=tenant.headers,
    )
    assert leads.status_code == 201, leads.text
    batch = await client.post(
        "/api/leads/convert",
        json={"name": "Closing", "lead_ids": [lead["id"] for lead in leads.json()["items"]]},
        headers=tenant.headers,
    )
    assert batch.status_code == 201, batch.text
    return str(batch.json()["id"])


async def _runs(services: Services, batch_id: str) -> list[dict[str, object]]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            sa.select(registration_jobs).where(registration_jobs.c.batch_job_id == sa.bindparam("b")),
            {"b": UUID(batch_id)},
        )
        return [dict(r) for r in rows.mappings()]


async def _finish(services: Services, run: dict[str, object], status: str) -> None:
    """End one job as the pipeline would (status and, in the same transaction, on_run_finished)."""
    async with services.db.write() as conn:
        await conn.execute(
            sa.update(registration_jobs).where(registration_jobs.c.id == run["id"]).values(status=status)
        )
        await batches.on_run_finished(conn, {**run, "status": status}, actor="test")


async def _batch_status(services: Services, batch_id: str) -> str:
    async with services.db.read() as conn:
        value = await conn.execute(
            sa.select(registration_batch_jobs.c.status).where(registration_batch_jobs.c.id == UUID(batch_id))
        )
        return str(value.scalar_one())


async def test_the_job_that_ends_last_closes_its_batch(
    client: httpx.AsyncClient, tenant: Tenant, services: Services
) -> None:
    batch_id = await _batch_of(client, tenant, 3)
    runs = await _runs(services, batch_id)
    await _finish(services, runs[0], "completed")
    await _finish(services, runs[1], "failed")
    assert await _batch_status(services, batch_id) != "failed", "two of three ended: still running"
    await _finish(services, runs[2], "completed")
    assert await _batch_status(services, batch_id) == "failed", "the last one closed it (one failed)"


async def test_the_sweep_closes_a_batch_whose_last_jobs_ended_together(
    client: httpx.AsyncClient, tenant: Tenant, services: Services
) -> None:
    batch_id = await _batch_of(client, tenant, 2)
    runs = await _runs(services, batch_id)
    # Both end in transactions that each still see the other one active: neither closes the batch.
    async with services.db.write() as conn:
        await conn.execute(
            sa.update(registration_jobs)
            .where(registration_jobs.c.id.in_([r["id"] for r in runs]))
            .values(status="completed")
        )
    assert await _batch_status(services, batch_id) != "completed"
    async with services.db.write() as conn:
        assert await batches.close_finished(conn, actor="test") == 1
    assert await _batch_status(services, batch_id) == "completed"
    async with services.db.write() as conn:
        assert await batches.close_finished(conn, actor="test") == 0, "nothing left to close"
